#if canImport(Glibc)
import Glibc
#endif

/// How a segment's run of valid blocks ends.
enum SegmentEnd: Equatable {
    /// Only zeroes follow the last block.
    case clean(offset: Int)
    /// Bytes that cannot be a block follow the last block, and no valid block comes after them:
    /// the mark of a write cut short. `bytes` is how far the non-zero bytes reach; `records` the
    /// count a readable header of that block claimed (else 0).
    case torn(offset: Int, bytes: Int, records: Int)

    /// Where the valid blocks end (the next block goes there once a torn tail is cut).
    var offset: Int {
        switch self {
        case let .clean(offset), let .torn(offset, _, _): return offset
        }
    }

    /// The bytes after `offset` that a torn tail covers.
    var droppedBytes: Int {
        if case let .torn(_, bytes, _) = self { return bytes }
        return 0
    }
}

extension SegmentMap {
    /// Decides what the bytes at `offset`, where `fault` stopped the walk, are: a clean end, a
    /// torn tail, or corruption (thrown, naming segment, offset and sequence).
    ///
    /// Only a block that fails its header checks or CRC can be torn. Blocks that pass them
    /// may lie after it (the page cache writes pages back in any order, so unsynced blocks can
    /// survive a crash without the one before them); the tail is torn only if none of them was
    /// written after the damaged records were synced (their `syncedHint` says how far the
    /// writer had synced), else it is corruption. A block with a good CRC and a bad chain,
    /// sequence, payload or framing cannot come from a cut-short write: always corruption.
    func classifyEnd(at offset: Int, fault: BlockDecoder.Fault, expectedSequence: UInt64,
                     decoder: BlockDecoder) throws(JournalError) -> SegmentEnd {
        switch fault {
        case .noBlock, .badHeader, .badChecksum: break
        default: throw corrupt(offset, expectedSequence, fault.reason)
        }
        guard let last = lastNonZero(from: offset) else { return .clean(offset: offset) }
        var records = 0
        var at = offset
        while let valid = validBlock(after: at, decoder: decoder) {
            let h = BlockHeader.peek(bytes.baseAddress! + valid)!
            if h.syncedHint == 0 || h.syncedHint - 1 >= expectedSequence {
                throw corrupt(offset, expectedSequence,
                              "\(fault.reason), and a valid block follows at offset \(valid)"
                              + (h.syncedHint == 0 ? "" : ", written after sequence \(h.syncedHint - 1) was synced"))
            }
            records += Int(h.recordCount)
            at = valid + h.totalBytes - 1
        }
        if offset + BlockHeader.size <= bytes.count, let h = BlockHeader.peek(bytes.baseAddress! + offset),
           h.firstSequence == expectedSequence {
            records += Int(h.recordCount)
        }
        return .torn(offset: offset, bytes: last + 1 - offset, records: records)
    }

    /// Checks every block from the first, calling `body` with each one.
    /// - Parameters:
    ///   - expectedSequence: the sequence the first block must start at.
    ///   - chain: the chain hash before the first block.
    /// - Returns: how the blocks end, with the next sequence and the chain head after them.
    func walk(from expectedSequence: UInt64, chain: Digest32, decoder: BlockDecoder,
              body: (BlockDecoder.Block, Int) -> Void = { _, _ in }
    ) throws(JournalError) -> (end: SegmentEnd, nextSequence: UInt64, chain: Digest32) {
        var offset = SegmentHeader.size
        var sequence = expectedSequence
        var chain = chain
        while true {
            switch decoder.decode(in: bytes, at: offset, expectedSequence: sequence, previousChain: chain) {
            case let .success(block):
                body(block, offset)
                offset += block.header.totalBytes
                sequence = block.header.lastSequence + 1
                chain = block.header.chain
            case let .failure(fault):
                do {
                    let end = try classifyEnd(at: offset, fault: fault, expectedSequence: sequence,
                                              decoder: decoder)
                    return (end, sequence, chain)
                } catch {
                    // A live writer may have published this block while the walk looked past
                    // it. It stores each block's magic last, so a valid block seen after this
                    // one means this one is whole by now: look again once, then it is corruption.
                    if case .success = decoder.decode(in: bytes, at: offset, expectedSequence: sequence,
                                                      previousChain: chain) { continue }
                    throw error
                }
            }
        }
    }
}

enum JournalRecovery {
    /// Checks every block of the last segment, cuts off a torn tail (zeroing it and syncing),
    /// restores a truncated file to its full size, and returns the segment ready for appending.
    ///
    /// `durableThrough` is the journal's durable mark: when the valid blocks end before it,
    /// the bad or missing bytes held acknowledged records, and recovery throws, naming where
    /// they end, with nothing changed, unless `acceptingLoss`.
    static func recover(_ file: SegmentFile, storage: any Storage, decoder: BlockDecoder, durableThrough: UInt64 = 0,
                        evidence: String = "the DURABLE mark",
                        acceptingLoss: Bool = false,
                        report: inout RecoveryReport) throws(JournalError) -> ActiveSegment {
        var segment = try SegmentMap(file, storage: storage, writable: true)
        let header = segment.header
        var index = SegmentIndex(segmentFirstSequence: file.firstSequence)
        var checked = 0
        let walked = try segment.walk(from: header.firstSequence, chain: header.previousChain,
                                      decoder: decoder) { block, offset in
            index.append(block.header, at: offset)
            checked += 1
        }
        report.blocksChecked = checked
        let kept = walked.nextSequence - 1
        if durableThrough > kept {
            guard acceptingLoss else {
                throw segment.corrupt(walked.end.offset, walked.nextSequence,
                                      DurableMark.shortfall(validThrough: kept, marked: durableThrough, by: evidence)
                                      + ": acknowledged data is damaged or missing; nothing was changed (a writer that accepts the loss cuts it off)")
            }
            report.acknowledgedRecordsLost = durableThrough - kept
        }
        if case let .torn(offset, bytes, records) = walked.end {
            segment.map.zero(offset..<(offset + bytes))
            report.tornSegment = file.name
            report.tornOffset = offset
            report.bytesDropped = bytes
            report.recordsDropped = records
        }
        // What the blocks hold is synced before the writer counts it durable: a process that
        // died after writing them leaves them in the page cache only, and a power cut would
        // still lose them (with the zeroed torn tail, one msync).
        try segment.map.sync(0..<(walked.end.offset + walked.end.droppedBytes))
        if segment.bytes.count < Int(header.segmentBytes) {
            // Someone cut the file short; give it back its reserved size before mapping it.
            let handle = try storage.open(file.path, .readWrite)
            defer { handle.close() }
            try handle.preallocate(Int(header.segmentBytes))
            try handle.sync()
            segment = try SegmentMap(file, storage: storage, writable: true)
        }
        return ActiveSegment(segment: segment, writeOffset: walked.end.offset, chainHead: walked.chain,
                             nextSequence: walked.nextSequence, index: index)
    }
}
