/// Where each resting order is, by order id: (symbol, slot). Order ids are dense (1, 2, 3, …),
/// so this is a table of blocks of 4,096 entries rather than a hash table (no hashing per
/// look-up). The blocks live in one flat pool (one array to write, not an array of arrays); a
/// block whose orders have all left the book goes back to a spare list and serves newer ids,
/// so memory follows the resting orders, not every order ever placed.
struct OrderIndex {
    private static let blockShift = 12
    static let blockSize = 1 << blockShift
    /// The table, pool, live counts and spare list (shared between copies of the index until
    /// one changes; see `makeUnique()`).
    private var storage = OrderIndexStorage()
    private(set) var count = 0

    @inline(__always)
    private static func locate(_ id: OrderId) -> (chunk: Int, offset: Int) {
        let i = Int(truncatingIfNeeded: id &- 1)
        return (i >> blockShift, i & (blockSize - 1))
    }

    /// Copies the storage first if another index shares it. `insert` and `remove` do not check
    /// this themselves: the engine calls this at the start of a command while a copy of it
    /// exists (`MatchingEngine.copyWitness`; without one nothing is shared), and debug builds
    /// assert it.
    @inline(__always)
    mutating func makeUnique() {
        if !isKnownUniquelyReferenced(&storage) { storage = OrderIndexStorage(copying: storage) }
    }

    subscript(id: OrderId) -> (symbol: Int, slot: Int)? {
        guard id > 0, id <= OrderId(Int.max) else { return nil }
        let (c, o) = Self.locate(id)
        let table = storage.table
        guard c < table.count else { return nil }
        let block = table[c]
        guard block >= 0 else { return nil }
        let entry = storage.pool[Int(block) << Self.blockShift | o]
        return entry < 0 ? nil : (Int(entry >> 40), Int(entry & 0xFF_FFFF_FFFF))
    }

    /// Room for `count` more order ids without growing the pool or the table: the blocks are
    /// made now (written, so their memory is faulted in here) and wait on the spare list.
    mutating func reserveCapacity(moreIds count: Int) {
        makeUnique()
        let blocks = count / Self.blockSize + 2
        let index = storage
        index.table.reserve(index.table.count + blocks)
        index.live.reserve(index.live.count + blocks)
        index.pool.reserve(index.pool.count + blocks * Self.blockSize)
        index.spare.reserve(index.spare.count + blocks)
        for _ in 0..<blocks { index.makeSpareBlock() }
    }

    mutating func insert(_ id: OrderId, symbol: Int, slot: Int) {
        assert(isKnownUniquelyReferenced(&storage), "a shared order index changed without makeUnique()")
        precondition(id > 0 && id <= OrderId(Int.max) && slot < 1 << 40 && symbol < 1 << 23,
                     "order id, symbol or slot out of range")
        let index = storage
        let (c, o) = Self.locate(id)
        // Nearly always the block of the ids before; a new block (every 4,096 ids) out of line,
        // so that the common path carries no registers saved for it.
        let block = c < index.table.count && index.table[c] >= 0 ? index.table[c] : index.claimBlock(c)
        let i = Int(block) << Self.blockShift | o
        precondition(index.pool[i] < 0, "order \(id) is already resting")
        index.pool[i] = Int64(symbol) << 40 | Int64(slot)
        index.live[Int(block)] += 1
        count += 1
    }

    mutating func remove(_ id: OrderId) {
        assert(isKnownUniquelyReferenced(&storage), "a shared order index changed without makeUnique()")
        let index = storage
        let (c, o) = Self.locate(id)
        precondition(id > 0 && c < index.table.count && index.table[c] >= 0, "order \(id) is not resting")
        let block = Int(index.table[c])
        let i = block << Self.blockShift | o
        precondition(index.pool[i] >= 0, "order \(id) is not resting")
        index.pool[i] = -1
        index.live[block] -= 1
        count -= 1
        // Ids only grow, so a block left empty that is not the newest is never written again.
        if index.live[block] == 0 && c + 1 < index.table.count { index.releaseBlock(c) }
    }
}

/// The order index's buffers.
final class OrderIndexStorage {
    /// Block of each 4,096 ids (by id / 4,096), or -1.
    @exclusivity(unchecked) var table = PodBuffer<Int32>()
    /// symbol << 40 | slot, or -1; 4,096 entries per block.
    @exclusivity(unchecked) var pool = PodBuffer<Int64>()
    /// Resting orders per block.
    @exclusivity(unchecked) var live = PodBuffer<Int32>()
    /// Blocks given back, all entries -1, reused before any new one is made.
    @exclusivity(unchecked) var spare = PodBuffer<Int32>()

    init() {}

    init(copying other: OrderIndexStorage) {
        table = other.table.copy(); pool = other.pool.copy(); live = other.live.copy(); spare = other.spare.copy()
    }

    deinit { table.free(); pool.free(); live.free(); spare.free() }

    /// The block for chunk `c` of the ids, which has none yet: a spare one (made if none is).
    @inline(never)
    func claimBlock(_ c: Int) -> Int32 {
        while table.count <= c { table.append(-1) }
        if spare.count == 0 { makeSpareBlock() }
        let block = spare.removeLast()
        table[c] = block
        return block
    }

    /// Gives chunk `c`'s block, whose entries are all -1 again, back to the spare list.
    @inline(never)
    func releaseBlock(_ c: Int) {
        spare.append(table[c])
        table[c] = -1
    }

    /// A new block, all entries -1, put on the spare list.
    func makeSpareBlock() {
        precondition(live.count < Int(Int32.max), "too many order index blocks")
        spare.append(Int32(live.count))
        for _ in 0..<OrderIndex.blockSize { pool.append(-1) }
        live.append(0)
    }
}
