import Journal
import Matching
import _Posix

/// Writes snapshots on its own thread, one at a time, from copies of the engine that the
/// engine thread hands over (a copy shares the engine's storage until either side writes).
final class Snapshotter: @unchecked Sendable {
    private let directory: String
    private let keep: Int
    private let monitor = Monitor()
    private var job: (engine: MatchingEngine, sequence: UInt64, timestampNs: Int64, retire: ((UInt64) -> Void)?)?
    private var busy = false
    private var stopping = false
    private var thread: WorkerThread?
    /// The sequence of the newest snapshot written or found (engine thread only).
    var lastSequence: UInt64 = 0
    /// The last write that failed, and how many did: a failed snapshot is reported, not fatal
    /// (the journal holds everything; the next one is tried at the next trigger).
    private(set) var failure: JournalError?
    private(set) var failures = 0
    /// Snapshots written, and the time the last one took (ns).
    private(set) var written = 0
    private(set) var lastWriteNs: Int64 = 0

    init(directory: String, keep: Int) {
        self.directory = directory
        self.keep = keep
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
        if thread == nil { thread = WorkerThread { [self] in run() } }
        return true
    }

    private func run() {
        while true {
            var next: (engine: MatchingEngine, sequence: UInt64, timestampNs: Int64, retire: ((UInt64) -> Void)?)?
            var stop = false
            monitor.locked {
                while job == nil && !stopping { monitor.wait() }
                next = job
                job = nil
                stop = stopping
            }
            if let next {
                let started = monotonicNs()
                do {
                    try SnapshotStore.write(next.engine.canonicalState(), sequence: next.sequence,
                                            timestampNs: next.timestampNs, createdNs: wallClockNs(),
                                            to: directory, keep: keep)
                    if let retire = next.retire, let oldest = try SnapshotStore.list(directory).last {
                        retire(oldest.sequence)
                    }
                    written += 1
                } catch {
                    failure = error
                    failures += 1
                }
                lastWriteNs = monotonicNs() - started
                monitor.locked {
                    busy = false
                    monitor.broadcast()
                }
            }
            if stop && next == nil { return }
        }
    }

    /// Finishes the snapshot being written, then stops the thread.
    func shutdown() {
        monitor.locked {
            stopping = true
            monitor.broadcast()
        }
        thread?.join()
        thread = nil
    }
}
