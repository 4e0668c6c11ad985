import Codec
import Journal
import Matching
import _Posix

/// Where the sequencer's timestamps come from: the wall clock (a node), or a logical clock
/// that gives sequence `s` the time `startNs + s × stepNs` (a simulation, whose journal must be
/// the same on every run).
public enum NodeClock: Sendable, Equatable {
    case wall
    case logical(startNs: Int64, stepNs: Int64)
}

public struct NodeOptions: Sendable {
    public var data: DataDirectory
    public var journal = JournalOptions()
    /// Snapshot after this many commands (0: not by count).
    public var snapshotEveryCommands: UInt64 = 0
    /// Snapshot after this much time with new commands (0: not by time).
    public var snapshotEveryNs: Int64 = 0
    /// Snapshot files kept (the newest); 0 keeps all.
    public var keepSnapshots = 3
    /// Drop journal segments wholly below the oldest kept snapshot (opt-in: an auditor may
    /// want the whole journal).
    public var retainJournalFromSnapshots = false
    /// Journal a checkpoint every this many commands (0: never). Each costs the engine thread
    /// one state digest (about 30 ms for a million resting orders).
    public var checkpointEvery: UInt64 = 1_000_000
    /// Commands that may wait between submission and application; a submission beyond it is
    /// answered `busy`. A power of two.
    public var queueCapacity = 1 << 13
    public var clock = NodeClock.wall
    /// Each `submit(batch:)` (and each checkpoint) becomes a journal block of its own, instead
    /// of the sequencer appending whatever has queued as one group commit. Slower (a flush per
    /// batch), but the blocks then depend only on what was submitted: the simulator sets it so
    /// that its journal, chain head included, is the same on every run.
    public var blockPerSubmission = false
    /// Where the journal and snapshots are kept (a simulation puts them in memory).
    public var storage: any Storage = PosixStorage.shared
    /// Monotonic time for timers, wall time for `clock: .wall` (a simulation moves it by hand).
    public var time: any TimeSource = SystemTime.shared
    /// Start as a replica: the journal grows only by its primary's stored pieces (`offer`),
    /// submissions are answered `.notLeader`, until `promote()`.
    public var follower = false
    /// A primary acknowledges a command only once it is durable here and on this many
    /// replicas (0: replicas follow asynchronously). Replicas report through
    /// `replicasDurable(through:)`.
    public var ackReplicas = 0
    /// On stop, how long a primary waits for its replicas to make the last commands durable
    /// before it fails them (they stay in its journal; they were never acknowledged).
    public var quorumStopGraceNs: Int64 = 2_000_000_000
    /// The most bytes of stored pieces a replica queues before `offer` answers `.full`.
    public var inboundBytesMax = 16 << 20
    /// Who streams the journal to replicas, or feeds this replica: told of progress.
    public var replication: (any ReplicationObserver)?

    public init(data: DataDirectory) { self.data = data }
}

/// What replication hears from a node's stages. Called on the node's threads: post the work
/// elsewhere and return.
public protocol ReplicationObserver: AnyObject, Sendable {
    /// (A primary) the journal holds blocks through `sequence` in its map: stream them.
    func written(through sequence: UInt64)
    /// (A replica) everything through `sequence` is durable in this journal.
    func durable(through sequence: UInt64)
    /// (A replica) the engine has applied everything through `sequence`, whose command the
    /// primary stamped `timestampNs`.
    func applied(through sequence: UInt64, timestampNs: Int64)
    /// (A replica) the queue of stored pieces has room again after `offer` answered `.full`.
    func inboundRoom()
}

/// A piece of the primary's journal as it is stored (`StoredPiece`), copied for the queue.
public enum ReplicaPiece: Sendable {
    case segment([UInt8])
    case block([UInt8])

    public var count: Int {
        switch self {
        case let .segment(bytes), let .block(bytes): return bytes.count
        }
    }
}

public enum OfferResult: Sendable, Equatable {
    case queued
    /// The queue is full: `ReplicationObserver.inboundRoom()` says when to go on.
    case full
    /// The node is stopping or has failed.
    case stopped
    /// The node is no replica (any more).
    case notFollower
}

/// Who hears what the node did. Called on the node's threads: keep it short.
public protocol NodeSink: AnyObject {
    /// A command is durable (under the journal's policy) and applied; `events` are its events.
    /// Called on the engine thread, in sequence order.
    func acknowledged(tag: UInt64, sequence: UInt64, timestampNs: Int64, command: Command, events: EventList,
                      engine: MatchingEngine)
    /// A submitted command will not be acknowledged: the journal failed and the node stopped.
    /// It may or may not be in the journal; recovery will tell.
    func failed(tag: UInt64, error: NodeError)
    /// The engine has applied everything durable so far, up to `sequence` (a sink that buffers
    /// output flushes it here).
    func caughtUp(to sequence: UInt64)
}

extension NodeSink {
    public func caughtUp(to sequence: UInt64) {}
}

public enum SubmitResult: Sendable, Equatable {
    case queued
    /// The queue is full: try again later (back-pressure, never unbounded memory).
    case busy
    /// The node is stopping or has failed.
    case stopped
    /// The node is a replica: commands go to its primary.
    case notLeader
}

/// A running node: callers submit commands; the **sequencer** thread stamps each with its
/// sequence and time and appends whatever has queued to the journal as one group commit; the
/// **engine** thread applies commands once they are durable and hands their events to the
/// sink; a **snapshot** thread writes copies of the state. (DESIGN.md, "The one idea".)
///
/// The threads only drive a `NodeCore`, which makes every decision: each thread steps its
/// stage and waits when the step says it is idle.
public final class Node: @unchecked Sendable {
    private let core: NodeCore
    private var threads: [WorkerThread] = []

    public var options: NodeOptions { core.options }
    /// How the state was rebuilt when the node started.
    public var recovery: StateRecovery { core.recovery }
    /// What the journal found at its tail when it opened (a torn write it dropped, if any).
    public var journalRecovery: RecoveryReport { core.journalRecovery }

    /// Recovers the state of `options.data` (snapshot + journal tail) and starts the threads.
    public init(options: NodeOptions, sink: NodeSink) throws(NodeError) {
        core = try NodeCore(options: options, sink: sink, snapshotThread: true)
        threads.append(WorkerThread { [self] in
            drive(core.sequencerStep)
            sequencerCPUSeconds = threadCPUSeconds()
        })
        threads.append(WorkerThread { [self] in
            drive(core.engineStep)
            engineCPUSeconds = threadCPUSeconds()
        })
    }

    /// A stage's thread: step while there is work, wait for more when idle, until it finishes.
    private func drive(_ step: (StepWait) -> NodeStep) {
        var wait = StepWait.no
        while true {
            switch step(wait) {
            case .progressed: wait = .no
            case let .idle(timeoutNs): wait = .forWork(timeoutNs: timeoutNs)
            case .finished: return
            }
        }
    }

    /// The most commands one `submit(batch:)` can queue (a larger batch is always `busy`).
    public var submissionMax: Int { core.submissionMax }

    /// Queues a command; the sink hears of it with `tag`.
    public func submit(_ command: Command, tag: UInt64) -> SubmitResult {
        core.submit(command, tag: tag)
    }

    /// Queues commands together (all or none), tagged `firstTag`, `firstTag + 1`, …; with
    /// `waitingForRoom`, a full queue makes the call wait instead of answering `busy` (a batch
    /// larger than the queue is always `busy`).
    public func submit(batch commands: [Command], firstTag: UInt64, waitingForRoom: Bool = false) -> SubmitResult {
        core.submit(batch: commands, firstTag: firstTag, waitingForRoom: waitingForRoom)
    }

    /// `submit(batch:)` for a caller that gives its commands away: they are moved into the
    /// queue, not copied, and `batch` is left empty (its storage kept for the next batch).
    public func submit(taking batch: inout [Command], firstTag: UInt64, waitingForRoom: Bool = false) -> SubmitResult {
        core.submit(taking: &batch, firstTag: firstTag, waitingForRoom: waitingForRoom)
    }

    /// Asks for a snapshot as soon as the engine finishes what it is applying.
    public func requestSnapshot() { core.requestSnapshot() }

    /// Whether the node is a replica, and whether a promotion is under way.
    public var role: (isFollower: Bool, promoting: Bool) { core.role }

    /// The sequence and chain hash after the journal's last record.
    public var journalHead: (sequence: UInt64, chain: Digest32) { core.journalHead }

    /// The cursors as sequences: submitted (queued), durable (may be acknowledged), applied.
    public var cursors: (submitted: UInt64, durable: UInt64, applied: UInt64) { core.cursors }

    /// (A replica) queues a piece of the primary's journal (`NodeCore.offer`).
    public func offer(_ piece: ReplicaPiece) -> OfferResult { core.offer(piece) }

    /// (A replica) becomes a primary, journaling a term record first (`NodeCore.promote`).
    public func promote(epoch: UInt64? = nil, leader: String = "") -> Bool { core.promote(epoch: epoch, leader: leader) }

    /// Once promoted: the last sequence received as a replica, and the epoch taken.
    public var promotion: (after: UInt64, epoch: UInt64)? { core.promotion }

    /// The highest epoch in the journal's term records (`NodeCore.currentEpoch`).
    public var currentEpoch: UInt64 { core.currentEpoch }

    /// (A primary with `ackReplicas`) the replicas' quorum has everything through `sequence`.
    public func replicasDurable(through sequence: UInt64) { core.replicasDurable(through: sequence) }

    /// The failure that stopped the node, if one did.
    public var failed: NodeError? { core.failed }

    /// CPU time the sequencer and engine threads used (valid once `stop()` has returned): how
    /// busy each stage was, next to the wall time.
    public private(set) var sequencerCPUSeconds = 0.0
    public private(set) var engineCPUSeconds = 0.0

    /// The engine's state and counters; read it once `stop()` has returned.
    public var state: Replayer { core.state }

    /// The last sequence applied (and acknowledged).
    public var appliedSequence: UInt64 { core.appliedSequence }

    /// Stops taking commands (they are answered `.stopped`); what is queued is still applied
    /// and acknowledged. `stop()` then waits for that.
    public func beginStop() { core.beginStop() }

    /// Stops taking commands, applies and acknowledges everything queued, waits for a snapshot
    /// being written, syncs and closes the journal. Throws the failure that stopped the node
    /// early, if any.
    public func stop() throws(NodeError) {
        core.beginStop()
        for thread in threads { thread.join() }
        threads = []
        try core.finish()
    }

    /// Snapshot writes that failed (a full disk, say), and the last one's error; read once
    /// `stop()` has returned. A failed snapshot does not stop the node: the journal holds every
    /// command, and the next trigger tries again.
    public var snapshotFailures: (count: Int, last: JournalError?) { core.snapshotFailures }
}

/// Hands every acknowledgement to several sinks in turn (a node that answers on stdout and
/// serves an API), on the engine thread.
public final class FanOutSink: NodeSink {
    private let sinks: [NodeSink]

    public init(_ sinks: [NodeSink]) { self.sinks = sinks }

    public func acknowledged(tag: UInt64, sequence: UInt64, timestampNs: Int64, command: Command, events: EventList,
                             engine: MatchingEngine) {
        for sink in sinks {
            sink.acknowledged(tag: tag, sequence: sequence, timestampNs: timestampNs, command: command, events: events,
                              engine: engine)
        }
    }

    public func failed(tag: UInt64, error: NodeError) {
        for sink in sinks { sink.failed(tag: tag, error: error) }
    }

    public func caughtUp(to sequence: UInt64) {
        for sink in sinks { sink.caughtUp(to: sequence) }
    }
}
