/// Account ids as clients name them (account 0 receives fees).
public typealias AccountId = UInt64
/// Order ids, assigned by the engine from 1 in command order.
public typealias OrderId = UInt64

public enum Side: UInt8, Sendable, CustomStringConvertible {
    case buy = 0, sell = 1
    public var opposite: Side { self == .buy ? .sell : .buy }
    public var description: String { self == .buy ? "BUY" : "SELL" }
}

public enum TimeInForce: UInt8, Sendable, CustomStringConvertible {
    case gtc = 0, ioc = 1, fok = 2
    public var description: String { ["GTC", "IOC", "FOK"][Int(rawValue)] }
}

public enum OrderType: UInt8, Sendable, CustomStringConvertible {
    case limit = 0, limitMaker = 1, market = 2
    public var description: String { ["LIMIT", "LIMIT_MAKER", "MARKET"][Int(rawValue)] }
}

/// Self-trade prevention: what happens when a taker meets a resting order of its own account.
public enum SelfTradePrevention: UInt8, Sendable, CustomStringConvertible {
    case none = 0, expireTaker = 1, expireMaker = 2, expireBoth = 3
    public var description: String { ["NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"][Int(rawValue)] }
    var expiresTaker: Bool { self == .expireTaker || self == .expireBoth }
    var expiresMaker: Bool { self == .expireMaker || self == .expireBoth }
}

/// Why a command changed nothing (SEMANTICS.md, "Validation").
public enum RejectReason: String, Sendable, Equatable {
    case invalidCommand = "INVALID_COMMAND"
    case unknownSymbol = "UNKNOWN_SYMBOL"
    case symbolHalted = "SYMBOL_HALTED"
    case unknownAccount = "UNKNOWN_ACCOUNT"
    case unknownAsset = "UNKNOWN_ASSET"
    case unknownOrder = "UNKNOWN_ORDER"
    case duplicate = "DUPLICATE"
    case invalidPrice = "INVALID_PRICE"
    case invalidQty = "INVALID_QTY"
    case minNotional = "MIN_NOTIONAL"
    case duplicateClientId = "DUPLICATE_CLIENT_ID"
    case wouldTake = "WOULD_TAKE"
    case insufficientBalance = "INSUFFICIENT_BALANCE"
    case invalidAmend = "INVALID_AMEND"
    case unknownApiKey = "UNKNOWN_API_KEY"
}
