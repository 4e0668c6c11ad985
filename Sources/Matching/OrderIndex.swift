/// Where each resting order is, by order id: (symbol, slot). Order ids are dense (1, 2, 3, …),
/// so this is a table of blocks of 4,096 entries rather than a hash table (no hashing per
/// look-up). The blocks live in one flat pool (one array to write, not an array of arrays); a
/// block whose orders have all left the book goes back to a spare list and serves newer ids,
/// so memory follows the resting orders, not every order ever placed.
struct OrderIndex {
    private static let blockShift = 12
    private static let blockSize = 1 << blockShift
    /// Block of each 4,096 ids (by id / 4,096), or -1.
    private var table: [Int32] = []
    /// symbol << 40 | slot, or -1; `blockSize` entries per block.
    private var pool: [Int64] = []
    /// Resting orders per block.
    private var live: [Int32] = []
    /// Blocks given back, all entries -1, reused before any new one is made.
    private var spare: [Int32] = []
    private(set) var count = 0

    @inline(__always)
    private static func locate(_ id: OrderId) -> (chunk: Int, offset: Int) {
        let i = Int(truncatingIfNeeded: id &- 1)
        return (i >> blockShift, i & (blockSize - 1))
    }

    subscript(id: OrderId) -> (symbol: Int, slot: Int)? {
        guard id > 0, id <= OrderId(Int.max) else { return nil }
        let (c, o) = Self.locate(id)
        guard c < table.count else { return nil }
        let block = table[c]
        guard block >= 0 else { return nil }
        let entry = pool[Int(block) << Self.blockShift | o]
        return entry < 0 ? nil : (Int(entry >> 40), Int(entry & 0xFF_FFFF_FFFF))
    }

    /// Room for `count` more order ids without growing the pool or the table: the blocks are
    /// made now (written, so their memory is faulted in here) and wait on the spare list.
    mutating func reserveCapacity(moreIds count: Int) {
        let blocks = count / Self.blockSize + 2
        table.reserveCapacity(table.count + blocks)
        live.reserveCapacity(live.count + blocks)
        pool.reserveCapacity(pool.count + blocks * Self.blockSize)
        spare.reserveCapacity(spare.count + blocks)
        for _ in 0..<blocks {
            spare.append(Int32(live.count))
            pool.append(contentsOf: repeatElement(-1, count: Self.blockSize))
            live.append(0)
        }
    }

    mutating func insert(_ id: OrderId, symbol: Int, slot: Int) {
        precondition(id > 0 && id <= OrderId(Int.max) && slot < 1 << 40 && symbol < 1 << 23,
                     "order id, symbol or slot out of range")
        let (c, o) = Self.locate(id)
        while table.count <= c { table.append(-1) }
        var block = table[c]
        if block < 0 {
            if let reused = spare.popLast() {
                block = reused
            } else {
                block = Int32(live.count)
                pool.append(contentsOf: repeatElement(-1, count: Self.blockSize))
                live.append(0)
            }
            table[c] = block
        }
        let i = Int(block) << Self.blockShift | o
        precondition(pool[i] < 0, "order \(id) is already resting")
        pool[i] = Int64(symbol) << 40 | Int64(slot)
        live[Int(block)] += 1
        count += 1
    }

    mutating func remove(_ id: OrderId) {
        let (c, o) = Self.locate(id)
        precondition(c < table.count && table[c] >= 0, "order \(id) is not resting")
        let block = Int(table[c])
        let i = block << Self.blockShift | o
        precondition(pool[i] >= 0, "order \(id) is not resting")
        pool[i] = -1
        live[block] -= 1
        count -= 1
        // Ids only grow, so a block left empty that is not the newest is never written again.
        if live[block] == 0 && c + 1 < table.count {
            // Every entry is -1 again: the block can serve new ids as it is.
            table[c] = -1
            spare.append(Int32(block))
        }
    }
}
