/// A resting order, in its book's slot pool. A plain value (no strings, no references), 64
/// bytes: copying one is a copy of bytes, with no reference counting. Its client id, when it
/// has one, is kept beside the pool (`OrderBook.clientId(_:)`).
struct RestingOrder {
    var id: OrderId
    var account: AccountId
    var price: Int64
    var remaining: Int64
    var filled: Int64
    /// The account's index in the ledger.
    var accountIndex: Int32
    /// Neighbours in the level's FIFO queue (slots, -1 for none).
    var nextSlot: Int32 = -1
    var prevSlot: Int32 = -1
    /// The level it queues in (an index into the book's level pool).
    var level: Int32 = -1
    var side: Side
    var hasClientId = false

    init(id: OrderId, account: AccountId, accountIndex: Int, side: Side, price: Int64, remaining: Int64,
         filled: Int64) {
        self.id = id; self.account = account; self.accountIndex = Int32(truncatingIfNeeded: accountIndex)
        self.side = side; self.price = price; self.remaining = remaining; self.filled = filled
    }

    var next: Int { Int(nextSlot) }
    var prev: Int { Int(prevSlot) }
    var ledgerIndex: Int { Int(accountIndex) }
}

/// One price level: a FIFO queue of slots, oldest at `head`, and the total it holds.
struct PriceLevel {
    var price: Int64
    var qty: Int64
    var headSlot: Int32
    var tailSlot: Int32

    var head: Int { Int(headSlot) }
    var tail: Int { Int(tailSlot) }
}

/// A level's place in its side's ladder: the price (searched) and the level's pool index.
struct LevelRef {
    var price: Int64
    var level: Int32
}

/// The book of one symbol: a value (copying a book, or the engine holding it, shares its
/// storage until one of the copies changes; the change copies it first, as an array would).
///
/// Orders live in a pool of slots and levels in a pool of their own; each order knows its
/// level, so a fill, an amend or a cancel reaches its level without a search. Each side keeps a
/// *ladder*: its levels sorted so that the best is the last element (bids ascending, asks
/// descending). Only a new level or an emptied one changes a ladder, and both happen mostly near
/// the best end: rungs are distinct multiples of the tick, so a price `d` ticks from the best is
/// among the last `d + 1` rungs, and the search bisects only those; the shift that makes or
/// closes the gap moves few elements.
///
/// Why one storage object rather than an array per pool: every write to a Swift array checks
/// that the array is not shared (a runtime call) and every index is bounds-checked. A fill or a
/// cancel writes five to seven pools, so a command paid about 20 such checks in the book alone.
/// Here the engine makes the book's storage unique once per command, and only while a copy of
/// the engine exists (`makeUnique()`, `MatchingEngine.copyWitness`), and then works on the
/// storage directly (`MatchingEngine.withBook`); the pools are plain buffers indexed by slots
/// and levels the book itself made (asserted in debug builds). A book value is what the engine's copies share and the digest and checks read.
struct OrderBook {
    private var storage: BookStorage

    init(tick: Int64) {
        precondition(tick > 0, "a book needs a positive tick")
        storage = BookStorage(tick: tick)
    }

    /// The storage itself, for the engine's hot path (`MatchingEngine.selectBook`): after
    /// `makeUnique()`, and only until the book changes hands.
    var storageForCommand: BookStorage { storage }

    /// Whether `a` is a better price than `b` for `side`.
    @inline(__always)
    static func isBetter(_ a: Int64, than b: Int64, for side: Side) -> Bool { side == .buy ? a > b : a < b }

    /// Copies the storage first if another book value shares it. The storage's changes (`rest`,
    /// `remove`, `fill`, `reduce`) do not check this themselves: the engine calls this before
    /// any of them in a command run while a copy of the engine exists (`selectBook`; without a
    /// copy nothing is shared), as LMAX's single writer owns its state.
    @inline(__always)
    mutating func makeUnique() {
        if !isKnownUniquelyReferenced(&storage) { storage = BookStorage(copying: storage) }
    }

    // MARK: Reads (for queries, digests and checks; the hot path reads the storage)

    /// The best price of a side.
    func bestPrice(_ side: Side) -> Int64? { (side == .buy ? storage.bids : storage.asks).last?.price }

    /// A side's levels, best first (for digests, depth and checks, not the hot path).
    func levelsBestFirst(_ side: Side) -> [PriceLevel] {
        (side == .buy ? storage.bids : storage.asks).elements.reversed().map { storage.levels[Int($0.level)] }
    }

    /// The order in `slot` (a slot this book handed out).
    @inline(__always)
    func order(_ slot: Int) -> RestingOrder {
        precondition(slot >= 0 && slot < storage.slots.count, "no such slot")
        return storage.slots[slot]
    }

    /// Resting orders per account (by ledger index), for the invariant check.
    var restingPerAccount: [Int32] { storage.restingPerAccount.elements }

    /// The resting orders of the account at `ledgerIndex`, as (id, slot), in no particular
    /// order: a pass over the slot pool in memory order (a free slot has no level) that stops
    /// at the account's last one, instead of walking every level's queue.
    mutating func restingSlots(ofAccountAt ledgerIndex: Int) -> [(id: OrderId, slot: Int)] {
        let counts = storage.restingPerAccount
        let wanted = ledgerIndex < counts.count ? Int(counts[ledgerIndex]) : 0
        var found: [(id: OrderId, slot: Int)] = []
        guard wanted > 0 else { return found }
        found.reserveCapacity(wanted)
        let index = Int32(truncatingIfNeeded: ledgerIndex)
        let pool = storage.slots
        for slot in 0..<pool.count where pool[slot].level >= 0 && pool[slot].accountIndex == index {
            found.append((pool[slot].id, slot))
            if found.count == wanted { break }
        }
        return found
    }

    func clientId(_ slot: Int) -> String? { order(slot).hasClientId ? storage.clientIds[slot] : nil }

    /// Whether `slot` holds an order queued in a level that holds it (for the invariant check).
    func levelHolds(_ slot: Int) -> Bool {
        let order = order(slot)
        return order.level >= 0 && Int(order.level) < storage.levels.count
            && storage.levels[Int(order.level)].price == order.price
    }

    /// Room for `count` more resting orders without growing the slot pool (see
    /// `MatchingEngine.reserveCapacity(restingOrdersPerSymbol:)`).
    ///
    /// The slots are made now and stacked as free, lowest first: made, they are written, so the
    /// memory is faulted in here rather than by the order that first lands on each page (a
    /// page fault is microseconds: one order in 64 would pay one).
    mutating func reserveCapacity(moreOrders count: Int) {
        makeUnique()
        let book = storage
        let first = book.slots.count
        precondition(count >= 0 && first + count < Int(Int32.max), "too many resting orders in one book")
        book.slots.reserve(first + count)
        book.clientIds.reserveCapacity(first + count)
        book.freeSlots.reserve(book.freeSlots.count + count)
        let vacant = RestingOrder(id: 0, account: 0, accountIndex: 0, side: .buy, price: 0, remaining: 0, filled: 0)
        for _ in 0..<count { book.slots.append(vacant) }
        book.clientIds.append(contentsOf: repeatElement(nil, count: count))
        for slot in stride(from: first + count - 1, through: first, by: -1) { book.freeSlots.append(Int32(slot)) }
    }
}

/// What an `OrderBook` holds: its pools as plain buffers (see `PodBuffer`), freed with it.
/// Changed only by the engine, within a command, once it is unique (`MatchingEngine.selectBook`).
final class BookStorage {
    @exclusivity(unchecked) var slots = PodBuffer<RestingOrder>()
    /// Client ids by slot: set only for an order with `hasClientId`.
    @exclusivity(unchecked) var clientIds: [String?] = []
    @exclusivity(unchecked) var freeSlots = PodBuffer<Int32>()
    @exclusivity(unchecked) var levels = PodBuffer<PriceLevel>()
    @exclusivity(unchecked) var freeLevels = PodBuffer<Int32>()
    @exclusivity(unchecked) var bids = PodBuffer<LevelRef>()
    @exclusivity(unchecked) var asks = PodBuffer<LevelRef>()
    /// Resting orders per account (by ledger index): `cancel_all` of an account with none
    /// answers at once, and its scan of the pool stops at the last one.
    @exclusivity(unchecked) var restingPerAccount = PodBuffer<Int32>()
    /// The symbol's tick, in price units (> 0).
    let tick: Int64

    init(tick: Int64) { self.tick = tick }

    init(copying other: BookStorage) {
        tick = other.tick
        slots = other.slots.copy()
        clientIds = other.clientIds
        freeSlots = other.freeSlots.copy()
        levels = other.levels.copy()
        freeLevels = other.freeLevels.copy()
        bids = other.bids.copy()
        asks = other.asks.copy()
        restingPerAccount = other.restingPerAccount.copy()
    }

    deinit {
        slots.free(); freeSlots.free(); levels.free(); freeLevels.free()
        bids.free(); asks.free(); restingPerAccount.free()
    }

    // The reads and changes of the engine's hot path (see `OrderBook` for what they mean).

    @inline(__always)
    func best(_ side: Side) -> PriceLevel? {
        let ladder = side == .buy ? bids : asks
        guard ladder.count > 0 else { return nil }
        return levels[Int(ladder[ladder.count - 1].level)]
    }

    @inline(__always)
    func levelCount(_ side: Side) -> Int { side == .buy ? bids.count : asks.count }

    @inline(__always)
    func level(_ side: Side, fromBest i: Int) -> PriceLevel {
        let ladder = side == .buy ? bids : asks
        precondition(i >= 0 && i < ladder.count, "no such level")
        return levels[Int(ladder[ladder.count - 1 - i].level)]
    }

    @inline(__always)
    func order(_ slot: Int) -> RestingOrder { slots[slot] }

    func clientId(_ slot: Int) -> String? { slots[slot].hasClientId ? clientIds[slot] : nil }

    /// Reduces a resting order by `qty` traded (it keeps its place).
    @inline(__always)
    func fill(_ slot: Int, _ qty: Int64) {
        reduce(slot, by: qty)
        slots[slot].filled += qty
    }

    func rest(_ order: RestingOrder, clientId: String?) -> Int {
        var order = order
        order.nextSlot = -1
        order.hasClientId = clientId != nil
        let slot: Int
        if freeSlots.count > 0 {
            slot = Int(freeSlots.removeLast())
        } else {
            precondition(slots.count < Int(Int32.max), "too many resting orders in one book")
            slot = slots.count
            slots.append(order)
            clientIds.append(nil)
        }
        if let clientId { clientIds[slot] = clientId }
        let holder = Int(order.accountIndex)
        while restingPerAccount.count <= holder { restingPerAccount.append(0) }
        restingPerAccount[holder] += 1
        let (index, found) = rung(order.side, of: order.price)
        if found {
            let l = Int(order.side == .buy ? bids[index].level : asks[index].level)
            let tail = levels[l].tailSlot
            slots[Int(tail)].nextSlot = Int32(truncatingIfNeeded: slot)
            order.prevSlot = tail
            order.level = Int32(truncatingIfNeeded: l)
            levels[l].tailSlot = Int32(truncatingIfNeeded: slot)
            levels[l].qty += order.remaining
        } else {
            let fresh = PriceLevel(price: order.price, qty: order.remaining,
                                   headSlot: Int32(truncatingIfNeeded: slot), tailSlot: Int32(truncatingIfNeeded: slot))
            let l: Int32
            if freeLevels.count > 0 {
                l = freeLevels.removeLast()
                levels[Int(l)] = fresh
            } else {
                precondition(levels.count < Int(Int32.max), "too many price levels in one book")
                l = Int32(truncatingIfNeeded: levels.count)
                levels.append(fresh)
            }
            order.prevSlot = -1
            order.level = l
            let rung = LevelRef(price: order.price, level: l)
            if order.side == .buy { bids.insert(rung, at: index) } else { asks.insert(rung, at: index) }
        }
        slots[slot] = order
        return slot
    }

    func remove(_ slot: Int) {
        let order = slots[slot]
        let l = Int(order.level)
        precondition(l >= 0, "removing a slot that holds no order")
        if order.prevSlot >= 0 { slots[Int(order.prevSlot)].nextSlot = order.nextSlot }
        if order.nextSlot >= 0 { slots[Int(order.nextSlot)].prevSlot = order.prevSlot }
        let level = levels[l]
        let me = Int32(truncatingIfNeeded: slot)
        if level.headSlot == me && level.tailSlot == me {
            let (index, found) = rung(order.side, of: order.price)
            precondition(found, "a resting order's level is missing from its ladder")
            if order.side == .buy { bids.remove(at: index) } else { asks.remove(at: index) }
            freeLevels.append(Int32(truncatingIfNeeded: l))
        } else {
            if level.headSlot == me { levels[l].headSlot = order.nextSlot }
            if level.tailSlot == me { levels[l].tailSlot = order.prevSlot }
            levels[l].qty -= order.remaining
        }
        restingPerAccount[Int(order.accountIndex)] -= 1
        if order.hasClientId {
            clientIds[slot] = nil
            slots[slot].hasClientId = false
        }
        slots[slot].level = -1
        freeSlots.append(me)
    }

    /// Reduces a resting order's remaining quantity in place (a fill or an amend).
    @inline(__always)
    func reduce(_ slot: Int, by qty: Int64) {
        slots[slot].remaining -= qty
        levels[Int(slots[slot].level)].qty -= qty
    }

    /// Where `price` is in a side's ladder (found), or where it would go.
    @inline(__always)
    private func rung(_ side: Side, of price: Int64) -> (index: Int, found: Bool) {
        side == .buy ? Self.search(bids, price, .buy, tick) : Self.search(asks, price, .sell, tick)
    }

    /// Bisection of the rungs that can hold `price`: at `d` ticks worse than the best, at most
    /// `d - 1` rungs lie between it and the best.
    private static func search(_ ladder: PodBuffer<LevelRef>, _ price: Int64, _ side: Side, _ tick: Int64) -> (index: Int, found: Bool) {
        guard ladder.count > 0 else { return (0, false) }
        let top = ladder.count - 1
        let best = ladder[top].price
        if best == price { return (top, true) }
        if OrderBook.isBetter(price, than: best, for: side) { return (ladder.count, false) }
        // Worse prices come first. The distance is positive here and fits: both prices are
        // positive 64-bit values.
        let distance = side == .buy ? best - price : price - best
        let ticks = tick == 1 ? distance : distance / tick
        var low = ticks >= Int64(top) ? 0 : top - Int(ticks)
        // Near the touch every tick tends to have its level: then the price is exactly there.
        if ladder[low].price == price { return (low, true) }
        var high = top
        while low < high {
            let mid = (low + high) / 2
            let p = ladder[mid].price
            if p == price { return (mid, true) }
            if OrderBook.isBetter(price, than: p, for: side) { low = mid + 1 } else { high = mid }
        }
        return (low, false)
    }
}

/// A growable buffer of plain values (no references: copied and moved as bytes) for the pools
/// of the book, the order index and the ledger. Not a value type of its own: its owner
/// (`BookStorage`, `OrderIndexStorage`, `LedgerStorage`) copies it with `copy()` and frees it
/// with `free()`. Indices are the owner's own (slots, levels, blocks, checked balances),
/// checked by `assert` (debug builds), not on every access.
struct PodBuffer<Element> {
    private(set) var base: UnsafeMutablePointer<Element>
    private(set) var count = 0
    private(set) var capacity: Int

    init(capacity: Int = 16) {
        precondition(_isPOD(Element.self), "a PodBuffer holds plain values only")
        self.capacity = max(capacity, 16)
        base = .allocate(capacity: self.capacity)
    }

    subscript(i: Int) -> Element {
        @inline(__always) unsafeAddress {
            assert(i >= 0 && i < count, "index out of range")
            return UnsafePointer(base + i)
        }
        @inline(__always) nonmutating unsafeMutableAddress {
            assert(i >= 0 && i < count, "index out of range")
            return base + i
        }
    }

    var last: Element? { count > 0 ? base[count - 1] : nil }

    /// The elements, copied into an array (not for the hot path).
    var elements: [Element] { Array(UnsafeBufferPointer(start: base, count: count)) }

    @inline(__always)
    mutating func append(_ element: Element) {
        if count == capacity { reserve(capacity * 2) }
        (base + count).initialize(to: element)
        count += 1
    }

    @inline(__always)
    mutating func removeLast() -> Element {
        precondition(count > 0, "removing from an empty buffer")
        count -= 1
        return base[count]
    }

    /// Inserts by shifting the elements from `index` on (ladders: near the end, few of them).
    mutating func insert(_ element: Element, at index: Int) {
        precondition(index >= 0 && index <= count, "index out of range")
        if count == capacity { reserve(capacity * 2) }
        var i = count
        while i > index {
            (base + i).initialize(to: base[i - 1])
            i -= 1
        }
        (base + index).initialize(to: element)
        count += 1
    }

    mutating func remove(at index: Int) {
        precondition(index >= 0 && index < count, "index out of range")
        for i in index..<(count - 1) { base[i] = base[i + 1] }
        count -= 1
    }

    /// Room for `n` elements in all.
    mutating func reserve(_ n: Int) {
        guard n > capacity else { return }
        let fresh = UnsafeMutablePointer<Element>.allocate(capacity: n)
        fresh.moveInitialize(from: base, count: count)
        base.deallocate()
        base = fresh
        capacity = n
    }

    func copy() -> PodBuffer {
        var other = PodBuffer(capacity: capacity)
        other.base.initialize(from: base, count: count)
        other.count = count
        return other
    }

    func free() { base.deallocate() }
}
