#if canImport(Glibc)
import Glibc
#endif

// Threads, locks and conditions: the one wrapper of pthreads that the journal, the node and the
// CLI use. Every pthread object lives in memory allocated for it (a Swift stored property has no
// fixed address to hand to C), and every call that can fail is checked.

/// A mutex with a condition variable (and more on request, `Condition`): threads hand work to
/// each other under it, a batch at a time (the lock is taken per batch, not per command).
public final class Monitor: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    /// The condition `wait()` and `broadcast()` use.
    private let general = Condition()

    public init() { pthread_mutex_init(mutex, nil) }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    public func lock() { pthread_mutex_lock(mutex) }
    public func unlock() { pthread_mutex_unlock(mutex) }

    @inline(__always)
    public func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock()
        defer { unlock() }
        return try body()
    }

    /// Wakes every waiter (call with the lock held or not).
    public func broadcast() { general.broadcast() }

    /// A condition under the same lock, so that a change wakes only the threads that
    /// wait for it (the node's sequencer, engine and producers each wait for their own).
    public final class Condition: @unchecked Sendable {
        fileprivate let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

        public init() {
            var attributes = pthread_condattr_t()
            pthread_condattr_init(&attributes)
            pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
            pthread_cond_init(condition, &attributes)
            pthread_condattr_destroy(&attributes)
        }

        deinit {
            pthread_cond_destroy(condition)
            condition.deallocate()
        }

        /// Wakes the threads waiting on this condition.
        public func broadcast() { pthread_cond_broadcast(condition) }

        /// Wakes one thread waiting on this condition.
        public func signal() { pthread_cond_signal(condition) }
    }

    /// Takes the lock, waits until `ready` holds (checked under the lock), runs `body`.
    public func whenReady<T>(_ ready: () -> Bool, _ body: () throws -> T) rethrows -> T {
        lock()
        defer { unlock() }
        while !ready() { wait() }
        return try body()
    }

    /// Waits (the lock held) until woken or `timeoutNs` passes (nil: no limit).
    public func wait(timeoutNs: Int64? = nil) { wait(on: general, timeoutNs: timeoutNs) }

    /// Waits on `condition` (the lock held) until woken or `timeoutNs` passes (nil: no limit).
    public func wait(on condition: Condition, timeoutNs: Int64? = nil) {
        guard let timeoutNs else {
            pthread_cond_wait(condition.condition, mutex)
            return
        }
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let total = Int64(now.tv_nsec) + timeoutNs
        var deadline = timespec(tv_sec: now.tv_sec + Int(total / 1_000_000_000), tv_nsec: Int(total % 1_000_000_000))
        pthread_cond_timedwait(condition.condition, mutex, &deadline)
    }
}

/// A joinable thread running `body`.
public final class WorkerThread: @unchecked Sendable {
    private var handle = pthread_t()
    private var joined = false

    public init(_ body: @escaping @Sendable () -> Void) {
        final class Box { let body: @Sendable () -> Void; init(_ b: @escaping @Sendable () -> Void) { body = b } }
        let context = Unmanaged.passRetained(Box(body)).toOpaque()
        let code = pthread_create(&handle, nil, { context in
            Unmanaged<Box>.fromOpaque(context!).takeRetainedValue().body()
            return nil
        }, context)
        precondition(code == 0, "pthread_create failed: \(code)")
    }

    public func join() {
        guard !joined else { return }
        joined = true
        pthread_join(handle, nil)
    }
}
