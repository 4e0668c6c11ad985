import _Posix

/// A source of monotonic time for the `interval` durability policy. The journal never puts this
/// time into what it stores; record timestamps come from the caller.
public protocol MonotonicClock: AnyObject {
    func nowNs() -> Int64
}

/// CLOCK_MONOTONIC.
public final class SystemMonotonicClock: MonotonicClock {
    public init() {}
    public func nowNs() -> Int64 { monotonicNs() }
}

/// A clock the caller moves by hand (tests, simulations).
public final class ManualClock: MonotonicClock {
    public var now: Int64
    public init(now: Int64 = 0) { self.now = now }
    public func nowNs() -> Int64 { now }
    public func advance(byNs delta: Int64) { now += delta }
}
