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
/// Emptying it only resets a count; `events` is a view of the first `count`.
///
/// A value, like an array: a view or a copy taken from it keeps its events while the buffer
/// goes on. The buffer's storage is a plain block of events (they hold no references), and the
/// engine makes it unique once per command (`makeUnique()`, at the start of `apply`), not on
/// every append as an array does: a command appends two or three events, and each array
/// append paid a uniqueness check (a runtime call) and a bounds check.
public struct EventBuffer: Sendable {
    private var storage: EventStorage
    public private(set) var count = 0

    public init(capacity: Int = 64) { storage = EventStorage(capacity: capacity) }

    /// This command's events, in order.
    public var events: EventList { EventList(storage: storage, count: count) }

    /// Empties the buffer, keeping its storage.
    @inline(__always)
    public mutating func removeAll() { count = 0 }

    /// Copies the storage first if a view or a copy of this buffer shares it. `append` does not
    /// check this itself: the engine calls this before a command appends anything.
    @inline(__always)
    mutating func makeUnique() {
        if !isKnownUniquelyReferenced(&storage) { storage = storage.copy(count: count, capacity: storage.capacity) }
    }

    @inline(__always)
    mutating func append(_ event: Event) {
        assert(isKnownUniquelyReferenced(&storage), "a shared event buffer appended to without makeUnique()")
        if count == storage.capacity { grow() }
        (storage.base + count).initialize(to: event)
        count += 1
    }

    @inline(never)
    private mutating func grow() { storage = storage.copy(count: count, capacity: 2 * storage.capacity) }
}

/// The events an `EventBuffer` holds: a block of plain values (`Event` holds no references),
/// freed with it. Written only by a buffer that holds the sole reference to it.
final class EventStorage: @unchecked Sendable {
    let base: UnsafeMutablePointer<Event>
    let capacity: Int

    init(capacity: Int) {
        precondition(_isPOD(Event.self), "events are copied as bytes")
        self.capacity = max(capacity, 16)
        base = .allocate(capacity: self.capacity)
    }

    /// A new storage of `capacity` holding the first `count` events of this one.
    func copy(count: Int, capacity: Int) -> EventStorage {
        let other = EventStorage(capacity: capacity)
        other.base.initialize(from: base, count: count)
        return other
    }

    deinit { base.deallocate() }
}

/// The events of one command, as `EventBuffer.events` shows them: a random-access collection
/// indexed from 0. It keeps its events when the buffer goes on (the buffer copies its storage
/// before changing one a view shares). Written as an array literal for comparisons.
public struct EventList: RandomAccessCollection, Equatable, ExpressibleByArrayLiteral, Sendable,
    CustomStringConvertible {
    private let storage: EventStorage
    public let count: Int

    init(storage: EventStorage, count: Int) {
        self.storage = storage
        self.count = count
    }

    public init(arrayLiteral elements: Event...) {
        storage = EventStorage(capacity: elements.count)
        storage.base.initialize(from: elements, count: elements.count)
        count = elements.count
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { count }

    public subscript(i: Int) -> Event {
        precondition(i >= 0 && i < count, "event index out of range")
        return storage.base[i]
    }

    public static func == (a: EventList, b: EventList) -> Bool { a.elementsEqual(b) }

    public var description: String { Array(self).description }
}
