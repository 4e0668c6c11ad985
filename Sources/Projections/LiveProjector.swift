import Journal
import _Posix
#if canImport(Glibc)
import Glibc
#endif

/// A projector on a thread of its own, following the journal a node is writing: the node's
/// `--project`. It reads the records the node has just written (from the page cache) rather
/// than taking them from the node's sink: its checkpoints name the journal block they end in,
/// which only the journal knows, and the engine never waits for it. However far it falls
/// behind (a slow database, a stall, a node faster than its database), it catches up from the
/// journal; `lag` says by how much. Its threads run at a lower priority than the node's.
public final class LiveProjector: @unchecked Sendable {
    public let runner: ProjectionRunner
    private let monitor = Monitor()
    private var stopping = false
    private var projected: UInt64 = 0
    private var result: Result<ProjectionSummary, ReadModelError>?
    private var thread: WorkerThread?

    public init(journal: String, store: any ReadModelStore, batchCommandsMax: Int = 20_000) {
        runner = ProjectionRunner(journal: journal, store: store, batchCommandsMax: batchCommandsMax)
    }

    /// Starts following; the database's checkpoint says where it resumes.
    public func start() {
        precondition(thread == nil, "a live projector starts once")
        thread = WorkerThread { [self] in
            // Below the node's threads: on a machine with fewer cores than busy threads the
            // engine, the sequencer and the reader come first, and the read model waits (the
            // thread that writes its batches, started from this one, inherits the niceness).
            // On Linux, PRIO_PROCESS with 0 is the calling thread, not the whole process.
            _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 10)
            let outcome: Result<ProjectionSummary, ReadModelError>
            do {
                let summary = try runner.run(follow: true, pollNs: 20_000_000, finishesBeforeStopping: true,
                                             shouldStop: { monitor.locked { stopping } }) { progress in
                    monitor.locked { projected = progress.lastSequence }
                }
                outcome = .success(summary)
            } catch {
                outcome = .failure(error as? ReadModelError ?? ReadModelError("\(error)"))
            }
            monitor.locked {
                result = outcome
                monitor.broadcast()
            }
        }
    }

    /// The last sequence written to the database so far.
    public var projectedSequence: UInt64 { monitor.locked { projected } }

    /// What stopped the projector early, if it stopped (the node goes on without it).
    public var failure: ReadModelError? {
        monitor.locked { if case let .failure(error)? = result { return error } else { return nil } }
    }

    /// Commands applied by the node and not yet in the database.
    public func lag(behind nodeSequence: UInt64) -> UInt64 {
        let at = projectedSequence
        return nodeSequence > at ? nodeSequence - at : 0
    }

    /// Waits until the database holds `sequence` (or the projector failed); false when
    /// `timeoutNs` passed first.
    public func wait(for sequence: UInt64, timeoutNs: Int64) -> Bool {
        let deadline = monotonicNs() + timeoutNs
        return monitor.locked {
            while projected < sequence && result == nil {
                let left = deadline - monotonicNs()
                if left <= 0 { return false }
                monitor.wait(timeoutNs: min(left, 10_000_000))
            }
            return projected >= sequence
        }
    }

    /// Projects what the journal holds now, then stops; the run's summary, or why it stopped.
    public func stop() -> Result<ProjectionSummary, ReadModelError> {
        monitor.locked { stopping = true }
        thread?.join()
        return monitor.locked { result! }
    }
}
