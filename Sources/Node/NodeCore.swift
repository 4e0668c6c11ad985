import Codec
import Journal
import Matching
import _Posix

/// Whether a step waits for work first.
public enum StepWait: Equatable, Sendable {
    /// Step at once (a simulation).
    case no
    /// Wait while there is nothing to do, at most this long (nil: no limit), then step (a
    /// node's thread, after an `.idle` step).
    case forWork(timeoutNs: Int64?)
}

/// What a step of the node's core did, and what its driver does next.
public enum NodeStep: Equatable, Sendable {
    /// It did something and may have more: step again.
    case progressed
    /// Nothing to do: wait for work, or at most this long (nil: no limit) before stepping again.
    case idle(timeoutNs: Int64?)
    /// This stage is done (the node stopped or failed).
    case finished
}

/// The node's decisions as a state machine, advanced by explicit steps: which commands form a
/// group commit, when a command may be acknowledged, when to checkpoint, snapshot, store the
/// durable mark and retire journal segments, how to fail and stop. Time comes from
/// `options.time` and files from `options.storage`, so one thread can drive it step by step
/// with simulated time and storage (`FaultSimulator`) and get the same run every time.
///
/// `Node` drives it with three threads: the **sequencer** calls `sequencerStep` (stamp, append,
/// sync), the **engine** `engineStep` (apply durable commands, acknowledge), the snapshot
/// thread `writePendingSnapshot`; after an idle step, a thread's next step waits for work. The stages
/// share one ring of slots and three cursors, `submitted` (callers) ≥ `durable` (sequencer:
/// journaled and durable under the policy) ≥ `applied` (engine), moved under one lock once per
/// batch. A slot is written by a caller, then read by the sequencer, then by the engine, then
/// reused. Every step checks the invariants.
public final class NodeCore: @unchecked Sendable {
    public let options: NodeOptions
    /// How the state was rebuilt when the node started.
    public let recovery: StateRecovery
    /// What the journal found at its tail when it opened (a torn write it dropped, if any).
    public let journalRecovery: RecoveryReport

    private struct Slot {
        var tag: UInt64 = 0
        var isInternal = false
        /// The last command of a `submit(batch:)` or a checkpoint: its block ends here.
        var endsBlock = false
        var timestampNs: Int64 = 0
    }

    private let monitor = Monitor()
    // Under `monitor`'s lock, one condition per kind of waiter: the sequencer waits for
    // submissions, the engine for durable commands, callers for room.
    private let submittedMoved = Monitor.Condition()
    private let durableMoved = Monitor.Condition()
    private let roomFreed = Monitor.Condition()

    private func wakeEveryone() {
        submittedMoved.broadcast()
        durableMoved.broadcast()
        roomFreed.broadcast()
    }
    private let slots: UnsafeMutablePointer<Slot>
    /// The slots' commands, apart: initialized by a caller's submit, read in place by the
    /// sequencer, moved out by the engine (so a command is never copied inside the node).
    /// Initialized exactly in `applied..<submitted`.
    private let commands: UnsafeMutablePointer<Command>
    private let mask: UInt64
    /// Slots kept free for the node's own commands (checkpoints), so they never wait.
    private static let reserve: UInt64 = 8
    /// The most commands one group commit takes, and how often the engine gives slots back.
    private static let groupCommitMax: UInt64 = 4_096
    private static let releaseEvery: UInt64 = 256
    // Cursors, counted in slots since start (guarded by `monitor`).
    private var submitted: UInt64 = 0
    private var durable: UInt64 = 0
    private var applied: UInt64 = 0
    private var stopping = false
    private var sequencerDone = false
    private var failure: NodeError?
    private var snapshotRequested = false
    private var retireBelow: UInt64 = 0
    // Replication (guarded by `monitor`).
    /// A replica: the journal grows by `offer`ed pieces only.
    private var isFollower: Bool
    /// `promote()` was called; the sequencer completes it once every received record is queued.
    private var promoteRequested = false
    private var inbound: [ReplicaPiece] = []
    private var inboundBytes = 0
    private var inboundWasFull = false
    /// (A primary with `ackReplicas`) the sequence the replicas' quorum has made durable.
    private var quorumSequence: UInt64
    /// Slots durable in this journal (`durable` also waits for the quorum).
    private var localDurable: UInt64 = 0
    /// The sequence and chain hash after the journal's last record.
    private var head: (sequence: UInt64, chain: Digest32)
    /// The highest epoch journaled (term records), and the term a promotion journals.
    private var epoch: UInt64
    private var promotionTerm: (epoch: UInt64?, leader: String) = (nil, "")
    /// Once promoted: the last sequence received as a replica, and the epoch it took.
    private var promoted: (after: UInt64, epoch: UInt64)?
    /// Sequence of slot 0 minus one.
    private let sequenceBase: UInt64

    private let writer: JournalWriter
    private let time: any TimeSource
    /// Held strongly until `finish()` (a sink may hold the node: `finish` ends that cycle).
    /// Not weakly: a weakly referenced object gets a side table, and every retain and release
    /// of it (one per acknowledgement) then takes the runtime's slow path.
    private var sink: NodeSink?
    private let snapshotter: Snapshotter

    // The sequencer's own state (only `sequencerStep` touches it).
    private var sequenced: UInt64 = 0
    /// Whether the sequencer appends received pieces (a replica) or submitted commands.
    private var sequencerFollows: Bool
    /// A replica's received records not yet in slots (the queue was full), from `pendingAt` on.
    private var pending: [(command: Command, timestampNs: Int64, isInternal: Bool)] = []
    private var pendingAt = 0
    /// When a stopping primary gives up waiting for its replicas.
    private var quorumDeadlineNs: Int64?
    private var reportedDurable: UInt64 = 0
    /// The highest epoch of the term records the sequencer has written.
    private var termEpoch: UInt64 = 0
    private var encoded: [UInt8] = []
    private var lastTimestamp: Int64
    private var lastBusyNs: Int64

    // The engine's own state (only `engineStep` touches it). The state goes into the step as
    // an `inout` argument, so that the hot loop pays one exclusivity check per step, none per
    // command, and no reference counting of the engine's storage.
    private var replayer: Replayer
    private var engineCursor: UInt64 = 0
    private var sinceCheckpoint: UInt64 = 0
    private var checkpointInFlight = false
    private var sinceSnapshot: UInt64 = 0
    private var lastSnapshotNs: Int64
    private var lastAcknowledged: UInt64

    /// Recovers the state of `options.data` (snapshot + journal tail).
    /// - Parameter snapshotThread: write snapshots on a thread of their own (a running node);
    ///   without it they wait for `writePendingSnapshot()` (a simulation's step).
    public init(options: NodeOptions, sink: NodeSink, snapshotThread: Bool) throws(NodeError) {
        guard options.queueCapacity >= 16, options.queueCapacity & (options.queueCapacity - 1) == 0 else {
            throw .invalidOptions("queue capacity must be a power of two ≥ 16")
        }
        self.options = options
        self.sink = sink
        time = options.time
        let storage = options.storage
        do {
            var journalOptions = options.journal
            journalOptions.recordKind = .commands
            // A snapshot holds only applied records, and the engine applies only what was
            // synced (unless the policy is `none`): the journal must reach the newest one.
            let newest = options.journal.durability == .none ? nil
                : try SnapshotStore.list(options.data.snapshots, storage: storage).first
            writer = try JournalWriter(directory: options.data.journal, options: journalOptions, clock: time, storage: storage,
                                       syncedAtLeast: newest?.sequence ?? 0,
                                       syncedEvidence: newest.map { "the snapshot \($0.name)" } ?? "")
            try SnapshotStore.removeTemporaries(options.data.snapshots, storage: storage)
        } catch {
            throw .journal(error)
        }
        journalRecovery = writer.recovery
        var recovery: StateRecovery
        do throws(NodeError) {
            let setAside: [String]
            do {
                setAside = try SnapshotStore.setAside(beyond: writer.lastSequence, in: options.data.snapshots, storage: storage)
            } catch {
                throw NodeError.journal(error)
            }
            recovery = try Recovery.rebuild(journal: options.data.journal,
                                            RebuildOptions(snapshots: options.data.snapshots, storage: storage))
            recovery.setAside = setAside
        } catch {
            try? writer.close()
            throw error
        }
        self.recovery = recovery
        replayer = recovery.replayer
        sequenceBase = writer.lastSequence
        isFollower = options.follower
        sequencerFollows = options.follower
        quorumSequence = writer.lastSequence
        head = (writer.lastSequence, writer.chainHead)
        epoch = recovery.replayer.epoch
        termEpoch = epoch
        reportedDurable = writer.lastSequence
        precondition(recovery.replayer.lastSequence == sequenceBase, "recovery stopped before the journal's end")
        lastAcknowledged = sequenceBase
        lastTimestamp = writer.lastSequence == 0 ? Int64.min : recovery.replayer.lastTimestampNs
        lastBusyNs = time.monotonicNs()
        lastSnapshotNs = lastBusyNs
        encoded.reserveCapacity(1 << 10)
        slots = .allocate(capacity: options.queueCapacity)
        slots.initialize(repeating: Slot(), count: options.queueCapacity)
        commands = .allocate(capacity: options.queueCapacity)
        mask = UInt64(options.queueCapacity - 1)
        snapshotter = Snapshotter(directory: options.data.snapshots, keep: options.keepSnapshots, storage: storage,
                                  time: time, newest: recovery.snapshotHeader?.sequence ?? 0, usesThread: snapshotThread)
    }

    deinit {
        for k in applied..<submitted { (commands + Int(k & mask)).deinitialize(count: 1) }
        commands.deallocate()
        slots.deinitialize(count: options.queueCapacity)
        slots.deallocate()
        if !sequencerDone { try? writer.close() }
    }

    // MARK: - Callers

    /// The most commands one `submit(batch:)` can queue (a larger batch is always `busy`).
    public var submissionMax: Int { options.queueCapacity - Int(Self.reserve) }

    /// Queues a command; the sink hears of it with `tag`.
    public func submit(_ command: Command, tag: UInt64) -> SubmitResult {
        monitor.locked { enqueue(command, tag: tag, isInternal: false) }
    }

    /// Queues commands together (all or none), tagged `firstTag`, `firstTag + 1`, …; with
    /// `waitingForRoom`, a full queue makes the call wait instead of answering `busy` (a batch
    /// larger than the queue is always `busy`).
    public func submit(batch commands: [Command], firstTag: UInt64, waitingForRoom: Bool = false) -> SubmitResult {
        monitor.locked {
            if let refused = room(for: commands.count, waiting: waitingForRoom) { return refused }
            for (i, command) in commands.enumerated() {
                put(command, tag: firstTag + UInt64(i), isInternal: false, endsBlock: i == commands.count - 1)
            }
            submittedMoved.broadcast()
            return .queued
        }
    }

    /// `submit(batch:)` for a caller that gives its commands away: they are moved into the
    /// queue, not copied, and `batch` is left empty (its storage kept for the next batch).
    public func submit(taking batch: inout [Command], firstTag: UInt64, waitingForRoom: Bool = false) -> SubmitResult {
        monitor.locked {
            if let refused = room(for: batch.count, waiting: waitingForRoom) { return refused }
            var taken = Command.halt(symbol: "")  // a placeholder that owns nothing
            for i in batch.indices {
                swap(&taken, &batch[i])
                put(consume taken, tag: firstTag + UInt64(i), isInternal: false, endsBlock: i == batch.count - 1)
                taken = .halt(symbol: "")
            }
            batch.removeAll(keepingCapacity: true)
            submittedMoved.broadcast()
            return .queued
        }
    }

    /// With the lock held: nil when `count` more callers' commands fit now (after waiting for
    /// room if asked), else the answer to give.
    private func room(for count: Int, waiting: Bool) -> SubmitResult? {
        if isFollower || promoteRequested { return stopping || failure != nil ? .stopped : .notLeader }
        let room = mask + 1 - Self.reserve
        guard UInt64(count) <= room else { return .busy }
        while waiting && !stopping && failure == nil && submitted - applied + UInt64(count) > room {
            monitor.wait(on: roomFreed)
        }
        guard !stopping, failure == nil else { return .stopped }
        guard submitted - applied + UInt64(count) <= room else { return .busy }
        return nil
    }

    /// With the lock held and room checked: the command into the next slot.
    private func put(_ command: consuming Command, tag: UInt64, isInternal: Bool, endsBlock: Bool) {
        (commands + Int(submitted & mask)).initialize(to: command)
        let slot = slots + Int(submitted & mask)
        slot.pointee.tag = tag
        slot.pointee.isInternal = isInternal
        slot.pointee.endsBlock = endsBlock
        submitted += 1
    }

    /// With the lock held.
    private func enqueue(_ command: Command, tag: UInt64, isInternal: Bool, endsBlock: Bool = false) -> SubmitResult {
        guard !stopping, failure == nil else { return .stopped }
        if isFollower || promoteRequested { return .notLeader }
        let limit = isInternal ? mask + 1 : mask + 1 - Self.reserve
        guard submitted - applied < limit else { return .busy }
        put(command, tag: tag, isInternal: isInternal, endsBlock: endsBlock)
        submittedMoved.broadcast()
        return .queued
    }

    // MARK: - Replication

    /// Whether the node is a replica, and whether a promotion is under way.
    public var role: (isFollower: Bool, promoting: Bool) { monitor.locked { (isFollower, promoteRequested) } }

    /// The sequence and chain hash after the journal's last record (a replica's position).
    public var journalHead: (sequence: UInt64, chain: Digest32) { monitor.locked { head } }

    /// The highest epoch in the journal's term records (as far as this node has read them: a
    /// start from a snapshot knows the terms after it).
    public var currentEpoch: UInt64 { monitor.locked { epoch } }

    /// Once a promotion has completed: the last sequence the node received as a replica (its
    /// term record follows it), and its epoch.
    public var promotion: (after: UInt64, epoch: UInt64)? { monitor.locked { promoted } }

    /// (A replica) queues a piece of the primary's journal, received and CRC-checked; the
    /// sequencer checks the rest, writes it and queues its records for the engine.
    public func offer(_ piece: ReplicaPiece) -> OfferResult {
        monitor.locked {
            guard !stopping, failure == nil else { return .stopped }
            guard isFollower, !promoteRequested else { return .notFollower }
            if inboundBytes >= options.inboundBytesMax {
                inboundWasFull = true
                return .full
            }
            inbound.append(piece)
            inboundBytes += piece.count
            submittedMoved.broadcast()
            return .queued
        }
    }

    /// (A replica) becomes a primary: once every record already received is queued for the
    /// engine (the pieces already offered are written first), it journals a term record
    /// (`epoch`, or one more than the highest it has; with `leader`, its name) and then takes
    /// submissions, appended after them.
    /// - Returns: false when the node is no replica.
    public func promote(epoch newEpoch: UInt64? = nil, leader: String = "") -> Bool {
        monitor.locked {
            guard isFollower, !stopping, failure == nil else { return false }
            promotionTerm = (newEpoch, leader)
            promoteRequested = true
            submittedMoved.broadcast()
            return true
        }
    }

    /// (A primary with `ackReplicas`) the replicas' quorum has made everything through
    /// `sequence` durable: commands durable here too may be acknowledged.
    public func replicasDurable(through sequence: UInt64) {
        monitor.locked {
            guard sequence > quorumSequence else { return }
            quorumSequence = sequence
            let quorum = min(localDurable, sequence - sequenceBase)
            if quorum > durable {
                durable = quorum
                durableMoved.broadcast()
            }
            // A stopping sequencer waits for this.
            submittedMoved.broadcast()
        }
    }

    /// Asks for a snapshot as soon as the engine finishes what it is applying.
    public func requestSnapshot() {
        monitor.locked {
            snapshotRequested = true
            durableMoved.broadcast()
        }
    }

    /// Stops taking commands; the stages apply and acknowledge what is queued, sync, and
    /// finish.
    public func beginStop() {
        monitor.locked {
            stopping = true
            wakeEveryone()
        }
    }

    /// Once both stages have finished: finishes the snapshot being written and lets go of the
    /// sink. Throws the failure that stopped the node early, if any.
    public func finish() throws(NodeError) {
        sink = nil
        snapshotter.shutdown()
        if let failure = monitor.locked({ failure }) { throw failure }
    }

    /// Drops everything as a crash of the process would: nothing more is written, synced or
    /// acknowledged, and the journal is let go without closing it (a simulation's crash).
    public func abandon() {
        monitor.locked {
            stopping = true
            sequencerDone = true
        }
        sink = nil
        writer.abandon()
        snapshotter.shutdown()
    }

    /// The failure that stopped the node, if one did.
    public var failed: NodeError? { monitor.locked { failure } }

    /// The engine's state and counters; read it once the engine stage has finished.
    public var state: Replayer { replayer }

    /// The last sequence applied (and acknowledged).
    public var appliedSequence: UInt64 { monitor.locked { sequenceBase + applied } }

    /// The cursors as sequences: submitted (queued), durable (may be acknowledged), applied.
    public var cursors: (submitted: UInt64, durable: UInt64, applied: UInt64) {
        monitor.locked { (sequenceBase + submitted, sequenceBase + durable, sequenceBase + applied) }
    }

    /// Snapshot writes that failed (a full disk, say), and the last one's error. A failed
    /// snapshot does not stop the node: the journal holds every command, and the next trigger
    /// tries again.
    public var snapshotFailures: (count: Int, last: JournalError?) {
        (snapshotter.failures, snapshotter.failure)
    }

    /// Writes the snapshot the engine handed over, if any (a simulation's step; a node's
    /// snapshot thread does it by itself).
    @discardableResult
    public func writePendingSnapshot() -> Bool { snapshotter.writePending() }

    /// With the lock held: the cursors' order, on every step.
    private func checkInvariants() {
        precondition(submitted >= durable && durable >= applied,
                     "node cursors out of order: submitted \(submitted), durable \(durable), applied \(applied)")
        precondition(durable <= sequenced, "commands counted durable before they were sequenced")
    }

    // MARK: - Sequencer

    /// How long the sequencer waits without submissions before it stores the journal's durable
    /// mark (an fsync of its own). Shorter pauses, as under load, do not pay for it; a node
    /// that stops or crashes within it leaves a mark that lags (the records are still in the
    /// journal, only damage to them would read as a torn write).
    public static let markQuietNs: Int64 = 5_000_000

    /// Stamps what was submitted since the last step (at most one bounded group commit, so that
    /// the engine starts on it while the next one is journaled), appends it to the journal as
    /// one block, syncs as the policy says, and publishes what may now be acknowledged. Also
    /// retires segments when asked, and stores the durable mark once quiet.
    /// - Parameter wait: whether to wait first, while there is nothing to do (a thread that
    ///   drives the step passes what the last step's `.idle` said; a simulation never waits).
    public func sequencerStep(wait: StepWait = .no) -> NodeStep {
        if sequencerFollows { return followerStep(wait: wait) }
        var end: UInt64 = 0, stop = false, retire: UInt64 = 0
        let cursor = sequenced
        monitor.locked {
            if case let .forWork(timeoutNs) = wait {
                while submitted == cursor && !stopping && retireBelow == 0 {
                    monitor.wait(on: submittedMoved, timeoutNs: timeoutNs)
                    if timeoutNs != nil { break }
                }
            }
            end = options.blockPerSubmission ? submitted : min(submitted, cursor + Self.groupCommitMax)
            stop = stopping
            retire = retireBelow
            retireBelow = 0
        }
        let now = time.monotonicNs()
        if end > cursor { lastBusyNs = now }
        var bytes: [UInt8] = []
        swap(&bytes, &encoded)
        defer { swap(&bytes, &encoded) }
        do {
            // One reading of the clock per group commit: the commands drained together are
            // stamped with the time they were sequenced.
            let wall = options.clock == .wall && end > cursor ? max(lastTimestamp, time.wallNs()) : 0
            let clock = options.clock
            // The loop works on locals (a class's stored property pays an exclusivity check
            // per access); they go back to the properties after it.
            var lastTimestamp = self.lastTimestamp
            defer { self.lastTimestamp = lastTimestamp }
            for k in cursor..<end {
                let slot = slots + Int(k & mask)
                let sequence = sequenceBase + k + 1
                let ts: Int64
                switch clock {
                case .wall: ts = wall
                case let .logical(start, step): ts = start &+ Int64(truncatingIfNeeded: sequence) &* step
                }
                lastTimestamp = ts
                slot.pointee.timestampNs = ts
                bytes.removeAll(keepingCapacity: true)
                CommandCodec.encode(UnsafePointer(commands + Int(k & mask)), into: &bytes)
                if bytes.count > recordBytesMax { refuseOversized(commands + Int(k & mask), bytes: &bytes) }
                _ = try writer.append(bytes, timestampNs: ts)
                // With `blockPerSubmission`, a batch submitted together is a block of its
                // own, so that a caller that waits for each batch gets the same blocks on
                // every run.
                if options.blockPerSubmission && slot.pointee.endsBlock && k + 1 < end { try writer.flush() }
            }
            if end > cursor { try writer.flush() }
            try writer.syncIfDue()
            if stop && end == submittedCount() { _ = try writer.sync() }
            try retireSegments(below: retire)
        } catch {
            return failSequencer(.journal(error))
        }
        if end > cursor { options.replication?.written(through: writer.writtenSequence) }
        sequenced = end
        let nowDurable = ackableSlots
        var more = false, acknowledgeable: UInt64 = 0
        monitor.locked {
            publishDurable(nowDurable)
            acknowledgeable = durable
            checkInvariants()
            more = submitted != end || retireBelow != 0
        }
        if stop && !more && nowDurable == end {
            if acknowledgeable == end || options.ackReplicas == 0 {
                finishSequencer()
                return .finished
            }
            // Durable here, not yet on enough replicas: wait for them a while, then fail the
            // rest (journaled here, never acknowledged).
            let now = time.monotonicNs()
            let deadline = quorumDeadlineNs ?? now + options.quorumStopGraceNs
            quorumDeadlineNs = deadline
            if now < deadline { return .idle(timeoutNs: deadline - now) }
            fail(.replication("stopped with commands \(sequenceBase + acknowledgeable + 1)...\(sequenceBase + end) durable here but on fewer than \(options.ackReplicas) replicas: they were not acknowledged"),
                 fromSlot: acknowledgeable)
            finishSequencer()
            return .finished
        }
        if more { return .progressed }
        // Quiet with everything acknowledged: the durable mark catches up, so that damage to
        // the last acknowledged block is refused at recovery rather than cut off as a torn
        // write. Under load it waits for the next pause: no extra sync per batch.
        var timeout: Int64? = nil
        if case let .interval(ms) = options.journal.durability { timeout = Int64(ms) * 1_000_000 }
        if options.journal.durability != .none && nowDurable == end && writer.durableSequence > writer.markedSequence {
            let quietFor = now - lastBusyNs
            if quietFor >= Self.markQuietNs {
                do { try writer.markDurable() } catch {
                    return failSequencer(.journal(error))
                }
            } else {
                timeout = min(timeout ?? .max, Self.markQuietNs - quietFor)
            }
        }
        return .idle(timeoutNs: timeout)
    }

    private func submittedCount() -> UInt64 { monitor.locked { submitted } }

    /// Slots that may be acknowledged as far as this journal goes: synced (`always`, and
    /// `interval` once its sync ran), or with `none` in the page cache (it survives a crash of
    /// this process).
    private var ackableSlots: UInt64 {
        (options.journal.durability == .none ? writer.writtenSequence : writer.durableSequence) - sequenceBase
    }

    /// With the lock held: `local` slots are durable here; publishes what may be acknowledged
    /// (with `ackReplicas`, only what the replicas' quorum has too).
    private func publishDurable(_ local: UInt64) {
        localDurable = local
        head = (writer.lastSequence, writer.chainHead)
        // A replica's records were acknowledged by its primary: no quorum to wait for.
        let now = options.ackReplicas > 0 && !isFollower ? min(local, quorumSequence - sequenceBase) : local
        if now > durable {
            durable = now
            durableMoved.broadcast()
        }
    }

    private func retireSegments(below retire: UInt64) throws(JournalError) {
        guard retire > 0 else { return }
        // Recovery needs a snapshot at or after the journal's new start.
        precondition(retire <= snapshotter.newestWrittenSequence + 1,
                     "retiring below \(retire) with the newest snapshot at \(snapshotter.newestWrittenSequence)")
        _ = try writer.removeSegments(below: retire)
    }

    // MARK: - Replica sequencer

    /// Pieces one replica step takes at most (each block's records wait in `pending` until
    /// the slots have room).
    private static let piecesPerStep = 16

    /// A replica's sequencer step: writes the received pieces (every check a reader makes:
    /// the block must continue this journal), queues their records for the engine as room
    /// allows, publishes what is durable and tells the replication observer. Completes a
    /// promotion once every received record is queued.
    private func followerStep(wait: StepWait) -> NodeStep {
        var pieces: [ReplicaPiece] = []
        var stop = false, promote = false, retire: UInt64 = 0, hadRoomWaiter = false
        monitor.locked {
            if case let .forWork(timeoutNs) = wait {
                while !stopping && !promoteRequested && retireBelow == 0
                        && (pendingAt < pending.count ? freeSlots == 0 : inbound.isEmpty) {
                    monitor.wait(on: pendingAt < pending.count ? roomFreed : submittedMoved, timeoutNs: timeoutNs)
                    if timeoutNs != nil { break }
                }
            }
            pushPending()
            if pendingAt == pending.count && !stopping {
                let n = min(inbound.count, Self.piecesPerStep)
                pieces = Array(inbound[0..<n])
                inbound.removeFirst(n)
                inboundBytes -= pieces.reduce(0) { $0 + $1.count }
                hadRoomWaiter = inboundWasFull && inboundBytes < options.inboundBytesMax
                if hadRoomWaiter { inboundWasFull = false }
            }
            stop = stopping
            promote = promoteRequested
            retire = retireBelow
            retireBelow = 0
        }
        if !pieces.isEmpty { lastBusyNs = time.monotonicNs() }
        do {
            for piece in pieces {
                switch piece {
                case let .segment(bytes):
                    try writer.startSegment(bytes)
                case let .block(bytes):
                    try bytes.withUnsafeBytes { stored in
                        // One sync for all the blocks of this step (below), not one per block.
                        _ = try writer.appendStored(stored, syncing: false) { sequence, timestampNs, record in
                            let command: Command
                            do { command = try CommandCodec.decode(record) } catch {
                                throw NodeError.undecodable(sequence: sequence, reason: "\(error)")
                            }
                            var isInternal = false
                            switch command {
                            case .checkpoint: isInternal = true
                            case let .term(e, leader):
                                isInternal = true
                                // A stream whose epoch goes back is a deposed primary's.
                                guard e >= termEpoch else {
                                    throw NodeError.replication("a term of epoch \(e) (\(leader)) at sequence \(sequence) after epoch \(termEpoch): the stream of a deposed primary")
                                }
                                termEpoch = e
                            default: break
                            }
                            pending.append((command, timestampNs, isInternal))
                        }
                    }
                }
            }
            if options.journal.durability == .always && !pieces.isEmpty || stop || promote {
                _ = try writer.sync()
            } else {
                try writer.syncIfDue()
            }
            try retireSegments(below: retire)
        } catch let error as NodeError {
            return failSequencer(error)
        } catch let error as JournalError {
            switch error {
            case .notOnChain, .corrupt: return failSequencer(.replication("the primary's stream does not continue this journal: \(error)"))
            default: return failSequencer(.journal(error))
            }
        } catch {
            return failSequencer(.replication("\(error)"))
        }
        if let last = pending.last { lastTimestamp = max(lastTimestamp, last.timestampNs) }
        let ackable = ackableSlots
        var more = false, nowDurable: UInt64 = 0, promoted = false, finished = false
        monitor.locked {
            pushPending()
            sequenced = submitted
            nowDurable = min(ackable, submitted)
            publishDurable(nowDurable)
            checkInvariants()
            epoch = max(epoch, termEpoch)
            if promote && pendingAt == pending.count && inbound.isEmpty {
                isFollower = false
                promoteRequested = false
                quorumSequence = max(quorumSequence, sequenceBase + submitted)
                // The new term comes first, before any submission.
                epoch = max(promotionTerm.epoch ?? epoch + 1, epoch + 1)
                termEpoch = epoch
                self.promoted = (sequenceBase + submitted, epoch)
                _ = enqueue(.term(epoch: epoch, leader: promotionTerm.leader), tag: 0, isInternal: true, endsBlock: true)
                inbound.removeAll()
                inboundBytes = 0
                promoted = true
                roomFreed.broadcast()
            }
            finished = stop && nowDurable == submitted
            more = (!inbound.isEmpty && pendingAt == pending.count) || retireBelow != 0
                || (pendingAt < pending.count && freeSlots > 0)
        }
        if sequenceBase + nowDurable > reportedDurable {
            reportedDurable = sequenceBase + nowDurable
            options.replication?.durable(through: reportedDurable)
        }
        if hadRoomWaiter { options.replication?.inboundRoom() }
        if promoted {
            sequencerFollows = false
            pending.removeAll()
            pendingAt = 0
            return .progressed
        }
        if finished {
            finishSequencer()
            return .finished
        }
        if more { return .progressed }
        var timeout: Int64? = nil
        if case let .interval(ms) = options.journal.durability { timeout = Int64(ms) * 1_000_000 }
        return .idle(timeoutNs: timeout)
    }

    /// With the lock held: slots free for commands.
    private var freeSlots: UInt64 { mask + 1 - Self.reserve - (submitted - applied) }

    /// With the lock held: moves received records into free slots, in order.
    private func pushPending() {
        while pendingAt < pending.count && freeSlots > 0 {
            let record = pending[pendingAt]
            put(record.command, tag: 0, isInternal: record.isInternal, endsBlock: false)
            slots[Int((submitted - 1) & mask)].timestampNs = record.timestampNs
            pendingAt += 1
        }
        if pendingAt == pending.count && pendingAt > 0 {
            pending.removeAll(keepingCapacity: true)
            pendingAt = 0
        }
    }

    private var recordBytesMax: Int { options.journal.recordBytesMax }

    /// A command whose record would be over the journal's limit becomes, in its slot and in
    /// the journal, an invalid command saying so (its events: INVALID_COMMAND with that
    /// detail), so that no caller can stop the node with one large command.
    private func refuseOversized(_ command: UnsafeMutablePointer<Command>, bytes: inout [UInt8]) {
        let detail = "its record would take \(bytes.count) bytes, over the journal's limit of \(recordBytesMax)"
        let clientId = command.pointee.clientId.flatMap { $0.utf8.count <= 64 ? $0 : nil }
        command.pointee = .invalid(InvalidCommand(cmd: String(command.pointee.name.prefix(64)), account: nil,
                                                  clientId: clientId, detail: detail, text: ""))
        bytes.removeAll(keepingCapacity: true)
        CommandCodec.encode(UnsafePointer(command), into: &bytes)
    }

    /// The sequencer's failure: what was published durable is still applied and acknowledged;
    /// everything after it fails (written or not: recovery will tell).
    private func failSequencer(_ error: NodeError) -> NodeStep {
        fail(error, fromSlot: monitor.locked { durable })
        finishSequencer()
        return .finished
    }

    private func finishSequencer() {
        try? writer.close()
        monitor.locked {
            sequencerDone = true
            durableMoved.broadcast()
        }
    }

    /// Stops the node after a failure: nothing from `slot` on will be acknowledged.
    private func fail(_ error: NodeError, fromSlot slot: UInt64) {
        var end: UInt64 = 0
        monitor.locked {
            if failure == nil { failure = error }
            stopping = true
            end = submitted
            wakeEveryone()
        }
        for k in slot..<end where !slots[Int(k & mask)].isInternal {
            sink?.failed(tag: slots[Int(k & mask)].tag, error: error)
        }
    }

    // MARK: - Engine

    /// The engine's idle wait when snapshots are taken by time (it must wake to look).
    public var engineIdleTimeoutNs: Int64? {
        options.snapshotEveryNs > 0 ? min(options.snapshotEveryNs, 1_000_000_000) : nil
    }

    /// Applies every command that is durable, in sequence order, and acknowledges each to the
    /// sink; queues a checkpoint when one is due; hands a copy of the state to the snapshotter
    /// when one is due.
    /// - Parameter wait: as for `sequencerStep`.
    public func engineStep(wait: StepWait = .no) -> NodeStep { engineStep(&replayer, wait: wait) }

    private func engineStep(_ replayer: inout Replayer, wait: StepWait) -> NodeStep {
        var end: UInt64 = 0, done = false, snapshotNow = false, more = false, follows = false
        let cursor = engineCursor
        monitor.locked {
            if case let .forWork(timeoutNs) = wait {
                while durable == cursor && !sequencerDone && !snapshotRequested {
                    monitor.wait(on: durableMoved, timeoutNs: timeoutNs)
                    if timeoutNs != nil { break }
                }
            }
            end = durable
            done = sequencerDone && durable == cursor
            follows = isFollower
            snapshotNow = snapshotRequested
            snapshotRequested = false
        }
        let sink = self.sink
        // Locals in the loop (a class's stored property pays an exclusivity check per access),
        // stored back when the step ends.
        var lastAcknowledged = self.lastAcknowledged
        var sinceCheckpoint = self.sinceCheckpoint, sinceSnapshot = self.sinceSnapshot
        var checkpointInFlight = self.checkpointInFlight
        defer {
            self.lastAcknowledged = lastAcknowledged
            self.sinceCheckpoint = sinceCheckpoint
            self.sinceSnapshot = sinceSnapshot
            self.checkpointInFlight = checkpointInFlight
        }
        let checkpointEvery = options.checkpointEvery
        for k in cursor..<end {
            let slot = slots + Int(k & mask)
            let sequence = sequenceBase + k + 1
            let command = (commands + Int(k & mask)).move()
            do {
                try replayer.apply(command, sequence: sequence, timestampNs: slot.pointee.timestampNs)
            } catch {
                // Only a checkpoint can fail here, and only if this engine diverged from the
                // one that computed it: stop, acknowledging nothing more.
                monitor.locked { applied = k + 1 }  // its command is moved out
                engineCursor = k + 1
                fail(error, fromSlot: k)
                return .finished
            }
            sinceCheckpoint += 1
            sinceSnapshot += 1
            // A checkpoint goes into the queue before the command that made it due is
            // acknowledged, so its place in the journal depends only on what was submitted
            // before that acknowledgement.
            // (A replica journals its primary's checkpoints, never its own.)
            if checkpointEvery > 0 && sinceCheckpoint >= checkpointEvery && !checkpointInFlight && !follows {
                let c = replayer.lastCheckpoint.map { last in
                    Checkpoint(verifiedSequence: last.sequence, stateDigest: last.digest.bytes)
                } ?? .first
                if monitor.locked({ enqueue(.checkpoint(c), tag: 0, isInternal: true, endsBlock: true) }) == .queued {
                    checkpointInFlight = true
                    sinceCheckpoint = 0
                }
            }
            if slot.pointee.isInternal {
                // Counted from where the checkpoint landed: records are ≥ N apart.
                if case .checkpoint = command {
                    checkpointInFlight = false
                    sinceCheckpoint = 0
                }
            } else {
                precondition(sequence > lastAcknowledged, "acknowledgements out of sequence order")
                lastAcknowledged = sequence
                sink?.acknowledged(tag: slot.pointee.tag, sequence: sequence, timestampNs: slot.pointee.timestampNs,
                                   command: command, events: replayer.buffer.events,
                                   engine: replayer.engine)
            }
            // Give slots back as it goes, so that callers refill them meanwhile.
            if (k + 1) % Self.releaseEvery == 0 && k + 1 < end {
                monitor.locked {
                    applied = k + 1
                    roomFreed.broadcast()
                }
            }
        }
        if end > cursor {
            engineCursor = end
            sink?.caughtUp(to: sequenceBase + end)
            options.replication?.applied(through: sequenceBase + end, timestampNs: replayer.lastTimestampNs)
            monitor.locked {
                applied = end
                roomFreed.broadcast()
                checkInvariants()
                more = durable != end || sequencerDone || snapshotRequested
            }
        }
        let now = time.monotonicNs()
        let byCount = options.snapshotEveryCommands > 0 && sinceSnapshot >= options.snapshotEveryCommands
        let byTime = options.snapshotEveryNs > 0 && sinceSnapshot > 0 && now - lastSnapshotNs >= options.snapshotEveryNs
        if snapshotNow || byCount || byTime {
            // A copy of the engine is a few references: its arrays are copied when this
            // thread next writes them, which is the only stall a snapshot causes here.
            if snapshotter.offer(replayer.engine, sequence: replayer.lastSequence, timestampNs: replayer.lastTimestampNs,
                                 retire: options.retainJournalFromSnapshots ? { [self] oldest in
                                     monitor.locked {
                                         retireBelow = oldest + 1
                                         submittedMoved.broadcast()
                                     }
                                 } : nil) {
                sinceSnapshot = 0
                lastSnapshotNs = now
            }
        }
        if done { return .finished }
        return more ? .progressed : .idle(timeoutNs: engineIdleTimeoutNs)
    }
}
