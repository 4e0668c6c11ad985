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

    public init(data: DataDirectory) { self.data = data }
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
}

/// A running node: callers submit commands; the **sequencer** thread stamps each with its
/// sequence and time and appends whatever has queued to the journal as one group commit; the
/// **engine** thread applies commands once they are durable and hands their events to the
/// sink; a **snapshot** thread writes copies of the state. (DESIGN.md, "The one idea".)
///
/// The three share one ring of slots and three cursors: `submitted` (callers) ≥ `durable`
/// (sequencer: journaled and durable) ≥ `applied` (engine). A slot is written by a caller,
/// then read by the sequencer, then by the engine, then reused; the cursors move under one
/// lock, once per batch.
public final class Node: @unchecked Sendable {
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
    /// Sequence of slot 0 minus one.
    private let sequenceBase: UInt64

    private let writer: JournalWriter
    private var replayer: Replayer
    /// Held strongly until `stop()` returns (a sink may hold the node: `stop` ends that cycle).
    /// Not weakly: a weakly referenced object gets a side table, and every retain and release
    /// of it (one per acknowledgement) then takes the runtime's slow path.
    private var sink: NodeSink?
    private var threads: [WorkerThread] = []
    private let snapshotter: Snapshotter

    /// Recovers the state of `options.data` (snapshot + journal tail) and starts the threads.
    public init(options: NodeOptions, sink: NodeSink) throws(NodeError) {
        guard options.queueCapacity >= 16, options.queueCapacity & (options.queueCapacity - 1) == 0 else {
            throw .invalidOptions("queue capacity must be a power of two ≥ 16")
        }
        self.options = options
        self.sink = sink
        do {
            var journalOptions = options.journal
            journalOptions.recordKind = .commands
            writer = try JournalWriter(directory: options.data.journal, options: journalOptions)
            try SnapshotStore.removeTemporaries(options.data.snapshots)
        } catch {
            throw .journal(error)
        }
        journalRecovery = writer.recovery
        let recovery: StateRecovery
        do {
            recovery = try Recovery.rebuild(journal: options.data.journal, RebuildOptions(snapshots: options.data.snapshots))
        } catch {
            try? writer.close()
            throw error
        }
        self.recovery = recovery
        replayer = recovery.replayer
        sequenceBase = writer.lastSequence
        precondition(replayer.lastSequence == sequenceBase, "recovery stopped before the journal's end")
        slots = .allocate(capacity: options.queueCapacity)
        slots.initialize(repeating: Slot(), count: options.queueCapacity)
        commands = .allocate(capacity: options.queueCapacity)
        mask = UInt64(options.queueCapacity - 1)
        snapshotter = Snapshotter(directory: options.data.snapshots, keep: options.keepSnapshots)
        snapshotter.lastSequence = recovery.snapshotHeader?.sequence ?? 0
        threads.append(WorkerThread { [self] in runSequencer() })
        threads.append(WorkerThread { [self] in runEngine() })
    }

    deinit {
        for k in applied..<submitted { (commands + Int(k & mask)).deinitialize(count: 1) }
        commands.deallocate()
        slots.deinitialize(count: options.queueCapacity)
        slots.deallocate()
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
        let limit = isInternal ? mask + 1 : mask + 1 - Self.reserve
        guard submitted - applied < limit else { return .busy }
        put(command, tag: tag, isInternal: isInternal, endsBlock: endsBlock)
        submittedMoved.broadcast()
        return .queued
    }

    /// Asks for a snapshot as soon as the engine finishes what it is applying.
    public func requestSnapshot() {
        monitor.locked {
            snapshotRequested = true
            durableMoved.broadcast()
        }
    }

    /// The failure that stopped the node, if one did.
    public var failed: NodeError? { monitor.locked { failure } }

    /// CPU time the sequencer and engine threads used (valid once `stop()` has returned): how
    /// busy each stage was, next to the wall time.
    public private(set) var sequencerCPUSeconds = 0.0
    public private(set) var engineCPUSeconds = 0.0

    /// The engine's state and counters; read it once `stop()` has returned.
    public var state: Replayer { replayer }

    /// The last sequence applied (and acknowledged).
    public var appliedSequence: UInt64 { monitor.locked { sequenceBase + applied } }

    /// Stops taking commands, applies and acknowledges everything queued, waits for a snapshot
    /// being written, syncs and closes the journal. Throws the failure that stopped the node
    /// early, if any.
    public func stop() throws(NodeError) {
        monitor.locked {
            stopping = true
            wakeEveryone()
        }
        for thread in threads { thread.join() }
        threads = []
        sink = nil
        snapshotter.shutdown()
        if let failure = monitor.locked({ failure }) { throw failure }
    }

    /// Snapshot writes that failed (a full disk, say), and the last one's error; read once
    /// `stop()` has returned. A failed snapshot does not stop the node: the journal holds every
    /// command, and the next trigger tries again.
    public var snapshotFailures: (count: Int, last: JournalError?) {
        (snapshotter.failures, snapshotter.failure)
    }

    // MARK: - Sequencer

    private func runSequencer() {
        var cursor: UInt64 = 0
        // Commands are encoded here, not by the callers, so that the lock they submit under
        // is held only to copy their commands in.
        var bytes: [UInt8] = []
        bytes.reserveCapacity(1 << 10)
        var lastTimestamp = writer.lastSequence == 0 ? Int64.min : (recovery.replayer.lastTimestampNs)
        let intervalWaitNs: Int64? = {
            if case let .interval(ms) = options.journal.durability { return Int64(ms) * 1_000_000 }
            return nil
        }()
        // Whether the journal's durable mark is behind what was synced (see `markQuietNs`).
        let marks = options.journal.durability != .none
        while true {
            var end: UInt64 = 0, stop = false, retire: UInt64 = 0
            var quiet = false
            let markBehind = marks && writer.durableSequence > writer.markedSequence
            monitor.locked {
                // With `interval:MS` it also wakes every MS to sync what waits for it. A retire
                // request wakes it too: one posted after its last pass would otherwise wait for
                // the next submission. With the durable mark behind, it wakes once after
                // `markQuietNs` without submissions to store it.
                while submitted == cursor && !stopping && retireBelow == 0 {
                    monitor.wait(on: submittedMoved, timeoutNs: intervalWaitNs ?? (markBehind ? Self.markQuietNs : nil))
                    if intervalWaitNs != nil || markBehind {
                        quiet = submitted == cursor
                        break
                    }
                }
                // A bounded group commit (unless blocks follow submissions): the engine starts
                // on it while the next one is journaled, instead of the stages taking turns.
                end = options.blockPerSubmission ? submitted : min(submitted, cursor + Self.groupCommitMax)
                stop = stopping
                retire = retireBelow
                retireBelow = 0
            }
            do {
                // One reading of the clock per group commit: the commands drained together are
                // stamped with the time they were sequenced.
                let now = options.clock == .wall && end > cursor ? max(lastTimestamp, wallClockNs()) : 0
                let clock = options.clock
                for k in cursor..<end {
                    let slot = slots + Int(k & mask)
                    let sequence = sequenceBase + k + 1
                    let ts: Int64
                    switch clock {
                    case .wall: ts = now
                    case let .logical(start, step): ts = start &+ Int64(truncatingIfNeeded: sequence) &* step
                    }
                    lastTimestamp = ts
                    slot.pointee.timestampNs = ts
                    bytes.removeAll(keepingCapacity: true)
                    CommandCodec.encode(UnsafePointer(commands + Int(k & mask)), into: &bytes)
                    _ = try writer.append(bytes, timestampNs: ts)
                    // With `blockPerSubmission`, a batch submitted together is a block of its
                    // own, so that a caller that waits for each batch gets the same blocks on
                    // every run.
                    if options.blockPerSubmission && slot.pointee.endsBlock && k + 1 < end { try writer.flush() }
                }
                if end > cursor { try writer.flush() }
                try writer.syncIfDue()
                if stop && end == submittedCount() { _ = try writer.sync() }
                if retire > 0 { _ = try writer.removeSegments(below: retire) }
            } catch {
                fail(.journal(error), fromSlot: cursor)
                break
            }
            cursor = end
            // What may be acknowledged: synced (`always`, and `interval` once its sync ran), or
            // with `none` in the page cache (it survives a crash of this process).
            let ackable = options.journal.durability == .none ? writer.writtenSequence : writer.durableSequence
            let nowDurable = ackable - sequenceBase
            monitor.locked {
                if nowDurable > durable {
                    durable = nowDurable
                    durableMoved.broadcast()
                }
            }
            if stop && cursor == submittedCount() && nowDurable == cursor { break }
            // Quiet with everything acknowledged: the durable mark catches up, so that damage
            // to the last acknowledged block is refused at recovery rather than cut off as a
            // torn write. Under load it waits for the next pause: no extra sync per batch.
            if quiet && marks && nowDurable == cursor && writer.durableSequence > writer.markedSequence {
                do { try writer.markDurable() } catch {
                    fail(.journal(error), fromSlot: cursor)
                    break
                }
            }
        }
        try? writer.close()
        sequencerCPUSeconds = threadCPUSeconds()
        monitor.locked {
            sequencerDone = true
            durableMoved.broadcast()
        }
    }

    private func submittedCount() -> UInt64 { monitor.locked { submitted } }

    /// How long the sequencer waits without submissions before it stores the journal's durable
    /// mark (an fsync of its own). Shorter pauses, as under load, do not pay for it; a node
    /// that stops or crashes within it leaves a mark that lags (the records are still in the
    /// journal, only damage to them would read as a torn write).
    static let markQuietNs: Int64 = 5_000_000

    /// Stops the node after a journal failure: nothing from `slot` on will be acknowledged.
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

    private func runEngine() {
        // The engine thread owns the state while it runs: a local variable, not the class's
        // property, so that the hot loop pays no exclusivity checks and no reference counting
        // of the engine's storage. It goes back to `replayer` when the thread ends.
        var replayer = Replayer()
        swap(&replayer, &self.replayer)
        defer { swap(&replayer, &self.replayer) }
        let sink = self.sink
        var cursor: UInt64 = 0
        var sinceCheckpoint: UInt64 = 0
        var checkpointInFlight = false
        var sinceSnapshot: UInt64 = 0
        var lastSnapshotNs = monotonicNs()
        let timedWait: Int64? = options.snapshotEveryNs > 0 ? min(options.snapshotEveryNs, 1_000_000_000) : nil
        engine: while true {
            var end: UInt64 = 0, done = false, snapshotNow = false
            monitor.locked {
                while durable == cursor && !sequencerDone && !snapshotRequested {
                    monitor.wait(on: durableMoved, timeoutNs: timedWait)
                    if timedWait != nil { break }
                }
                end = durable
                done = sequencerDone && durable == cursor
                snapshotNow = snapshotRequested
                snapshotRequested = false
            }
            for k in cursor..<end {
                let slot = slots + Int(k & mask)
                let sequence = sequenceBase + k + 1
                let command = (commands + Int(k & mask)).move()
                do {
                    try replayer.apply(command, sequence: sequence, timestampNs: slot.pointee.timestampNs)
                } catch {
                    // Only a checkpoint can fail here, and only if this engine diverged from
                    // the one that computed it: stop, acknowledging nothing more.
                    monitor.locked { applied = k + 1 }  // its command is moved out
                    fail(error, fromSlot: k)
                    break engine
                }
                sinceCheckpoint += 1
                sinceSnapshot += 1
                // A checkpoint goes into the queue before the command that made it due is
                // acknowledged, so its place in the journal depends only on what was submitted
                // before that acknowledgement.
                if options.checkpointEvery > 0 && sinceCheckpoint >= options.checkpointEvery && !checkpointInFlight {
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
                cursor = end
                sink?.caughtUp(to: sequenceBase + cursor)
                monitor.locked {
                    applied = cursor
                    roomFreed.broadcast()
                }
            }
            let byCount = options.snapshotEveryCommands > 0 && sinceSnapshot >= options.snapshotEveryCommands
            let byTime = options.snapshotEveryNs > 0 && sinceSnapshot > 0 && monotonicNs() - lastSnapshotNs >= options.snapshotEveryNs
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
                    lastSnapshotNs = monotonicNs()
                }
            }
            if done { break }
        }
        engineCPUSeconds = threadCPUSeconds()
    }
}
