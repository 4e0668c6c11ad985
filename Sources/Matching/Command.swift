/// A command as the engine applies it. Amounts are `ExactDecimal`s as written by the client;
/// the engine puts them into the symbol's or asset's units (and rejects what does not fit).
/// The time comes with the command, stamped by the sequencer: the engine reads no clock.
public enum Command: Equatable, Sendable {
    case addAsset(name: String, scale: Int)
    // Boxed (`indirect`): a symbol's spec is the largest payload by far, and inline it would make
    // every command as large as itself (144 bytes, not 96) for a rare admin command.
    indirect case addSymbol(SymbolSpec)
    case openAccount(AccountId)
    case deposit(account: AccountId, asset: String, amount: ExactDecimal)
    case withdraw(account: AccountId, asset: String, amount: ExactDecimal)
    case place(PlaceOrder)
    case cancel(account: AccountId, symbol: String, order: OrderReference)
    case cancelAll(account: AccountId, symbol: String)
    case amend(account: AccountId, symbol: String, order: OrderReference, qty: ExactDecimal)
    case halt(symbol: String)
    case resume(symbol: String)
    /// Boxed, as `addSymbol`: a rare admin command.
    indirect case addApiKey(ApiKeySpec)
    case revokeApiKey(account: AccountId, apiKey: String)
    /// A point where every replayer computes the state digest (it changes nothing), carrying
    /// the digest the node computed at the checkpoint before (Journal/FORMAT.md, "Checkpoints").
    case checkpoint(Checkpoint)
    /// A node became the primary of its cluster for `epoch` (etcd's revision of the leader key,
    /// or one more than the last epoch for a promotion by hand): the first command it journals
    /// as primary. To the state it is a no-op; to a replica, the epoch its stream must not go
    /// below.
    case term(epoch: UInt64, leader: String)
    /// A JSON object that is no valid command (unknown `cmd`, a field missing, of the wrong
    /// type or out of range): journaled as written, for auditors, and rejected with
    /// `INVALID_COMMAND`.
    indirect case invalid(InvalidCommand)

    /// The client id the command carries, if any.
    public var clientId: String? {
        switch self {
        case let .place(order): return order.clientId
        case let .cancel(_, _, .clientId(c)), let .amend(_, _, .clientId(c), _): return c
        case let .invalid(invalid): return invalid.clientId
        default: return nil
        }
    }

    /// The `cmd` name of INTERCHANGE.md.
    public var name: String {
        switch self {
        case .addAsset: return "add_asset"
        case .addSymbol: return "add_symbol"
        case .openAccount: return "open_account"
        case .deposit: return "deposit"
        case .withdraw: return "withdraw"
        case .place: return "place"
        case .cancel: return "cancel"
        case .cancelAll: return "cancel_all"
        case .amend: return "amend"
        case .halt: return "halt"
        case .resume: return "resume"
        case .addApiKey: return "add_api_key"
        case .revokeApiKey: return "revoke_api_key"
        case .checkpoint: return "checkpoint"
        case .term: return "term"
        case let .invalid(invalid): return invalid.cmd
        }
    }
}

/// What is known of a command that did not pass the form checks.
public struct InvalidCommand: Equatable, Sendable {
    /// The line's `cmd` when it is a string, else "unknown".
    public var cmd: String
    /// The line's `account` when it is an integer ≥ 0.
    public var account: AccountId?
    /// The line's `client_id` when it is a string.
    public var clientId: String?
    /// The first field found wrong and why (`"qty: not a decimal string"`).
    public var detail: String
    /// The client's line as written.
    public var text: String

    public init(cmd: String, account: AccountId?, clientId: String?, detail: String, text: String) {
        self.cmd = cmd; self.account = account; self.clientId = clientId
        self.detail = detail; self.text = text
    }
}

public struct SymbolSpec: Equatable, Sendable {
    public var name: String
    public var base: String
    public var quote: String
    public var tickSize: ExactDecimal
    public var stepSize: ExactDecimal
    public var minQty: ExactDecimal
    public var maxQty: ExactDecimal
    public var minNotional: ExactDecimal
    public var makerFeePpm: Int64
    public var takerFeePpm: Int64

    public init(name: String, base: String, quote: String, tickSize: ExactDecimal,
                stepSize: ExactDecimal, minQty: ExactDecimal, maxQty: ExactDecimal,
                minNotional: ExactDecimal, makerFeePpm: Int64 = 0, takerFeePpm: Int64 = 0) {
        self.name = name; self.base = base; self.quote = quote
        self.tickSize = tickSize; self.stepSize = stepSize
        self.minQty = minQty; self.maxQty = maxQty; self.minNotional = minNotional
        self.makerFeePpm = makerFeePpm; self.takerFeePpm = takerFeePpm
    }
}

/// A new order. A `LIMIT` or `LIMIT_MAKER` has `price` and `qty`; a `MARKET` has exactly one
/// of `qty` and `quoteQty` and no price (the interchange layer rejects other shapes as
/// `INVALID_COMMAND` before they get here).
public struct PlaceOrder: Equatable, Sendable {
    public var account: AccountId
    public var symbol: String
    public var clientId: String?
    public var side: Side
    public var type: OrderType
    public var timeInForce: TimeInForce
    public var price: ExactDecimal?
    public var qty: ExactDecimal?
    public var quoteQty: ExactDecimal?
    public var stp: SelfTradePrevention

    @inlinable
    public init(account: AccountId, symbol: String, clientId: String? = nil, side: Side,
                type: OrderType = .limit, timeInForce: TimeInForce = .gtc,
                price: ExactDecimal? = nil, qty: ExactDecimal? = nil, quoteQty: ExactDecimal? = nil,
                stp: SelfTradePrevention = .none) {
        self.account = account; self.symbol = symbol; self.clientId = clientId
        self.side = side; self.type = type; self.timeInForce = timeInForce
        self.price = price; self.qty = qty; self.quoteQty = quoteQty; self.stp = stp
    }
}

/// An order named by the engine's id or by the account's client id.
public enum OrderReference: Equatable, Sendable {
    case id(OrderId)
    case clientId(String)
}

/// What a checkpoint record carries: the state digest after `verifiedSequence` (the sequence of
/// the checkpoint before it), or nothing (`verifiedSequence` 0, no digest) for the first one.
public struct Checkpoint: Equatable, Sendable {
    public var verifiedSequence: UInt64
    /// 32 bytes of SHA-256, or empty.
    public var stateDigest: [UInt8]

    public init(verifiedSequence: UInt64, stateDigest: [UInt8]) {
        self.verifiedSequence = verifiedSequence
        self.stateDigest = stateDigest
    }

    /// The first checkpoint of a journal: nothing to verify yet.
    public static let first = Checkpoint(verifiedSequence: 0, stateDigest: [])
}
