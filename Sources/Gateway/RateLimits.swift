import Matching
import _Posix

/// Binance's rate limits: request weight per client IP per interval, new orders per account per
/// interval, each counted in fixed windows (a window of a minute starts on the minute). A
/// request past the weight limit is answered 429 with `Retry-After`; an IP that keeps sending
/// after being told is banned (418, `Retry-After`), for 2 minutes at first, twice as long at
/// each ban after, up to 3 days.
public struct RateLimitOptions: Sendable, Equatable {
    public struct Limit: Sendable, Equatable {
        public var count: Int
        public var seconds: Int
        public init(count: Int, seconds: Int) { self.count = count; self.seconds = seconds }

        /// `COUNT/SECONDS` (`6000/60`); nil when it is not one.
        public init?(_ text: String) {
            let parts = text.split(separator: "/")
            guard parts.count == 2, let count = Int(parts[0]), let seconds = Int(parts[1]), count > 0, seconds > 0 else {
                return nil
            }
            self.init(count: count, seconds: seconds)
        }

        /// Binance's interval of this window: (`SECOND`|`MINUTE`|`HOUR`|`DAY`, how many).
        var interval: (name: String, letter: String, number: Int) {
            if seconds % 86_400 == 0 { return ("DAY", "D", seconds / 86_400) }
            if seconds % 3_600 == 0 { return ("HOUR", "H", seconds / 3_600) }
            if seconds % 60 == 0 { return ("MINUTE", "M", seconds / 60) }
            return ("SECOND", "S", seconds)
        }
    }

    /// Request weight per IP (Binance: 6000 a minute).
    public var requestWeight = Limit(count: 6_000, seconds: 60)
    /// New orders per account (Binance: 100 in 10 seconds, 200,000 a day).
    public var orders = [Limit(count: 100, seconds: 10), Limit(count: 200_000, seconds: 86_400)]
    /// Requests an IP may send while limited before it is banned.
    public var requestsBeforeBan = 10

    public init() {}
}

/// The counters of `RateLimitOptions`, shared by every request.
final class RateLimiter: @unchecked Sendable {
    let options: RateLimitOptions
    private let monitor = Monitor()
    private var clients: [String: Client] = [:]
    private var accounts: [AccountId: [Window]] = [:]

    private struct Window {
        var start: Int64 = 0
        var used = 0
    }
    private struct Client {
        var weight = Window()
        /// Requests sent since the IP was told it is limited, in this window.
        var sentWhileLimited = 0
        var bannedUntilMs: Int64 = 0
        var bans = 0
    }

    enum Decision {
        case allowed(used: Int)
        /// 429: over the limit, until the window ends.
        case limited(used: Int, retryAfterSeconds: Int)
        /// 418: banned until then.
        case banned(untilMs: Int64, retryAfterSeconds: Int)
    }

    init(_ options: RateLimitOptions) { self.options = options }

    /// Charges a request's weight to its IP.
    func charge(ip: String, weight: Int, nowMs: Int64) -> Decision {
        let limit = options.requestWeight
        let windowMs = Int64(limit.seconds) * 1_000
        let start = nowMs / windowMs * windowMs
        monitor.lock()
        defer { monitor.unlock() }
        if clients.count > 100_000 { clients = clients.filter { $0.value.weight.start == start || $0.value.bannedUntilMs > nowMs } }
        var client = clients[ip] ?? Client()
        defer { clients[ip] = client }
        if client.bannedUntilMs > nowMs {
            return .banned(untilMs: client.bannedUntilMs, retryAfterSeconds: Int((client.bannedUntilMs - nowMs + 999) / 1_000))
        }
        if client.weight.start != start {
            client.weight = Window(start: start, used: 0)
            client.sentWhileLimited = 0
        }
        client.weight.used += weight
        guard client.weight.used > limit.count else { return .allowed(used: client.weight.used) }
        client.sentWhileLimited += 1
        if client.sentWhileLimited > options.requestsBeforeBan {
            client.bans += 1
            let minutes = min(Int64(2) << min(client.bans - 1, 20), 3 * 24 * 60)
            client.bannedUntilMs = nowMs + minutes * 60_000
            return .banned(untilMs: client.bannedUntilMs, retryAfterSeconds: Int(minutes * 60))
        }
        return .limited(used: client.weight.used, retryAfterSeconds: Int((start + windowMs - nowMs + 999) / 1_000))
    }

    /// Counts a new order of `account`: the counts of each window, or the window it is over
    /// (nothing counted then) and when that window ends.
    func countOrder(account: AccountId, nowMs: Int64) -> Result<[Int], OrderLimit> {
        monitor.lock()
        defer { monitor.unlock() }
        var windows = accounts[account] ?? Array(repeating: Window(), count: options.orders.count)
        for (i, limit) in options.orders.enumerated() {
            let windowMs = Int64(limit.seconds) * 1_000
            let start = nowMs / windowMs * windowMs
            if windows[i].start != start { windows[i] = Window(start: start, used: 0) }
            if windows[i].used >= limit.count {
                accounts[account] = windows
                return .failure(OrderLimit(limit: limit, retryAfterSeconds: Int((start + windowMs - nowMs + 999) / 1_000)))
            }
        }
        for i in windows.indices { windows[i].used += 1 }
        accounts[account] = windows
        return .success(windows.map(\.used))
    }

    /// The order counts of `account` now, per window (the headers of a request that placed none).
    func orderCounts(account: AccountId, nowMs: Int64) -> [Int] {
        monitor.lock()
        defer { monitor.unlock() }
        guard let windows = accounts[account] else { return options.orders.map { _ in 0 } }
        return zip(windows, options.orders).map { window, limit in
            let windowMs = Int64(limit.seconds) * 1_000
            return window.start == nowMs / windowMs * windowMs ? window.used : 0
        }
    }

    struct OrderLimit: Error {
        var limit: RateLimitOptions.Limit
        var retryAfterSeconds: Int
    }

    /// `X-MBX-USED-WEIGHT-1M` for the weight window.
    var weightHeader: String {
        let i = options.requestWeight.interval
        return "X-MBX-USED-WEIGHT-\(i.number)\(i.letter)"
    }

    /// `X-MBX-ORDER-COUNT-10S`, `X-MBX-ORDER-COUNT-1D`, … for the order windows.
    var orderHeaders: [String] {
        options.orders.map { let i = $0.interval; return "X-MBX-ORDER-COUNT-\(i.number)\(i.letter)" }
    }

    /// `exchangeInfo`'s `rateLimits`.
    var exchangeInfo: JSON {
        func entry(_ type: String, _ limit: RateLimitOptions.Limit) -> JSON {
            let i = limit.interval
            return .object {
                $0.string("rateLimitType", type); $0.string("interval", i.name); $0.number("intervalNum", i.number)
                $0.number("limit", limit.count)
            }
        }
        return .array([entry("REQUEST_WEIGHT", options.requestWeight)] + options.orders.map { entry("ORDERS", $0) })
    }
}
