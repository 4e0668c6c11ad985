import Matching

/// Events as JSON Lines (INTERCHANGE.md, "Events"). Prices are written with the decimals of
/// the symbol's tick size ("30000.00"); quantities, amounts and fees with no trailing zeros
/// ("0.5", "0"), as in the examples there.
public enum EventJSON {
    /// One event of `command` as a line (without the newline), rendered with the engine's
    /// state at the time it was emitted.
    public static func render(_ event: Event, of command: Command, seq: UInt64, engine: MatchingEngine) -> String {
        var line: [UInt8] = []
        render(event, of: command, seq: seq, engine: engine, into: &line)
        return String(decoding: line, as: UTF8.self)
    }

    /// The same line appended to `out` as UTF-8 (no newline).
    public static func render(_ event: Event, of command: Command, seq: UInt64, engine: MatchingEngine,
                              into out: inout [UInt8]) {
        var o = JSONObjectWriter(appendingTo: &out)
        defer { o.finish(into: &out) }
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
            if let price { o.decimal("price", units: price, scale: info.priceDecimals, trimmed: false) }
            if let qty { o.decimal("qty", units: qty, scale: info.qtyDecimals, trimmed: true) }
            if let quoteQty { o.decimal("quote_qty", units: quoteQty, scale: engine.assets[info.quote].scale, trimmed: true) }
        case let .trade(t):
            let info = engine.symbols[t.symbol]
            let symbol = t.symbol
            let baseScale = engine.assets[info.base].scale, quoteScale = engine.assets[info.quote].scale
            o.string("event", "trade")
            o.number("trade_id", t.tradeId)
            o.string("symbol", engine.symbolNames[symbol])
            o.decimal("price", units: t.price, scale: info.priceDecimals, trimmed: false)
            o.decimal("qty", units: t.qty, scale: info.qtyDecimals, trimmed: true)
            o.string("taker_side", t.takerSide.description)
            o.number("maker_order_id", t.makerOrderId)
            o.number("taker_order_id", t.takerOrderId)
            o.number("maker_account", t.makerAccount)
            o.number("taker_account", t.takerAccount)
            // Each side pays its fee in what it receives: the buyer in base, the seller in quote.
            let makerBuys = t.takerSide == .sell
            o.decimal("maker_fee", units: t.makerFee, scale: makerBuys ? baseScale : quoteScale, trimmed: true)
            o.decimal("taker_fee", units: t.takerFee, scale: makerBuys ? quoteScale : baseScale, trimmed: true)
        case let .booked(orderId, symbol, remaining):
            o.string("event", "booked")
            o.number("order_id", orderId)
            o.decimal("remaining", units: remaining, scale: engine.symbols[symbol].qtyDecimals, trimmed: true)
        case let .done(orderId, symbol, status, filled, remaining):
            o.string("event", "done")
            o.number("order_id", orderId)
            o.string("status", status.rawValue)
            o.decimal("filled", units: filled, scale: engine.symbols[symbol].qtyDecimals, trimmed: true)
            o.decimal("remaining", units: remaining, scale: engine.symbols[symbol].qtyDecimals, trimmed: true)
        case let .cancelled(orderId, symbol, remaining, reason):
            o.string("event", "cancelled")
            o.number("order_id", orderId)
            o.decimal("remaining", units: remaining, scale: engine.symbols[symbol].qtyDecimals, trimmed: true)
            o.string("reason", reason.rawValue)
        case let .amended(orderId, symbol, remaining):
            o.string("event", "amended")
            o.number("order_id", orderId)
            o.decimal("remaining", units: remaining, scale: engine.symbols[symbol].qtyDecimals, trimmed: true)
        case let .rejected(account, reason):
            o.string("event", "rejected")
            o.string("cmd", command.name)
            if let account { o.number("account", account) }
            if let clientId = command.clientId { o.string("client_id", clientId) }
            o.string("reason", reason.rawValue)
            if reason == .invalidCommand, let detail = engine.invalidDetail(of: command) { o.string("detail", detail) }
        case .ok:
            o.string("event", "ok")
            o.string("cmd", command.name)
        }
    }

    /// `units × 10^-scale` without trailing zeros ("0.5", "0").
    public static func trimmed(_ units: Int64, _ scale: Int) -> String {
        var out: [UInt8] = []
        JSONObjectWriter.appendDecimal(units, scale: scale, trimmed: true, to: &out)
        return String(decoding: out, as: UTF8.self)
    }
}

/// Writes one JSON object with keys in the order given, as UTF-8 bytes (no intermediate
/// strings: this is every acknowledgement's path).
public struct JSONObjectWriter {
    public private(set) var bytes: [UInt8]
    private var empty = true

    public init() {
        bytes = [UInt8(ascii: "{")]
        bytes.reserveCapacity(256)
    }

    /// Starts an object at the end of `buffer`, taking its storage (so that appending never
    /// copies it); `finish(into:)` gives it back.
    init(appendingTo buffer: inout [UInt8]) {
        bytes = []
        swap(&bytes, &buffer)
        bytes.append(UInt8(ascii: "{"))
    }

    /// Closes the object and hands the bytes back to `buffer` (moved, not copied).
    mutating func finish(into buffer: inout [UInt8]) {
        bytes.append(UInt8(ascii: "}"))
        swap(&bytes, &buffer)
    }

    private mutating func key(_ key: StaticString) {
        if !empty { bytes.append(UInt8(ascii: ",")) }
        empty = false
        bytes.append(UInt8(ascii: "\""))
        key.withUTF8Buffer { bytes.append(contentsOf: $0) }
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: ":"))
    }

    mutating func number<T: BinaryInteger>(_ key: StaticString, _ value: T) {
        self.key(key)
        Self.appendInteger(Int64(value), to: &bytes)
    }

    mutating func number(_ key: StaticString, _ value: UInt64) {
        self.key(key)
        if value > UInt64(Int64.max) {
            bytes.append(contentsOf: String(value).utf8)
        } else {
            Self.appendInteger(Int64(value), to: &bytes)
        }
    }

    mutating func string(_ key: StaticString, _ value: String) {
        self.key(key)
        Self.appendQuoted(value, to: &bytes)
    }

    /// `units × 10^-scale` as a JSON string: all `scale` decimals, or without trailing zeros.
    mutating func decimal(_ key: StaticString, units: Int64, scale: Int, trimmed: Bool) {
        self.key(key)
        bytes.append(UInt8(ascii: "\""))
        Self.appendDecimal(units, scale: scale, trimmed: trimmed, to: &bytes)
        bytes.append(UInt8(ascii: "\""))
    }

    /// The object, closed.
    var closed: [UInt8] {
        var out = bytes
        out.append(UInt8(ascii: "}"))
        return out
    }

    var text: String { String(decoding: closed, as: UTF8.self) }

    static func appendInteger(_ value: Int64, to out: inout [UInt8]) {
        appendDecimal(value, scale: 0, trimmed: false, to: &out)
    }

    /// `units × 10^-scale` with exactly `scale` decimals, or (`trimmed`) without trailing zeros
    /// and without a point when nothing follows it. The same text as `ExactDecimal.format`.
    static func appendDecimal(_ units: Int64, scale: Int, trimmed: Bool, to out: inout [UInt8]) {
        if units < 0 { out.append(UInt8(ascii: "-")) }
        var magnitude = units.magnitude
        var digits: (UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0)  // up to 40 digits
        var count = 0
        withUnsafeMutableBytes(of: &digits) { d in
            repeat {
                d[count] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
                count += 1
            } while magnitude > 0 || count <= scale
            // d[0..<scale] are the decimals (little end first), d[scale..<count] the whole part.
            for i in stride(from: count - 1, through: scale, by: -1) { out.append(d[i]) }
            var first = 0
            if trimmed { while first < scale && d[first] == UInt8(ascii: "0") { first += 1 } }
            if first < scale {
                out.append(UInt8(ascii: "."))
                for i in stride(from: scale - 1, through: first, by: -1) { out.append(d[i]) }
            }
        }
    }

    /// `s` as a JSON string literal, quotes included.
    static func appendQuoted(_ s: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in s.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(UInt8(ascii: "\\")); out.append(byte)
            case UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\")); out.append(byte)
            case 0x0A: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "n"))
            case 0x0D: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "r"))
            case 0x09: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "t"))
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                                        hex[Int(byte >> 4)], hex[Int(byte & 15)]])
            default: out.append(byte)  // UTF-8 passes through as it is
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// `s` as a JSON string literal, quotes included.
    public static func quote(_ s: String) -> String {
        var out: [UInt8] = []
        appendQuoted(s, to: &out)
        return String(decoding: out, as: UTF8.self)
    }
}
