import Codec
import Matching
import Projections
import _Posix

/// Binance's WebSocket market streams and user data streams: who listens to what, and the
/// messages. Messages are made on the view's thread, from what the view applied (the engine
/// thread never waits for a subscriber), once per stream however many listen, and handed to
/// each connection's outbox; a connection whose outbox overflows (a client that does not read)
/// is closed, as Binance closes slow clients.
///
/// Market streams (`<symbol>` in lower case): `@trade`, `@aggTrade`, `@kline_<1m|1h|1d>`,
/// `@bookTicker` as they happen; `@depth` and `@depth@100ms` (diffs with `U`/`u`, every 1000 or
/// 100 ms), `@depth5|10|20[@100ms]` (the top of the book), `@ticker` (every 1000 ms). A user data
/// stream is named by its listen key: a connection subscribes to it as to any stream.
public final class StreamHub: @unchecked Sendable {
    /// One WebSocket connection's side of the hub.
    public final class Connection: @unchecked Sendable {
        let outbox: AsyncStream<String>.Continuation
        /// `/stream?streams=…`: each message wrapped as `{"stream":…,"data":…}`.
        let combined: Bool
        var streams: Set<String> = []
        /// Set when its outbox overflowed: the connection is closed.
        public private(set) var overflowed = false
        /// Set when the node stops: what is still in the outbox is not sent.
        var closing = false

        init(outbox: AsyncStream<String>.Continuation, combined: Bool) {
            self.outbox = outbox
            self.combined = combined
        }

        func send(_ text: String) {
            if case .dropped = outbox.yield(text) {
                overflowed = true
                outbox.finish()
            }
        }
    }

    /// Messages a connection may have waiting before it is closed.
    public static let outboxMax = 20_000

    private let monitor = Monitor()
    private var listeners: [String: [ObjectIdentifier: Connection]] = [:]
    /// Depth diffs gathered for the timed depth streams, by symbol: (first `U`, last `u`, levels).
    private var pending100: [Int: DepthDiff] = [:]
    private var pending1000: [Int: DepthDiff] = [:]
    /// Listen keys: account and when the key lapses (ms).
    private var listenKeys: [String: (account: AccountId, expiresMs: Int64)] = [:]
    public static let listenKeyLifetimeMs: Int64 = 60 * 60 * 1_000

    struct DepthDiff {
        var first: UInt64
        var last: UInt64
        var timestampNs: Int64
        var bids: [Int64: Int64] = [:]
        var asks: [Int64: Int64] = [:]
    }

    public init() {}

    // MARK: - Connections

    func add(_ connection: Connection, streams: [String]) {
        monitor.lock()
        defer { monitor.unlock() }
        for stream in streams {
            connection.streams.insert(stream)
            listeners[stream, default: [:]][ObjectIdentifier(connection)] = connection
        }
    }

    func remove(_ connection: Connection, streams: [String]) {
        monitor.lock()
        defer { monitor.unlock() }
        for stream in streams {
            connection.streams.remove(stream)
            listeners[stream]?[ObjectIdentifier(connection)] = nil
            if listeners[stream]?.isEmpty == true { listeners[stream] = nil }
        }
    }

    /// Ends every connection (a stopping node): each is closed once its outbox is written.
    func closeAll() {
        monitor.lock()
        let all = listeners.values.flatMap { $0.values }
        monitor.unlock()
        for connection in all {
            connection.closing = true
            connection.outbox.finish()
        }
    }

    func drop(_ connection: Connection) {
        remove(connection, streams: Array(connection.streams))
        connection.outbox.finish()
    }

    func streams(of connection: Connection) -> [String] {
        monitor.locked { connection.streams.sorted() }
    }

    /// Whether anyone listens to `stream` (a message nobody reads is not made).
    func wants(_ stream: String) -> Bool { monitor.locked { listeners[stream] != nil } }

    /// Sends `payload` to every listener of `stream`.
    func send(_ stream: String, _ payload: String) {
        monitor.lock()
        defer { monitor.unlock() }
        guard let connections = listeners[stream] else { return }
        var wrapped: String?
        for connection in connections.values where !connection.overflowed {
            if connection.combined {
                if wrapped == nil { wrapped = #"{"stream":"# + JSONObjectWriter.quote(stream) + #","data":"# + payload + "}" }
                connection.send(wrapped!)
            } else {
                connection.send(payload)
            }
        }
    }

    /// Whether any connection listens to a user data stream (a listen key: no `@` in its name).
    var hasUserListeners: Bool { monitor.locked { listeners.keys.contains { !$0.contains("@") } } }

    /// How many connections listen (tests, reports).
    public var connectionCount: Int {
        monitor.locked { Set(listeners.values.flatMap { $0.keys }).count }
    }

    // MARK: - Listen keys

    /// A new listen key for `account` (60 letters and digits, valid 60 minutes).
    func newListenKey(account: AccountId, nowMs: Int64) -> String {
        let key = randomAlphanumeric(60)
        monitor.locked { listenKeys[key] = (account, nowMs + Self.listenKeyLifetimeMs) }
        return key
    }

    /// Extends a listen key of `account`; false when there is none.
    func keepAlive(_ key: String, account: AccountId, nowMs: Int64) -> Bool {
        monitor.locked {
            guard let entry = listenKeys[key], entry.account == account, entry.expiresMs > nowMs else { return false }
            listenKeys[key] = (account, nowMs + Self.listenKeyLifetimeMs)
            return true
        }
    }

    func close(_ key: String, account: AccountId) -> Bool {
        monitor.locked {
            guard listenKeys[key]?.account == account else { return false }
            listenKeys[key] = nil
            return true
        }
    }

    /// The account of a live listen key.
    func account(ofListenKey key: String, nowMs: Int64) -> AccountId? {
        monitor.locked {
            guard let entry = listenKeys[key], entry.expiresMs > nowMs else { return nil }
            return entry.account
        }
    }

    /// The live listen keys of `account`: each is the name of a stream of its user data.
    func listenKeys(of account: AccountId, nowMs: Int64) -> [String] {
        monitor.locked { listenKeys.filter { $0.value.account == account && $0.value.expiresMs > nowMs }.map(\.key).sorted() }
    }

    // MARK: - Depth diffs for the timed streams

    func gather(_ update: MarketData.DepthUpdate) {
        monitor.lock()
        defer { monitor.unlock() }
        for window in [0, 1] {
            var diff = (window == 0 ? pending100 : pending1000)[update.symbol]
                ?? DepthDiff(first: update.firstUpdateId, last: update.finalUpdateId, timestampNs: update.timestampNs)
            diff.last = update.finalUpdateId
            diff.timestampNs = update.timestampNs
            for level in update.bids { diff.bids[level.price] = level.qty }
            for level in update.asks { diff.asks[level.price] = level.qty }
            if window == 0 { pending100[update.symbol] = diff } else { pending1000[update.symbol] = diff }
        }
    }

    /// The diffs gathered since the last call, for the 100 ms or the 1000 ms streams.
    func takeDiffs(every100ms: Bool) -> [Int: DepthDiff] {
        monitor.lock()
        defer { monitor.unlock() }
        if every100ms {
            defer { pending100 = [:] }
            return pending100
        }
        defer { pending1000 = [:] }
        return pending1000
    }
}

/// Makes the stream messages of what the view applies (called on the view's thread, under its
/// lock) and, on a timer thread, the timed ones.
final class StreamMessages: @unchecked Sendable {
    let hub: StreamHub
    private weak var view: GatewayView?
    private var timer: WorkerThread?
    private let stopMonitor = Monitor()
    private var stopping = false

    init(hub: StreamHub) { self.hub = hub }

    /// Hooks into the view's market data and starts the timer.
    func attach(to view: GatewayView) {
        self.view = view
        view.read { r in
            r.marketData.onDepthUpdate = { [hub] update in hub.gather(update) }
        }
        timer = WorkerThread { [self] in runTimer() }
    }

    func stop() {
        stopMonitor.locked { stopping = true }
        stopMonitor.broadcast()
        timer?.join()
        timer = nil
    }

    static func name(_ engine: MatchingEngine, _ symbol: Int) -> String { engine.symbolNames[symbol].lowercased() }

    // MARK: - As commands are applied

    /// The messages of one applied command.
    func applied(_ command: Command, _ applied: GatewayView.Applied, _ r: GatewayView.Reading) {
        let engine = r.engine
        let eventTime = applied.timestampNs / 1_000_000
        var touchedSymbols: Set<Int> = []
        // Trades and their aggregates (consecutive fills of one taker at one price).
        var aggregate: (first: Trade, last: Trade, qty: Int64)?
        func flushAggregate() {
            guard let a = aggregate else { return }
            aggregate = nil
            let stream = Self.name(engine, a.first.symbol) + "@aggTrade"
            guard hub.wants(stream) else { return }
            let info = engine.symbols[a.first.symbol]
            hub.send(stream, JSON.object {
                $0.string("e", "aggTrade"); $0.number("E", eventTime); $0.string("s", engine.symbolNames[a.first.symbol])
                $0.number("a", a.first.tradeId); $0.string("p", Amount.price(a.first.price, info))
                $0.string("q", Amount.qty(a.qty, info)); $0.number("f", a.first.tradeId); $0.number("l", a.last.tradeId)
                $0.number("T", eventTime); $0.bool("m", a.first.takerSide == .sell); $0.bool("M", true)
            }.text)
        }
        for event in applied.events {
            guard case let .trade(t) = event else { continue }
            touchedSymbols.insert(t.symbol)
            let info = engine.symbols[t.symbol]
            let stream = Self.name(engine, t.symbol) + "@trade"
            if hub.wants(stream) {
                hub.send(stream, JSON.object {
                    $0.string("e", "trade"); $0.number("E", eventTime); $0.string("s", engine.symbolNames[t.symbol])
                    $0.number("t", t.tradeId); $0.string("p", Amount.price(t.price, info)); $0.string("q", Amount.qty(t.qty, info))
                    $0.number("T", eventTime); $0.bool("m", t.takerSide == .sell); $0.bool("M", true)
                }.text)
            }
            if let a = aggregate, a.last.takerOrderId == t.takerOrderId, a.last.price == t.price, a.last.tradeId + 1 == t.tradeId {
                aggregate = (a.first, t, a.qty + t.qty)
            } else {
                flushAggregate()
                aggregate = (t, t, t.qty)
            }
        }
        flushAggregate()
        for s in touchedSymbols.sorted() {
            for interval in KlineInterval.allCases {
                let stream = Self.name(engine, s) + "@kline_" + interval.rawValue
                guard hub.wants(stream), let k = r.marketData.currentKline(symbol: s, interval: interval) else { continue }
                hub.send(stream, klineMessage(k, s, eventTime, engine))
            }
        }
        // The top of each book the command changed.
        for s in Set(applied.events.compactMap(Self.symbolOf)).sorted() {
            let stream = Self.name(engine, s) + "@bookTicker"
            guard hub.wants(stream) else { continue }
            let book = r.marketData.depth(symbol: s, limit: 1)
            let info = engine.symbols[s]
            hub.send(stream, JSON.object {
                $0.number("u", book.lastUpdateId); $0.string("s", engine.symbolNames[s])
                $0.string("b", Amount.price(book.bids.first?.price ?? 0, info)); $0.string("B", Amount.qty(book.bids.first?.qty ?? 0, info))
                $0.string("a", Amount.price(book.asks.first?.price ?? 0, info)); $0.string("A", Amount.qty(book.asks.first?.qty ?? 0, info))
            }.text)
        }
        userData(command, applied, r)
    }

    private static func symbolOf(_ event: Event) -> Int? {
        switch event {
        case let .trade(t): return t.symbol
        case let .booked(_, s, _), let .cancelled(_, s, _, _), let .amended(_, s, _): return s
        default: return nil
        }
    }

    private func klineMessage(_ k: KlineRow, _ s: Int, _ eventTime: Int64, _ engine: MatchingEngine) -> String {
        let info = engine.symbols[s]
        let quote = engine.assets[info.quote]
        return JSON.object {
            $0.string("e", "kline"); $0.number("E", eventTime); $0.string("s", engine.symbolNames[s])
            $0.add("k", .object {
                $0.number("t", k.openTimeMs); $0.number("T", k.closeTimeMs); $0.string("s", engine.symbolNames[s])
                $0.string("i", k.interval.rawValue); $0.number("f", -1); $0.number("L", -1)
                $0.string("o", Amount.price(k.open, info)); $0.string("c", Amount.price(k.close, info))
                $0.string("h", Amount.price(k.high, info)); $0.string("l", Amount.price(k.low, info))
                $0.string("v", Amount.qty(k.volume, info)); $0.number("n", k.trades); $0.bool("x", eventTime > k.closeTimeMs)
                $0.string("q", Amount.asset(k.quoteVolume, quote)); $0.string("V", Amount.qty(k.takerBuyVolume, info))
                $0.string("Q", Amount.asset(k.takerBuyQuoteVolume, quote)); $0.string("B", "0")
            })
        }.text
    }

    // MARK: - User data

    /// `executionReport`s of the orders the command moved, `outboundAccountPosition` of the
    /// balances it changed, `balanceUpdate` of a deposit or withdrawal.
    private func userData(_ command: Command, _ applied: GatewayView.Applied, _ r: GatewayView.Reading) {
        // A user data stream opened while this batch was applied starts with the next one.
        guard applied.hasRows else { return }
        let engine = r.engine
        let eventTime = applied.timestampNs / 1_000_000
        let rows = Dictionary(applied.orders.map { ($0.orderId, $0) }, uniquingKeysWith: { $1 })
        // Executed quantity and quote of each order before this command, so that each report
        // shows the totals after its own event.
        var executed: [OrderId: (qty: Int64, quote: Int64)] = [:]
        for row in applied.orders { executed[row.orderId] = (row.executedQty, row.cumulativeQuoteQty) }
        for t in applied.trades {
            for id in [t.makerOrderId, t.takerOrderId] where executed[id] != nil {
                executed[id]!.qty -= t.qty
                executed[id]!.quote -= t.quoteQty
            }
        }
        var accounts: Set<AccountId> = []
        func report(_ id: OrderId, _ type: String, _ status: String, trade: TradeRow? = nil) {
            guard let row = rows[id] else { return }
            accounts.insert(row.account)
            let streams = hub.listenKeys(of: row.account, nowMs: nowMs()).filter(hub.wants)
            guard !streams.isEmpty, let s = engine.symbolIndex(row.symbol) else { return }
            let info = engine.symbols[s], quote = engine.assets[info.quote]
            let isMaker = trade.map { $0.makerOrderId == id } ?? false
            let fee = trade.map { isMaker ? ($0.makerFee, $0.makerFeeAsset) : ($0.takerFee, $0.takerFeeAsset) }
            let feeAsset = fee.flatMap { engine.assetIndex($0.1) }.map { engine.assets[$0] }
            let done = executed[id] ?? (0, 0)
            let message = JSON.object {
                $0.string("e", "executionReport"); $0.number("E", eventTime); $0.string("s", row.symbol)
                $0.string("c", row.clientId ?? ""); $0.string("S", row.side); $0.string("o", row.type)
                $0.string("f", row.timeInForce); $0.string("q", Amount.qty(row.origQty ?? 0, info))
                $0.string("p", Amount.price(row.price ?? 0, info)); $0.string("P", Amount.price(0, info))
                $0.string("F", Amount.qty(0, info)); $0.number("g", -1)
                $0.string("C", type == "CANCELED" ? (row.clientId ?? "") : ""); $0.string("x", type); $0.string("X", status)
                $0.string("r", "NONE"); $0.number("i", id)
                $0.string("l", Amount.qty(trade?.qty ?? 0, info)); $0.string("z", Amount.qty(done.qty, info))
                $0.string("L", Amount.price(trade?.price ?? 0, info))
                $0.string("n", feeAsset.map { Amount.asset(fee!.0, $0) } ?? "0")
                if let fee { $0.string("N", fee.1) } else { $0.null("N") }
                $0.number("T", eventTime); $0.number("t", trade.map { Int64($0.tradeId) } ?? -1)
                $0.number("I", Int64(applied.sequence)); $0.bool("w", status == "NEW" || status == "PARTIALLY_FILLED")
                $0.bool("m", isMaker); $0.bool("M", false); $0.number("O", row.createdNs / 1_000_000)
                $0.string("Z", Amount.asset(done.quote, quote))
                $0.string("Y", Amount.asset(trade?.quoteQty ?? 0, quote))
                $0.string("Q", Amount.asset(row.origQuoteQty ?? 0, quote)); $0.number("W", row.createdNs / 1_000_000)
                $0.string("V", row.stp)
            }.text
            for stream in streams { hub.send(stream, message) }
        }
        var lastTrade: [OrderId: Int] = [:]
        for (i, t) in applied.trades.enumerated() { lastTrade[t.makerOrderId] = i; lastTrade[t.takerOrderId] = i }
        var tradeIndex = 0
        for event in applied.events {
            switch event {
            case let .accepted(id, _, _, _, _, _, _, _, _):
                report(id, "NEW", "NEW")
            case let .trade(t):
                let row = applied.trades[tradeIndex]
                tradeIndex += 1
                for id in [t.makerOrderId, t.takerOrderId] {
                    guard executed[id] != nil, let order = rows[id] else { continue }
                    executed[id]!.qty += t.qty
                    executed[id]!.quote += row.quoteQty
                    // Its last trade in this command leaves it as it stands after the command.
                    let filled = lastTrade[id] == tradeIndex - 1 && order.status == .filled
                    report(id, "TRADE", filled ? "FILLED" : "PARTIALLY_FILLED", trade: row)
                }
            case let .done(id, _, status, _, _):
                switch status {
                case .filled: break  // its last trade said FILLED
                case .expired: report(id, "EXPIRED", "EXPIRED")
                case .expiredInMatch: report(id, "TRADE_PREVENTION", "EXPIRED_IN_MATCH")
                }
            case let .cancelled(id, _, _, reason):
                report(id, reason == .stp ? "EXPIRED" : "CANCELED", reason == .stp ? "EXPIRED_IN_MATCH" : "CANCELED")
            case let .amended(id, _, _):
                report(id, "REPLACED", rows[id]?.status.rawValue ?? "NEW")
            case .booked, .rejected, .ok:
                break
            }
        }
        for row in applied.trades { accounts.insert(row.makerAccount); accounts.insert(row.takerAccount) }
        switch command {
        case let .deposit(account, asset, amount), let .withdraw(account, asset, amount):
            guard applied.events == [.ok] else { break }
            accounts.insert(account)
            let streams = hub.listenKeys(of: account, nowMs: nowMs()).filter(hub.wants)
            if !streams.isEmpty, let a = engine.assetIndex(asset), let units = amount.units(atScale: engine.assets[a].scale) {
                let isDeposit = if case .deposit = command { true } else { false }
                let message = JSON.object {
                    $0.string("e", "balanceUpdate"); $0.number("E", eventTime); $0.string("a", asset)
                    $0.string("d", Amount.asset(isDeposit ? units : -units, engine.assets[a])); $0.number("T", eventTime)
                }.text
                for stream in streams { hub.send(stream, message) }
            }
        default: break
        }
        // Every balance of the accounts moved, as they stand now.
        for account in accounts.sorted() {
            let streams = hub.listenKeys(of: account, nowMs: nowMs()).filter(hub.wants)
            guard !streams.isEmpty else { continue }
            let message = JSON.object {
                $0.string("e", "outboundAccountPosition"); $0.number("E", eventTime); $0.number("u", eventTime)
                $0.add("B", .array(engine.assets.map { asset in
                    let b = r.balance(account: account, asset: asset.name)
                    return .object {
                        $0.string("a", asset.name); $0.string("f", Amount.asset(b.free, asset)); $0.string("l", Amount.asset(b.locked, asset))
                    }
                }))
            }.text
            for stream in streams { hub.send(stream, message) }
        }
    }

    // MARK: - Timed streams

    private func runTimer() {
        var tick = 0
        while true {
            let stop = stopMonitor.locked { () -> Bool in
                if !stopping { stopMonitor.wait(timeoutNs: 100_000_000) }
                return stopping
            }
            if stop { return }
            tick += 1
            guard let view else { continue }
            flush(view, every100ms: true)
            if tick % 10 == 0 { flush(view, every100ms: false) }
        }
    }

    private func flush(_ view: GatewayView, every100ms: Bool) {
        let diffs = hub.takeDiffs(every100ms: every100ms)
        let suffix = every100ms ? "@100ms" : ""
        let now = wallClockNs() / 1_000_000
        view.read { r in
            let engine = r.engine
            for (s, diff) in diffs.sorted(by: { $0.key < $1.key }) {
                let stream = Self.name(engine, s) + "@depth" + suffix
                guard hub.wants(stream) else { continue }
                let info = engine.symbols[s]
                func levels(_ side: [Int64: Int64], descending: Bool) -> JSON {
                    .array(side.sorted { descending ? $0.key > $1.key : $0.key < $1.key }.map {
                        .array([.string(Amount.price($0.key, info)), .string(Amount.qty($0.value, info))])
                    })
                }
                hub.send(stream, JSON.object {
                    $0.string("e", "depthUpdate"); $0.number("E", now); $0.string("s", engine.symbolNames[s])
                    $0.number("U", diff.first); $0.number("u", diff.last)
                    $0.add("b", levels(diff.bids, descending: true)); $0.add("a", levels(diff.asks, descending: false))
                }.text)
            }
            for s in engine.symbols.indices {
                let name = Self.name(engine, s)
                let info = engine.symbols[s]
                for depth in [5, 10, 20] {
                    let stream = name + "@depth\(depth)" + suffix
                    guard hub.wants(stream) else { continue }
                    let book = r.marketData.depth(symbol: s, limit: depth)
                    func levels(_ side: [MarketData.Level]) -> JSON {
                        .array(side.map { .array([.string(Amount.price($0.price, info)), .string(Amount.qty($0.qty, info))]) })
                    }
                    hub.send(stream, JSON.object {
                        $0.number("lastUpdateId", book.lastUpdateId); $0.add("bids", levels(book.bids)); $0.add("asks", levels(book.asks))
                    }.text)
                }
                if !every100ms, hub.wants(name + "@ticker") {
                    hub.send(name + "@ticker", tickerMessage(s, r, now))
                }
            }
        }
    }

    /// `@ticker`: the 24-hour rolling window, as `GET /api/v3/ticker/24hr` computes it.
    private func tickerMessage(_ s: Int, _ r: GatewayView.Reading, _ now: Int64) -> String {
        let t = RollingTicker(s, r, nowMs: now)
        let engine = r.engine
        let info = engine.symbols[s], quote = engine.assets[info.quote]
        return JSON.object {
            $0.string("e", "24hrTicker"); $0.number("E", now); $0.string("s", engine.symbolNames[s])
            $0.string("p", Amount.price(t.close - t.open, info)); $0.string("P", t.changePercent)
            $0.string("w", Amount.price(t.weightedAverage, info)); $0.string("x", Amount.price(t.open, info))
            $0.string("c", Amount.price(t.last?.trade.price ?? 0, info)); $0.string("Q", Amount.qty(t.last?.trade.qty ?? 0, info))
            $0.string("b", Amount.price(t.book.bids.first?.price ?? 0, info)); $0.string("B", Amount.qty(t.book.bids.first?.qty ?? 0, info))
            $0.string("a", Amount.price(t.book.asks.first?.price ?? 0, info)); $0.string("A", Amount.qty(t.book.asks.first?.qty ?? 0, info))
            $0.string("o", Amount.price(t.open, info)); $0.string("h", Amount.price(t.high, info))
            $0.string("l", Amount.price(t.low, info)); $0.string("v", Amount.qty(t.volume, info))
            $0.string("q", Amount.asset(t.quoteVolume, quote)); $0.number("O", t.openTime); $0.number("C", now)
            $0.number("F", t.firstId); $0.number("L", t.lastId); $0.number("n", t.count)
        }.text
    }
}

/// A symbol's last 24 hours from its one-minute candles (Binance's rolling ticker, to the
/// minute): the REST ticker and the `@ticker` stream both read it.
struct RollingTicker {
    var open: Int64 = 0, close: Int64 = 0, high: Int64 = 0, low: Int64 = 0
    var volume: Int64 = 0, quoteVolume: Int64 = 0, count: Int64 = 0
    var weightedAverage: Int64 = 0
    var openTime: Int64
    var firstId: Int64 = -1, lastId: Int64 = -1
    var last: MarketData.RecentTrade?
    var book: MarketData.DepthSnapshot

    init(_ s: Int, _ r: GatewayView.Reading, nowMs: Int64) {
        openTime = nowMs - 86_400_000
        let name = r.engine.symbolNames[s]
        let minutes = r.klines(symbol: name, interval: .oneMinute).filter { $0.closeTimeMs >= nowMs - 86_400_000 }
        let info = r.engine.symbols[s]
        last = r.marketData.recentTrades(symbol: s, limit: 1).last
        book = r.marketData.depth(symbol: s, limit: 1)
        open = minutes.first?.open ?? 0
        close = minutes.last?.close ?? 0
        high = minutes.map(\.high).max() ?? 0
        low = minutes.map(\.low).min() ?? 0
        volume = minutes.reduce(0) { $0 + $1.volume }
        quoteVolume = minutes.reduce(0) { $0 + $1.quoteVolume }
        count = minutes.reduce(0) { $0 + $1.trades }
        // Quote volume over base volume, in price units.
        if volume > 0 { weightedAverage = Int64(Int128(quoteVolume) / (Int128(volume) * Int128(info.quoteMultiplier))) }
        if count > 0, let last {
            lastId = Int64(last.trade.tradeId)
            firstId = lastId - count + 1
        }
    }

    var changePercent: String {
        guard open != 0 else { return "0.000" }
        let basisPoints = Int128(close - open) * 100_000 / Int128(open)
        let sign = basisPoints < 0 ? "-" : ""
        let magnitude = basisPoints.magnitude
        let fraction = String(magnitude % 1_000)
        return sign + String(magnitude / 1_000) + "." + String(repeating: "0", count: 3 - fraction.count) + fraction
    }
}
