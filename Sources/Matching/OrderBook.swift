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

/// The book of one symbol.
///
/// Orders live in a pool of slots and levels in a pool of their own; each order knows its
/// level, so a fill, an amend or a cancel reaches its level without a search. Each side keeps a
/// *ladder*: its levels sorted so that the best is the last element (bids ascending, asks
/// descending). Only a new level or an emptied one changes a ladder, and both happen mostly near
/// the best end: rungs are distinct multiples of the tick, so a price `d` ticks from the best is
/// among the last `d + 1` rungs, and the search bisects only those; the shift that makes or
/// closes the gap moves few elements.
struct OrderBook {
    /// The symbol's tick, in price units (> 0).
    let tick: Int64
    private(set) var slots: [RestingOrder] = []
    /// Client ids by slot: set only for an order with `hasClientId`.
    private var clientIds: [String?] = []
    private var freeSlots = FreeList()
    private var levels: [PriceLevel] = []
    private var freeLevels = FreeList()
    private var bidLadder: [LevelRef] = []
    private var askLadder: [LevelRef] = []
    /// Resting orders per account (by ledger index): `cancel_all` of an account with none
    /// answers at once, and its scan of the pool stops at the last one.
    private(set) var restingPerAccount: [Int32] = []

    init(tick: Int64) {
        precondition(tick > 0, "a book needs a positive tick")
        self.tick = tick
    }

    /// Whether `a` is a better price than `b` for `side`.
    @inline(__always)
    static func isBetter(_ a: Int64, than b: Int64, for side: Side) -> Bool { side == .buy ? a > b : a < b }

    // MARK: Reads
    //
    // Mutating where the matching loop calls them: called as `books[s].x()`, a mutating method
    // works on the element in place, where a non-mutating one may first copy the whole book
    // (retaining and releasing each of its arrays).

    /// The best level of a side.
    @inline(__always)
    mutating func best(_ side: Side) -> PriceLevel? {
        let rung = side == .buy ? bidLadder.last : askLadder.last
        guard let rung else { return nil }
        return levels[Int(rung.level)]
    }

    /// The best price of a side.
    func bestPrice(_ side: Side) -> Int64? { side == .buy ? bidLadder.last?.price : askLadder.last?.price }

    /// The number of levels of a side.
    @inline(__always)
    mutating func levelCount(_ side: Side) -> Int { side == .buy ? bidLadder.count : askLadder.count }

    /// Level `i` of a side counted from the best (0 = best).
    @inline(__always)
    mutating func level(_ side: Side, fromBest i: Int) -> PriceLevel {
        let rung = side == .buy ? bidLadder[bidLadder.count - 1 - i] : askLadder[askLadder.count - 1 - i]
        return levels[Int(rung.level)]
    }

    /// A side's levels, best first (for digests, depth and checks, not the hot path).
    func levelsBestFirst(_ side: Side) -> [PriceLevel] {
        (side == .buy ? bidLadder : askLadder).reversed().map { levels[Int($0.level)] }
    }

    @inline(__always)
    func order(_ slot: Int) -> RestingOrder { slots[slot] }

    @inline(__always)
    mutating func orderInPlace(_ slot: Int) -> RestingOrder { slots[slot] }

    /// The resting orders of the account at `ledgerIndex`, as (id, slot), in no particular
    /// order: a pass over the slot pool in memory order (a free slot has no level) that stops
    /// at the account's last one, instead of walking every level's queue.
    mutating func restingSlots(ofAccountAt ledgerIndex: Int) -> [(id: OrderId, slot: Int)] {
        let wanted = ledgerIndex < restingPerAccount.count ? Int(restingPerAccount[ledgerIndex]) : 0
        var found: [(id: OrderId, slot: Int)] = []
        guard wanted > 0 else { return found }
        found.reserveCapacity(wanted)
        let index = Int32(truncatingIfNeeded: ledgerIndex)
        slots.withUnsafeBufferPointer { pool in
            for slot in pool.indices where pool[slot].level >= 0 && pool[slot].accountIndex == index {
                found.append((pool[slot].id, slot))
                if found.count == wanted { break }
            }
        }
        return found
    }

    func clientId(_ slot: Int) -> String? { slots[slot].hasClientId ? clientIds[slot] : nil }

    /// Whether `slot` holds an order queued in a level that holds it (for the invariant check).
    func levelHolds(_ slot: Int) -> Bool {
        let order = slots[slot]
        return order.level >= 0 && Int(order.level) < levels.count && levels[Int(order.level)].price == order.price
    }

    /// Room for `count` more resting orders without growing the slot pool (see
    /// `MatchingEngine.reserveCapacity(restingOrdersPerSymbol:)`).
    ///
    /// The slots are made now and stacked as free, lowest first: made, they are written, so the
    /// memory is faulted in here rather than by the order that first lands on each page (a
    /// page fault is microseconds: one order in 64 would pay one).
    mutating func reserveCapacity(moreOrders count: Int) {
        let first = slots.count
        precondition(count >= 0 && first + count < Int(Int32.max), "too many resting orders in one book")
        slots.reserveCapacity(first + count)
        clientIds.reserveCapacity(first + count)
        freeSlots.reserveCapacity(first + count)
        // Unique now, so the first order to rest does not copy the counts.
        restingPerAccount.reserveCapacity(restingPerAccount.count)
        let vacant = RestingOrder(id: 0, account: 0, accountIndex: 0, side: .buy, price: 0, remaining: 0, filled: 0)
        slots.append(contentsOf: repeatElement(vacant, count: count))
        clientIds.append(contentsOf: repeatElement(nil, count: count))
        for slot in stride(from: first + count - 1, through: first, by: -1) { freeSlots.push(Int32(slot)) }
    }

    // MARK: Changes

    /// Puts an order at the back of its price level's queue; returns its slot.
    mutating func rest(_ order: RestingOrder, clientId: String?) -> Int {
        var order = order
        order.nextSlot = -1
        order.hasClientId = clientId != nil
        let slot: Int
        if let reused = freeSlots.pop() {
            slot = Int(reused)
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
            let l = Int(ladderLevel(order.side, at: index))
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
            if let reused = freeLevels.pop() {
                l = reused
                levels[Int(l)] = fresh
            } else {
                l = Int32(truncatingIfNeeded: levels.count)
                levels.append(fresh)
            }
            order.prevSlot = -1
            order.level = l
            let rung = LevelRef(price: order.price, level: l)
            if order.side == .buy { Self.insert(rung, at: index, into: &bidLadder) } else { Self.insert(rung, at: index, into: &askLadder) }
        }
        slots[slot] = order
        return slot
    }

    /// Takes an order out of its level (and the level out of the ladder when it empties).
    mutating func remove(_ slot: Int) {
        let order = slots[slot]
        let l = Int(order.level)
        if order.prevSlot >= 0 { slots[Int(order.prevSlot)].nextSlot = order.nextSlot }
        if order.nextSlot >= 0 { slots[Int(order.nextSlot)].prevSlot = order.prevSlot }
        let level = levels[l]
        if level.headSlot == Int32(truncatingIfNeeded: slot) && level.tailSlot == Int32(truncatingIfNeeded: slot) {
            let (index, found) = rung(order.side, of: order.price)
            precondition(found, "a resting order's level is missing from its ladder")
            if order.side == .buy { Self.remove(at: index, from: &bidLadder) } else { Self.remove(at: index, from: &askLadder) }
            freeLevels.push(Int32(truncatingIfNeeded: l))
        } else {
            if level.headSlot == Int32(truncatingIfNeeded: slot) { levels[l].headSlot = order.nextSlot }
            if level.tailSlot == Int32(truncatingIfNeeded: slot) { levels[l].tailSlot = order.prevSlot }
            levels[l].qty -= order.remaining
        }
        restingPerAccount[Int(order.accountIndex)] -= 1
        if order.hasClientId {
            clientIds[slot] = nil
            slots[slot].hasClientId = false
        }
        slots[slot].level = -1
        freeSlots.push(Int32(truncatingIfNeeded: slot))
    }

    /// Reduces a resting order by `qty` traded (it keeps its place).
    @inline(__always)
    mutating func fill(_ slot: Int, _ qty: Int64) {
        reduce(slot, by: qty)
        slots[slot].filled += qty
    }

    /// Reduces a resting order's remaining quantity in place (a fill or an amend).
    @inline(__always)
    mutating func reduce(_ slot: Int, by qty: Int64) {
        slots[slot].remaining -= qty
        levels[Int(slots[slot].level)].qty -= qty
    }

    // MARK: Ladders

    @inline(__always)
    private func ladderLevel(_ side: Side, at index: Int) -> Int32 {
        side == .buy ? bidLadder[index].level : askLadder[index].level
    }

    /// Where `price` is in a side's ladder (found), or where it would go. (Mutating, with the
    /// ladder passed `inout`, only so that it is read in place, not retained for the call.)
    private mutating func rung(_ side: Side, of price: Int64) -> (index: Int, found: Bool) {
        side == .buy ? Self.search(&bidLadder, price, .buy, tick) : Self.search(&askLadder, price, .sell, tick)
    }

    /// Bisection of the rungs that can hold `price`: at `d` ticks worse than the best, at most
    /// `d - 1` rungs lie between it and the best.
    private static func search(_ ladder: inout [LevelRef], _ price: Int64, _ side: Side, _ tick: Int64) -> (index: Int, found: Bool) {
        guard let best = ladder.last?.price else { return (0, false) }
        if best == price { return (ladder.count - 1, true) }
        if isBetter(price, than: best, for: side) { return (ladder.count, false) }
        // Worse prices come first. The distance is positive here and fits: both prices are
        // positive 64-bit values.
        let distance = side == .buy ? best - price : price - best
        let ticks = tick == 1 ? distance : distance / tick
        var low = ticks >= Int64(ladder.count - 1) ? 0 : ladder.count - 1 - Int(ticks)
        // Near the touch every tick tends to have its level: then the price is exactly there.
        if ladder[low].price == price { return (low, true) }
        var high = ladder.count - 1
        while low < high {
            let mid = (low + high) / 2
            let p = ladder[mid].price
            if p == price { return (mid, true) }
            if isBetter(price, than: p, for: side) { low = mid + 1 } else { high = mid }
        }
        return (low, false)
    }

    /// Inserts by appending and shifting the rungs after `index` (no generic range replacement).
    private static func insert(_ rung: LevelRef, at index: Int, into ladder: inout [LevelRef]) {
        ladder.append(rung)
        var i = ladder.count - 1
        if i == index { return }
        ladder.withUnsafeMutableBufferPointer { rungs in
            while i > index {
                rungs[i] = rungs[i - 1]
                i -= 1
            }
            rungs[index] = rung
        }
    }

    private static func remove(at index: Int, from ladder: inout [LevelRef]) {
        let last = ladder.count - 1
        if index != last {
            ladder.withUnsafeMutableBufferPointer { rungs in
                for i in index..<last { rungs[i] = rungs[i + 1] }
            }
        }
        ladder.removeLast()
    }
}

/// A stack of free pool indices that never gives its storage back: popping moves a count,
/// pushing writes in place (no generic `popLast`, no shrinking and regrowing).
struct FreeList {
    private var items: [Int32] = []
    private var count = 0

    @inline(__always)
    mutating func pop() -> Int32? {
        guard count > 0 else { return nil }
        count -= 1
        return items[count]
    }

    @inline(__always)
    mutating func push(_ item: Int32) {
        if count < items.count { items[count] = item } else { items.append(item) }
        count += 1
    }

    mutating func reserveCapacity(_ n: Int) { items.reserveCapacity(n) }
}
