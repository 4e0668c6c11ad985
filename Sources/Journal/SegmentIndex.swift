import _Posix
/// The sparse index of one segment: where each block starts, with its first sequence and time.
/// It is a cache: rebuilt from the segment when missing, damaged or behind, never trusted over
/// the segment itself (see Journal/FORMAT.md, "Index file").
struct SegmentIndex: Equatable {
    static let magic: UInt64 = 0x3158_4544_4E49_4A58  // "XJINDEX1"
    static let headerSize = 48
    static let entrySize = 24

    var segmentFirstSequence: UInt64
    /// Offset just past the last indexed block.
    var endOffset: Int
    var firstSequences: [UInt64] = []
    var offsets: [Int] = []
    var firstTimestamps: [Int64] = []

    init(segmentFirstSequence: UInt64) {
        self.segmentFirstSequence = segmentFirstSequence
        self.endOffset = SegmentHeader.size
    }

    var count: Int { offsets.count }

    mutating func append(_ header: BlockHeader, at offset: Int) {
        firstSequences.append(header.firstSequence)
        offsets.append(offset)
        firstTimestamps.append(header.firstTimestampNs)
        endOffset = offset + header.totalBytes
    }

    /// The entry of the block that holds `sequence` (the last block starting at or before it).
    func entry(holding sequence: UInt64) -> Int? {
        var low = 0, high = count
        while low < high {
            let mid = (low + high) / 2
            if firstSequences[mid] <= sequence { low = mid + 1 } else { high = mid }
        }
        return low == 0 ? nil : low - 1
    }

    /// The entry of the first block whose first timestamp is at or after `timestampNs`, minus
    /// one (a block that starts earlier may still hold later records).
    func entry(atOrBefore timestampNs: Int64) -> Int? {
        guard count > 0 else { return nil }
        var low = 0, high = count
        while low < high {
            let mid = (low + high) / 2
            if firstTimestamps[mid] < timestampNs { low = mid + 1 } else { high = mid }
        }
        return max(0, low - 1)
    }

    var encoded: [UInt8] {
        var out = [UInt8](repeating: 0, count: Self.headerSize + count * Self.entrySize)
        out.withUnsafeMutableBytes { buffer in
            let p = buffer.baseAddress!
            p.storeLE(Self.magic, 0)
            p.storeLE(UInt16(1), 8)
            p.storeLE(UInt16(Self.headerSize), 10)
            p.storeLE(UInt32(count), 12)
            p.storeLE(segmentFirstSequence, 16)
            p.storeLE(UInt64(endOffset), 24)
            for i in 0..<count {
                let e = p + Self.headerSize + i * Self.entrySize
                e.storeLE(firstSequences[i], 0)
                e.storeLE(UInt64(offsets[i]), 8)
                e.storeLE(firstTimestamps[i], 16)
            }
            let head = CRC32C.checksum(UnsafeRawBufferPointer(start: p, count: 44))
            let crc = CRC32C.checksum(
                UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(buffer)[Self.headerSize...]),
                continuing: head)
            p.storeLE(crc, 44)
        }
        return out
    }

    /// Decodes an index file; nil when it is not a sound index of that segment.
    static func decode(_ bytes: [UInt8], segmentFirstSequence: UInt64) -> SegmentIndex? {
        guard bytes.count >= headerSize else { return nil }
        return bytes.withUnsafeBytes { buffer -> SegmentIndex? in
            let p = buffer.baseAddress!
            let count = Int(p.loadLE(12, as: UInt32.self))
            guard p.loadLE(0, as: UInt64.self) == magic, p.loadLE(8, as: UInt16.self) == 1,
                  p.loadLE(16, as: UInt64.self) == segmentFirstSequence,
                  bytes.count == headerSize + count * entrySize else { return nil }
            let head = CRC32C.checksum(UnsafeRawBufferPointer(start: p, count: 44))
            let crc = CRC32C.checksum(
                UnsafeRawBufferPointer(rebasing: buffer[headerSize...]), continuing: head)
            guard p.loadLE(44, as: UInt32.self) == crc else { return nil }
            var index = SegmentIndex(segmentFirstSequence: segmentFirstSequence)
            index.endOffset = Int(p.loadLE(24, as: UInt64.self))
            for i in 0..<count {
                let e = p + headerSize + i * entrySize
                index.firstSequences.append(e.loadLE(0))
                index.offsets.append(Int(e.loadLE(8, as: UInt64.self)))
                index.firstTimestamps.append(e.loadLE(16))
            }
            return index
        }
    }

    /// The index of `segment`: the stored one when it agrees with the segment, extended by a
    /// CRC-checked walk over any blocks written after it; rebuilt from scratch otherwise. The
    /// file is rewritten when it changed (best effort: an index is only a cache, and a
    /// read-only journal is still readable without one).
    static func load(for segment: SegmentMap, decoder: BlockDecoder) -> SegmentIndex {
        let first = segment.file.firstSequence
        let stored = (try? segment.storage.readFile(segment.file.indexPath)).flatMap {
            decode($0, segmentFirstSequence: first)
        }
        var index = stored.flatMap { $0.agrees(with: segment, decoder: decoder) ? $0 : nil }
            ?? SegmentIndex(segmentFirstSequence: first)
        let before = index.count
        var offset = index.endOffset
        while case let .success(h) = decoder.checkedHeader(in: segment.bytes, at: offset) {
            index.append(h, at: offset)
            offset += h.totalBytes
        }
        if stored == nil || index.count != before {
            try? segment.storage.writeAtomically(index.encoded, to: segment.file.indexPath, durable: false)
        }
        return index
    }

    /// Whether the entries point at real block headers with the recorded sequences.
    private func agrees(with segment: SegmentMap, decoder: BlockDecoder) -> Bool {
        guard endOffset >= SegmentHeader.size, endOffset <= segment.bytes.count else { return false }
        if count == 0 { return endOffset == SegmentHeader.size }
        for i in [0, count - 1] {
            guard case let .success(h) = decoder.header(in: segment.bytes, at: offsets[i]),
                  h.firstSequence == firstSequences[i] else { return false }
        }
        guard case let .success(last) = decoder.header(in: segment.bytes, at: offsets[count - 1])
        else { return false }
        return offsets[count - 1] + last.totalBytes == endOffset
    }
}
