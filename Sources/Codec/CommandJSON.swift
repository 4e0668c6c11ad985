import Matching

/// Commands as JSON Lines (Docs/INTERCHANGE.md, "Commands"). Decoding is the "form" stage of
/// validation: a JSON object that is not a valid command becomes `Command.invalid`, with a
/// `detail` naming the first field found wrong, which the engine rejects with
/// `INVALID_COMMAND`. A line that is not a JSON object at all is no command (`decode` returns
/// nil): the caller reports it and journals nothing.
///
/// Defaults where the format is silent: `add_symbol` without `min_qty` takes `step_size`,
/// without `max_qty` no upper bound (the largest quantity the units hold), without
/// `min_notional` zero; fees default to 0 ppm.
public enum CommandJSON {
    /// A parsed line: the command and its `ts`, if it had a valid one.
    public struct Line: Equatable, Sendable {
        public var command: Command
        public var timestampNs: Int64?
    }

    /// Decodes one line (a trailing `\r` is not part of it); nil when it is not a JSON self.
    public static func decode(_ text: String) -> Line? {
        var text = text
        var reader = Reader()
        return text.withUTF8 { reader.decode(UnsafeRawBufferPointer($0)) }
    }

    /// Why a journaled invalid command's text is not a command: what decoding it says now.
    static func detail(ofInvalid text: String) -> String {
        switch decode(text)?.command {
        case let .invalid(invalid)?: return invalid.detail
        case nil: return "not a JSON object"
        case _?: return "not a valid command when it was journaled"
        }
    }

    /// Whether a line holds nothing but spaces, tabs and a carriage return (skipped, not an
    /// error).
    public static func isBlank(_ line: UnsafeRawBufferPointer) -> Bool {
        line.allSatisfy { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }
    }

    /// Decodes lines one after another, reusing its buffers (a node's stdin, an import).
    public struct Reader {
        private var object = JSONMembers(slots: K.slots)

        public init() {}

        /// Decodes one line's bytes (a trailing `\r` is not part of the line); nil when they are
        /// not a JSON self.
        public mutating func decode(_ line: UnsafeRawBufferPointer) -> Line? {
            var ts: Int64?
            guard let command = decodeCommand(line, timestampNs: &ts) else { return nil }
            return Line(command: command, timestampNs: ts)
        }

        /// The command of one line, for a caller that has no use for its `ts` (a node stamps
        /// its own time): nil when the bytes are not a JSON self.
        public mutating func decodeCommand(_ line: UnsafeRawBufferPointer) -> Command? {
            var ts: Int64?
            return decodeCommand(line, timestampNs: &ts)
        }

        private mutating func decodeCommand(_ line: UnsafeRawBufferPointer, timestampNs: inout Int64?) -> Command? {
            var line = line
            if let last = line.last, last == 0x0D { line = UnsafeRawBufferPointer(rebasing: line.dropLast()) }
            guard object.scan(line) == .object else { return nil }
            do {
                timestampNs = try object.timestamp()
                return try object.command()
            } catch {
                return .invalid(object.invalid(error.detail, text: line))
            }
        }
    }

    /// Why a JSON object is not a valid command.
    struct Problem: Error {
        var detail: String
        init(_ field: StaticString, _ cause: String) { detail = "\(field): \(cause)" }
        init(_ field: JSONKey, _ cause: String) { self.init(field.name, cause) }
        init(_ field: KeySlot, _ cause: String) { self.init(K.all[field.index], cause) }
        init(detail: String) { self.detail = detail }
    }

}

/// Reads the members of one command's object (in place: no copy of the scanner per line).
extension JSONMembers {
    typealias Problem = CommandJSON.Problem

        func invalid(_ detail: String, text: UnsafeRawBufferPointer) -> InvalidCommand {
            var cmd = "unknown", account: AccountId?, clientId: String?
            if let m = self.find(S.cmd), m.isString { cmd = self.string(m) }
            if let m = self.find(S.account), let a = self.integer(m), a >= 0 { account = AccountId(a) }
            if let m = self.find(S.client_id), m.isString { clientId = self.string(m) }
            return InvalidCommand(cmd: cmd, account: account, clientId: clientId, detail: detail,
                                  text: String(decoding: text, as: UTF8.self))
        }

        func timestamp() throws(Problem) -> Int64? {
            guard let m = self.find(S.ts) else { return nil }
            guard let ts = self.integer(m), ts >= 0 else { throw Problem("ts", "not an integer ≥ 0") }
            return ts
        }

        func command() throws(Problem) -> Command {
            switch try name() {
            case .add_asset:
                return .addAsset(name: try string(S.asset), scale: Int(try integer(S.scale, in: 0...18)))
            case .add_symbol:
                return .addSymbol(try symbolSpec())
            case .open_account:
                return .openAccount(try account())
            case .deposit:
                return .deposit(account: try account(), asset: try string(S.asset), amount: try decimal(S.amount))
            case .withdraw:
                return .withdraw(account: try account(), asset: try string(S.asset), amount: try decimal(S.amount))
            case .place:
                return .place(try place())
            case .cancel:
                return .cancel(account: try account(), symbol: try string(S.symbol), order: try reference())
            case .cancel_all:
                return .cancelAll(account: try account(), symbol: try string(S.symbol))
            case .amend:
                return .amend(account: try account(), symbol: try string(S.symbol), order: try reference(),
                              qty: try decimal(S.qty))
            case .halt:
                return .halt(symbol: try string(S.symbol))
            case .resume:
                return .resume(symbol: try string(S.symbol))
            case .add_api_key:
                return .addApiKey(try apiKey())
            case .revoke_api_key:
                return .revokeApiKey(account: try account(), apiKey: try string(S.api_key))
            case .checkpoint:
                // Only a node writes checkpoints: from a client or an import it is no command.
                throw Problem("cmd", "checkpoint is written by a node, not sent to one")
            case .term:
                throw Problem("cmd", "term is written by a node, not sent to one")
            }
        }

        /// The `cmd`, compared as words with the names the format has.
        private func name() throws(Problem) -> CommandName {
            guard let m = self.find(S.cmd) else { throw Problem("cmd", "missing") }
            guard m.isString else { throw Problem("cmd", "not a string") }
            if m.kind == .plainString {
                for (key, name) in K.commands where self.value(of: m, is: key) { return name }
            } else {
                let text = self.string(m)
                for (key, name) in K.commands where text == "\(key.name)" { return name }
            }
            throw Problem("cmd", "unknown command \"\(self.string(m))\"")
        }

        private func apiKey() throws(Problem) -> ApiKeySpec {
            let account = try account()
            let name = try string(S.api_key)
            guard let permissions = ApiPermissions(names: try string(S.permissions)) else {
                throw Problem("permissions", "not READ, TRADE or READ,TRADE")
            }
            var ip = ""
            if self.find(S.ip) != nil {
                ip = try string(S.ip)
                guard CIDR.list(ip) != nil else { throw Problem("ip", "not a comma-separated list of IP addresses or CIDRs") }
            }
            let sealed = self.find(S.secret_sealed) != nil ? try string(S.secret_sealed) : nil
            let publicKey = self.find(S.public_key) != nil ? try string(S.public_key) : nil
            guard (sealed == nil) != (publicKey == nil) else {
                throw Problem("secret_sealed, public_key", "exactly one of them is required")
            }
            guard let material = unhex(sealed ?? publicKey!) else {
                throw Problem(sealed != nil ? "secret_sealed" : "public_key", "not hexadecimal")
            }
            let spec = ApiKeySpec(account: account, apiKey: name, permissions: permissions, ipWhitelist: ip,
                                  kind: sealed != nil ? .hmac : .ed25519, material: material)
            if let problem = spec.problem { throw Problem(detail: problem) }
            return spec
        }

        private func symbolSpec() throws(Problem) -> SymbolSpec {
            let step = try decimal(S.step_size)
            return SymbolSpec(
                name: try string(S.symbol), base: try string(S.base), quote: try string(S.quote),
                tickSize: try decimal(S.tick_size), stepSize: step,
                minQty: try optionalDecimal(S.min_qty) ?? step,
                maxQty: try optionalDecimal(S.max_qty) ?? ExactDecimal(mantissa: Int64.max, scale: step.scale),
                minNotional: try optionalDecimal(S.min_notional) ?? ExactDecimal(mantissa: 0, scale: 0),
                makerFeePpm: try optionalInteger(S.maker_fee_ppm, in: 0...1_000_000) ?? 0,
                takerFeePpm: try optionalInteger(S.taker_fee_ppm, in: 0...1_000_000) ?? 0)
        }

        private func place() throws(Problem) -> PlaceOrder {
            let account = try account()
            let symbol = try string(S.symbol)
            var clientId: String?
            if let m = self.find(S.client_id) {
                guard m.isString else { throw Problem("client_id", "not a string") }
                clientId = self.string(m)
            }
            let side: Side = try enumValue(S.side, K.sides, default: nil)
            let type: OrderType = try enumValue(S.type, K.types, default: .limit)
            let tif: TimeInForce = try enumValue(S.tif, K.tifs, default: .gtc)
            let stp: SelfTradePrevention = try enumValue(S.stp, K.stps, default: SelfTradePrevention.none)
            var order = PlaceOrder(account: account, symbol: symbol, clientId: clientId,
                                   side: side, type: type, timeInForce: tif, stp: stp)
            if type == .market {
                order.qty = try optionalDecimal(S.qty)
                order.quoteQty = try optionalDecimal(S.quote_qty)
                guard (order.qty == nil) != (order.quoteQty == nil) else {
                    throw Problem("qty, quote_qty", "a MARKET order takes exactly one of them")
                }
            } else {
                order.price = try decimal(S.price)
                order.qty = try decimal(S.qty)
            }
            return order
        }

        private func string(_ key: KeySlot) throws(Problem) -> String {
            guard let m = self.find(key) else { throw Problem(key, "missing") }
            guard m.isString else { throw Problem(key, "not a string") }
            return self.string(m)
        }

        private func account() throws(Problem) -> AccountId {
            guard let m = self.find(S.account) else { throw Problem("account", "missing") }
            guard let a = self.integer(m), a >= 0 else { throw Problem("account", "not an integer ≥ 0") }
            return AccountId(a)
        }

        private func integer(_ key: KeySlot, in range: ClosedRange<Int64>) throws(Problem) -> Int64 {
            guard let value = try optionalInteger(key, in: range) else { throw Problem(key, "missing") }
            return value
        }

        private func optionalInteger(_ key: KeySlot, in range: ClosedRange<Int64>) throws(Problem) -> Int64? {
            guard let m = self.find(key) else { return nil }
            guard let i = self.integer(m), range.contains(i) else {
                throw Problem(key, "not an integer in \(range.lowerBound)…\(range.upperBound)")
            }
            return i
        }

        private func decimal(_ key: KeySlot) throws(Problem) -> ExactDecimal {
            guard let d = try optionalDecimal(key) else { throw Problem(key, "missing") }
            return d
        }

        private func optionalDecimal(_ key: KeySlot) throws(Problem) -> ExactDecimal? {
            guard let m = self.find(key) else { return nil }
            let parsed: ExactDecimal?
            switch m.kind {
            case .plainString: parsed = ExactDecimal(parsing: self.raw(m))
            case .escapedString: parsed = ExactDecimal(parsing: self.string(m))
            default: parsed = nil
            }
            guard let parsed else { throw Problem(key, "not a decimal string") }
            return parsed
        }

        private func reference() throws(Problem) -> OrderReference {
            if let m = self.find(S.order_id) {
                guard let i = self.integer(m), i >= 0 else { throw Problem("order_id", "not an integer ≥ 0") }
                return .id(OrderId(i))
            }
            if self.find(S.client_id) != nil { return .clientId(try string(S.client_id)) }
            throw Problem("order_id, client_id", "one of them is required")
        }

        /// An enumeration's value: the names are compared as words (the value's first
        /// sixteen bytes are loaded once).
        private func enumValue<T>(_ key: KeySlot, _ values: EnumNames<T>, default: T?) throws(Problem) -> T {
            guard let m = self.find(key) else {
                guard let d = `default` else { throw Problem(key, "missing") }
                return d
            }
            if let word = valueWords(m), let value = values.value(words: word.words, length: word.length) {
                return value
            }
            throw Problem(key, "not one of " + values.names)
        }
    }

/// The names of an enumeration's values, held as words.
struct EnumNames<T: Sendable>: Sendable {
    private let entries: [(words: (UInt64, UInt64), length: Int, value: T)]
    /// "A, B, C", for the detail of a wrong value.
    let names: String

    init(_ values: [(StaticString, T)]) {
        entries = values.map { name, value in
            let key = JSONKey(name)
            precondition(key.length <= 16)
            return (key.words, key.length, value)
        }
        names = values.map { "\($0.0)" }.joined(separator: ", ")
    }

    @inline(__always)
    func value(words: (UInt64, UInt64), length: Int) -> T? {
        for entry in entries where entry.length == length && entry.words == words { return entry.value }
        return nil
    }
}

/// The `cmd`s the format has.
enum CommandName {
    case add_asset, add_symbol, open_account, deposit, withdraw, place, cancel, cancel_all, amend, halt, resume
    case add_api_key, revoke_api_key
    case checkpoint, term
}

/// The slots of the command format's keys, as constants (reading one is a load, not the lazy
/// making of a global): `S.account` is where `K.account` is filed.
enum S {
    static let account = KeySlot(0)
    static let amount = KeySlot(1)
    static let asset = KeySlot(2)
    static let base = KeySlot(3)
    static let client_id = KeySlot(4)
    static let cmd = KeySlot(5)
    static let maker_fee_ppm = KeySlot(6)
    static let max_qty = KeySlot(7)
    static let min_notional = KeySlot(8)
    static let min_qty = KeySlot(9)
    static let order_id = KeySlot(10)
    static let price = KeySlot(11)
    static let qty = KeySlot(12)
    static let quote = KeySlot(13)
    static let quote_qty = KeySlot(14)
    static let scale = KeySlot(15)
    static let seq = KeySlot(16)
    static let side = KeySlot(17)
    static let step_size = KeySlot(18)
    static let stp = KeySlot(19)
    static let symbol = KeySlot(20)
    static let taker_fee_ppm = KeySlot(21)
    static let tick_size = KeySlot(22)
    static let tif = KeySlot(23)
    static let ts = KeySlot(24)
    static let type = KeySlot(25)
    static let api_key = KeySlot(26)
    static let permissions = KeySlot(27)
    static let ip = KeySlot(28)
    static let secret_sealed = KeySlot(29)
    static let public_key = KeySlot(30)
}

/// The keys and enumeration names of the command format, ready to compare (`JSONKey`). Each
/// key has a slot, so that `JSONMembers` files a line's members under their keys as it scans
/// it and a look-up is one load.
enum K {
    static let account = JSONKey("account", slot: 0)
    static let amount = JSONKey("amount", slot: 1)
    static let asset = JSONKey("asset", slot: 2)
    static let base = JSONKey("base", slot: 3)
    static let client_id = JSONKey("client_id", slot: 4)
    static let cmd = JSONKey("cmd", slot: 5)
    static let maker_fee_ppm = JSONKey("maker_fee_ppm", slot: 6)
    static let max_qty = JSONKey("max_qty", slot: 7)
    static let min_notional = JSONKey("min_notional", slot: 8)
    static let min_qty = JSONKey("min_qty", slot: 9)
    static let order_id = JSONKey("order_id", slot: 10)
    static let price = JSONKey("price", slot: 11)
    static let qty = JSONKey("qty", slot: 12)
    static let quote = JSONKey("quote", slot: 13)
    static let quote_qty = JSONKey("quote_qty", slot: 14)
    static let scale = JSONKey("scale", slot: 15)
    static let seq = JSONKey("seq", slot: 16)
    static let side = JSONKey("side", slot: 17)
    static let step_size = JSONKey("step_size", slot: 18)
    static let stp = JSONKey("stp", slot: 19)
    static let symbol = JSONKey("symbol", slot: 20)
    static let taker_fee_ppm = JSONKey("taker_fee_ppm", slot: 21)
    static let tick_size = JSONKey("tick_size", slot: 22)
    static let tif = JSONKey("tif", slot: 23)
    static let ts = JSONKey("ts", slot: 24)
    static let type = JSONKey("type", slot: 25)
    static let api_key = JSONKey("api_key", slot: 26)
    static let permissions = JSONKey("permissions", slot: 27)
    static let ip = JSONKey("ip", slot: 28)
    static let secret_sealed = JSONKey("secret_sealed", slot: 29)
    static let public_key = JSONKey("public_key", slot: 30)

    /// Every key with a slot, by slot.
    static let all: [JSONKey] = [account, amount, asset, base, client_id, cmd, maker_fee_ppm, max_qty, min_notional, min_qty, order_id, price, qty, quote, quote_qty, scale, seq, side, step_size, stp, symbol, taker_fee_ppm, tick_size, tif, ts, type, api_key, permissions, ip, secret_sealed, public_key]
    static let slots = JSONKeySlots(all)

    /// The most frequent first (they are tried in order).
    static let commands: [(JSONKey, CommandName)] = [
        (JSONKey("place"), .place), (JSONKey("cancel"), .cancel), (JSONKey("amend"), .amend),
        (JSONKey("cancel_all"), .cancel_all), (JSONKey("deposit"), .deposit), (JSONKey("withdraw"), .withdraw),
        (JSONKey("open_account"), .open_account), (JSONKey("add_asset"), .add_asset),
        (JSONKey("add_symbol"), .add_symbol), (JSONKey("halt"), .halt), (JSONKey("resume"), .resume),
        (JSONKey("add_api_key"), .add_api_key), (JSONKey("revoke_api_key"), .revoke_api_key),
        (JSONKey("checkpoint"), .checkpoint), (JSONKey("term"), .term)]

    static let sides = EnumNames<Side>([("BUY", .buy), ("SELL", .sell)])
    static let types = EnumNames<OrderType>([("LIMIT", .limit), ("MARKET", .market), ("LIMIT_MAKER", .limitMaker)])
    static let tifs = EnumNames<TimeInForce>([("GTC", .gtc), ("IOC", .ioc), ("FOK", .fok)])
    static let stps = EnumNames<SelfTradePrevention>([
        ("NONE", .none), ("EXPIRE_TAKER", .expireTaker), ("EXPIRE_MAKER", .expireMaker), ("EXPIRE_BOTH", .expireBoth)])
}
