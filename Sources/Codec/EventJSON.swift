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
        switch event {
        case .rejected, .ok:
            renderReply(event, of: command, seq: seq, engine: engine, into: &o)
        default:
            renderOrderEvent(event, of: command, seq: seq, engine: engine, into: &o)
        }
    }

    /// The events of orders and trades, the bulk of any stream: written through one cursor
    /// with room made once, key and punctuation as single pieces of text.
    private static func renderOrderEvent(_ event: Event, of command: Command, seq: UInt64, engine: MatchingEngine,
                                         into o: inout ByteOutput) {
        // Fixed text and numbers take less than 600 bytes; a name or client id at most 6 bytes a
        // byte once escaped.
        var strings = 0
        switch event {
        case let .accepted(_, _, symbol, _, _, _, _, _, _):
            strings = engine.symbolNames[symbol].utf8.count + (command.clientId?.utf8.count ?? 0)
        case let .trade(t):
            strings = engine.symbolNames[t.symbol].utf8.count
        default:
            break
        }
        var c = o.cursor(reserving: 600 &+ 6 &* strings)
        c.text("{\"seq\":")
        c.integer(seq)
        switch event {
        case let .accepted(orderId, account, symbol, side, type, tif, price, qty, quoteQty):
            let info = engine.symbols[symbol]
            c.text(",\"event\":\"accepted\",\"order_id\":")
            c.integer(orderId)
            c.text(",\"account\":")
            c.integer(account)
            c.text(",\"symbol\":")
            c.quoted(engine.symbolNames[symbol])
            if let clientId = command.clientId {
                c.text(",\"client_id\":")
                c.quoted(clientId)
            }
            c.text(",\"side\":\"")
            c.text(side.json)
            c.text("\",\"type\":\"")
            c.text(type.json)
            c.byte(UInt8(ascii: "\""))
            if type != .market {
                c.text(",\"tif\":\"")
                c.text(tif.json)
                c.byte(UInt8(ascii: "\""))
            }
            if let price {
                c.text(",\"price\":")
                c.decimal(price, scale: info.priceDecimals, trimmed: false)
            }
            if let qty {
                c.text(",\"qty\":")
                c.decimal(qty, scale: info.qtyDecimals, trimmed: true)
            }
            if let quoteQty {
                c.text(",\"quote_qty\":")
                c.decimal(quoteQty, scale: engine.assets[info.quote].scale, trimmed: true)
            }
        case let .trade(t):
            let info = engine.symbols[t.symbol]
            let baseScale = engine.assets[info.base].scale, quoteScale = engine.assets[info.quote].scale
            c.text(",\"event\":\"trade\",\"trade_id\":")
            c.integer(t.tradeId)
            c.text(",\"symbol\":")
            c.quoted(engine.symbolNames[t.symbol])
            c.text(",\"price\":")
            c.decimal(t.price, scale: info.priceDecimals, trimmed: false)
            c.text(",\"qty\":")
            c.decimal(t.qty, scale: info.qtyDecimals, trimmed: true)
            c.text(",\"taker_side\":\"")
            c.text(t.takerSide.json)
            c.text("\",\"maker_order_id\":")
            c.integer(t.makerOrderId)
            c.text(",\"taker_order_id\":")
            c.integer(t.takerOrderId)
            c.text(",\"maker_account\":")
            c.integer(t.makerAccount)
            c.text(",\"taker_account\":")
            c.integer(t.takerAccount)
            // Each side pays its fee in what it receives: the buyer in base, the seller in quote.
            let makerBuys = t.takerSide == .sell
            c.text(",\"maker_fee\":")
            c.decimal(t.makerFee, scale: makerBuys ? baseScale : quoteScale, trimmed: true)
            c.text(",\"taker_fee\":")
            c.decimal(t.takerFee, scale: makerBuys ? quoteScale : baseScale, trimmed: true)
        case let .booked(orderId, symbol, remaining):
            c.text(",\"event\":\"booked\",\"order_id\":")
            c.integer(orderId)
            c.text(",\"remaining\":")
            c.decimal(remaining, scale: engine.symbols[symbol].qtyDecimals, trimmed: true)
        case let .done(orderId, symbol, status, filled, remaining):
            let decimals = engine.symbols[symbol].qtyDecimals
            c.text(",\"event\":\"done\",\"order_id\":")
            c.integer(orderId)
            c.text(",\"status\":\"")
            c.text(status.json)
            c.text("\",\"filled\":")
            c.decimal(filled, scale: decimals, trimmed: true)
            c.text(",\"remaining\":")
            c.decimal(remaining, scale: decimals, trimmed: true)
        case let .cancelled(orderId, symbol, remaining, reason):
            c.text(",\"event\":\"cancelled\",\"order_id\":")
            c.integer(orderId)
            c.text(",\"remaining\":")
            c.decimal(remaining, scale: engine.symbols[symbol].qtyDecimals, trimmed: true)
            c.text(",\"reason\":\"")
            c.text(reason.json)
            c.byte(UInt8(ascii: "\""))
        case let .amended(orderId, symbol, remaining):
            c.text(",\"event\":\"amended\",\"order_id\":")
            c.integer(orderId)
            c.text(",\"remaining\":")
            c.decimal(remaining, scale: engine.symbols[symbol].qtyDecimals, trimmed: true)
        case .rejected, .ok:
            preconditionFailure("replies are rendered by renderReply")
        }
        c.byte(UInt8(ascii: "}"))
        o.commit(c)
    }

    /// `rejected` and `ok`, field by field.
    private static func renderReply(_ event: Event, of command: Command, seq: UInt64, engine: MatchingEngine,
                                    into o: inout ByteOutput) {
        o.beginObject()
        defer { o.endObject() }
        o.number("seq", seq)
        switch event {
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
        default:
            preconditionFailure("order events are rendered by renderOrderEvent")
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
