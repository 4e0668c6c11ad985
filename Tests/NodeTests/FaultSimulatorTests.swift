import Codec
import Foundation
import Journal
import Matching
import Node
import Simulation
import Testing

/// The node's core driven step by step on simulated storage and time: seeded runs with
/// crashes and storage faults, and the core's own decisions, without a thread or a clock.
@Suite struct FaultSimulatorTests {
    /// A bounded number of seeds, every guarantee checked after every restart; together they
    /// exercise every kind of fault, and the checks have something to check.
    @Test func seededRunsWithFaultsKeepEveryGuarantee() throws {
        var faults: [StorageFault: Int] = [:]
        var restarts = 0, refused = 0, acknowledged = 0, crashes = 0, failedNodes = 0
        for seed in UInt64(1)...10 {
            let report: FaultSimulationReport
            do {
                report = try FaultSimulator(options: FaultSimulationOptions(seed: seed, steps: 4_000)).run()
            } catch {
                Issue.record("\(error) — reproduce: exchange simulate-faults --seed \(seed) --steps 4000")
                continue
            }
            for (kind, n) in report.faults { faults[kind, default: 0] += n }
            restarts += report.restarts
            refused += report.refusedRecoveries + report.damageFoundByReplay
            acknowledged += report.acknowledged
            crashes += report.crashes
            failedNodes += report.failedNodes
            #expect(report.acknowledged > report.submitted / 2, "seed \(seed): \(report.acknowledged) of \(report.submitted)")
        }
        #expect(Set(faults.keys) == Set(StorageFault.allCases), "fault kinds exercised: \(faults)")
        #expect(restarts > 100 && crashes > 30 && refused > 0 && failedNodes > 0 && acknowledged > 50_000,
                "restarts \(restarts), crashes \(crashes), refused \(refused), failed \(failedNodes), acknowledged \(acknowledged)")
    }

    /// A journal whose records were all retired below a snapshot, its one segment empty (a
    /// crash right after a roll lost the new segment's first block), ends before that
    /// segment's first sequence: the snapshot covers it and the node starts. (Recovery read
    /// its end as 0, refused the snapshot as past it, and failed; found by the simulator.)
    @Test func aJournalRetiredBelowASnapshotWithAnEmptySegmentRecoversFromTheSnapshot() throws {
        let scratch = Scratch("empty-after-retire")
        let data = scratch.data
        let writer = try JournalWriter(directory: data.journal,
                                       options: JournalOptions(segmentBytes: 8 << 10, blockBytesMax: 1 << 10, recordBytesMax: 4_096,
                                                               durability: .none, recordKind: .commands))
        let commands = OrderFlow.commands(seed: 21, count: 2_000)
        var bytes: [UInt8] = []
        for command in commands where writer.segments.count < 2 {
            bytes.removeAll(keepingCapacity: true)
            CommandCodec.encode(command, into: &bytes)
            try writer.append(bytes, timestampNs: 1_000)
        }
        try writer.flush()
        let second = writer.segments[1]
        writer.abandon()
        var replayer = Replayer()
        for (i, command) in commands.prefix(Int(second.firstSequence) - 1).enumerated() {
            try replayer.apply(command, sequence: UInt64(i + 1), timestampNs: 1_000)
        }
        // The state at the end of the first segment as a snapshot; the first segment retired;
        // the second one's blocks lost.
        try SnapshotStore.write(replayer.engine.canonicalState(), sequence: replayer.lastSequence, timestampNs: 1_000,
                                createdNs: 0, to: data.snapshots)
        for path in [writer.segments[0].path, String(writer.segments[0].path.dropLast(4)) + ".idx"] {
            try PosixStorage.shared.remove(path)
        }
        let file = try PosixStorage.shared.open(second.path, .readWrite)
        try file.write([UInt8](repeating: 0, count: (8 << 10) - SegmentHeader.size), at: SegmentHeader.size)
        file.close()
        var options = NodeOptions(data: data)
        options.journal.durability = .none
        let node = try Node(options: options, sink: CollectingSink())
        try node.stop()
        #expect(node.recovery.snapshotHeader?.sequence == second.firstSequence - 1)
        #expect(node.state.digest == replayer.digest)
    }

    @Test func aSeedReproducesExactly() throws {
        let a = try FaultSimulator(options: FaultSimulationOptions(seed: 42, steps: 3_000)).run()
        let b = try FaultSimulator(options: FaultSimulationOptions(seed: 42, steps: 3_000)).run()
        #expect(a.stateDigest == b.stateDigest && a.lastSequence == b.lastSequence)
        #expect(a.faults == b.faults && a.acknowledged == b.acknowledged && a.restarts == b.restarts)
        let c = try FaultSimulator(options: FaultSimulationOptions(seed: 43, steps: 3_000)).run()
        #expect(c.stateDigest != a.stateDigest)
    }

    /// The checks can fail: on a disk whose syncs keep nothing, acknowledged commands vanish at
    /// the first power cut, and the run says so, the same way every time.
    @Test func aDiskThatLiesAboutSyncsIsCaughtAndTheFailureReproduces() throws {
        func failure() -> FaultSimulationFailure? {
            do {
                _ = try FaultSimulator(options: FaultSimulationOptions(seed: 1, steps: 3_000, lyingDisk: true)).run()
                return nil
            } catch { return error }
        }
        let first = try #require(failure())
        #expect(first.message.contains("acknowledged commands up to"), "\(first)")
        let again = try #require(failure())
        #expect(again.step == first.step && again.message == first.message)
    }

    /// A node core on simulated storage, stepped by hand.
    final class Harness: NodeSink {
        let time = ManualTime(now: 1_000_000_000, wallOffsetNs: 1_767_225_600_000_000_000)
        let storage: SimulatedStorage
        var options: NodeOptions
        var acknowledged: [UInt64] = []
        var events: [[Event]] = []
        var commands: [Command] = []

        init(durability: Durability = .always) {
            storage = SimulatedStorage(seed: 7, time: time)
            options = NodeOptions(data: DataDirectory("/node"))
            options.storage = storage
            options.time = time
            options.journal = JournalOptions(segmentBytes: 16 << 10, blockBytesMax: 1 << 10, recordBytesMax: 4_096,
                                             durability: durability)
            options.checkpointEvery = 0
        }

        func start() throws -> NodeCore { try NodeCore(options: options, sink: self, snapshotThread: false) }

        func acknowledged(tag: UInt64, sequence: UInt64, timestampNs: Int64, command: Command, events: EventList,
                          engine: MatchingEngine) {
            acknowledged.append(sequence)
            self.events.append(Array(events))
            commands.append(command)
        }
        var failedTags: [UInt64] = []
        func failed(tag: UInt64, error: NodeError) { failedTags.append(tag) }

        /// The journal's durable mark, read without moving the clock (the storage's calls do).
        func durableMark() throws -> UInt64? {
            let now = time.now
            defer { time.now = now }
            return try JournalVerifier.verify(directory: options.data.journal, storage: storage).durableMark
        }
    }

    /// Nothing is acknowledged before the sequencer made it durable, acknowledgements come in
    /// sequence order, and the durable mark is stored only after `markQuietNs` without work.
    @Test func theCoreAcknowledgesOnlyWhatIsDurableAndMarksItOnceQuiet() throws {
        let h = Harness()
        let core = try h.start()
        #expect(core.submit(batch: OrderFlow.setup(), firstTag: 0) == .queued)
        #expect(core.engineStep() == .idle(timeoutNs: nil), "nothing durable yet")
        #expect(h.acknowledged.isEmpty)
        #expect(core.sequencerStep() == .idle(timeoutNs: NodeCore.markQuietNs), "all journaled: quiet from now on")
        #expect(core.cursors.durable == UInt64(OrderFlow.setup().count))
        #expect(core.engineStep() == .idle(timeoutNs: nil), "all applied, nothing more durable")
        #expect(h.acknowledged == Array(1...UInt64(OrderFlow.setup().count)))
        // Idle now: it asks to be woken when the quiet time is up (the storage's calls took
        // some of it), and stores the mark then, not before.
        guard case let .idle(timeout?) = core.sequencerStep(), timeout > 0, timeout <= NodeCore.markQuietNs else {
            Issue.record("an idle sequencer with an unmarked sync asks for a wake-up within markQuietNs")
            return
        }
        #expect(try h.durableMark() == nil, "not stored while work may follow")
        h.time.advance(byNs: timeout - 1)
        #expect(core.sequencerStep() == .idle(timeoutNs: 1))
        #expect(try h.durableMark() == nil)
        h.time.advance(byNs: 1)
        #expect(core.sequencerStep() == .idle(timeoutNs: nil))
        #expect(try h.durableMark() == UInt64(OrderFlow.setup().count))
        core.beginStop()
        #expect(core.sequencerStep() == .finished)
        #expect(core.engineStep() == .finished)
        try core.finish()
    }

    /// A command too large for a journal record is journaled and acknowledged as an invalid
    /// command that says so; the node goes on (it used to stop on the journal's error).
    @Test func aCommandTooLargeForTheJournalIsRefusedAndTheNodeGoesOn() throws {
        let h = Harness()
        let core = try h.start()
        let setup = OrderFlow.setup()
        let huge = Command.place(PlaceOrder(account: 1, symbol: "BTCUSDT", clientId: String(repeating: "x", count: 10_000),
                                            side: .buy, price: ExactDecimal(mantissa: 3_000_000, scale: 2),
                                            qty: ExactDecimal(mantissa: 1, scale: 3)))
        let after = Array(OrderFlow.commands(seed: 2, count: 5).dropFirst(setup.count))
        #expect(core.submit(batch: setup + [huge] + after, firstTag: 0) == .queued)
        while core.sequencerStep() == .progressed {}
        while core.engineStep() == .progressed {}
        #expect(core.failed == nil)
        #expect(h.acknowledged.count == setup.count + 1 + after.count)
        guard case let .invalid(invalid) = h.commands[setup.count] else {
            Issue.record("expected an invalid command, got \(h.commands[setup.count])")
            return
        }
        #expect(invalid.cmd == "place" && invalid.detail.contains("over the journal's limit of 4096"), "\(invalid.detail)")
        #expect(h.events[setup.count] == [.rejected(account: nil, reason: .invalidCommand)])
        core.abandon()
        // The journal holds what was acknowledged: a replay gets the same state.
        let restarted = try h.start()
        #expect(restarted.recovery.lastSequence == UInt64(setup.count + 1 + after.count))
        restarted.abandon()
    }

    /// A journal that fails its sync stops the node, and every command not yet durable hears
    /// so, the ones already written included (they used to hear nothing).
    @Test func aFailedSyncFailsEveryCommandNotYetDurable() throws {
        let h = Harness(durability: .interval(milliseconds: 1_000))
        let core = try h.start()
        let setup = OrderFlow.setup()
        #expect(core.submit(batch: setup, firstTag: 0) == .queued)
        _ = core.sequencerStep()
        #expect(core.cursors.durable == 0, "written, waiting for the interval's sync")
        h.storage.failurePpm = 1_000_000
        h.time.advance(byNs: 1_000_000_000)
        #expect(core.sequencerStep() == .finished)
        #expect(core.failed != nil)
        #expect(h.failedTags == Array(0..<UInt64(setup.count)))
        #expect(core.engineStep() == .finished)
        #expect(h.acknowledged.isEmpty)
        core.abandon()
    }

    /// A snapshot past the journal's end holds records the journal lost (here: the journal is
    /// put back as a shorter copy). The node refuses to start, naming the snapshot as proof
    /// that those records were synced; once the operator accepts the loss, it sets the snapshot
    /// aside, so that when the journal grows past it with other records a restart does not
    /// take it for their state. (Found by the simulator, seeds 233 and 337.)
    @Test func aSnapshotPastTheJournalsEndIsSetAsideAndNeverUsedForOtherRecords() throws {
        let scratch = Scratch("stale-snapshot")
        var options = NodeOptions(data: scratch.data)
        options.checkpointEvery = 0
        let sink = CollectingSink()
        let setup = OrderFlow.setup()
        // 1. The setup alone, and a copy of that journal.
        var node = try Node(options: options, sink: sink)
        #expect(node.submit(batch: setup, firstTag: 0) == .queued)
        sink.wait(for: setup.count)
        try node.stop()
        let short = scratch.path + "/journal-short"
        try FileManager.default.copyItem(atPath: scratch.data.journal, toPath: short)
        // 2. More commands and a snapshot of them.
        node = try Node(options: options, sink: sink)
        let first = Array(OrderFlow.commands(seed: 11, count: 300).dropFirst(setup.count))
        #expect(node.submit(batch: first, firstTag: 1_000) == .queued)
        sink.wait(for: setup.count + first.count)
        node.requestSnapshot()
        try node.stop()
        let snapshot = try #require(try SnapshotStore.list(scratch.data.snapshots).first)
        #expect(snapshot.sequence == UInt64(setup.count + first.count))
        // 3. The journal loses those commands; other ones take their sequences.
        try FileManager.default.removeItem(atPath: scratch.data.journal)
        try FileManager.default.moveItem(atPath: short, toPath: scratch.data.journal)
        // The snapshot says those records were synced: a node refuses, naming it, unless the
        // operator accepts the loss.
        #expect {
            _ = try Node(options: options, sink: sink)
        } throws: { error in
            guard case let NodeError.journal(.corrupt(_, _, _, reason)) = error else { return false }
            return reason.contains(snapshot.name)
        }
        options.journal.acceptDataLoss = true
        node = try Node(options: options, sink: sink)
        options.journal.acceptDataLoss = false
        #expect(node.journalRecovery.acknowledgedRecordsLost == UInt64(first.count))
        #expect(node.recovery.setAside == [snapshot.name])
        #expect(node.recovery.snapshot == nil)
        let other = Array(OrderFlow.commands(seed: 12, count: 400).dropFirst(setup.count))
        #expect(node.submit(batch: other, firstTag: 5_000) == .queued)
        sink.wait(for: setup.count + first.count + other.count)
        try node.stop()
        #expect(try SnapshotStore.list(scratch.data.snapshots).isEmpty)
        // 4. A restart replays the journal it has: the state a replay from scratch gives.
        node = try Node(options: options, sink: sink)
        try node.stop()
        #expect(node.state.digest == (try fullReplayDigest(scratch.data.journal)).digest)
        #expect(node.state.lastSequence == UInt64(setup.count + other.count))
    }

    /// Blocks a dead process left in the page cache are synced by the next writer before it
    /// counts them durable: a power cut after the restart keeps them. (Recovery used to take
    /// them as they were, and a later power cut lost commands acknowledged since.)
    @Test func aWriterSyncsWhatADeadProcessLeftUnsyncedBeforeCountingItDurable() throws {
        let time = ManualTime()
        let storage = SimulatedStorage(seed: 3, time: time)
        let options = JournalOptions(segmentBytes: 64 << 10, blockBytesMax: 1 << 10, recordBytesMax: 4_096, durability: .none)
        let first = try JournalWriter(directory: "/j", options: options, clock: time, storage: storage)
        for i in 0..<500 { try first.append(Array(repeating: UInt8(i & 0xFF), count: 40), timestampNs: Int64(i)) }
        try first.flush()
        #expect(first.writtenSequence == 500 && first.durableSequence == 0)
        first.abandon()
        storage.processExit()
        let second = try JournalWriter(directory: "/j", options: options, clock: time, storage: storage)
        #expect(second.lastSequence == 500 && second.durableSequence == 500)
        second.abandon()
        storage.crash()
        let third = try JournalWriter(directory: "/j", options: options, clock: time, storage: storage)
        #expect(third.lastSequence == 500, "what the second writer counted durable survives a power cut")
        try third.close()
    }

    /// With `interval`, written commands wait for the interval's sync before they are
    /// acknowledged; a power cut before it loses them, and nothing acknowledged.
    @Test func intervalDurabilityAcknowledgesAfterTheSyncAndACrashLosesOnlyTheUnacknowledged() throws {
        let h = Harness(durability: .interval(milliseconds: 2))
        var core = try h.start()
        let setup = OrderFlow.setup()
        #expect(core.submit(batch: setup, firstTag: 0) == .queued)
        _ = core.sequencerStep()
        _ = core.engineStep()
        #expect(h.acknowledged.isEmpty, "written, not yet synced")
        h.time.advance(byNs: 2_000_000)
        _ = core.sequencerStep()
        _ = core.engineStep()
        #expect(h.acknowledged.count == setup.count)
        let orders = Array(OrderFlow.commands(seed: 3, count: 50).dropFirst(setup.count))
        #expect(core.submit(batch: orders, firstTag: 100) == .queued)
        _ = core.sequencerStep()
        _ = core.engineStep()
        #expect(core.cursors.submitted == UInt64(setup.count + 50) && core.cursors.durable == UInt64(setup.count))
        core.abandon()
        h.storage.crash()
        core = try h.start()
        #expect(core.recovery.lastSequence >= UInt64(setup.count))
        #expect(core.recovery.lastSequence <= UInt64(setup.count + 50))
        core.abandon()
    }
}
