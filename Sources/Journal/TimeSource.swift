import _Posix

/// Where time comes from, injected so that a simulation controls it: the monotonic clock for
/// intervals and timeouts (the `interval` durability policy, a node's snapshot and mark timers)
/// and the wall clock for a node's record timestamps. The journal never stores this time
/// itself; record timestamps come from the caller.
public protocol TimeSource: AnyObject, Sendable {
    func monotonicNs() -> Int64
    func wallNs() -> Int64
}

/// CLOCK_MONOTONIC and CLOCK_REALTIME.
public final class SystemTime: TimeSource {
    public static let shared = SystemTime()
    public init() {}
    public func monotonicNs() -> Int64 { _Posix.monotonicNs() }
    public func wallNs() -> Int64 { wallClockNs() }
}

/// Time that moves only when told to (tests, simulations). Its wall clock is the monotonic one
/// plus `wallOffsetNs`. Not for concurrent use: one thread drives it.
public final class ManualTime: TimeSource, @unchecked Sendable {
    public var now: Int64
    public var wallOffsetNs: Int64
    public init(now: Int64 = 0, wallOffsetNs: Int64 = 0) {
        self.now = now
        self.wallOffsetNs = wallOffsetNs
    }
    public func monotonicNs() -> Int64 { now }
    public func wallNs() -> Int64 { now &+ wallOffsetNs }
    public func advance(byNs delta: Int64) { now += delta }
}
