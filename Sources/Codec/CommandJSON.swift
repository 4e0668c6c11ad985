import Matching

/// Commands as JSON Lines (INTERCHANGE.md, "Commands"). Decoding is the "form" stage of
/// validation: a line that is JSON but not a valid command becomes `Command.invalid`, which
/// the engine rejects with `INVALID_COMMAND`.
///
/// Defaults where INTERCHANGE.md is silent: `add_symbol` without `min_qty` takes `step_size`,
/// without `max_qty` no upper bound (the largest quantity the units hold), without
/// `min_notional` zero; fees default to 0 ppm.
public enum CommandJSON {
    /// A parsed line: the command and its `ts`, if it had one.
    public struct Line: Equatable, Sendable {
        public var command: Command
        public var timestampNs: Int64?
    }

    /// Decodes one line; nil when it is not JSON at all (the caller stops there).
    ///
    /// A `checkpoint` line (what `journal export` prints for a node's checkpoint) is never a
    /// command here: only a node writes checkpoints, so from a client or an import it is an
    /// invalid command kept verbatim (the state it leads to is the same; its digest is not
    /// checked again).
    public static func decode(_ text: String) -> Line? {
        guard let value = JSONValue.parse(text) else { return nil }
        return decode(value, text: text)
    }

    static func decode(_ value: JSONValue, text: String) -> Line {
        var ts: Int64?
        if case let .integer(t)? = value["ts"] { ts = t }
        let command = (try? command(value)) ?? invalid(value, text: text)
        return Line(command: command, timestampNs: ts)
    }

    private struct Invalid: Error {}

    private static func invalid(_ value: JSONValue, text: String) -> Command {
        var cmd = "unknown"
        if case let .string(c)? = value["cmd"] { cmd = c }
        var account: AccountId?
        if case let .integer(a)? = value["account"], a >= 0 { account = AccountId(a) }
        var clientId: String?
        if case let .string(c)? = value["client_id"] { clientId = c }
        return .invalid(cmd: cmd, account: account, clientId: clientId, text: text)
    }

    private static func command(_ v: JSONValue) throws -> Command {
        guard case .object = v else { throw Invalid() }
        switch try string(v, "cmd") {
        case "add_asset":
            guard case let .integer(scale)? = v["scale"], let s = Int(exactly: scale) else { throw Invalid() }
            return .addAsset(name: try string(v, "asset"), scale: s)
        case "add_symbol":
            let step = try decimal(v, "step_size")
            return .addSymbol(SymbolSpec(
                name: try string(v, "symbol"), base: try string(v, "base"), quote: try string(v, "quote"),
                tickSize: try decimal(v, "tick_size"), stepSize: step,
                minQty: try optionalDecimal(v, "min_qty") ?? step,
                maxQty: try optionalDecimal(v, "max_qty") ?? ExactDecimal(mantissa: Int64.max, scale: step.scale),
                minNotional: try optionalDecimal(v, "min_notional") ?? ExactDecimal(mantissa: 0, scale: 0),
                makerFeePpm: try optionalInteger(v, "maker_fee_ppm") ?? 0,
                takerFeePpm: try optionalInteger(v, "taker_fee_ppm") ?? 0))
        case "open_account":
            return .openAccount(try account(v))
        case "deposit":
            return .deposit(account: try account(v), asset: try string(v, "asset"), amount: try decimal(v, "amount"))
        case "withdraw":
            return .withdraw(account: try account(v), asset: try string(v, "asset"), amount: try decimal(v, "amount"))
        case "place":
            return .place(try place(v))
        case "cancel":
            return .cancel(account: try account(v), symbol: try string(v, "symbol"), order: try reference(v))
        case "cancel_all":
            return .cancelAll(account: try account(v), symbol: try string(v, "symbol"))
        case "amend":
            return .amend(account: try account(v), symbol: try string(v, "symbol"), order: try reference(v),
                          qty: try decimal(v, "qty"))
        case "halt":
            return .halt(symbol: try string(v, "symbol"))
        case "resume":
            return .resume(symbol: try string(v, "symbol"))
        default:
            throw Invalid()
        }
    }

    private static func place(_ v: JSONValue) throws -> PlaceOrder {
        let side: Side = try enumValue(v, "side", ["BUY": .buy, "SELL": .sell], default: nil)
        let type: OrderType = try enumValue(v, "type", ["LIMIT": .limit, "MARKET": .market, "LIMIT_MAKER": .limitMaker],
                                            default: .limit)
        let tif: TimeInForce = try enumValue(v, "tif", ["GTC": .gtc, "IOC": .ioc, "FOK": .fok], default: .gtc)
        let stp: SelfTradePrevention = try enumValue(
            v, "stp", ["NONE": .none, "EXPIRE_TAKER": .expireTaker, "EXPIRE_MAKER": .expireMaker,
                       "EXPIRE_BOTH": .expireBoth], default: SelfTradePrevention.none)
        var clientId: String?
        if let c = v["client_id"] {
            guard case let .string(s) = c else { throw Invalid() }
            clientId = s
        }
        var order = PlaceOrder(account: try account(v), symbol: try string(v, "symbol"), clientId: clientId,
                               side: side, type: type, timeInForce: tif, stp: stp)
        if type == .market {
            order.qty = try optionalDecimal(v, "qty")
            order.quoteQty = try optionalDecimal(v, "quote_qty")
            guard (order.qty == nil) != (order.quoteQty == nil) else { throw Invalid() }
        } else {
            order.price = try decimal(v, "price")
            order.qty = try decimal(v, "qty")
        }
        return order
    }

    private static func string(_ v: JSONValue, _ key: String) throws -> String {
        guard case let .string(s)? = v[key] else { throw Invalid() }
        return s
    }

    private static func account(_ v: JSONValue) throws -> AccountId {
        guard case let .integer(a)? = v["account"], a >= 0 else { throw Invalid() }
        return AccountId(a)
    }

    private static func optionalInteger(_ v: JSONValue, _ key: String) throws -> Int64? {
        guard let field = v[key] else { return nil }
        guard case let .integer(i) = field else { throw Invalid() }
        return i
    }

    private static func decimal(_ v: JSONValue, _ key: String) throws -> ExactDecimal {
        guard let d = try optionalDecimal(v, key) else { throw Invalid() }
        return d
    }

    private static func optionalDecimal(_ v: JSONValue, _ key: String) throws -> ExactDecimal? {
        guard let field = v[key] else { return nil }
        guard case let .string(s) = field, let d = ExactDecimal(parsing: s) else { throw Invalid() }
        return d
    }

    private static func reference(_ v: JSONValue) throws -> OrderReference {
        if let id = v["order_id"] {
            guard case let .integer(i) = id, i >= 0 else { throw Invalid() }
            return .id(OrderId(i))
        }
        if v["client_id"] != nil { return .clientId(try string(v, "client_id")) }
        throw Invalid()
    }

    private static func enumValue<T>(_ v: JSONValue, _ key: String, _ values: [String: T], default: T?) throws -> T {
        guard let field = v[key] else {
            guard let d = `default` else { throw Invalid() }
            return d
        }
        guard case let .string(s) = field, let value = values[s] else { throw Invalid() }
        return value
    }
}
