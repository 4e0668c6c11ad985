import Matching
import _Posix

/// The binary encoding of commands in journal records, version 1 (Journal/FORMAT.md,
/// "Command records"). Each record is one command, self-contained, read without any state:
///
/// ```
/// +-----+----------------------------------------------------------+
/// | tag | fields, in the order of the tag's row in FORMAT.md       |
/// +-----+----------------------------------------------------------+
/// ```
/// Integers are LEB128 varints, strings a varint byte length and UTF-8, decimals a scale byte
/// (0...18) and the zigzag varint of the mantissa, bytes a varint length and the bytes. Tags
/// 1...17 are version 1; version 2 adds 18 and 19 (API keys). A later version takes new tags,
/// so every record says how to read it, and a journal of an earlier version stays readable.
public enum CommandCodec {
    enum Tag: UInt8 {
        case addAsset = 1, addSymbol, openAccount, deposit, withdraw
        case placeLimit, placeMarketQty, placeMarketQuote
        case cancelById, cancelByClientId, cancelAll, amendById, amendByClientId
        case halt, resume
        case invalid = 0x10
        case checkpoint = 0x11
        case addApiKey = 0x12
        case revokeApiKey = 0x13
        case term = 0x14
    }

    /// Why a record does not decode.
    public struct DecodeError: Error, Equatable, CustomStringConvertible {
        public var reason: String
        public var description: String { reason }
    }

    /// Appends the encoding of `command` to `out`.
    public static func encode(_ command: borrowing Command, into out: inout [UInt8]) {
        withUnsafePointer(to: command) { encode($0, into: &out) }
    }

    /// Appends the encoding of the command at `command` to `out`, reading it in place. (The
    /// node's sequencer encodes the commands in its queue this way: a command passed by value
    /// to a function of another module is copied first, strings and all.)
    @inline(never)
    public static func encode(_ command: UnsafePointer<Command>, into out: inout [UInt8]) {
        // Written through a pointer into scratch memory sized for the record (fixed fields take
        // under 200 bytes; strings their bytes and a length), then appended at once: an array
        // append checks uniqueness and capacity for every byte.
        let bound = 200 &+ stringBytes(command.pointee)
        withUnsafeTemporaryAllocation(byteCount: bound, alignment: 8) { scratch in
            var w = Writer(start: scratch.baseAddress!.assumingMemoryBound(to: UInt8.self))
            encode(command, &w)
            assert(w.count <= bound, "record written past its bound")
            out.append(contentsOf: UnsafeRawBufferPointer(start: scratch.baseAddress, count: w.count))
        }
    }

    /// The bytes of the strings a command carries (what its record holds beyond fixed fields).
    private static func stringBytes(_ command: borrowing Command) -> Int {
        switch command {
        case let .addAsset(name, _): return name.utf8.count
        case let .addSymbol(spec): return spec.name.utf8.count &+ spec.base.utf8.count &+ spec.quote.utf8.count
        case let .deposit(_, asset, _), let .withdraw(_, asset, _): return asset.utf8.count
        case let .place(order): return order.symbol.utf8.count &+ (order.clientId?.utf8.count ?? 0)
        case let .cancel(_, symbol, reference), let .amend(_, symbol, reference, _):
            if case let .clientId(clientId) = reference { return symbol.utf8.count &+ clientId.utf8.count }
            return symbol.utf8.count
        case let .cancelAll(_, symbol), let .halt(symbol), let .resume(symbol): return symbol.utf8.count
        case let .checkpoint(c): return c.stateDigest.count
        case let .term(_, leader): return leader.utf8.count
        case let .invalid(invalid):
            return invalid.cmd.utf8.count &+ (invalid.clientId?.utf8.count ?? 0) &+ invalid.text.utf8.count
        case .openAccount: return 0
        case let .addApiKey(spec):
            return spec.apiKey.utf8.count &+ spec.ipWhitelist.utf8.count &+ spec.material.count
        case let .revokeApiKey(_, apiKey): return apiKey.utf8.count
        }
    }

    private static func encode(_ command: UnsafePointer<Command>, _ w: inout Writer) {
        switch command.pointee {
        case let .addAsset(name, scale):
            w.tag(.addAsset); w.string(name); w.varint(UInt64(scale))
        case let .addSymbol(spec):
            w.tag(.addSymbol); w.string(spec.name); w.string(spec.base); w.string(spec.quote)
            for d in [spec.tickSize, spec.stepSize, spec.minQty, spec.maxQty, spec.minNotional] { w.decimal(d) }
            w.varint(UInt64(spec.makerFeePpm)); w.varint(UInt64(spec.takerFeePpm))
        case let .openAccount(account):
            w.tag(.openAccount); w.varint(account)
        case let .deposit(account, asset, amount):
            w.tag(.deposit); w.varint(account); w.string(asset); w.decimal(amount)
        case let .withdraw(account, asset, amount):
            w.tag(.withdraw); w.varint(account); w.string(asset); w.decimal(amount)
        case let .place(order):
            encodePlace(order, &w)
        case let .cancel(account, symbol, .id(id)):
            w.tag(.cancelById); w.varint(account); w.string(symbol); w.varint(id)
        case let .cancel(account, symbol, .clientId(clientId)):
            w.tag(.cancelByClientId); w.varint(account); w.string(symbol); w.string(clientId)
        case let .cancelAll(account, symbol):
            w.tag(.cancelAll); w.varint(account); w.string(symbol)
        case let .amend(account, symbol, .id(id), qty):
            w.tag(.amendById); w.varint(account); w.string(symbol); w.varint(id); w.decimal(qty)
        case let .amend(account, symbol, .clientId(clientId), qty):
            w.tag(.amendByClientId); w.varint(account); w.string(symbol); w.string(clientId); w.decimal(qty)
        case let .halt(symbol):
            w.tag(.halt); w.string(symbol)
        case let .resume(symbol):
            w.tag(.resume); w.string(symbol)
        case let .checkpoint(c):
            w.tag(.checkpoint); w.varint(c.verifiedSequence); w.varint(UInt64(c.stateDigest.count))
            for b in c.stateDigest { w.byte(b) }
        case let .addApiKey(spec):
            w.tag(.addApiKey); w.varint(spec.account); w.string(spec.apiKey); w.byte(spec.permissions.rawValue)
            w.string(spec.ipWhitelist); w.byte(spec.kind.rawValue); w.varint(UInt64(spec.material.count))
            for b in spec.material { w.byte(b) }
        case let .revokeApiKey(account, apiKey):
            w.tag(.revokeApiKey); w.varint(account); w.string(apiKey)
        case let .term(epoch, leader):
            w.tag(.term); w.varint(epoch); w.string(leader)
        case let .invalid(invalid):
            // The detail is not journaled: it follows from the text (CommandJSON.detail).
            w.tag(.invalid)
            w.byte((invalid.account == nil ? 0 : 1) | (invalid.clientId == nil ? 0 : 2))
            w.string(invalid.cmd)
            if let account = invalid.account { w.varint(account) }
            if let clientId = invalid.clientId { w.string(clientId) }
            w.string(invalid.text)
        }
    }

    /// Order flags: bit 0 side (1 = SELL), bits 1-2 type, bits 3-4 tif, bits 5-6 stp, bit 7 a
    /// client id follows the symbol.
    private static func encodePlace(_ o: borrowing PlaceOrder, _ w: inout Writer) {
        let tag: Tag = o.type != .market ? .placeLimit : (o.quoteQty != nil ? .placeMarketQuote : .placeMarketQty)
        w.tag(tag)
        var flags = UInt8(o.side.rawValue) | o.type.rawValue << 1 | o.timeInForce.rawValue << 3 | o.stp.rawValue << 5
        if o.clientId != nil { flags |= 0x80 }
        w.byte(flags)
        w.varint(o.account)
        w.string(o.symbol)
        if let clientId = o.clientId { w.string(clientId) }
        switch tag {
        case .placeLimit: w.decimal(o.price!); w.decimal(o.qty!)
        case .placeMarketQty: w.decimal(o.qty!)
        default: w.decimal(o.quoteQty!)
        }
    }

    /// Decodes one record held in an array.
    public static func decode(_ bytes: [UInt8]) throws(DecodeError) -> Command {
        var decoder = CommandDecoder()
        return try decoder.decode(bytes)
    }

    /// Decodes one record.
    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(DecodeError) -> Command {
        var decoder = CommandDecoder()
        return try decoder.decode(bytes)
    }

    /// Writes a record through a pointer, within room made for it.
    struct Writer {
        private let start: UnsafeMutablePointer<UInt8>
        private var q: UnsafeMutablePointer<UInt8>

        init(start: UnsafeMutablePointer<UInt8>) {
            self.start = start
            q = start
        }

        var count: Int { start.distance(to: q) }

        mutating func tag(_ t: Tag) { byte(t.rawValue) }

        @inline(__always)
        mutating func byte(_ b: UInt8) {
            q.pointee = b
            q += 1
        }

        @inline(__always)
        mutating func varint(_ value: UInt64) {
            q += Varint.write(value, to: UnsafeMutableRawPointer(q), at: 0)
        }

        mutating func string(_ s: String) {
            var s = s
            s.withUTF8 { utf8 in
                varint(UInt64(utf8.count))
                if let source = utf8.baseAddress { q.update(from: source, count: utf8.count) }
                q += utf8.count
            }
        }

        @inline(__always)
        mutating func decimal(_ d: ExactDecimal) {
            byte(UInt8(d.scale))
            varint(Varint.zigzag(d.mantissa))
        }
    }

    /// The last name of one kind a decoder decoded, with its bytes (up to 16) in two words.
    struct NameCache {
        var length: UInt64 = 0
        var words: (UInt64, UInt64) = (0, 0)
        var string: String?
    }

    struct Reader {
        let bytes: UnsafeRawBufferPointer
        var at = 0
        var atEnd: Bool { at == bytes.count }
        var remaining: Int { bytes.count - at }

        @inline(__always)
        mutating func byte() throws(DecodeError) -> UInt8 {
            guard at < bytes.count, let base = bytes.baseAddress else { throw Self.endsEarly() }
            let b = base.load(fromByteOffset: at, as: UInt8.self)
            at += 1
            return b
        }

        @inline(never)
        private static func endsEarly() -> DecodeError { DecodeError(reason: "record ends early") }

        /// LEB128, at most 64 bits (`Varint.read`, the journal's reader too).
        @inline(__always)
        mutating func varint() throws(DecodeError) -> UInt64 {
            guard let base = bytes.baseAddress, let value = Varint.read(base, at: &at, end: bytes.count) else {
                throw badVarint()
            }
            return value
        }

        /// Why `varint` failed: the record ended inside it, or it overflows 64 bits.
        @inline(never)
        private func badVarint() -> DecodeError {
            var i = at
            while i < bytes.count && bytes[i] >= 0x80 { i += 1 }
            return i < bytes.count ? DecodeError(reason: "varint overflows") : Self.endsEarly()
        }
        mutating func string() throws(DecodeError) -> String { try string(length: try varint()) }

        /// The `n` bytes at the cursor as a string (its length read already).
        private mutating func string(length n: UInt64) throws(DecodeError) -> String {
            guard n <= UInt64(remaining) else { throw DecodeError(reason: "string runs past the record") }
            let slice = UnsafeBufferPointer(rebasing: bytes.bindMemory(to: UInt8.self)[at..<(at + Int(n))])
            at += Int(n)
            // Names and client ids are nearly always ASCII: check that in a plain loop and
            // decode directly; anything else goes through full UTF-8 validation.
            if !slice.contains(where: { $0 >= 0x80 }) { return String(decoding: slice, as: UTF8.self) }
            guard let s = String(validating: slice, as: UTF8.self) else { throw DecodeError(reason: "string is not UTF-8") }
            return s
        }
        /// A name (of a symbol or an asset): the cached `String` when its bytes are the ones
        /// decoded last for that kind of name.
        mutating func name(_ cache: inout NameCache) throws(DecodeError) -> String {
            let n = try varint()
            guard n <= 16, n <= UInt64(remaining), let base = bytes.baseAddress else { return try string(length: n) }
            var words: (UInt64, UInt64) = (0, 0)
            if remaining >= 16 {
                // Two unaligned loads, the bytes past the name masked off, rather than a copy of
                // `n` bytes. Words are read little-endian (the name's first byte is the low
                // byte), on both paths, so that they compare alike whichever filled the cache.
                let low = UInt64(littleEndian: (base + at).loadUnaligned(as: UInt64.self))
                let high = UInt64(littleEndian: (base + at + 8).loadUnaligned(as: UInt64.self))
                words = (n >= 8 ? low : low & Self.lowBytes(Int(n)),
                         n >= 16 ? high : n <= 8 ? 0 : high & Self.lowBytes(Int(n) - 8))
            } else {
                withUnsafeMutableBytes(of: &words) { $0.baseAddress!.copyMemory(from: base + at, byteCount: Int(n)) }
                words = (UInt64(littleEndian: words.0), UInt64(littleEndian: words.1))
            }
            if cache.length == n, cache.words == words, let cached = cache.string {
                at += Int(n)
                return cached
            }
            let decoded = try string(length: n)
            cache = NameCache(length: n, words: words, string: decoded)
            return decoded
        }

        /// A mask of the low `count` bytes of a word (0 ≤ count < 8).
        @inline(__always)
        static func lowBytes(_ count: Int) -> UInt64 { (1 &<< UInt64(count &* 8)) &- 1 }

        mutating func decimal() throws(DecodeError) -> ExactDecimal {
            let scale = Int(try byte())
            guard scale <= 18 else { throw DecodeError(reason: "decimal scale \(scale)") }
            let z = try varint()
            return ExactDecimal(mantissa: Int64(bitPattern: z >> 1) ^ -Int64(bitPattern: z & 1), scale: scale)
        }
    }
}

/// Decodes command records (`CommandCodec` describes the encoding), remembering the last symbol
/// and asset names it decoded: nearly every record names the symbol the record before named,
/// and handing back the same `String` is cheaper than building one from the bytes again. One
/// per reader of a journal; `CommandCodec.decode` uses a fresh one per record.
public struct CommandDecoder {
    var symbols = CommandCodec.NameCache()
    var assets = CommandCodec.NameCache()

    public init() {}

    /// Decodes one record held in an array.
    public mutating func decode(_ bytes: [UInt8]) throws(CommandCodec.DecodeError) -> Command {
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(CommandCodec.DecodeError) -> Command in try self.decode(raw) }
        }
        return try result.get()
    }

    /// Decodes one record.
    public mutating func decode(_ bytes: UnsafeRawBufferPointer) throws(CommandCodec.DecodeError) -> Command {
        var r = CommandCodec.Reader(bytes: bytes)
        let raw = try r.byte()
        guard let tag = CommandCodec.Tag(rawValue: raw) else { throw CommandCodec.DecodeError(reason: "unknown command tag \(raw)") }
        let command: Command
        switch tag {
        case .addAsset:
            let name = try r.name(&assets)
            command = .addAsset(name: name, scale: Int(try r.varint()))
        case .addSymbol:
            let name = try r.name(&symbols), base = try r.name(&assets), quote = try r.name(&assets)
            let tick = try r.decimal(), step = try r.decimal(), minQty = try r.decimal()
            let maxQty = try r.decimal(), minNotional = try r.decimal()
            let maker = Int64(bitPattern: try r.varint()), taker = Int64(bitPattern: try r.varint())
            command = .addSymbol(SymbolSpec(name: name, base: base, quote: quote, tickSize: tick, stepSize: step,
                                            minQty: minQty, maxQty: maxQty, minNotional: minNotional,
                                            makerFeePpm: maker, takerFeePpm: taker))
        case .openAccount:
            command = .openAccount(try r.varint())
        case .deposit, .withdraw:
            let account = try r.varint(), asset = try r.name(&assets), amount = try r.decimal()
            command = tag == .deposit ? .deposit(account: account, asset: asset, amount: amount)
                                      : .withdraw(account: account, asset: asset, amount: amount)
        case .placeLimit, .placeMarketQty, .placeMarketQuote:
            return try decodePlace(tag, &r)
        case .cancelById, .cancelByClientId:
            let account = try r.varint(), symbol = try r.name(&symbols)
            let reference: OrderReference = tag == .cancelById ? .id(try r.varint()) : .clientId(try r.string())
            command = .cancel(account: account, symbol: symbol, order: reference)
        case .cancelAll:
            let account = try r.varint()
            command = .cancelAll(account: account, symbol: try r.name(&symbols))
        case .amendById, .amendByClientId:
            let account = try r.varint(), symbol = try r.name(&symbols)
            let reference: OrderReference = tag == .amendById ? .id(try r.varint()) : .clientId(try r.string())
            command = .amend(account: account, symbol: symbol, order: reference, qty: try r.decimal())
        case .halt:
            command = .halt(symbol: try r.name(&symbols))
        case .resume:
            command = .resume(symbol: try r.name(&symbols))
        case .checkpoint:
            let verified = try r.varint()
            let n = try r.varint()
            guard (verified == 0 && n == 0) || (verified > 0 && n == 32) else {
                throw CommandCodec.DecodeError(reason: "checkpoint with a \(n)-byte digest for sequence \(verified)")
            }
            var digest: [UInt8] = []
            for _ in 0..<n { digest.append(try r.byte()) }
            command = .checkpoint(Checkpoint(verifiedSequence: verified, stateDigest: digest))
        case .term:
            let epoch = try r.varint()
            command = .term(epoch: epoch, leader: try r.string())
        case .addApiKey:
            let account = try r.varint(), name = try r.string()
            let permissions = ApiPermissions(rawValue: try r.byte())
            let ip = try r.string()
            guard let kind = ApiKeySpec.Kind(rawValue: try r.byte()) else {
                throw CommandCodec.DecodeError(reason: "unknown API key kind")
            }
            let n = try r.varint()
            guard n <= UInt64(r.remaining) else { throw CommandCodec.DecodeError(reason: "key material runs past the record") }
            var material: [UInt8] = []
            for _ in 0..<n { material.append(try r.byte()) }
            command = .addApiKey(ApiKeySpec(account: account, apiKey: name, permissions: permissions, ipWhitelist: ip,
                                            kind: kind, material: material))
        case .revokeApiKey:
            let account = try r.varint()
            command = .revokeApiKey(account: account, apiKey: try r.string())
        case .invalid:
            let present = try r.byte()
            let cmd = try r.string()
            let account = present & 1 != 0 ? try r.varint() : nil
            let clientId = present & 2 != 0 ? try r.string() : nil
            let text = try r.string()
            command = .invalid(InvalidCommand(cmd: cmd, account: account, clientId: clientId,
                                              detail: CommandJSON.detail(ofInvalid: text), text: text))
        }
        try Self.checkEnd(r, tag)
        return command
    }

    @inline(__always)
    private static func checkEnd(_ r: CommandCodec.Reader, _ tag: CommandCodec.Tag) throws(CommandCodec.DecodeError) {
        guard r.atEnd else { throw CommandCodec.DecodeError(reason: "\(r.remaining) bytes after a \(tag) command") }
    }

    @inline(__always)
    private mutating func decodePlace(_ tag: CommandCodec.Tag, _ r: inout CommandCodec.Reader) throws(CommandCodec.DecodeError) -> Command {
        let flags = try r.byte()
        guard let type = OrderType(rawValue: flags >> 1 & 3), let tif = TimeInForce(rawValue: flags >> 3 & 3),
              let stp = SelfTradePrevention(rawValue: flags >> 5 & 3),
              (type == .market) == (tag != .placeLimit) else {
            throw CommandCodec.DecodeError(reason: "bad order flags \(flags)")
        }
        let account = try r.varint()
        let symbol = try r.name(&symbols)
        let clientId = flags & 0x80 != 0 ? try r.string() : nil
        var price: ExactDecimal?, qty: ExactDecimal?, quoteQty: ExactDecimal?
        switch tag {
        case .placeLimit:
            price = try r.decimal()
            qty = try r.decimal()
        case .placeMarketQty: qty = try r.decimal()
        default: quoteQty = try r.decimal()
        }
        try Self.checkEnd(r, tag)
        return .place(PlaceOrder(account: account, symbol: symbol, clientId: clientId, side: flags & 1 == 0 ? .buy : .sell,
                                 type: type, timeInForce: tif, price: price, qty: qty, quoteQty: quoteQty, stp: stp))
    }
}
