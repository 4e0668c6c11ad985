/// A resting order, in the book's slot pool.
struct RestingOrder {
    var id: OrderId
    var account: AccountId
    var accountIndex: Int
    var clientId: String?
    var side: Side
    var price: Int64
    var remaining: Int64
    var filled: Int64
    /// Neighbours in the level's FIFO queue (slot indices, -1 for none).
    var next: Int
    var prev: Int
}

/// One price level: a FIFO queue of slots, oldest at `head`.
struct PriceLevel {
    var price: Int64
    var head: Int
    var tail: Int
    var qty: Int64
}

/// One side of a book: levels sorted so that the best price is the last element (bids
/// ascending, asks descending), so taking the best level off is O(1).
struct BookSide {
    let side: Side
    private(set) var levels: [PriceLevel] = []

    init(side: Side) { self.side = side }

    /// Whether `a` is a better price than `b` for this side.
    @inline(__always)
    func isBetter(_ a: Int64, than b: Int64) -> Bool { side == .buy ? a > b : a < b }

    var best: PriceLevel? { levels.last }

    /// The position of `price` (found, or where it would go), by binary search.
    func position(of price: Int64) -> (index: Int, found: Bool) {
        // Most fills, cancels and new orders are at the best level: look there first.
        if let best = levels.last, best.price == price { return (levels.count - 1, true) }
        var low = 0, high = levels.count
        while low < high {
            let mid = (low + high) / 2
            let p = levels[mid].price
            if p == price { return (mid, true) }
            // Worse prices come first.
            if isBetter(price, than: p) { low = mid + 1 } else { high = mid }
        }
        return (low, false)
    }

    mutating func insertLevel(_ level: PriceLevel, at index: Int) { levels.insert(level, at: index) }
    mutating func removeLevel(at index: Int) { levels.remove(at: index) }
    mutating func update(_ index: Int, _ body: (inout PriceLevel) -> Void) { body(&levels[index]) }

    /// Adds `delta` to a level's total (no closure: this is every fill's and amend's path).
    @inline(__always)
    mutating func addQty(_ index: Int, _ delta: Int64) { levels[index].qty += delta }
}

/// The book of one symbol: both sides and the pool of order slots they link.
struct OrderBook {
    var bids = BookSide(side: .buy)
    var asks = BookSide(side: .sell)
    private(set) var slots: [RestingOrder] = []
    private var freeSlots: [Int] = []

    subscript(side: Side) -> BookSide {
        get { side == .buy ? bids : asks }
    }

    // Reads of one side without copying it (the subscript's getter copies the side, which
    // retains and releases its array).
    @inline(__always)
    private func position(_ side: Side, of price: Int64) -> (index: Int, found: Bool) {
        side == .buy ? bids.position(of: price) : asks.position(of: price)
    }

    @inline(__always)
    private func level(_ side: Side, at index: Int) -> PriceLevel {
        side == .buy ? bids.levels[index] : asks.levels[index]
    }

    /// The best level of a side, without copying the side.
    @inline(__always)
    func best(_ side: Side) -> PriceLevel? { side == .buy ? bids.levels.last : asks.levels.last }

    /// The number of levels of a side.
    @inline(__always)
    func levelCount(_ side: Side) -> Int { side == .buy ? bids.levels.count : asks.levels.count }

    /// Level `i` of a side counted from the best (0 = best).
    @inline(__always)
    func level(_ side: Side, fromBest i: Int) -> PriceLevel {
        side == .buy ? bids.levels[bids.levels.count - 1 - i] : asks.levels[asks.levels.count - 1 - i]
    }

    func order(_ slot: Int) -> RestingOrder { slots[slot] }

    // The same reads through a mutating access: called as `books[s].x()`, a mutating method
    // works on the element in place, where a non-mutating one may first copy the whole book
    // (retaining and releasing each of its arrays). For the matching loop.
    @inline(__always)
    mutating func bestInPlace(_ side: Side) -> PriceLevel? { best(side) }
    @inline(__always)
    mutating func orderInPlace(_ slot: Int) -> RestingOrder { slots[slot] }

    /// Puts an order at the back of its price level's queue; returns its slot.
    mutating func rest(_ order: RestingOrder) -> Int {
        var order = order
        order.next = -1
        let slot: Int
        if let reused = freeSlots.popLast() {
            slot = reused
            slots[slot] = order
        } else {
            slot = slots.count
            slots.append(order)
        }
        let side = order.side
        let (index, found) = position(side, of: order.price)
        if found {
            let tail = level(side, at: index).tail
            slots[tail].next = slot
            slots[slot].prev = tail
            mutate(side) { $0.update(index) { $0.tail = slot; $0.qty += order.remaining } }
        } else {
            slots[slot].prev = -1
            mutate(side) {
                $0.insertLevel(PriceLevel(price: order.price, head: slot, tail: slot, qty: order.remaining), at: index)
            }
        }
        return slot
    }

    /// Takes an order out of its level (and the level out of the book when it empties).
    mutating func remove(_ slot: Int) {
        let order = slots[slot]
        let (index, found) = position(order.side, of: order.price)
        precondition(found, "a resting order's level is missing")
        if order.prev >= 0 { slots[order.prev].next = order.next }
        if order.next >= 0 { slots[order.next].prev = order.prev }
        let level = level(order.side, at: index)
        if level.head == slot && level.tail == slot {
            mutate(order.side) { $0.removeLevel(at: index) }
        } else {
            mutate(order.side) {
                $0.update(index) { level in
                    if level.head == slot { level.head = order.next }
                    if level.tail == slot { level.tail = order.prev }
                    level.qty -= order.remaining
                }
            }
        }
        slots[slot].clientId = nil
        freeSlots.append(slot)
    }

    /// Reduces a resting order by `qty` traded (it keeps its place).
    mutating func fill(_ slot: Int, _ qty: Int64) {
        reduce(slot, by: qty)
        slots[slot].filled += qty
    }

    /// Reduces a resting order's remaining quantity in place (a fill or an amend).
    mutating func reduce(_ slot: Int, by qty: Int64) {
        let side = slots[slot].side
        let (index, _) = position(side, of: slots[slot].price)
        slots[slot].remaining -= qty
        if side == .buy { bids.addQty(index, -qty) } else { asks.addQty(index, -qty) }
    }

    private mutating func mutate(_ side: Side, _ body: (inout BookSide) -> Void) {
        if side == .buy { body(&bids) } else { body(&asks) }
    }
}
