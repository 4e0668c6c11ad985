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

    /// Decodes one line (a trailing `\r` is not part of it); nil when it is not a JSON object.
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
        private var object = JSONMembers()

        public init() {}

        /// Decodes one line's bytes (a trailing `\r` is not part of the line); nil when they are
        /// not a JSON object.
        public mutating func decode(_ line: UnsafeRawBufferPointer) -> Line? {
            var line = line
            if let last = line.last, last == 0x0D { line = UnsafeRawBufferPointer(rebasing: line.dropLast()) }
            guard object.scan(line) == .object else { return nil }
            let fields = Fields(object: object)
            var ts: Int64?
            do {
                ts = try fields.timestamp()
                return Line(command: try fields.command(), timestampNs: ts)
            } catch {
                return Line(command: .invalid(fields.invalid(error.detail, text: line)), timestampNs: ts)
            }
        }
    }

    /// Why a JSON object is not a valid command.
    struct Problem: Error {
        var detail: String
        init(_ field: StaticString, _ cause: String) { detail = "\(field): \(cause)" }
        init(detail: String) { self.detail = detail }
    }

    /// Reads the members of one command's object.
    struct Fields {
        let object: JSONMembers

        func invalid(_ detail: String, text: UnsafeRawBufferPointer) -> InvalidCommand {
            var cmd = "unknown", account: AccountId?, clientId: String?
            if let m = object.find("cmd"), m.isString { cmd = object.string(m) }
            if let m = object.find("account"), let a = object.integer(m), a >= 0 { account = AccountId(a) }
            if let m = object.find("client_id"), m.isString { clientId = object.string(m) }
            return InvalidCommand(cmd: cmd, account: account, clientId: clientId, detail: detail,
                                  text: String(decoding: text, as: UTF8.self))
        }

        func timestamp() throws(Problem) -> Int64? {
            guard let m = object.find("ts") else { return nil }
            guard let ts = object.integer(m), ts >= 0 else { throw Problem("ts", "not an integer ≥ 0") }
            return ts
        }

        func command() throws(Problem) -> Command {
            switch try name() {
            case "add_asset":
                return .addAsset(name: try string("asset"), scale: Int(try integer("scale", in: 0...18)))
            case "add_symbol":
                return .addSymbol(try symbolSpec())
            case "open_account":
                return .openAccount(try account())
            case "deposit":
                return .deposit(account: try account(), asset: try string("asset"), amount: try decimal("amount"))
            case "withdraw":
                return .withdraw(account: try account(), asset: try string("asset"), amount: try decimal("amount"))
            case "place":
                return .place(try place())
            case "cancel":
                return .cancel(account: try account(), symbol: try string("symbol"), order: try reference())
            case "cancel_all":
                return .cancelAll(account: try account(), symbol: try string("symbol"))
            case "amend":
                return .amend(account: try account(), symbol: try string("symbol"), order: try reference(),
                              qty: try decimal("qty"))
            case "halt":
                return .halt(symbol: try string("symbol"))
            case "resume":
                return .resume(symbol: try string("symbol"))
            case "checkpoint":
                // Only a node writes checkpoints: from a client or an import it is no command.
                throw Problem("cmd", "checkpoint is written by a node, not sent to one")
            case let other:
                throw Problem("cmd", "unknown command \"\(other)\"")
            }
        }

        private func name() throws(Problem) -> String {
            guard let m = object.find("cmd") else { throw Problem("cmd", "missing") }
            guard m.isString else { throw Problem("cmd", "not a string") }
            return object.string(m)
        }

        private func symbolSpec() throws(Problem) -> SymbolSpec {
            let step = try decimal("step_size")
            return SymbolSpec(
                name: try string("symbol"), base: try string("base"), quote: try string("quote"),
                tickSize: try decimal("tick_size"), stepSize: step,
                minQty: try optionalDecimal("min_qty") ?? step,
                maxQty: try optionalDecimal("max_qty") ?? ExactDecimal(mantissa: Int64.max, scale: step.scale),
                minNotional: try optionalDecimal("min_notional") ?? ExactDecimal(mantissa: 0, scale: 0),
                makerFeePpm: try optionalInteger("maker_fee_ppm", in: 0...1_000_000) ?? 0,
                takerFeePpm: try optionalInteger("taker_fee_ppm", in: 0...1_000_000) ?? 0)
        }

        private func place() throws(Problem) -> PlaceOrder {
            let account = try account()
            let symbol = try string("symbol")
            var clientId: String?
            if let m = object.find("client_id") {
                guard m.isString else { throw Problem("client_id", "not a string") }
                clientId = object.string(m)
            }
            let side: Side = try enumValue("side", [("BUY", .buy), ("SELL", .sell)], default: nil)
            let type: OrderType = try enumValue(
                "type", [("LIMIT", .limit), ("MARKET", .market), ("LIMIT_MAKER", .limitMaker)], default: .limit)
            let tif: TimeInForce = try enumValue("tif", [("GTC", .gtc), ("IOC", .ioc), ("FOK", .fok)], default: .gtc)
            let stp: SelfTradePrevention = try enumValue(
                "stp", [("NONE", .none), ("EXPIRE_TAKER", .expireTaker), ("EXPIRE_MAKER", .expireMaker),
                        ("EXPIRE_BOTH", .expireBoth)], default: SelfTradePrevention.none)
            var order = PlaceOrder(account: account, symbol: symbol, clientId: clientId,
                                   side: side, type: type, timeInForce: tif, stp: stp)
            if type == .market {
                order.qty = try optionalDecimal("qty")
                order.quoteQty = try optionalDecimal("quote_qty")
                guard (order.qty == nil) != (order.quoteQty == nil) else {
                    throw Problem("qty, quote_qty", "a MARKET order takes exactly one of them")
                }
            } else {
                order.price = try decimal("price")
                order.qty = try decimal("qty")
            }
            return order
        }

        private func string(_ key: StaticString) throws(Problem) -> String {
            guard let m = object.find(key) else { throw Problem(key, "missing") }
            guard m.isString else { throw Problem(key, "not a string") }
            return object.string(m)
        }

        private func account() throws(Problem) -> AccountId {
            guard let m = object.find("account") else { throw Problem("account", "missing") }
            guard let a = object.integer(m), a >= 0 else { throw Problem("account", "not an integer ≥ 0") }
            return AccountId(a)
        }

        private func integer(_ key: StaticString, in range: ClosedRange<Int64>) throws(Problem) -> Int64 {
            guard let value = try optionalInteger(key, in: range) else { throw Problem(key, "missing") }
            return value
        }

        private func optionalInteger(_ key: StaticString, in range: ClosedRange<Int64>) throws(Problem) -> Int64? {
            guard let m = object.find(key) else { return nil }
            guard let i = object.integer(m), range.contains(i) else {
                throw Problem(key, "not an integer in \(range.lowerBound)…\(range.upperBound)")
            }
            return i
        }

        private func decimal(_ key: StaticString) throws(Problem) -> ExactDecimal {
            guard let d = try optionalDecimal(key) else { throw Problem(key, "missing") }
            return d
        }

        private func optionalDecimal(_ key: StaticString) throws(Problem) -> ExactDecimal? {
            guard let m = object.find(key) else { return nil }
            let parsed: ExactDecimal?
            switch m.kind {
            case .plainString: parsed = ExactDecimal(parsing: object.raw(m))
            case .escapedString: parsed = ExactDecimal(parsing: object.string(m))
            default: parsed = nil
            }
            guard let parsed else { throw Problem(key, "not a decimal string") }
            return parsed
        }

        private func reference() throws(Problem) -> OrderReference {
            if let m = object.find("order_id") {
                guard let i = object.integer(m), i >= 0 else { throw Problem("order_id", "not an integer ≥ 0") }
                return .id(OrderId(i))
            }
            if object.find("client_id") != nil { return .clientId(try string("client_id")) }
            throw Problem("order_id, client_id", "one of them is required")
        }

        private func enumValue<T>(_ key: StaticString, _ values: [(StaticString, T)], default: T?) throws(Problem) -> T {
            guard let m = object.find(key) else {
                guard let d = `default` else { throw Problem(key, "missing") }
                return d
            }
            if m.kind == .plainString {
                let raw = object.raw(m)
                for (name, value) in values where name.utf8CodeUnitCount == raw.count
                    && raw.elementsEqual(UnsafeRawBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount)) {
                    return value
                }
            }
            throw Problem(key, "not one of " + values.map { "\($0.0)" }.joined(separator: ", "))
        }
    }
}
