import _Posix
/// The 96-byte header in front of every block (see Journal/FORMAT.md, "Block header").
///
/// ```
///  0      4      6      8              16     20     24     28     32          40          48
///  +------+------+------+--------------+------+------+------+------+-----------+-----------+
///  |magic |flags |hdr sz| first seq    |count | raw  |stored| rsvd | first ts  | last ts   |
///  +------+------+------+--------------+------+------+------+------+-----------+-----------+
///  48                                  80                  92     96
///  +-----------------------------------+-------------------+------+------------------------+
///  | chain hash (32)                   |synced|rsvd, zero  |crc32c| payload (stored bytes) |
///  +-----------------------------------+-------------------+------+------------------------+
/// ```
/// The CRC covers header bytes 0..<92 and then the stored payload. The chain hash is
/// SHA-256(previous chain ‖ first seq ‖ count ‖ raw ‖ first ts ‖ last ts ‖ raw payload): it
/// covers what the block means, not how it is stored, so recompressing a block keeps the chain.
/// `synced` (8 bytes at 80) is 1 + the last sequence the writer had synced when it wrote the
/// block (0: not recorded): recovery's evidence that a damaged block was synced before a block
/// that follows it was written.
public struct BlockHeader: Equatable, Sendable {
    public static let size = 96
    /// "XBLK" as bytes in file order.
    public static let magic: UInt32 = 0x4B4C_4258
    public static let flagLZ4: UInt16 = 1
    static let crcOffset = 92

    public var flags: UInt16
    public var firstSequence: UInt64
    public var recordCount: UInt32
    public var rawBytes: UInt32
    public var storedBytes: UInt32
    public var firstTimestampNs: Int64
    public var lastTimestampNs: Int64
    public var chain: Digest32
    public var crc: UInt32
    /// 1 + the last sequence synced when the block was written; 0 when not recorded.
    public var syncedHint: UInt64 = 0

    public var isCompressed: Bool { flags & Self.flagLZ4 != 0 }
    /// Header and payload: where the next block starts, relative to this one.
    public var totalBytes: Int { Self.size + Int(storedBytes) }
    public var lastSequence: UInt64 { firstSequence + UInt64(recordCount) - 1 }

    /// Writes every field, the magic and `crc` included.
    func encode(to p: UnsafeMutableRawPointer) {
        p.storeLE(Self.magic, 0)
        p.storeLE(flags, 4)
        p.storeLE(UInt16(Self.size), 6)
        p.storeLE(firstSequence, 8)
        p.storeLE(recordCount, 16)
        p.storeLE(rawBytes, 20)
        p.storeLE(storedBytes, 24)
        p.storeLE(UInt32(0), 28)
        p.storeLE(firstTimestampNs, 32)
        p.storeLE(lastTimestampNs, 40)
        chain.store(to: p + 48)
        p.storeLE(syncedHint, 80)
        (p + 88).initializeMemory(as: UInt8.self, repeating: 0, count: 4)
        p.storeLE(crc, Self.crcOffset)
    }

    /// SHA-256(previous ‖ first seq ‖ count ‖ raw ‖ first ts ‖ last ts ‖ raw payload), the
    /// block's chain hash, computed with `hasher` (which is reset first). The one definition
    /// the writer, the readers and the hash worker all use.
    func chain(raw: UnsafeRawBufferPointer, previous: Digest32, using hasher: SHA256Hasher) -> Digest32 {
        // The 32 bytes of header fields, little-endian, built on the stack.
        var fields: (UInt64, UInt32, UInt32, Int64, Int64) =
            (firstSequence.littleEndian, recordCount.littleEndian, rawBytes.littleEndian,
             firstTimestampNs.littleEndian, lastTimestampNs.littleEndian)
        hasher.reset()
        hasher.update(previous)
        withUnsafeBytes(of: &fields) { bytes in
            precondition(bytes.count == 32, "chain fields must be 32 bytes")
            hasher.update(bytes)
        }
        hasher.update(raw)
        return hasher.finish()
    }

    /// Reads the fields without checking anything but the magic (nil when it is not there).
    static func peek(_ p: UnsafeRawPointer) -> BlockHeader? {
        guard p.loadLE(0, as: UInt32.self) == magic, p.loadLE(6, as: UInt16.self) == UInt16(size)
        else { return nil }
        return BlockHeader(
            flags: p.loadLE(4), firstSequence: p.loadLE(8), recordCount: p.loadLE(16),
            rawBytes: p.loadLE(20), storedBytes: p.loadLE(24), firstTimestampNs: p.loadLE(32),
            lastTimestampNs: p.loadLE(40), chain: Digest32(loading: p + 48), crc: p.loadLE(92),
            syncedHint: p.loadLE(80))
    }

    /// The CRC-32C of a block whose header and payload lie contiguously at `p`.
    static func computeCRC(_ p: UnsafeRawPointer, storedBytes: Int) -> UInt32 {
        let head = CRC32C.checksum(UnsafeRawBufferPointer(start: p, count: crcOffset))
        return CRC32C.checksum(
            UnsafeRawBufferPointer(start: p + size, count: storedBytes), continuing: head)
    }
}
