import Codec
import Journal
import Matching
import Node
import Workloads

public struct FaultSimulationOptions: Sendable {
    public var seed: UInt64 = 1
    /// Steps of the run: each submits, steps a stage of the node, moves time, or crashes.
    public var steps = 20_000
    /// Inject storage faults (errors, slow calls, crashes, flipped bits); without them the node
    /// only stops cleanly and restarts.
    public var faults = true
    /// Run on a disk whose syncs keep nothing (`SimulatedStorage.syncsLie`): the checks must
    /// fail, which shows that they can.
    public var lyingDisk = false

    public init(seed: UInt64 = 1, steps: Int = 20_000, faults: Bool = true, lyingDisk: Bool = false) {
        self.seed = seed
        self.steps = steps
        self.faults = faults
        self.lyingDisk = lyingDisk
    }
}

/// What one seed did.
public struct FaultSimulationReport: Sendable {
    public var seed: UInt64
    public var steps: Int
    /// The node's configuration this seed drew.
    public var configuration = ""
    public var submitted = 0
    public var acknowledged = 0
    public var restarts = 0
    public var crashes = 0
    public var processExits = 0
    public var cleanStops = 0
    /// Nodes that stopped themselves on an injected error.
    public var failedNodes = 0
    /// Recoveries refused because of damage the simulator did (a flipped bit), naming it.
    public var refusedRecoveries = 0
    /// Damage found by the full read after a recovery that did not need the damaged part.
    public var damageFoundByReplay = 0
    /// Recoveries that failed on an injected error and were tried again.
    public var retriedRecoveries = 0
    /// Acknowledged commands cut off as a torn write because a flipped bit hit their block
    /// before the durable mark or a snapshot covered it (the one loss the journal cannot tell
    /// from a torn write; FORMAT.md, "Recovery").
    public var acknowledgedLostToFlips = 0
    public var snapshotFailures = 0
    public var faults: [StorageFault: Int] = [:]
    public var lastSequence: UInt64 = 0
    public var stateDigest = Digest32.zero
}

/// A check that failed: the seed and step reproduce it.
public struct FaultSimulationFailure: Error, CustomStringConvertible, Sendable {
    public var seed: UInt64
    public var step: Int
    public var message: String
    public var description: String { "seed \(seed), step \(step): \(message)" }
}

/// Drives a `NodeCore` step by step on `SimulatedStorage` and `ManualTime`, from one seed:
/// the seeded agents submit, the stages step in a seeded order, time moves, and the storage
/// fails calls, slows down, crashes (losing or tearing what was not synced) and flips stored
/// bits. After every restart it checks that
/// - every acknowledged command is in the journal, byte for byte as it was applied live;
/// - recovery either succeeded or refused, naming the damaged file where a bit was flipped;
/// - the journal holds exactly the records that were written (nothing altered, nothing extra);
/// - the recovered state's digest equals a replay from scratch of every record.
/// The same seed gives the same run, so a failure is reproduced by its seed.
public final class FaultSimulator: NodeSink {
    public let options: FaultSimulationOptions
    private var random: SplitMix64
    private let time: ManualTime
    private let storage: SimulatedStorage
    private let agents: Agents
    private var nodeOptions: NodeOptions
    private var core: NodeCore?
    private var report: FaultSimulationReport
    private var step = 0
    private let failurePpm: UInt64
    private let slowPpm: UInt64

    /// Every record the journal was seen to hold (index: sequence − 1), followed as it was
    /// written, so that records retired since can still be replayed from scratch.
    private var archive: [(timestampNs: Int64, bytes: [UInt8])] = []
    private var follower: JournalReader?
    /// Acknowledged since the last check: (sequence, the command's record as applied live).
    private var unchecked: [(sequence: UInt64, bytes: [UInt8])] = []
    private var highestAcknowledged: UInt64 = 0
    /// The state from a replay of `archive` from its first record.
    private var reference = Replayer()
    private var submittedSinceStart = 0
    private var resolvedSinceStart = 0
    private var tag: UInt64 = 0

    public init(options: FaultSimulationOptions) {
        self.options = options
        random = SplitMix64(seed: options.seed)
        time = ManualTime(now: 1_000_000_000, wallOffsetNs: 1_767_225_600_000_000_000)
        storage = SimulatedStorage(seed: options.seed &* 0x9E37_79B9_7F4A_7C15 &+ 1, time: time)
        var simulation = SimulationOptions()
        simulation.seed = options.seed
        simulation.symbols = 2
        simulation.accounts = 12
        agents = Agents(options: simulation)
        report = FaultSimulationReport(seed: options.seed, steps: options.steps)
        nodeOptions = NodeOptions(data: DataDirectory("/sim"))
        failurePpm = options.faults ? 2_000 : 0
        slowPpm = options.faults ? 5_000 : 0
        configure()
    }

    private func below(_ n: Int) -> Int { Int(random.next() % UInt64(n)) }

    /// The node's configuration, drawn from the seed.
    private func configure() {
        var o = nodeOptions
        o.storage = storage
        o.time = time
        o.clock = .wall
        o.journal = JournalOptions(segmentBytes: 16 << (10 + below(3)), blockBytesMax: 512 << below(3),
                                   recordBytesMax: 4_096,
                                   durability: below(5) < 3 ? .always : .interval(milliseconds: 1 + below(5)))
        o.checkpointEvery = UInt64(20 + below(500))
        o.snapshotEveryCommands = below(3) == 0 ? 0 : UInt64(100 + below(2_000))
        o.snapshotEveryNs = below(2) == 0 ? 0 : Int64(5 + below(50)) * 1_000_000
        o.keepSnapshots = 1 + below(3)
        o.retainJournalFromSnapshots = below(2) == 0
        o.queueCapacity = 64 << below(4)
        nodeOptions = o
        report.configuration = "fsync \(o.journal.durability), segments \(o.journal.segmentBytes >> 10) KiB, "
            + "blocks \(o.journal.blockBytesMax) B, checkpoint every \(o.checkpointEvery), "
            + "snapshots every \(o.snapshotEveryCommands) commands / \(o.snapshotEveryNs / 1_000_000) ms, "
            + "keep \(o.keepSnapshots), retire \(o.retainJournalFromSnapshots), queue \(o.queueCapacity)"
    }

    private func fail(_ message: String) -> FaultSimulationFailure {
        FaultSimulationFailure(seed: options.seed, step: step, message: message)
    }

    // MARK: - The run

    /// Hears what happens (restarts, crashes, flips, failures), for following a seed by hand.
    public var trace: ((String) -> Void)?

    private func note(_ text: @autoclosure () -> String) { trace?("step \(step): " + text()) }

    public func run() throws(FaultSimulationFailure) -> FaultSimulationReport {
        note("configuration: \(report.configuration)")
        // The market is set up without faults (a market without symbols would reject all).
        try start()
        try storage.withoutFaults { () throws(FaultSimulationFailure) in
            submit(agents.setupCommands())
            try drain()
        }
        storage.failurePpm = failurePpm
        storage.slowPpm = slowPpm
        storage.syncsLie = options.lyingDisk
        while step < options.steps {
            step += 1
            if core == nil { try start() }
            let roll = below(1_000)
            switch roll {
            case ..<300: submit(agents.nextBatch(1 + below(24)))
            case ..<550: try sequence()
            case ..<800: _ = core!.engineStep()
            case ..<850: core!.writePendingSnapshot()
            case ..<855: core!.requestSnapshot()
            case ..<993: time.advance(byNs: Int64(below(2_000_000)))
            case ..<996: options.faults ? crash() : exitProcess()
            case ..<998: exitProcess()
            default: try stopCleanly()
            }
            if let core, let failure = core.failed {
                note("the node stopped: \(failure)")
                report.failedNodes += 1
                below(2) == 0 ? crash() : exitProcess()
            }
        }
        if core == nil { try start() }
        storage.failurePpm = 0
        storage.slowPpm = 0
        try stopCleanly()
        try start()
        let final = core!
        report.lastSequence = final.recovery.lastSequence
        report.stateDigest = final.recovery.replayer.digest
        report.faults = storage.injected
        final.abandon()
        core = nil
        return report
    }

    private func submit(_ commands: [Command]) {
        guard let core else { return }
        if core.submit(batch: commands, firstTag: tag, waitingForRoom: false) == .queued {
            tag += UInt64(commands.count)
            submittedSinceStart += commands.count
            report.submitted += commands.count
        }
    }

    /// A sequencer step, then the follower reads what it wrote.
    private func sequence() throws(FaultSimulationFailure) {
        _ = core!.sequencerStep()
        try follow()
    }

    /// Steps both stages until everything submitted is acknowledged.
    private func drain() throws(FaultSimulationFailure) {
        for _ in 0..<100_000 {
            guard let core else { return }
            let (submitted, durable, applied) = core.cursors
            if applied == submitted { return }
            if core.failed != nil { throw fail("the node failed while draining: \(core.failed!) (cursors \(submitted), \(durable), \(applied))") }
            try sequence()
            _ = core.engineStep()
        }
        throw fail("the node did not drain its queue")
    }

    /// Stops the node the way an operator does, then checks that every command submitted was
    /// acknowledged or reported failed.
    private func stopCleanly() throws(FaultSimulationFailure) {
        guard let core else { return }
        note("stop")
        core.beginStop()
        var sequencer = NodeStep.progressed, engine = NodeStep.progressed
        for _ in 0..<100_000 where sequencer != .finished || engine != .finished {
            if sequencer != .finished {
                sequencer = core.sequencerStep()
                try follow()
            }
            if engine != .finished { engine = core.engineStep() }
            time.advance(byNs: 100_000)
        }
        guard sequencer == .finished && engine == .finished else { throw fail("the node did not stop") }
        core.writePendingSnapshot()
        let failed = core.failed
        try? core.finish()
        if failed != nil { report.failedNodes += 1 }
        report.snapshotFailures += core.snapshotFailures.count
        if resolvedSinceStart != submittedSinceStart {
            throw fail("a stop left \(submittedSinceStart - resolvedSinceStart) commands neither acknowledged nor failed (node failure: \(failed.map { "\($0)" } ?? "none"))")
        }
        report.cleanStops += 1
        self.core = nil
    }

    /// A power cut: what was not synced is lost or torn; now and then a stored bit flips
    /// while the machine is down.
    private func crash() {
        if let core { note("crash with cursors \(core.cursors)") }
        abandonCore()
        storage.crash()
        report.crashes += 1
        if below(4) == 0 {
            let damageable = storage.paths(under: "/sim").filter {
                !$0.hasSuffix(".idx") && !$0.hasSuffix("/LOCK") && !$0.hasSuffix(".tmp")
            }
            if let flip = storage.flipBit(among: damageable) { note("bit flipped in \(flip.path) at \(flip.offset)") }
        }
    }

    /// The process dies; the machine does not (everything written is still there).
    private func exitProcess() {
        note("process exit")
        abandonCore()
        storage.processExit()
        report.processExits += 1
    }

    private func abandonCore() {
        if let core { report.snapshotFailures += core.snapshotFailures.count }
        core?.abandon()
        core = nil
        follower = nil
    }

    // MARK: - Restart and checks

    /// Starts a node on what the storage holds, as an operator would: a recovery that meets an
    /// injected error is tried again; one refused for damage must name a damaged file, and the
    /// damage is then repaired (as from a backup) before trying again.
    private func start() throws(FaultSimulationFailure) {
        for attempt in 0..<8 {
            storage.failurePpm = attempt < 4 ? failurePpm : 0
            do {
                core = try NodeCore(options: nodeOptions, sink: self, snapshotThread: false)
                break
            } catch {
                note("recovery: \(error); files: \(storage.paths(under: "/sim").map { ($0.split(separator: "/").last ?? "") + " \(storage.contents($0)?.count ?? 0)" })")
                if flipExplaining(error) != nil {
                    report.refusedRecoveries += 1
                    storage.undoFlips()
                } else if isInjectedError(error) {
                    report.retriedRecoveries += 1
                    storage.processExit()
                } else {
                    throw fail("recovery failed: \(error)")
                }
            }
        }
        guard let core else { throw fail("the node did not start after 8 attempts") }
        note("started: \(core.recovery.summary); journal: \(core.journalRecovery)")
        storage.failurePpm = failurePpm
        try storage.withoutFaults { () throws(FaultSimulationFailure) in try check(core) }
        report.restarts += 1
        submittedSinceStart = 0
        resolvedSinceStart = 0
    }

    /// Whether `error` is one the storage injected (a retry may succeed).
    private func isInjectedError(_ error: NodeError) -> Bool {
        if case let .journal(e) = error, case .io = e { return true }
        if case let .journal(e) = error, case .noSpace = e { return true }
        return false
    }

    /// The flipped bit an error reports, if it reports one: damage named in a file the
    /// simulator damaged, at or after the place named.
    private func flipExplaining(_ error: Error) -> SimulatedStorage.Flip? {
        let flips = storage.flips
        guard !flips.isEmpty else { return nil }
        func inFile(named name: String, from offset: Int) -> SimulatedStorage.Flip? {
            flips.first { $0.path.hasSuffix("/" + name) && $0.offset >= offset }
        }
        func snapshotFlip() -> SimulatedStorage.Flip? { flips.first { $0.path.hasSuffix(".xsnap") } }
        switch error {
        case let NodeError.journal(.corrupt(segment, offset, _, _)),
             let JournalError.corrupt(segment, offset, _, _):
            return inFile(named: segment, from: offset) ?? inFile(named: JournalDirectory.durableMarkName, from: 0)
        case let NodeError.journal(.badSnapshot(path, _, _)), let NodeError.snapshot(path, _):
            return flips.first { $0.path == path }
        case NodeError.journalGap:
            // Every snapshot that covers the retired journal was refused.
            return snapshotFlip()
        default:
            return nil
        }
    }

    /// After a restart: the journal against the archive and the acknowledgements, and the
    /// recovered state against a replay from scratch.
    private func check(_ core: NodeCore) throws(FaultSimulationFailure) {
        let last = core.recovery.lastSequence
        // Acknowledged commands cut off: only a flipped bit in the cut-off tail explains it (a
        // block above the durable mark, damaged, reads as a torn write; recovery zeroed it,
        // maybe in an earlier attempt that then failed).
        if highestAcknowledged > last {
            let lastSegment = storage.paths(under: nodeOptions.data.journal).filter { $0.hasSuffix(".seg") }.last
            let cut = storage.flips.contains { flip in
                flip.path == lastSegment && flip.offset > (storage.contents(flip.path)?.lastIndex { $0 != 0 } ?? -1)
            }
            guard cut else {
                throw fail("acknowledged commands up to \(highestAcknowledged) are gone: the journal ends at \(last)")
            }
            report.acknowledgedLostToFlips += unchecked.filter { $0.sequence > last }.count
            highestAcknowledged = last
        }
        // Read the whole surviving journal (damage found here was missed by nothing: recovery
        // did not need that part; it is repaired and read again).
        var records: [(sequence: UInt64, timestampNs: Int64, bytes: [UInt8])] = []
        var first: UInt64 = 1
        for attempt in 0..<3 {
            records.removeAll()
            do {
                let reader = try JournalReader(directory: nodeOptions.data.journal, storage: storage)
                first = reader.firstSequence ?? last + 1
                while let r = try reader.nextRecord() { records.append(r) }
                break
            } catch {
                guard attempt < 2, flipExplaining(error) != nil else { throw fail("reading the recovered journal: \(error)") }
                report.damageFoundByReplay += 1
                storage.undoFlips()
            }
        }
        // Flips not in the journal's last segment are repaired (the last one's were cut off
        // or refused); those left are in bytes the writer rewrites.
        storage.undoFlips(keeping: storage.paths(under: nodeOptions.data.journal).last)
        storage.forgetFlips()
        guard (records.last?.sequence ?? first - 1) == last else {
            throw fail("the journal's records end at \(records.last?.sequence ?? 0), recovery said \(last)")
        }
        guard first <= UInt64(archive.count) + 1 else {
            throw fail("the journal starts at \(first), but records from \(archive.count + 1) were never seen")
        }
        guard last <= UInt64(archive.count) else {
            throw fail("the journal holds records up to \(last), only \(archive.count) were written")
        }
        for r in records where archive[Int(r.sequence - 1)].bytes != r.bytes || archive[Int(r.sequence - 1)].timestampNs != r.timestampNs {
            throw fail("record \(r.sequence) differs from what was written")
        }
        archive.removeLast(archive.count - Int(last))
        // Live path = replay path: each acknowledged command is its record.
        for a in unchecked where a.sequence <= last {
            guard archive[Int(a.sequence - 1)].bytes == a.bytes else {
                throw fail("acknowledged command \(a.sequence) differs from its journal record")
            }
        }
        unchecked.removeAll()
        // The recovered state against a replay of every record from the first.
        if reference.lastSequence > last { reference = Replayer() }
        do {
            for s in Int(reference.lastSequence)..<Int(last) {
                let command = try CommandCodec.decode(archive[s].bytes)
                try reference.apply(command, sequence: UInt64(s + 1), timestampNs: archive[s].timestampNs)
            }
        } catch {
            throw fail("replaying from scratch: \(error)")
        }
        guard reference.digest == core.recovery.replayer.digest else {
            throw fail("the recovered state (\(core.recovery.summary)) differs from a replay from scratch at sequence \(last)")
        }
        do {
            follower = try JournalReader(directory: nodeOptions.data.journal, storage: storage)
            if last >= first { try follower!.seek(to: last + 1) }
        } catch {
            throw fail("following the journal: \(error)")
        }
    }

    /// Reads what the writer added since the last look into the archive.
    private func follow() throws(FaultSimulationFailure) {
        guard let follower else { return }
        try storage.withoutFaults { () throws(FaultSimulationFailure) in try read(follower) }
    }

    private func read(_ follower: JournalReader) throws(FaultSimulationFailure) {
        do {
            // Looks for new segments too (a reader opened on an empty journal has none).
            _ = try follower.waitForData(timeoutNs: 0)
            while let r = try follower.nextRecord() {
                guard r.sequence == UInt64(archive.count) + 1 else {
                    throw fail("the follower read sequence \(r.sequence) after \(archive.count)")
                }
                archive.append((r.timestampNs, r.bytes))
            }
        } catch let failure as FaultSimulationFailure {
            throw failure
        } catch {
            throw fail("following the journal: \(error)")
        }
    }

    // MARK: - NodeSink

    public func acknowledged(tag: UInt64, sequence: UInt64, timestampNs: Int64, command: Command, events: EventList,
                             engine: MatchingEngine) {
        var bytes: [UInt8] = []
        CommandCodec.encode(command, into: &bytes)
        unchecked.append((sequence, bytes))
        highestAcknowledged = max(highestAcknowledged, sequence)
        agents.learn(Array(events), of: command)
        report.acknowledged += 1
        resolvedSinceStart += 1
    }

    public func failed(tag: UInt64, error: NodeError) {
        resolvedSinceStart += 1
    }
}
