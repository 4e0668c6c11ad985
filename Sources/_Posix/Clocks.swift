#if canImport(Glibc)
import Glibc
#endif

// The clocks, in one place: monotonic time for durations, the wall clock (read by a node's
// sequencer alone: the only clock whose time reaches a journal), and a thread's CPU time.

/// CLOCK_MONOTONIC in nanoseconds, for durations (never stored).
public func monotonicNs() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
}

/// Nanoseconds since the epoch (CLOCK_REALTIME): the only clock that reaches a journal, read by
/// the sequencer alone (and written into snapshot headers for operators).
public func wallClockNs() -> Int64 {
    var t = timespec()
    clock_gettime(CLOCK_REALTIME, &t)
    return Int64(t.tv_sec) * 1_000_000_000 + Int64(t.tv_nsec)
}

/// CPU time of the calling thread, in seconds.
public func threadCPUSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}
