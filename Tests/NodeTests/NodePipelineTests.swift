import Codec
import Foundation
import Journal
import Matching
import Node
import Testing
import Workloads
import _Posix

@Suite struct NodePipelineTests {
    /// Commands from three producer threads: every one is acknowledged once, in sequence order,
    /// with consecutive sequences; the node's state is what a replay of its journal gives.
    @Test func producersAreAcknowledgedInSequenceOrderAndTheJournalReplaysToTheSameState() throws {
        let scratch = Scratch("pipeline")
        let sink = CollectingSink()
        var options = NodeOptions(data: scratch.data)
        options.journal.durability = .always
        options.checkpointEvery = 500
        let node = try Node(options: options, sink: sink)
        let setup = marketCommands(seed: 1, count: 0)
        #expect(node.submit(batch: setup, firstTag: 0) == .queued)
        sink.wait(for: setup.count)
        let perProducer = 1_500
        let streams = (0..<3).map { marketCommands(seed: UInt64(10 + $0), count: perProducer).dropFirst(setup.count) }
        DispatchQueue.concurrentPerform(iterations: 3) { p in
            for (i, command) in streams[p].enumerated() {
                let tag = UInt64(1_000_000 * (p + 1) + i)
                while node.submit(command, tag: tag) == .busy { usleep(10) }
            }
        }
        var total = setup.count + 3 * perProducer
        sink.wait(for: total)
        // Then a client that keeps at most 100 commands in flight.
        // (every other chunk handed over with `submit(taking:)`, which moves the commands)
        let paced = Array(marketCommands(seed: 13, count: 3_000).dropFirst(setup.count))
        for chunk in stride(from: 0, to: paced.count, by: 100) {
            if chunk % 200 == 0 {
                for (i, command) in paced[chunk..<(chunk + 100)].enumerated() {
                    #expect(node.submit(command, tag: UInt64(5_000_000 + chunk + i)) == .queued)
                }
            } else {
                var batch = Array(paced[chunk..<(chunk + 100)])
                #expect(node.submit(taking: &batch, firstTag: UInt64(5_000_000 + chunk)) == .queued)
                #expect(batch.isEmpty)
            }
            total += 100
            sink.wait(for: total)
        }
        try node.stop()
        #expect(sink.failures.isEmpty)
        let sequences = sink.acknowledged.map(\.sequence)
        // Checkpoints take sequences too but are not acknowledged to anyone.
        #expect(sequences == sequences.sorted() && Set(sequences).count == total)
        #expect(Set(sink.acknowledged.map(\.tag)).count == total)
        // Each producer's commands keep their order.
        for p in 0..<3 {
            let tags = sink.acknowledged.map(\.tag).filter { $0 / 1_000_000 == UInt64(p + 1) }
            #expect(tags.count == perProducer)
            #expect(tags == tags.sorted())
        }
        var checkpoints: [(at: UInt64, verifies: UInt64)] = []
        let replay = try Recovery.rebuild(journal: scratch.data.journal, RebuildOptions(), progress: nil) { _, command, record in
            if case let .checkpoint(c) = command { checkpoints.append((record.sequence, c.verifiedSequence)) }
        }.replayer
        #expect(replay.digest == node.state.digest)
        // A checkpoint joins the back of the queue, so with producers far ahead they are at
        // least 500 commands apart (not exactly); each names the one before, and all check.
        #expect(checkpoints.count >= 5)
        #expect(checkpoints.first?.verifies == 0)
        for (a, b) in zip(checkpoints, checkpoints.dropFirst()) {
            #expect(b.verifies == a.at && b.at - a.at >= 500)
        }
        #expect(replay.checkpointsVerified == checkpoints.count - 1)
    }

    @Test func aFullQueueAnswersBusyAndNothingIsLost() throws {
        let scratch = Scratch("busy")
        let sink = CollectingSink()
        var options = NodeOptions(data: scratch.data)
        options.queueCapacity = 16
        options.journal.durability = .always
        let node = try Node(options: options, sink: sink)
        var queued = 0, busy = 0
        for (i, command) in marketCommands(seed: 2, count: 3_000).enumerated() {
            switch node.submit(command, tag: UInt64(i)) {
            case .queued: queued += 1
            case .busy: busy += 1
            case .stopped: Issue.record("stopped")
            case .notLeader: Issue.record("not the leader")
            }
        }
        sink.wait(for: queued)
        try node.stop()
        #expect(busy > 0, "a 16-slot queue fed in a loop must push back")
        #expect(sink.acknowledged.count == queued)
        #expect(node.submit(.halt(symbol: "BTCUSDT"), tag: 0) == .stopped)
        let info = try JournalInfo.read(directory: scratch.data.journal)
        #expect(info.lastSequence == UInt64(queued))
    }

    /// Snapshots by count, kept K at a time, and the journal below the oldest kept one retired;
    /// a restart recovers from the newest snapshot to the same state.
    @Test func snapshotsRetentionAndRestart() throws {
        let scratch = Scratch("retain")
        var options = NodeOptions(data: scratch.data)
        options.journal = JournalOptions(segmentBytes: 64 << 10, blockBytesMax: 4 << 10, recordBytesMax: 4 << 10, durability: .none)
        options.snapshotEveryCommands = 1_500
        options.keepSnapshots = 2
        options.retainJournalFromSnapshots = true
        options.checkpointEvery = 700
        let commands = marketCommands(seed: 4, count: 12_000)
        let sink = CollectingSink()
        let node = try Node(options: options, sink: sink)
        for chunk in stride(from: 0, to: commands.count, by: 500) {
            let batch = Array(commands[chunk..<min(chunk + 500, commands.count)])
            while node.submit(batch: batch, firstTag: UInt64(chunk)) == .busy { usleep(100) }
            sink.wait(for: chunk + batch.count)  // gives the snapshot thread its turns
        }
        try node.stop()
        let digest = node.state.digest
        let kept = try SnapshotStore.list(scratch.data.snapshots)
        #expect(kept.count == 2)
        let first = try JournalDirectory.segments(scratch.data.journal).first!.firstSequence
        #expect(first > 1, "segments below the oldest kept snapshot are retired")
        #expect(first <= kept.last!.sequence + 1)
        // From scratch the journal no longer suffices; from the snapshots it does.
        #expect(throws: NodeError.self) { try Recovery.rebuild(journal: scratch.data.journal, RebuildOptions()) }
        let restarted = try Node(options: options, sink: CollectingSink())
        #expect(restarted.recovery.snapshotHeader?.sequence == kept.first!.sequence)
        try restarted.stop()
        #expect(restarted.state.digest == digest)
        // The checkpoints after the snapshot are checked on the way.
        #expect(restarted.recovery.replayer.checkpointsVerified + restarted.recovery.replayer.checkpointsUnverified > 0)
    }

    /// The journal below a snapshot is retired even when nothing is submitted after it: the
    /// snapshot thread's request wakes the idle sequencer (it used to wait for the next
    /// submission, so a node that went quiet kept the segments).
    @Test func anIdleNodeRetiresTheJournalBelowANewSnapshot() throws {
        let scratch = Scratch("retire-idle")
        var options = NodeOptions(data: scratch.data)
        options.journal = JournalOptions(segmentBytes: 32 << 10, blockBytesMax: 4 << 10, recordBytesMax: 4 << 10, durability: .none)
        options.keepSnapshots = 1
        options.retainJournalFromSnapshots = true
        let commands = marketCommands(seed: 5, count: 8_000)
        let sink = CollectingSink()
        let node = try Node(options: options, sink: sink)
        #expect(node.submit(batch: commands, firstTag: 0) == .queued)
        sink.wait(for: commands.count)
        let segments = try JournalDirectory.segments(scratch.data.journal).count
        #expect(segments > 2, "\(segments) segments")
        // All acknowledged and nothing more to come: the node is idle. A snapshot now, then
        // the retirement must follow without another command (60 s is a liveness bound).
        node.requestSnapshot()
        var first: UInt64 = 1
        try eventually {
            first = try JournalDirectory.segments(scratch.data.journal).first!.firstSequence
            return first > 1
        }
        let snapshot = try SnapshotStore.list(scratch.data.snapshots).first?.sequence
        try node.stop()
        #expect(snapshot == UInt64(commands.count))
        #expect(first > 1, "the segments below the snapshot were retired while the node was idle")
        #expect(first <= UInt64(commands.count) + 1)
        // And the data directory still recovers to the same state.
        let restarted = try Node(options: options, sink: CollectingSink())
        try restarted.stop()
        #expect(restarted.state.digest == node.state.digest)
    }

    @Test func theSameSimulationSeedGivesTheSameJournalAndDigest() throws {
        let a = Scratch("sim-a"), b = Scratch("sim-b"), c = Scratch("sim-c")
        // Enough commands for the node's checkpoints (one per 10,000 sequences) to appear.
        let ra = try simulate(into: a.data, seed: 42, commands: 25_000, symbols: 3, accounts: 30)
        let rb = try simulate(into: b.data, seed: 42, commands: 25_000, symbols: 3, accounts: 30)
        let rc = try simulate(into: c.data, seed: 43, commands: 25_000, symbols: 3, accounts: 30)
        #expect(ra.chainHead == rb.chainHead && ra.stateDigest == rb.stateDigest && ra.lastSequence == rb.lastSequence)
        #expect(ra.stateDigest != rc.stateDigest && ra.chainHead != rc.chainHead)
        #expect(ra.trades > 100 && ra.rejected > 50, "the agents trade and the noisy clients get rejected")
        // The journal replays to the digest the simulation reports, every checkpoint checked.
        let replay = try Recovery.rebuild(journal: a.data.journal, RebuildOptions()).replayer
        #expect(replay.digest == ra.stateDigest)
        #expect(ra.checkpoints == 2)
        // Each checkpoint names the digest at the one before it (the first names none).
        #expect(replay.checkpoints == ra.checkpoints)
        #expect(replay.checkpointsVerified == ra.checkpoints - 1 && replay.checkpointsUnverified == 0)
        // A simulation refuses a directory that already holds a journal.
        #expect(throws: NodeError.self) { try simulate(into: a.data, seed: 42, commands: 10) }
    }

    /// `interval:MS`: a command is acknowledged once the periodic sync covers it, with no
    /// further submissions needed to trigger that sync; snapshots by time while idle.
    @Test func intervalDurabilityAcknowledgesAfterItsSyncAndSnapshotsComeByTime() throws {
        let scratch = Scratch("interval")
        let sink = CollectingSink()
        var options = NodeOptions(data: scratch.data)
        options.journal.durability = .interval(milliseconds: 20)
        options.snapshotEveryNs = 100_000_000
        let node = try Node(options: options, sink: sink)
        let commands = marketCommands(seed: 6, count: 200)
        #expect(node.submit(batch: commands, firstTag: 0) == .queued)
        // Nothing more is submitted: only the node's own periodic sync can acknowledge these.
        // (The limits are liveness bounds, 600 times the 20 ms interval and 100 ms period.)
        #expect(sink.wait(for: commands.count, limitNs: 60_000_000_000))
        // Idle now: the time-based snapshot comes without another command.
        var snapshots: [SnapshotFile] = []
        try eventually {
            snapshots = try SnapshotStore.list(scratch.data.snapshots)
            return !snapshots.isEmpty
        }
        try node.stop()
        #expect(snapshots.first?.sequence == UInt64(commands.count))
        #expect(sink.acknowledged.map(\.sequence) == Array(1...UInt64(commands.count)))
    }
}
