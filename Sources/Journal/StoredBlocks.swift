import _Posix

/// A piece of a journal exactly as it is stored, as a primary streams it to its replicas: a
/// segment's 128-byte header when a segment starts, then each block (its 96-byte header and
/// its stored payload). A replica that writes the pieces in order (`JournalWriter.startSegment`,
/// `appendStored`) holds byte-identical segments.
public enum StoredPiece {
    /// A segment header, with its CRC, as at the start of the segment file.
    case segment(SegmentHeader, bytes: [UInt8])
    /// One block, header and stored payload; the bytes point into the segment's map and are
    /// valid until the cursor's next call.
    case block(BlockHeader, bytes: UnsafeRawBufferPointer)
}

/// Walks a journal's stored pieces from a given sequence, following a writer that appends to
/// it (in this process or another): first the header of the segment the stream continues in,
/// then blocks, and each later segment's header before its blocks. Every block is checked as far as its header and CRC (enough
/// to know where the next one starts); the receiving side checks the rest (decompression, chain,
/// framing) before it writes the block.
public final class StoredBlockCursor {
    public let directory: String
    public let storage: any Storage
    private var segment: SegmentMap?
    private var offset = 0
    /// The sequence the next block must start at.
    public private(set) var nextSequence: UInt64 = 1
    /// The chain hash after the last piece handed out.
    public private(set) var chain = Digest32.zero
    /// The segment header still to hand out before the segment's first block.
    private var headerPending = false
    private let decoder = BlockDecoder()

    public init(directory: String, storage: any Storage = PosixStorage.shared) {
        self.directory = directory
        self.storage = storage
    }

    /// Positions the cursor after `sequence`, which must end a block of this journal whose
    /// chain hash is `chain` (sequence 0 with the zero hash: the journal's start).
    /// - Throws: `.sequenceUnavailable` when the journal no longer (or does not yet) hold that
    ///   point; `.notOnChain` when it holds the sequence but not as the end of a block with
    ///   that hash (the other side's journal is not a prefix of this one).
    public func start(after sequence: UInt64, chain expected: Digest32) throws(JournalError) {
        let segments = try SegmentCatalog.list(directory, storage: storage)
        if segments.isEmpty && sequence == 0 && expected == .zero {
            // An empty journal: its first segment is handed out once its writer makes it.
            segment = nil
            nextSequence = 1
            chain = .zero
            return
        }
        guard let first = segments.first, sequence + 1 >= first.firstSequence else {
            throw .sequenceUnavailable(requested: sequence + 1, first: segments.first?.firstSequence ?? 1, last: 0)
        }
        // The segment holding the next record; at a segment's end, that is the next segment
        // (when there is one) with the carried hash in its header.
        let at = SegmentCatalog.position(of: sequence + 1, in: segments)!
        let map = try SegmentMap(segments[at], storage: storage)
        let index = SegmentIndex.load(for: map, decoder: decoder)
        var chainBefore: Digest32
        var offset: Int
        if sequence + 1 == map.header.firstSequence {
            chainBefore = map.header.previousChain
            offset = SegmentHeader.size
        } else if let entry = index.entry(holding: sequence), index.firstSequences[entry] <= sequence {
            let blockOffset = index.offsets[entry]
            guard case let .success(h) = decoder.checkedHeader(in: map.bytes, at: blockOffset) else {
                throw map.corrupt(blockOffset, index.firstSequences[entry], "block header fails its checks")
            }
            guard h.lastSequence >= sequence else {
                throw .notOnChain(sequence: sequence, reason: "this journal ends at \(h.lastSequence)")
            }
            guard h.lastSequence == sequence else {
                throw .notOnChain(sequence: sequence, reason: "sequence \(sequence) is inside the block \(h.firstSequence)...\(h.lastSequence), not at its end")
            }
            chainBefore = h.chain
            offset = blockOffset + h.totalBytes
        } else {
            throw .sequenceUnavailable(requested: sequence + 1, first: first.firstSequence, last: 0)
        }
        guard chainBefore == expected else {
            throw .notOnChain(sequence: sequence, reason: "the chain hash after it is \(chainBefore.hex), not \(expected.hex)")
        }
        self.segment = map
        self.offset = offset
        self.nextSequence = sequence + 1
        self.chain = chainBefore
        // Every stream starts with the header of the segment it continues in: a replica whose
        // last segment came from another primary (a header with no block after it) learns
        // where this journal's next block goes.
        headerPending = true
    }

    /// The next piece, or nil when nothing more has been written yet.
    /// - Throws: `.corrupt` for a block that fails its header or CRC checks with more written
    ///   after it, or a segment that does not follow the one before.
    public func next() throws(JournalError) -> StoredPiece? {
        if segment == nil && nextSequence == 1 {
            guard let first = try SegmentCatalog.list(directory, storage: storage).first else { return nil }
            let map = try SegmentMap(first, storage: storage)
            guard map.header.firstSequence == 1, map.header.segmentIndex == 0, map.header.previousChain == .zero else {
                throw map.corrupt(0, 1, "the journal's first segment does not start it")
            }
            segment = map
            offset = SegmentHeader.size
            headerPending = true
        }
        while let map = segment {
            if headerPending {
                headerPending = false
                let bytes = Array(UnsafeRawBufferPointer(rebasing: map.bytes[0..<SegmentHeader.size]))
                return .segment(map.header, bytes: bytes)
            }
            switch decoder.header(in: map.bytes, at: offset, expectedSequence: nextSequence, checkingCRC: true) {
            case let .success(h):
                let bytes = UnsafeRawBufferPointer(rebasing: map.bytes[offset..<(offset + h.totalBytes)])
                offset += h.totalBytes
                nextSequence = h.lastSequence + 1
                chain = h.chain
                return .block(h, bytes: bytes)
            case let .failure(fault):
                // Nothing more in this segment: the next one, once the writer has created it.
                let segments = try SegmentCatalog.list(directory, storage: storage)
                guard let following = segments.first(where: { $0.firstSequence > map.file.firstSequence }) else {
                    if fault == .noBlock { return nil }
                    // A block whose magic is there but not (yet) the rest cannot be: the
                    // writer stores the magic last. Look once more, then call it damage.
                    if case .success = decoder.checkedHeader(in: map.bytes, at: offset) { continue }
                    throw map.corrupt(offset, nextSequence, fault.reason)
                }
                // A block may have landed in this segment just before the next one was made.
                if case .success = decoder.checkedHeader(in: map.bytes, at: offset) { continue }
                guard fault == .noBlock else { throw map.corrupt(offset, nextSequence, fault.reason) }
                let next = try SegmentMap(following, storage: storage)
                guard next.header.firstSequence == nextSequence,
                      next.header.segmentIndex == map.header.segmentIndex + 1,
                      next.header.previousChain == chain else {
                    throw next.corrupt(0, nextSequence, "segment does not follow the one before (first sequence \(next.header.firstSequence), index \(next.header.segmentIndex))")
                }
                segment = next
                offset = SegmentHeader.size
                headerPending = true
            }
        }
        return nil
    }
}

/// Checks a block received from elsewhere as far as its header and CRC (what a replica checks
/// on arrival, so that bytes damaged in transit are fetched again rather than written).
public final class StoredBlockChecker {
    private let decoder = BlockDecoder(initialCapacity: 64)

    public init() {}

    /// The block's header when `bytes` are exactly one block whose header and CRC check out;
    /// else why not.
    public func check(_ bytes: UnsafeRawBufferPointer) -> Result<BlockHeader, JournalError> {
        func bad(_ reason: String) -> Result<BlockHeader, JournalError> {
            .failure(.corrupt(segment: "(received block)", offset: 0, sequence: 0, reason: reason))
        }
        guard bytes.count >= BlockHeader.size else { return bad("\(bytes.count) bytes are no block") }
        switch decoder.checkedHeader(in: bytes, at: 0) {
        case let .success(h):
            return h.totalBytes == bytes.count ? .success(h) : bad("the block takes \(h.totalBytes) bytes, \(bytes.count) received")
        case let .failure(fault):
            return bad(fault.reason)
        }
    }
}
