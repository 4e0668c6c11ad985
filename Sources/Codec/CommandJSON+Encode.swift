import Matching

extension CommandJSON {
    /// A command as one INTERCHANGE line, with `seq` and `ts` first (what `journal export`
    /// prints). An invalid command is printed as the client wrote it, with the journal's `seq`
    /// and `ts` in front of the client's own members (less any `seq` or `ts` of its own), so
    /// that importing the export gives the same commands again.
    public static func encode(_ command: Command, seq: UInt64, timestampNs: Int64) -> String {
        var o = JSONObjectWriter()
        o.number("seq", seq)
        o.number("ts", timestampNs)
        switch command {
        case let .addAsset(name, scale):
            o.string("cmd", "add_asset"); o.string("asset", name); o.number("scale", scale)
        case let .addSymbol(s):
            o.string("cmd", "add_symbol"); o.string("symbol", s.name); o.string("base", s.base); o.string("quote", s.quote)
            o.string("tick_size", s.tickSize.description); o.string("step_size", s.stepSize.description)
            o.string("min_qty", s.minQty.description); o.string("max_qty", s.maxQty.description)
            o.string("min_notional", s.minNotional.description)
            o.number("maker_fee_ppm", s.makerFeePpm); o.number("taker_fee_ppm", s.takerFeePpm)
        case let .openAccount(account):
            o.string("cmd", "open_account"); o.number("account", account)
        case let .deposit(account, asset, amount), let .withdraw(account, asset, amount):
            o.string("cmd", command.name); o.number("account", account); o.string("asset", asset)
            o.string("amount", amount.description)
        case let .place(p):
            o.string("cmd", "place"); o.number("account", p.account); o.string("symbol", p.symbol)
            if let clientId = p.clientId { o.string("client_id", clientId) }
            o.string("side", p.side.description); o.string("type", p.type.description)
            o.string("tif", p.timeInForce.description)
            if let price = p.price { o.string("price", price.description) }
            if let qty = p.qty { o.string("qty", qty.description) }
            if let quoteQty = p.quoteQty { o.string("quote_qty", quoteQty.description) }
            o.string("stp", p.stp.description)
        case let .cancel(account, symbol, reference):
            o.string("cmd", "cancel"); o.number("account", account); o.string("symbol", symbol)
            reference.write(into: &o)
        case let .cancelAll(account, symbol):
            o.string("cmd", "cancel_all"); o.number("account", account); o.string("symbol", symbol)
        case let .amend(account, symbol, reference, qty):
            o.string("cmd", "amend"); o.number("account", account); o.string("symbol", symbol)
            reference.write(into: &o)
            o.string("qty", qty.description)
        case let .halt(symbol), let .resume(symbol):
            o.string("cmd", command.name); o.string("symbol", symbol)
        case let .checkpoint(c):
            o.string("cmd", "checkpoint"); o.number("verifies_seq", c.verifiedSequence)
            if !c.stateDigest.isEmpty { o.string("state_digest", hex(c.stateDigest)) }
        case let .term(epoch, leader):
            o.string("cmd", "term"); o.number("epoch", epoch); o.string("leader", leader)
        case let .addApiKey(spec):
            o.string("cmd", "add_api_key"); o.number("account", spec.account); o.string("api_key", spec.apiKey)
            o.string("permissions", spec.permissions.names)
            if !spec.ipWhitelist.isEmpty { o.string("ip", spec.ipWhitelist) }
            o.string(spec.kind == .hmac ? "secret_sealed" : "public_key", hex(spec.material))
        case let .revokeApiKey(account, apiKey):
            o.string("cmd", "revoke_api_key"); o.number("account", account); o.string("api_key", apiKey)
        case let .invalid(invalid):
            return exportLine(of: invalid, seq: seq, timestampNs: timestampNs)
        }
        return o.text
    }
}

extension CommandJSON {
    /// The export line of an invalid command. A text that is not a JSON object (journals
    /// written before such lines were refused) is carried whole as a string, `invalid_text`.
    static func exportLine(of invalid: InvalidCommand, seq: UInt64, timestampNs: Int64) -> String {
        var text = invalid.text
        return text.withUTF8 { raw in
            var members = JSONMembers(slots: K.slots)
            var out: [UInt8] = Array("{\"seq\":\(seq),\"ts\":\(timestampNs)".utf8)
            guard members.scan(UnsafeRawBufferPointer(raw)) == .object else {
                var o = JSONObjectWriter()
                o.string("invalid_text", invalid.text)
                return String(decoding: out, as: UTF8.self) + "," + o.text.dropFirst()
            }
            for m in members.members where !members.key(of: m, is: K.seq) && !members.key(of: m, is: K.ts) {
                out.append(UInt8(ascii: ","))
                out.append(contentsOf: members.memberText(m))
            }
            out.append(UInt8(ascii: "}"))
            return String(decoding: out, as: UTF8.self)
        }
    }
}

extension OrderReference {
    func write(into o: inout JSONObjectWriter) {
        switch self {
        case let .id(id): o.number("order_id", id)
        case let .clientId(clientId): o.string("client_id", clientId)
        }
    }
}

/// The bytes of lower- or upper-case hexadecimal; nil for anything else.
public func unhex(_ text: String) -> [UInt8]? {
    let digits = Array(text.utf8)
    guard digits.count % 2 == 0 else { return nil }
    var out: [UInt8] = []
    out.reserveCapacity(digits.count / 2)
    var i = 0
    while i < digits.count {
        guard let high = hexDigit(digits[i]), let low = hexDigit(digits[i + 1]) else { return nil }
        out.append(high << 4 | low)
        i += 2
    }
    return out
}

/// The value of one hexadecimal digit of either case; nil for any other byte.
public func hexDigit(_ c: UInt8) -> UInt8? {
    switch c {
    case 0x30...0x39: return c - 0x30
    case 0x61...0x66: return c - 0x61 + 10
    case 0x41...0x46: return c - 0x41 + 10
    default: return nil
    }
}

/// Lower-case hexadecimal.
public func hex(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count * 2)
    for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
    return String(decoding: out, as: UTF8.self)
}
