/// Where each resting order is, by order id: (symbol, slot). Order ids are dense (1, 2, 3, …),
/// so this is an array of chunks of 4,096 entries rather than a hash table (no hashing per
/// look-up); a chunk whose orders have all left the book is dropped, so memory follows the
/// resting orders, not every order ever placed.
struct OrderIndex {
    private static let chunkShift = 12
    private static let chunkSize = 1 << chunkShift
    /// symbol << 40 | slot, or -1.
    private var chunks: [[Int64]] = []
    /// Resting orders per chunk.
    private var live: [Int32] = []
    /// Chunks given back, all entries -1, reused before any new one is allocated.
    private var spare: [[Int64]] = []
    private(set) var count = 0

    @inline(__always)
    private static func locate(_ id: OrderId) -> (chunk: Int, offset: Int) {
        let i = Int(truncatingIfNeeded: id &- 1)
        return (i >> chunkShift, i & (chunkSize - 1))
    }

    subscript(id: OrderId) -> (symbol: Int, slot: Int)? {
        guard id > 0, id <= OrderId(Int.max) else { return nil }
        let (c, o) = Self.locate(id)
        guard c < chunks.count, !chunks[c].isEmpty else { return nil }
        let entry = chunks[c][o]
        return entry < 0 ? nil : (Int(entry >> 40), Int(entry & 0xFF_FFFF_FFFF))
    }

    mutating func insert(_ id: OrderId, symbol: Int, slot: Int) {
        precondition(id > 0 && slot < 1 << 40 && symbol < 1 << 23, "order id, symbol or slot out of range")
        let (c, o) = Self.locate(id)
        while chunks.count <= c {
            chunks.append([])
            live.append(0)
        }
        if chunks[c].isEmpty { chunks[c] = spare.popLast() ?? [Int64](repeating: -1, count: Self.chunkSize) }
        precondition(chunks[c][o] < 0, "order \(id) is already resting")
        chunks[c][o] = Int64(symbol) << 40 | Int64(slot)
        live[c] += 1
        count += 1
    }

    mutating func remove(_ id: OrderId) {
        let (c, o) = Self.locate(id)
        precondition(c < chunks.count && !chunks[c].isEmpty && chunks[c][o] >= 0, "order \(id) is not resting")
        chunks[c][o] = -1
        live[c] -= 1
        count -= 1
        // Ids only grow, so a chunk left empty that is not the newest is never written again.
        if live[c] == 0 && c + 1 < chunks.count {
            // Every entry is -1 again: the chunk can serve new ids as it is.
            spare.append(chunks[c])
            chunks[c] = []
        }
    }
}
