/// SplitMix64: a tiny seeded generator, the same sequence on every machine.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A seeded stream of fixed 48-byte, order-like records, the workload of the journal's tests,
/// benchmarks and `exchange journal generate`:
///
/// ```
///  0        8        16       20   21   22   24        32        40        48
///  +--------+--------+--------+----+----+----+---------+---------+---------+
///  | seq    | time ns| account|side|type|pad | order id| price   | qty     |
///  +--------+--------+--------+----+----+----+---------+---------+---------+
/// ```
/// Little-endian integers; the price follows a random walk of ±2 ticks around 3,000,000 ticks,
/// times advance by 0–2 µs, accounts are drawn from 1,000.
public struct OrderLikeRecords {
    public static let recordBytes = 48
    private var random: SplitMix64
    private var sequence: UInt64 = 0
    public private(set) var timestampNs: Int64 = 1_700_000_000_000_000_000
    private var price: Int64 = 3_000_000
    private var orderId: UInt64 = 0
    private var bytes = [UInt8](repeating: 0, count: 48)

    public init(seed: UInt64) { random = SplitMix64(seed: seed) }

    /// Fills and returns the next record (the same array storage is reused).
    public mutating func next() -> [UInt8] {
        sequence += 1
        orderId += 1
        timestampNs += Int64(random.next() % 2_000)
        price += Int64(random.next() % 5) - 2
        let account = UInt32(1 + random.next() % 1_000)
        let side = UInt8(random.next() & 1)
        let type = UInt8(random.next() % 4 == 0 ? 1 : 0)
        let qty = Int64(1 + random.next() % 100) * 1_000
        let (seq, ts, px, id) = (sequence, timestampNs, price, orderId)
        bytes.withUnsafeMutableBytes { p in
            let base = p.baseAddress!
            base.storeBytes(of: seq.littleEndian, toByteOffset: 0, as: UInt64.self)
            base.storeBytes(of: ts.littleEndian, toByteOffset: 8, as: Int64.self)
            base.storeBytes(of: account.littleEndian, toByteOffset: 16, as: UInt32.self)
            base.storeBytes(of: side, toByteOffset: 20, as: UInt8.self)
            base.storeBytes(of: type, toByteOffset: 21, as: UInt8.self)
            base.storeBytes(of: UInt16(0), toByteOffset: 22, as: UInt16.self)
            base.storeBytes(of: id.littleEndian, toByteOffset: 24, as: UInt64.self)
            base.storeBytes(of: px.littleEndian, toByteOffset: 32, as: Int64.self)
            base.storeBytes(of: qty.littleEndian, toByteOffset: 40, as: Int64.self)
        }
        return bytes
    }
}
