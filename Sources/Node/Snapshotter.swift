import Journal
import Matching
import _Posix

/// Writes snapshots one at a time from copies of the engine that the engine hands over (a copy
/// shares the engine's storage until either side writes). A threaded node writes them on a
/// thread of their own (`startThread`); a simulation calls `writePending()` as one of its steps.
final class Snapshotter: @unchecked Sendable {
    private let directory: String
    private let keep: Int
    private let storage: any Storage
    private let time: any TimeSource
    private let monitor = Monitor()
    private typealias Job = (engine: MatchingEngine, sequence: UInt64, timestampNs: Int64, retire: ((UInt64) -> Void)?)
    private var job: Job?
    private var busy = false
    private var stopping = false
    private var thread: WorkerThread?
    private let usesThread: Bool
    /// The sequence of the newest snapshot offered or found (engine side only).
    var lastSequence: UInt64 = 0
    /// The newest snapshot known to be written and synced (found at start, or written since;
    /// under `monitor`: `newestWrittenSequence` reads it).
    private var newestWritten: UInt64 = 0
    /// The last write that failed, and how many did: a failed snapshot is reported, not fatal
    /// (the journal holds everything; the next one is tried at the next trigger).
    private(set) var failure: JournalError?
    private(set) var failures = 0
    /// Snapshots written, and the time the last one took (ns).
    private(set) var written = 0
    private(set) var lastWriteNs: Int64 = 0

    init(directory: String, keep: Int, storage: any Storage, time: any TimeSource, newest: UInt64, usesThread: Bool) {
        self.directory = directory
        self.keep = keep
        self.storage = storage
        self.time = time
        self.usesThread = usesThread
        lastSequence = newest
        newestWritten = newest
    }

    /// Hands over a state to write; false when one is being written (try again later) or the
    /// state is the one last written.
    func offer(_ engine: MatchingEngine, sequence: UInt64, timestampNs: Int64,
               retire: ((UInt64) -> Void)?) -> Bool {
        guard sequence > lastSequence else { return true }
        let accepted = monitor.locked { () -> Bool in
            guard !busy, !stopping else { return false }
            busy = true
            job = (engine, sequence, timestampNs, retire)
            monitor.broadcast()
            return true
        }
        guard accepted else { return false }
        lastSequence = sequence
        if usesThread && thread == nil { thread = WorkerThread { [self] in run() } }
        return true
    }

    /// Writes the snapshot handed over, if there is one; false when there was none.
    @discardableResult
    func writePending() -> Bool {
        guard let next = monitor.locked({ () -> Job? in
            defer { job = nil }
            return job
        }) else { return false }
        let started = time.monotonicNs()
        do {
            try SnapshotStore.write(next.engine.canonicalState(), sequence: next.sequence,
                                    timestampNs: next.timestampNs, createdNs: time.wallNs(),
                                    to: directory, keep: keep, storage: storage)
            monitor.locked { newestWritten = next.sequence }
            if let retire = next.retire, let oldest = try SnapshotStore.list(directory, storage: storage).last {
                retire(oldest.sequence)
            }
            written += 1
        } catch {
            failure = error
            failures += 1
        }
        lastWriteNs = time.monotonicNs() - started
        monitor.locked {
            busy = false
            monitor.broadcast()
        }
        return true
    }

    /// The newest snapshot written, read from any thread.
    var newestWrittenSequence: UInt64 { monitor.locked { newestWritten } }

    private func run() {
        while true {
            let stop = monitor.locked { () -> Bool in
                while job == nil && !stopping { monitor.wait() }
                return stopping && job == nil
            }
            if stop { return }
            writePending()
        }
    }

    /// Finishes the snapshot being written (a threaded one; a simulation's pending one is
    /// dropped, as a crash would), then stops the thread.
    func shutdown() {
        monitor.locked {
            stopping = true
            monitor.broadcast()
        }
        thread?.join()
        thread = nil
    }
}
