/// What the engine emits. Prices and quantities are in the symbol's units (`priceDecimals`,
/// `qtyDecimals` of its `SymbolInfo`), fees in the receiving asset's units; the interchange
/// layer renders them as decimal strings. An event holds no strings (so it is a plain value,
/// copied and dropped without reference counting): the name and client id of the command
/// that caused it are the command's (`Command.name`, `Command.clientId`).
public enum Event: Equatable, Sendable {
    /// `price` and `qty` are nil for a market order without them; `quoteQty` (quote units)
    /// only for a market order by quote.
    case accepted(orderId: OrderId, account: AccountId, symbol: Int,
                  side: Side, type: OrderType, timeInForce: TimeInForce, price: Int64?, qty: Int64?,
                  quoteQty: Int64?)
    case trade(Trade)
    case booked(orderId: OrderId, symbol: Int, remaining: Int64)
    case done(orderId: OrderId, symbol: Int, status: DoneStatus, filled: Int64, remaining: Int64)
    case cancelled(orderId: OrderId, symbol: Int, remaining: Int64, reason: CancelReason)
    case amended(orderId: OrderId, symbol: Int, remaining: Int64)
    /// The command changed nothing; `account` when the command named one.
    case rejected(account: AccountId?, reason: RejectReason)
    case ok
}

public struct Trade: Equatable, Sendable {
    public var tradeId: UInt64
    public var symbol: Int
    public var price: Int64
    public var qty: Int64
    public var takerSide: Side
    public var makerOrderId: OrderId
    public var takerOrderId: OrderId
    public var makerAccount: AccountId
    public var takerAccount: AccountId
    /// In the asset the maker receives (quote for a selling maker, base for a buying one).
    public var makerFee: Int64
    public var takerFee: Int64
}

public enum DoneStatus: String, Sendable {
    case filled = "FILLED", expired = "EXPIRED", expiredInMatch = "EXPIRED_IN_MATCH"
}

public enum CancelReason: String, Sendable {
    case user = "USER", stp = "STP"
}

/// The events of one command, in a buffer the caller reuses (no allocation once it has grown).
/// Emptying it only resets a count: the storage keeps its elements (plain values), and
/// `events` is a view of the first `count`.
public struct EventBuffer: Sendable {
    private var storage: [Event] = []
    public private(set) var count = 0

    public init(capacity: Int = 64) { storage.reserveCapacity(capacity) }

    /// This command's events, in order.
    public var events: ArraySlice<Event> { storage[..<count] }

    /// Empties the buffer, keeping its storage.
    @inline(__always)
    public mutating func removeAll() { count = 0 }

    @inline(__always)
    mutating func append(_ event: Event) {
        if count < storage.count {
            storage[count] = event
        } else {
            storage.append(event)
        }
        count += 1
    }
}
