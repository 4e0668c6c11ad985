import Synchronization
import _Posix

/// Checks and opens blocks: magic, header sanity, CRC-32C, decompression, chain hash and record
/// framing. Shared by the reader, the verifier and recovery, so a block is judged the same way
/// everywhere. It owns one decompression buffer, reused for every block.
final class BlockDecoder {
    /// A checked block; `raw` points into the segment map or into the decoder's buffer and is
    /// valid until the next `decode`.
    struct Block {
        var header: BlockHeader
        var raw: UnsafeRawBufferPointer
    }

    enum Fault: Error, Equatable {
        /// No block starts here: zero magic or not even room for one.
        case noBlock
        case badHeader(String)
        case badChecksum
        case badPayload(String)
        case chainMismatch
        case sequenceGap(expected: UInt64, found: UInt64)

        var reason: String {
            switch self {
            case .noBlock: return "no block where one was expected"
            case let .badHeader(why): return "bad block header: \(why)"
            case .badChecksum: return "CRC-32C mismatch"
            case let .badPayload(why): return "bad payload: \(why)"
            case .chainMismatch: return "chain hash mismatch"
            case let .sequenceGap(expected, found):
                return "expected sequence \(expected), block starts at \(found)"
            }
        }
    }

    private var buffer: UnsafeMutableRawBufferPointer
    private let hasher = SHA256Hasher()

    init(initialCapacity: Int = 64 << 10) {
        buffer = .allocate(byteCount: max(initialCapacity, 64), alignment: 16)
    }

    deinit {
        buffer.deallocate()
    }

    /// Reads the header at `offset` and checks everything that does not need the payload.
    func header(in segment: UnsafeRawBufferPointer, at offset: Int) -> Result<BlockHeader, Fault> {
        let base = segment.baseAddress!
        guard offset + 4 <= segment.count, base.loadLE(offset, as: UInt32.self) != 0 else {
            return .failure(.noBlock)
        }
        // The magic is published last by the writer (a release fence before it): read nothing
        // of the block before it.
        atomicMemoryFence(ordering: .acquiring)
        guard offset + BlockHeader.size <= segment.count else {
            return .failure(.badHeader("truncated header"))
        }
        guard let h = BlockHeader.peek(base + offset) else { return .failure(.badHeader("bad magic")) }
        if h.flags & ~BlockHeader.flagLZ4 != 0 { return .failure(.badHeader("unknown flags")) }
        if h.recordCount == 0 { return .failure(.badHeader("no records")) }
        if Int(h.rawBytes) < 2 * Int(h.recordCount) || Int(h.rawBytes) > JournalOptions.blockRawCeiling {
            return .failure(.badHeader("raw length \(h.rawBytes) impossible"))
        }
        if Int(h.storedBytes) > segment.count - offset - BlockHeader.size {
            return .failure(.badHeader("stored length \(h.storedBytes) runs past the segment"))
        }
        if h.isCompressed ? h.storedBytes == 0 : h.storedBytes != h.rawBytes {
            return .failure(.badHeader("stored length \(h.storedBytes) impossible"))
        }
        return .success(h)
    }

    /// Header checks plus the CRC: enough to trust the block's extent.
    func checkedHeader(in segment: UnsafeRawBufferPointer, at offset: Int) -> Result<BlockHeader, Fault> {
        let result = header(in: segment, at: offset)
        guard case let .success(h) = result else { return result }
        let crc = BlockHeader.computeCRC(segment.baseAddress! + offset, storedBytes: Int(h.storedBytes))
        return crc == h.crc ? result : .failure(.badChecksum)
    }

    /// Fully checks the block at `offset`.
    /// - Parameters:
    ///   - expectedSequence: the sequence the block must start at, when known.
    ///   - previousChain: the chain hash before this block; nil skips the chain check.
    /// - Returns: the block with its raw payload, or the first check it fails.
    func decode(
        in segment: UnsafeRawBufferPointer, at offset: Int,
        expectedSequence: UInt64?, previousChain: Digest32?
    ) -> Result<Block, Fault> {
        header(in: segment, at: offset, expectedSequence: expectedSequence, checkingCRC: true).flatMap { h in
            expand(h, stored: Self.payload(of: h, in: segment, at: offset), previousChain: previousChain)
                .map { Block(header: h, raw: $0) }
        }
    }

    /// The header checks (and the CRC's, when `checkingCRC`), then the block's place: it must
    /// start at `expectedSequence` when that is known.
    func header(in segment: UnsafeRawBufferPointer, at offset: Int, expectedSequence: UInt64?,
                checkingCRC: Bool) -> Result<BlockHeader, Fault> {
        (checkingCRC ? checkedHeader(in: segment, at: offset) : header(in: segment, at: offset)).flatMap { h in
            if let expectedSequence, h.firstSequence != expectedSequence {
                return .failure(.sequenceGap(expected: expectedSequence, found: h.firstSequence))
            }
            return .success(h)
        }
    }

    /// The stored payload of the block at `offset` whose header is `h`.
    static func payload(of h: BlockHeader, in segment: UnsafeRawBufferPointer, at offset: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: segment.baseAddress! + offset + BlockHeader.size, count: Int(h.storedBytes))
    }

    /// The checks after the header's (and the CRC's): decompression into this decoder's buffer,
    /// the chain hash when `previousChain` is given, the record framing. Returns the raw
    /// payload (in the buffer, or `stored` itself when it is not compressed). The reader's
    /// worker thread calls this for blocks read ahead, each with a decoder of its own.
    func expand(_ h: BlockHeader, stored: UnsafeRawBufferPointer, previousChain: Digest32?)
        -> Result<UnsafeRawBufferPointer, Fault> {
        let raw: UnsafeRawBufferPointer
        if h.isCompressed {
            reserve(Int(h.rawBytes))
            let target = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<Int(h.rawBytes)])
            guard LZ4.decompress(stored, into: target) else {
                return .failure(.badPayload("LZ4 data does not expand to \(h.rawBytes) bytes"))
            }
            raw = UnsafeRawBufferPointer(target)
        } else {
            raw = stored
        }
        if let previousChain, chain(of: h, raw: raw, previous: previousChain) != h.chain {
            return .failure(.chainMismatch)
        }
        if let why = RecordCursor.checkFraming(raw, header: h) { return .failure(.badPayload(why)) }
        return .success(raw)
    }

    /// The block's chain hash (`BlockHeader.chain`), with this decoder's hasher.
    func chain(of header: BlockHeader, raw: UnsafeRawBufferPointer, previous: Digest32) -> Digest32 {
        header.chain(raw: raw, previous: previous, using: hasher)
    }

    private func reserve(_ count: Int) {
        guard buffer.count < count else { return }
        buffer.deallocate()
        buffer = .allocate(byteCount: count, alignment: 16)
    }
}

/// Walks the records of a raw block payload.
///
/// Each record is `varint(length) ‖ varint(zigzag(timestamp − previous timestamp)) ‖ bytes`,
/// where the previous timestamp of the first record is the block's first timestamp (so its
/// delta is 0). Differences wrap around in 64 bits on both sides.
struct RecordCursor {
    let raw: UnsafeRawBufferPointer
    private(set) var offset = 0
    private(set) var timestampNs: Int64

    init(raw: UnsafeRawBufferPointer, firstTimestampNs: Int64) {
        self.raw = raw
        self.timestampNs = firstTimestampNs
    }

    /// The next record's bytes, with `timestampNs` set to its time; nil at the end or when the
    /// framing is broken (`checkFraming` has ruled that out for decoded blocks).
    @inline(__always)
    mutating func next() -> UnsafeRawBufferPointer? {
        guard offset < raw.count, let base = raw.baseAddress else { return nil }
        var at = offset
        guard let length = Varint.read(base, at: &at, end: raw.count),
              let delta = Varint.read(base, at: &at, end: raw.count) else { return nil }
        guard length <= UInt64(raw.count - at) else { return nil }
        timestampNs = timestampNs &+ Varint.unzigzag(delta)
        offset = at + Int(length)
        return UnsafeRawBufferPointer(start: base + at, count: Int(length))
    }

    /// Nil when the payload holds exactly `recordCount` well-framed records ending at the last
    /// timestamp; otherwise what is wrong.
    static func checkFraming(_ raw: UnsafeRawBufferPointer, header: BlockHeader) -> String? {
        var cursor = RecordCursor(raw: raw, firstTimestampNs: header.firstTimestampNs)
        var count: UInt32 = 0
        while cursor.offset < raw.count {
            guard cursor.next() != nil else { return "record \(count) is badly framed" }
            if count == 0 && cursor.timestampNs != header.firstTimestampNs {
                return "first record's time differs from the header"
            }
            count += 1
        }
        if count != header.recordCount { return "holds \(count) records, header says \(header.recordCount)" }
        if cursor.timestampNs != header.lastTimestampNs { return "last record's time differs from the header" }
        return nil
    }
}
