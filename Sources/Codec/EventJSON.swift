import Matching

/// Events as JSON Lines (INTERCHANGE.md, "Events"). Prices are written with the decimals of
/// the symbol's tick size ("30000.00"); quantities, amounts and fees with no trailing zeros
/// ("0.5", "0"), as in the examples there.
public enum EventJSON {
    /// One event of `command` as a line (without the newline), rendered with the engine's
    /// state at the time it was emitted.
    public static func render(_ event: Event, of command: Command, seq: UInt64, engine: MatchingEngine) -> String {
        var line = ByteOutput(capacity: 256)
        render(event, of: command, seq: seq, engine: engine, into: &line)
        return line.string
    }

    /// The same line appended to `o` as UTF-8 (no newline).
    public static func render(_ event: Event, of command: Command, seq: UInt64, engine: MatchingEngine,
                              into o: inout ByteOutput) {
        o.beginObject()
        defer { o.endObject() }
        o.number("seq", seq)
        switch event {
        case let .accepted(orderId, account, symbol, side, type, tif, price, qty, quoteQty):
            let info = engine.symbols[symbol]
            o.string("event", "accepted" as StaticString)
            o.number("order_id", orderId)
            o.number("account", account)
            o.string("symbol", engine.symbolNames[symbol])
            if let clientId = command.clientId { o.string("client_id", clientId) }
            o.string("side", side.json)
            o.string("type", type.json)
            if type != .market { o.string("tif", tif.json) }
            if let price { o.decimal("price", units: price, scale: info.priceDecimals, trimmed: false) }
            if let qty { o.decimal("qty", units: qty, scale: info.qtyDecimals, trimmed: true) }
            if let quoteQty { o.decimal("quote_qty", units: quoteQty, scale: engine.assets[info.quote].scale, trimmed: true) }
        case let .trade(t):
            let info = engine.symbols[t.symbol]
            let symbol = t.symbol
            let baseScale = engine.assets[info.base].scale, quoteScale = engine.assets[info.quote].scale
            o.string("event", "trade" as StaticString)
            o.number("trade_id", t.tradeId)
            o.string("symbol", engine.symbolNames[symbol])
            o.decimal("price", units: t.price, scale: info.priceDecimals, trimmed: false)
            o.decimal("qty", units: t.qty, scale: info.qtyDecimals, trimmed: true)
            o.string("taker_side", t.takerSide.json)
            o.number("maker_order_id", t.makerOrderId)
            o.number("taker_order_id", t.takerOrderId)
            o.number("maker_account", t.makerAccount)
            o.number("taker_account", t.takerAccount)
            // Each side pays its fee in what it receives: the buyer in base, the seller in quote.
            let makerBuys = t.takerSide == .sell
            o.decimal("maker_fee", units: t.makerFee, scale: makerBuys ? baseScale : quoteScale, trimmed: true)
            o.decimal("taker_fee", units: t.takerFee, scale: makerBuys ? quoteScale : baseScale, trimmed: true)
        case let .booked(orderId, symbol, remaining):
            o.string("event", "booked" as StaticString)
            o.number("order_id", orderId)
            o.decimal("remaining", units: remaining, scale: engine.symbols[symbol].qtyDecimals, trimmed: true)
        case let .done(orderId, symbol, status, filled, remaining):
            o.string("event", "done" as StaticString)
            o.number("order_id", orderId)
            o.string("status", status.json)
            o.decimal("filled", units: filled, scale: engine.symbols[symbol].qtyDecimals, trimmed: true)
            o.decimal("remaining", units: remaining, scale: engine.symbols[symbol].qtyDecimals, trimmed: true)
        case let .cancelled(orderId, symbol, remaining, reason):
            o.string("event", "cancelled" as StaticString)
            o.number("order_id", orderId)
            o.decimal("remaining", units: remaining, scale: engine.symbols[symbol].qtyDecimals, trimmed: true)
            o.string("reason", reason.json)
        case let .amended(orderId, symbol, remaining):
            o.string("event", "amended" as StaticString)
            o.number("order_id", orderId)
            o.decimal("remaining", units: remaining, scale: engine.symbols[symbol].qtyDecimals, trimmed: true)
        case let .rejected(account, reason):
            o.string("event", "rejected" as StaticString)
            o.string("cmd", command.name)
            if let account { o.number("account", account) }
            if let clientId = command.clientId { o.string("client_id", clientId) }
            o.string("reason", reason.rawValue)
            if reason == .invalidCommand, let detail = engine.invalidDetail(of: command) { o.string("detail", detail) }
        case .ok:
            o.string("event", "ok" as StaticString)
            o.string("cmd", command.name)
        }
    }

    /// `units × 10^-scale` without trailing zeros ("0.5", "0").
    public static func trimmed(_ units: Int64, _ scale: Int) -> String {
        var out = ByteOutput(capacity: 32)
        out.reserve(ByteOutput.decimalBytesMax)
        out.putDecimal(units, scale: scale, trimmed: true)
        return out.string
    }
}


// The names of INTERCHANGE's enumerations, as text known when the program is built (written
// without making a String per event).
extension Side {
    var json: StaticString { self == .buy ? "BUY" : "SELL" }
}

extension OrderType {
    var json: StaticString {
        switch self {
        case .limit: return "LIMIT"
        case .limitMaker: return "LIMIT_MAKER"
        case .market: return "MARKET"
        }
    }
}

extension TimeInForce {
    var json: StaticString {
        switch self {
        case .gtc: return "GTC"
        case .ioc: return "IOC"
        case .fok: return "FOK"
        }
    }
}

extension DoneStatus {
    var json: StaticString {
        switch self {
        case .filled: return "FILLED"
        case .expired: return "EXPIRED"
        case .expiredInMatch: return "EXPIRED_IN_MATCH"
        }
    }
}

extension CancelReason {
    var json: StaticString { self == .user ? "USER" : "STP" }
}
