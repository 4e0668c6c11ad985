import Codec
import Matching
import Projections

/// JSON text built as Binance writes it: members in the order given, numbers as numbers,
/// amounts as decimal strings.
struct JSON: Sendable {
    var text = ""

    /// An object: `body` adds its members.
    static func object(_ body: (inout Members) -> Void) -> JSON {
        var m = Members()
        body(&m)
        return JSON(text: "{" + m.parts.joined(separator: ",") + "}")
    }

    static func array(_ items: [JSON]) -> JSON { JSON(text: "[" + items.map(\.text).joined(separator: ",") + "]") }
    static func string(_ s: String) -> JSON { JSON(text: JSONObjectWriter.quote(s)) }
    static func number(_ n: Int64) -> JSON { JSON(text: String(n)) }

    struct Members {
        fileprivate var parts: [String] = []
        mutating func add(_ key: String, _ value: JSON) { parts.append("\"\(key)\":" + value.text) }
        mutating func string(_ key: String, _ value: String) { add(key, .string(value)) }
        mutating func number(_ key: String, _ value: Int64) { add(key, .number(value)) }
        mutating func number(_ key: String, _ value: UInt64) { parts.append("\"\(key)\":\(value)") }
        mutating func number(_ key: String, _ value: Int) { add(key, .number(Int64(value))) }
        mutating func bool(_ key: String, _ value: Bool) { parts.append("\"\(key)\":\(value)") }
        mutating func null(_ key: String) { parts.append("\"\(key)\":null") }
    }
}

/// Amounts as Binance prints them: a decimal string with at least 8 decimals (`"0.10000000"`).
enum Amount {
    static func text(_ units: Int64, decimals: Int) -> String {
        let digits = max(decimals, 8)
        let negative = units < 0
        let magnitude = units.magnitude
        var scaled = String(magnitude)
        if decimals < digits { scaled += String(repeating: "0", count: digits - decimals) }
        if scaled.count <= digits { scaled = String(repeating: "0", count: digits - scaled.count + 1) + scaled }
        let point = scaled.index(scaled.endIndex, offsetBy: -digits)
        return (negative ? "-" : "") + scaled[..<point] + "." + scaled[point...]
    }

    /// A symbol's price (units of `10^-priceDecimals`).
    static func price(_ units: Int64, _ info: SymbolInfo) -> String { text(units, decimals: info.priceDecimals) }
    /// A symbol's quantity (units of `10^-qtyDecimals`).
    static func qty(_ units: Int64, _ info: SymbolInfo) -> String { text(units, decimals: info.qtyDecimals) }
    /// An amount of an asset in its smallest units.
    static func asset(_ units: Int64, _ asset: AssetInfo) -> String { text(units, decimals: asset.scale) }
}

/// Binance's error answers: an HTTP status and `{"code":…,"msg":…}`.
struct APIError: Error, Sendable {
    var status: Int
    var code: Int
    var message: String
    /// What a compound request (cancelReplace) did, with its error.
    var data: JSON?

    init(_ status: Int, _ code: Int, _ message: String, data: JSON? = nil) {
        self.status = status; self.code = code; self.message = message; self.data = data
    }

    var body: String {
        JSON.object {
            $0.number("code", code); $0.string("msg", message)
            if let data { $0.add("data", data) }
        }.text
    }

    static func mandatory(_ name: String) -> APIError {
        APIError(400, -1102, "Mandatory parameter '\(name)' was not sent, was empty/null, or malformed.")
    }
    static func illegal(_ name: String) -> APIError {
        APIError(400, -1100, "Illegal characters found in parameter '\(name)'; legal range is '^[0-9]{1,20}$'.")
    }
    static let unknownSymbol = APIError(400, -1121, "Invalid symbol.")
    static let badSignature = APIError(400, -1022, "Signature for this request is not valid.")
    static let badKeyFormat = APIError(401, -2014, "API-key format invalid.")
    static let rejectedKey = APIError(401, -2015, "Invalid API-key, IP, or permissions for action.")
    static let unknownOrder = APIError(400, -2013, "Order does not exist.")
    static let unknownOrderCancel = APIError(400, -2011, "Unknown order sent.")
    static let tooMuchBody = APIError(413, -1104, "The request body is too large.")
    static let busy = APIError(503, -1008, "Server is currently overloaded with other requests. Please try again in a few minutes.")
    static let unavailable = APIError(503, -1001, "Internal error; unable to process your request. Please try again.")
    static let notFound = APIError(404, -1000, "An unknown error occurred while processing the request.")
    /// An order sent to a replica: Binance's "try again" (-1001), saying where the primary is.
    static func notLeader(_ leader: String?) -> APIError {
        APIError(503, -1001, "Internal error; unable to process your request. Please try again. This node is a replica"
                 + (leader.map { "; its primary takes orders at \($0)." } ?? "; send orders to its primary."))
    }

    /// What an engine rejection of an order is in Binance's terms.
    static func rejected(_ reason: RejectReason, type: OrderType?, cancel: Bool) -> APIError {
        switch reason {
        case .insufficientBalance: return APIError(400, -2010, "Account has insufficient balance for requested action.")
        case .wouldTake: return APIError(400, -2010, "Order would immediately match and take.")
        case .duplicateClientId: return APIError(400, -2010, "Duplicate order sent.")
        case .symbolHalted: return APIError(400, -2010, "Market is closed.")
        case .unknownSymbol: return unknownSymbol
        case .invalidPrice: return APIError(400, -1013, "Filter failure: PRICE_FILTER")
        case .invalidQty: return APIError(400, -1013, type == .market ? "Filter failure: MARKET_LOT_SIZE" : "Filter failure: LOT_SIZE")
        case .minNotional: return APIError(400, -1013, "Filter failure: NOTIONAL")
        case .unknownOrder: return cancel ? unknownOrderCancel : unknownOrder
        case .invalidAmend: return APIError(400, -2038, "Order amend (quantity increase) is not supported.")
        case .unknownAccount, .unknownApiKey: return rejectedKey
        case .unknownAsset, .duplicate, .invalidCommand:
            return APIError(400, -1013, "Invalid quantity or price.")
        }
    }
}
