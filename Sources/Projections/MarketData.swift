import Matching

/// Live market data, in memory, derived from the engine's events alone (so a replica or a
/// restarted node that applies the same commands derives the same update ids): per symbol the
/// L2 book with Binance's update ids, a ring of recent trades and the current kline of each
/// interval.
///
/// Update ids: each change of one price level's quantity takes the next id of its symbol. A
/// command's changes to a symbol are one `DepthUpdate` covering ids `firstUpdateId` (Binance's
/// `U`) through `finalUpdateId` (`u`), listing each changed level once with its new quantity
/// (0: gone). A depth snapshot carries `lastUpdateId`, the id of the last change it includes,
/// so Binance's local-order-book procedure applies: drop updates with `u <= lastUpdateId`,
/// start from the one with `U <= lastUpdateId + 1 <= u`, then apply every update in order.
///
/// Not thread-safe: fed by one thread (a projector, or a node's sink), read by the same.
public final class MarketData {
    public struct Level: Equatable, Sendable {
        public var price: Int64
        public var qty: Int64
        public init(price: Int64, qty: Int64) { self.price = price; self.qty = qty }
    }

    public struct DepthUpdate: Equatable, Sendable {
        public var symbol: Int
        public var firstUpdateId: UInt64
        public var finalUpdateId: UInt64
        public var timestampNs: Int64
        /// Changed levels with their new quantities (0 when the level is gone).
        public var bids: [Level]
        public var asks: [Level]
    }

    public struct DepthSnapshot: Equatable, Sendable {
        public var lastUpdateId: UInt64
        /// Best first.
        public var bids: [Level]
        public var asks: [Level]
    }

    public struct RecentTrade: Equatable, Sendable {
        public var trade: Trade
        public var timestampNs: Int64
        public var quoteUnits: Int64
    }

    /// Limits: trades kept per symbol.
    public let recentTradesMax: Int
    /// Called once per command for each symbol whose book it changed, in symbol order.
    public var onDepthUpdate: ((DepthUpdate) -> Void)?
    /// Called for each trade, in order.
    public var onTrade: ((RecentTrade) -> Void)?

    private var books: [SymbolBook] = []
    private var resting: [OrderId: RestingOrder] = [:]
    public private(set) var klines = KlineBook()

    private struct RestingOrder {
        var symbol: Int
        var side: Side
        var price: Int64
        var remaining: Int64
    }

    private struct SymbolBook {
        var bids: [Int64: Int64] = [:]
        var asks: [Int64: Int64] = [:]
        var lastUpdateId: UInt64 = 0
        var trades: [RecentTrade] = []
        var tradesHead = 0
        /// The levels the current command changed, in the order it changed them.
        var changedBids: [Int64] = []
        var changedAsks: [Int64] = []
    }

    public init(recentTradesMax: Int = 1_000) {
        precondition(recentTradesMax > 0, "keep at least one trade")
        self.recentTradesMax = recentTradesMax
    }

    /// Applies the events of one command (the engine is the one that emitted them, after it).
    public func apply(_ events: EventList, timestampNs: Int64, engine: MatchingEngine) {
        if books.count < engine.symbols.count {
            books += Array(repeating: SymbolBook(), count: engine.symbols.count - books.count)
        }
        var changedSymbols: [Int] = []
        var accepted: (id: OrderId, side: Side, price: Int64?)?
        for event in events {
            switch event {
            case let .accepted(orderId, _, _, side, _, _, price, _, _):
                accepted = (orderId, side, price)
            case let .booked(orderId, symbol, remaining):
                guard let a = accepted, a.id == orderId, let price = a.price else { continue }
                resting[orderId] = RestingOrder(symbol: symbol, side: a.side, price: price, remaining: remaining)
                change(symbol, a.side, price, by: remaining, &changedSymbols)
            case let .trade(t):
                reduceResting(t.makerOrderId, by: t.qty, &changedSymbols)
                record(t, timestampNs: timestampNs, engine: engine)
            case let .cancelled(orderId, _, remaining, _):
                reduceResting(orderId, by: remaining, &changedSymbols)
            case let .amended(orderId, _, remaining):
                if let order = resting[orderId] { reduceResting(orderId, by: order.remaining - remaining, &changedSymbols) }
            case .done, .rejected, .ok:
                break
            }
        }
        for symbol in changedSymbols.sorted() { publish(symbol, timestampNs: timestampNs) }
    }

    private func reduceResting(_ orderId: OrderId, by qty: Int64, _ changedSymbols: inout [Int]) {
        guard var order = resting[orderId] else { return }
        order.remaining -= qty
        resting[orderId] = order.remaining > 0 ? order : nil
        change(order.symbol, order.side, order.price, by: -qty, &changedSymbols)
    }

    private func change(_ symbol: Int, _ side: Side, _ price: Int64, by qty: Int64, _ changedSymbols: inout [Int]) {
        if books[symbol].changedBids.isEmpty && books[symbol].changedAsks.isEmpty { changedSymbols.append(symbol) }
        if side == .buy {
            let now = books[symbol].bids[price, default: 0] + qty
            books[symbol].bids[price] = now > 0 ? now : nil
            if !books[symbol].changedBids.contains(price) { books[symbol].changedBids.append(price) }
        } else {
            let now = books[symbol].asks[price, default: 0] + qty
            books[symbol].asks[price] = now > 0 ? now : nil
            if !books[symbol].changedAsks.contains(price) { books[symbol].changedAsks.append(price) }
        }
    }

    private func publish(_ symbol: Int, timestampNs: Int64) {
        var book = books[symbol]
        let bids = book.changedBids.map { Level(price: $0, qty: book.bids[$0] ?? 0) }
        let asks = book.changedAsks.map { Level(price: $0, qty: book.asks[$0] ?? 0) }
        let first = book.lastUpdateId + 1
        book.lastUpdateId += UInt64(bids.count + asks.count)
        book.changedBids.removeAll(keepingCapacity: true)
        book.changedAsks.removeAll(keepingCapacity: true)
        books[symbol] = book
        onDepthUpdate?(DepthUpdate(symbol: symbol, firstUpdateId: first, finalUpdateId: book.lastUpdateId,
                                   timestampNs: timestampNs, bids: bids, asks: asks))
    }

    private func record(_ t: Trade, timestampNs: Int64, engine: MatchingEngine) {
        let quoteUnits = Projector.notional(t.price, t.qty, engine.symbols[t.symbol])
        let trade = RecentTrade(trade: t, timestampNs: timestampNs, quoteUnits: quoteUnits)
        var book = books[t.symbol]
        if book.trades.count < recentTradesMax {
            book.trades.append(trade)
        } else {
            book.trades[book.tradesHead] = trade
            book.tradesHead = (book.tradesHead + 1) % recentTradesMax
        }
        books[t.symbol] = book
        klines.add(t, symbol: engine.symbolNames[t.symbol], quoteUnits: quoteUnits, timestampNs: timestampNs) { _, _ in }
        onTrade?(trade)
    }

    /// Starts from a restored engine's books (a snapshot): the resting orders, update ids from 0.
    public func start(from engine: MatchingEngine) {
        books = Array(repeating: SymbolBook(), count: engine.symbols.count)
        resting = [:]
        for o in engine.restingOrders() {
            resting[o.id] = RestingOrder(symbol: o.symbol, side: o.side, price: o.price, remaining: o.remaining)
            if o.side == .buy {
                books[o.symbol].bids[o.price, default: 0] += o.remaining
            } else {
                books[o.symbol].asks[o.price, default: 0] += o.remaining
            }
        }
    }

    // MARK: - Reading

    /// The book's best `limit` levels a side, with the id of the last change it includes.
    public func depth(symbol: Int, limit: Int = .max) -> DepthSnapshot {
        guard symbol < books.count else { return DepthSnapshot(lastUpdateId: 0, bids: [], asks: []) }
        let book = books[symbol]
        let bids = book.bids.sorted { $0.key > $1.key }.prefix(limit).map { Level(price: $0.key, qty: $0.value) }
        let asks = book.asks.sorted { $0.key < $1.key }.prefix(limit).map { Level(price: $0.key, qty: $0.value) }
        return DepthSnapshot(lastUpdateId: book.lastUpdateId, bids: bids, asks: asks)
    }

    /// The symbol's last trades, oldest first (at most `recentTradesMax`).
    public func recentTrades(symbol: Int, limit: Int = .max) -> [RecentTrade] {
        guard symbol < books.count else { return [] }
        let book = books[symbol]
        let ordered = Array(book.trades[book.tradesHead...] + book.trades[..<book.tradesHead])
        return Array(ordered.suffix(limit))
    }

    /// The kline of the symbol's current period of `interval` (the period of its last trade).
    public func currentKline(symbol: Int, interval: KlineInterval) -> KlineRow? {
        let slot = KlineBook.slot(symbol: symbol, interval: interval)
        return slot < klines.current.count ? klines.current[slot] : nil
    }
}
