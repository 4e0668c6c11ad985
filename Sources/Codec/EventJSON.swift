import Matching

/// Events as JSON Lines (INTERCHANGE.md, "Events"). Prices are written with the decimals of
/// the symbol's tick size ("30000.00"); quantities, amounts and fees with no trailing zeros
/// ("0.5", "0"), as in the examples there.
public enum EventJSON {
    /// One event of `command` as a line (without the newline), rendered with the engine's
    /// state at the time it was emitted.
    public static func render(_ event: Event, of command: Command, seq: UInt64, engine: MatchingEngine) -> String {
        var o = JSONObjectWriter()
        o.number("seq", seq)
        switch event {
        case let .accepted(orderId, account, symbol, side, type, tif, price, qty, quoteQty):
            let info = engine.symbols[symbol]
            o.string("event", "accepted")
            o.number("order_id", orderId)
            o.number("account", account)
            o.string("symbol", engine.symbolNames[symbol])
            if let clientId = command.clientId { o.string("client_id", clientId) }
            o.string("side", side.description)
            o.string("type", type.description)
            if type != .market { o.string("tif", tif.description) }
            if let price { o.string("price", ExactDecimal.format(units: price, scale: info.priceDecimals)) }
            if let qty { o.string("qty", trimmed(qty, info.qtyDecimals)) }
            if let quoteQty { o.string("quote_qty", trimmed(quoteQty, engine.assets[info.quote].scale)) }
        case let .trade(t):
            let info = engine.symbols[t.symbol]
            let symbol = t.symbol
            let baseScale = engine.assets[info.base].scale, quoteScale = engine.assets[info.quote].scale
            o.string("event", "trade")
            o.number("trade_id", t.tradeId)
            o.string("symbol", engine.symbolNames[symbol])
            o.string("price", ExactDecimal.format(units: t.price, scale: info.priceDecimals))
            o.string("qty", trimmed(t.qty, info.qtyDecimals))
            o.string("taker_side", t.takerSide.description)
            o.number("maker_order_id", t.makerOrderId)
            o.number("taker_order_id", t.takerOrderId)
            o.number("maker_account", t.makerAccount)
            o.number("taker_account", t.takerAccount)
            // Each side pays its fee in what it receives: the buyer in base, the seller in quote.
            let makerBuys = t.takerSide == .sell
            o.string("maker_fee", trimmed(t.makerFee, makerBuys ? baseScale : quoteScale))
            o.string("taker_fee", trimmed(t.takerFee, makerBuys ? quoteScale : baseScale))
        case let .booked(orderId, symbol, remaining):
            o.string("event", "booked")
            o.number("order_id", orderId)
            o.string("remaining", qtyText(remaining, symbol, engine))
        case let .done(orderId, symbol, status, filled, remaining):
            o.string("event", "done")
            o.number("order_id", orderId)
            o.string("status", status.rawValue)
            o.string("filled", qtyText(filled, symbol, engine))
            o.string("remaining", qtyText(remaining, symbol, engine))
        case let .cancelled(orderId, symbol, remaining, reason):
            o.string("event", "cancelled")
            o.number("order_id", orderId)
            o.string("remaining", qtyText(remaining, symbol, engine))
            o.string("reason", reason.rawValue)
        case let .amended(orderId, symbol, remaining):
            o.string("event", "amended")
            o.number("order_id", orderId)
            o.string("remaining", qtyText(remaining, symbol, engine))
        case let .rejected(account, reason):
            o.string("event", "rejected")
            o.string("cmd", command.name)
            if let account { o.number("account", account) }
            if let clientId = command.clientId { o.string("client_id", clientId) }
            o.string("reason", reason.rawValue)
        case .ok:
            o.string("event", "ok")
            o.string("cmd", command.name)
        }
        return o.text
    }

    /// A quantity in a symbol's qty decimals.
    static func qtyText(_ units: Int64, _ symbol: Int, _ engine: MatchingEngine) -> String {
        trimmed(units, engine.symbols[symbol].qtyDecimals)
    }

    /// `units × 10^-scale` without trailing zeros ("0.5", "0").
    public static func trimmed(_ units: Int64, _ scale: Int) -> String {
        var text = ExactDecimal.format(units: units, scale: scale)
        if text.contains(".") {
            while text.hasSuffix("0") { text.removeLast() }
            if text.hasSuffix(".") { text.removeLast() }
        }
        return text
    }
}

/// Writes one JSON object with keys in the order given.
public struct JSONObjectWriter {
    private var parts: [String] = []

    mutating func number<T: BinaryInteger>(_ key: String, _ value: T) { parts.append("\"\(key)\":\(value)") }
    mutating func string(_ key: String, _ value: String) { parts.append("\"\(key)\":\(Self.quote(value))") }
    mutating func raw(_ key: String, _ json: String) { parts.append("\"\(key)\":\(json)") }

    var text: String { "{" + parts.joined(separator: ",") + "}" }

    /// `s` as a JSON string literal, quotes included.
    public static func quote(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case let c where c.value < 0x20:
                let hex = String(c.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
