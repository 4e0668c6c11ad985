#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import _Posix

/// Computes block chain hashes on a second thread, so that SHA-256 (the most expensive check
/// after LZ4) overlaps with compression in the writer and with delivery in the reader. For the
/// reader it also checks each block's CRC, and decompresses it and checks its framing when the
/// reader hands it the block as stored (`submitStored`: the reader does so when the worker is
/// idle, i.e. when the reader's own thread is the longer one).
///
/// Jobs run in the order submitted, up to `capacity` at a time; `wait` returns their results in
/// the same order. The worker spins briefly for the next job and then sleeps on a condition
/// variable; a waiting caller spins, because a job (one block) takes tens of microseconds.
final class HashWorker: @unchecked Sendable {
    static let capacity = 2

    private struct Job {
        var header: BlockHeader? = nil
        /// The raw payload to hash, or (with `decoder`) the stored payload to expand first.
        var raw = UnsafeRawBufferPointer(start: nil, count: 0)
        var previous = Digest32.zero
        /// The block as stored (header and payload) when its CRC is to be checked too.
        var stored: UnsafeRawPointer? = nil
        /// The decoder whose buffer the block expands into (the caller keeps it alive and
        /// untouched until the job's `wait`).
        unowned(unsafe) var decoder: BlockDecoder? = nil
        var result = Digest32.zero
        var fault: BlockDecoder.Fault? = nil
    }

    /// What a checked job gives back: the chain hash, and the raw payload it hashed.
    struct Checked {
        var chain: Digest32
        var raw: UnsafeRawBufferPointer
    }

    // Jobs live in a ring. The caller writes a job, then publishes it by a release increment
    // of `submitted`; the worker writes its result, then a release increment of `completed`.
    private let jobs = UnsafeMutablePointer<Job>.allocate(capacity: HashWorker.capacity)
    private let submitted = Atomic<Int>(0)
    private let completed = Atomic<Int>(0)
    private let stopping = Atomic<Bool>(false)
    /// Jobs whose results the caller has taken (caller only).
    private var waited = 0
    private let hasher = SHA256Hasher()
    /// The lock the worker and a sleeping caller wait under (the pthread objects in memory of
    /// their own, `Monitor`), signalled when a job is queued (`wake`) and when one completes
    /// while the caller sleeps for it (`finished`, with `callerSleeping`).
    private let monitor = Monitor()
    private let wake = Monitor.Condition()
    private let finished = Monitor.Condition()
    private let callerSleeping = Atomic<Bool>(false)
    private var thread: WorkerThread?

    init() {
        jobs.initialize(repeating: Job(), count: Self.capacity)
        // The thread holds a reference until `shutdown` stops it.
        thread = WorkerThread { [self] in run() }
    }

    /// Stops the thread; call once, when done with the worker (the thread holds a reference).
    func shutdown() {
        guard let thread else { return }
        drain()
        stopping.store(true, ordering: .releasing)
        monitor.locked { wake.signal() }
        thread.join()
        self.thread = nil
    }

    deinit {
        jobs.deinitialize(count: Self.capacity)
        jobs.deallocate()
    }

    /// Jobs submitted and not yet waited for.
    var pending: Int { submitted.load(ordering: .relaxed) - waited }

    /// Whether a job is queued or running (the worker has not finished all it was given).
    var isBusy: Bool { completed.load(ordering: .relaxed) < submitted.load(ordering: .relaxed) }

    /// Waits for every pending job and drops the results (a reader that seeks elsewhere).
    func drain() {
        while pending > 0 { _ = wait() }
    }

    /// Queues a block's chain hash; `raw` (and `stored`) must stay valid and unchanged until
    /// its `wait` returns.
    /// - Parameter stored: the block's header and stored payload, to check its CRC too (nil:
    ///   hash only).
    func submit(_ header: BlockHeader, raw: UnsafeRawBufferPointer, previous: Digest32,
                checking stored: UnsafeRawPointer? = nil) {
        enqueue(Job(header: header, raw: raw, previous: previous, stored: stored))
    }

    /// Queues a block as stored: its CRC, then `decoder.expand` (decompression and framing),
    /// then its chain hash. `block` (the header and payload in the segment) and `decoder` must
    /// stay valid and untouched until its `waitChecked` returns.
    func submitStored(_ header: BlockHeader, block: UnsafeRawPointer, previous: Digest32, into decoder: BlockDecoder) {
        let payload = UnsafeRawBufferPointer(start: block + BlockHeader.size, count: Int(header.storedBytes))
        enqueue(Job(header: header, raw: payload, previous: previous, stored: block, decoder: decoder))
    }

    private func enqueue(_ job: Job) {
        let next = submitted.load(ordering: .relaxed)
        precondition(next - waited < Self.capacity, "more hash jobs than the worker holds")
        jobs[next % Self.capacity] = job
        submitted.store(next + 1, ordering: .releasing)
        monitor.locked { wake.signal() }
    }

    /// The chain hash (and raw payload) of the oldest pending job, or the first check it failed.
    func waitChecked() -> Result<Checked, BlockDecoder.Fault> {
        precondition(pending > 0, "wait without a job")
        var spins = 0
        while completed.load(ordering: .acquiring) <= waited {
            // Spin a little, yield a little, then sleep until the worker signals: on a busy
            // machine a caller yielding in a loop takes the CPU the worker (or the producer of
            // the next job) needs, one system call at a time.
            spins += 1
            if spins > 64 { sched_yield() }
            if spins > 96 {
                monitor.locked {
                    callerSleeping.store(true, ordering: .sequentiallyConsistent)
                    while completed.load(ordering: .sequentiallyConsistent) <= waited {
                        monitor.wait(on: finished)
                    }
                    callerSleeping.store(false, ordering: .relaxed)
                }
            }
        }
        let job = jobs[waited % Self.capacity]
        waited += 1
        if let fault = job.fault { return .failure(fault) }
        return .success(Checked(chain: job.result, raw: job.raw))
    }

    /// The chain hash of the oldest pending job.
    func wait() -> Digest32 {
        switch waitChecked() {
        case let .success(checked): return checked.chain
        case .failure: preconditionFailure("a hash-only job cannot fail")
        }
    }

    private func run() {
        var done = 0
        while true {
            var spins = 0
            while submitted.load(ordering: .acquiring) == done {
                if stopping.load(ordering: .acquiring) { return }
                spins += 1
                if spins > 64 { sched_yield() }
                // Then sleep: on a busy machine yielding in a loop takes CPU from the threads
                // that produce the next job.
                if spins > 96 {
                    monitor.locked {
                        while submitted.load(ordering: .acquiring) == done
                            && !stopping.load(ordering: .acquiring) {
                            monitor.wait(on: wake)
                        }
                    }
                    spins = 0
                }
            }
            perform(&jobs[done % Self.capacity])  // a slot the caller does not touch until `completed` moves
            done += 1
            completed.store(done, ordering: .sequentiallyConsistent)
            // Seen after the store (both sequentially consistent): a caller that set the flag
            // before this load is woken; one that sets it after sees `completed` moved.
            if callerSleeping.load(ordering: .sequentiallyConsistent) {
                monitor.locked { finished.signal() }
            }
        }
    }

    private func perform(_ job: inout Job) {
        let header = job.header!
        job.fault = nil
        if let stored = job.stored,
           BlockHeader.computeCRC(stored, storedBytes: Int(header.storedBytes)) != header.crc {
            job.fault = .badChecksum
            return
        }
        if let decoder = job.decoder {
            switch decoder.expand(header, stored: job.raw, previousChain: nil) {
            case let .success(raw): job.raw = raw
            case let .failure(fault):
                job.fault = fault
                return
            }
        }
        job.result = header.chain(raw: job.raw, previous: job.previous, using: hasher)
    }
}
