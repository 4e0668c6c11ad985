#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Computes block chain hashes on a second thread, one job at a time, so that SHA-256 (the
/// most expensive check after LZ4) overlaps with compression in the writer and with
/// decompression and delivery in the reader. For the reader it also checks the block's CRC,
/// which balances the two threads' work.
///
/// The caller submits a job, does other work, then `wait`s for the digest. The worker spins
/// briefly for the next job and then sleeps on a condition variable; a waiting caller spins,
/// because a job (one block) takes tens of microseconds.
final class HashWorker: @unchecked Sendable {
    private enum State: Int { case idle = 0, submitted, done, shutdown }

    private let state = Atomic<Int>(State.idle.rawValue)
    private let hasher = SHA256Hasher()
    private let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 32, alignment: 8)
    private var mutex = pthread_mutex_t()
    private var wake = pthread_cond_t()
    private var thread: pthread_t?
    // The job and its result; written by one side before a release store of `state`, read by
    // the other after an acquire load.
    private var previous = Digest32.zero
    private var header: BlockHeader?
    private var raw = UnsafeRawBufferPointer(start: nil, count: 0)
    /// The block as stored (header and payload) when the CRC and framing are to be checked.
    private var stored: UnsafeRawPointer?
    private var result = Digest32.zero
    private var fault: BlockDecoder.Fault?

    init() {
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&wake, nil)
        let unmanaged = Unmanaged.passRetained(self)
        var handle = pthread_t()
        let code = pthread_create(&handle, nil, { context in
            let worker = Unmanaged<HashWorker>.fromOpaque(context!).takeRetainedValue()
            worker.run()
            return nil
        }, unmanaged.toOpaque())
        precondition(code == 0, "pthread_create failed: \(code)")
        thread = handle
    }

    /// Stops the thread; call once, when done with the worker (the thread holds a reference).
    func shutdown() {
        guard let thread else { return }
        if isBusy { _ = wait() }
        state.store(State.shutdown.rawValue, ordering: .releasing)
        pthread_mutex_lock(&mutex)
        pthread_cond_signal(&wake)
        pthread_mutex_unlock(&mutex)
        pthread_join(thread, nil)
        self.thread = nil
    }

    deinit {
        scratch.deallocate()
        pthread_cond_destroy(&wake)
        pthread_mutex_destroy(&mutex)
    }

    /// Whether a job was submitted and not yet waited for.
    var isBusy: Bool {
        let s = state.load(ordering: .acquiring)
        return s == State.submitted.rawValue || s == State.done.rawValue
    }

    /// Starts hashing a block; `raw` (and `stored`) must stay valid and unchanged until `wait`
    /// returns.
    /// - Parameter stored: the block's header and stored payload, to check its CRC too (nil:
    ///   hash only).
    func submit(_ header: BlockHeader, raw: UnsafeRawBufferPointer, previous: Digest32,
                checking stored: UnsafeRawPointer? = nil) {
        precondition(state.load(ordering: .acquiring) == State.idle.rawValue, "one hash job at a time")
        self.header = header
        self.raw = raw
        self.previous = previous
        self.stored = stored
        state.store(State.submitted.rawValue, ordering: .releasing)
        pthread_mutex_lock(&mutex)
        pthread_cond_signal(&wake)
        pthread_mutex_unlock(&mutex)
    }

    /// The chain hash of the submitted block, or the CRC fault.
    func waitChecked() -> Result<Digest32, BlockDecoder.Fault> {
        let digest = wait()
        if let fault { return .failure(fault) }
        return .success(digest)
    }

    /// The chain hash of the submitted block.
    func wait() -> Digest32 {
        var spins = 0
        while true {
            let s = state.load(ordering: .acquiring)
            if s == State.done.rawValue { break }
            precondition(s == State.submitted.rawValue, "wait without a job")
            spins += 1
            if spins & 1023 == 0 { sched_yield() }
        }
        let digest = result
        state.store(State.idle.rawValue, ordering: .releasing)
        return digest
    }

    private func run() {
        while true {
            var spins = 0
            var s = state.load(ordering: .acquiring)
            while s != State.submitted.rawValue {
                if s == State.shutdown.rawValue { return }
                spins += 1
                if spins > 20_000 {
                    pthread_mutex_lock(&mutex)
                    while true {
                        s = state.load(ordering: .acquiring)
                        if s == State.submitted.rawValue || s == State.shutdown.rawValue { break }
                        pthread_cond_wait(&wake, &mutex)
                    }
                    pthread_mutex_unlock(&mutex)
                    spins = 0
                } else {
                    s = state.load(ordering: .acquiring)
                }
            }
            fault = nil
            if let stored, let header {
                if BlockHeader.computeCRC(stored, storedBytes: Int(header.storedBytes)) != header.crc {
                    fault = .badChecksum
                }
            }
            hasher.reset()
            hasher.update(previous)
            header!.chainFields(into: scratch.baseAddress!)
            hasher.update(UnsafeRawBufferPointer(scratch))
            hasher.update(raw)
            result = hasher.finish()
            state.store(State.done.rawValue, ordering: .releasing)
        }
    }
}
