/// The result of checking a whole journal.
public struct VerifyReport: Sendable {
    /// True when every block and segment header checks out (a torn tail does not make it false:
    /// it is what a crash leaves, and the next writer cuts it off).
    public var ok: Bool
    /// Segments opened (the one holding a corruption included).
    public var segments = 0
    /// Blocks that passed every check, and the records in them.
    public var blocks = 0
    public var records: UInt64 = 0
    public var firstSequence: UInt64 = 0
    public var lastSequence: UInt64 = 0
    /// Sequences of the records that passed every check (0 and 0 when none did).
    public var chainHead = Digest32.zero
    /// The raw payload bytes checked.
    public var rawBytes: Int = 0
    public var tornTail: (segment: String, offset: Int, bytes: Int)? = nil
    /// The sequence the journal's durable mark says was synced (nil without a mark): the valid
    /// blocks must reach it.
    public var durableMark: UInt64? = nil
    /// The first corruption found; checking stops there.
    public var error: JournalError? = nil
}

public enum JournalVerifier {
    /// Checks every segment header, every block (CRC-32C, decompression, framing, chain hash)
    /// and the links between segments (index, first sequence, carried chain hash), in order.
    /// Corruption stops the check and is returned in `error`; nothing is modified.
    public static func verify(directory: String, storage: any Storage = PosixStorage.shared) throws(JournalError) -> VerifyReport {
        var report = VerifyReport(ok: true)
        let segments = try SegmentCatalog.list(directory, storage: storage)
        let decoder = BlockDecoder()
        var sequence: UInt64 = 0
        var chain = Digest32.zero
        var previousIndex: UInt64 = 0
        // Read before the blocks: a live writer stores a mark only after the blocks it covers.
        let mark = try DurableMark.read(directory: directory, storage: storage)?.mark
        report.durableMark = mark?.sequence
        do throws(JournalError) {
            for (i, file) in segments.enumerated() {
                let segment = try SegmentMap(file, storage: storage)
                let h = segment.header
                if i == 0 {
                    // The first segment kept anchors the chain (earlier ones may be retired).
                    sequence = h.firstSequence
                    chain = h.previousChain
                    report.firstSequence = h.firstSequence
                } else {
                    if h.segmentIndex != previousIndex + 1 {
                        throw segment.corrupt(0, sequence, "segment index \(h.segmentIndex) does not follow \(previousIndex)")
                    }
                    if h.firstSequence != sequence {
                        throw segment.corrupt(0, sequence, "segment starts at \(h.firstSequence), expected \(sequence)")
                    }
                    if h.previousChain != chain {
                        throw segment.corrupt(0, sequence, "carried chain hash differs from the previous segment's last block")
                    }
                }
                previousIndex = h.segmentIndex
                report.segments += 1
                // Kept up to date block by block, so that a corruption found later in this
                // segment still reports what was checked before it.
                let walked = try segment.walk(from: sequence, chain: chain, decoder: decoder) { block, _ in
                    report.blocks += 1
                    report.records += UInt64(block.header.recordCount)
                    report.rawBytes += block.raw.count
                    sequence = block.header.firstSequence + UInt64(block.header.recordCount)
                    chain = block.header.chain
                }
                sequence = walked.nextSequence
                chain = walked.chain
                if case let .torn(offset, bytes, _) = walked.end {
                    if i + 1 < segments.count {
                        throw segment.corrupt(offset, sequence, "unreadable bytes after the last block of a segment that has a successor")
                    }
                    report.tornTail = (file.name, offset, bytes)
                }
            }
            if let mark, mark.sequence > (sequence == 0 ? 0 : sequence - 1) {
                let name = segments.last?.name ?? DurableMark.fileName
                throw JournalError.corrupt(segment: name, offset: report.tornTail?.offset ?? 0, sequence: sequence,
                                           reason: DurableMark.shortfall(validThrough: sequence == 0 ? 0 : sequence - 1, marked: mark.sequence))
            }
        } catch {
            report.ok = false
            report.error = error
        }
        report.lastSequence = sequence == 0 ? 0 : sequence - 1
        if report.records == 0 { report.firstSequence = 0 }
        report.chainHead = chain
        return report
    }
}

/// Sizes and ranges of a journal, read from block headers (payloads are not opened).
public struct JournalInfo: Sendable {
    /// Segments opened (the one holding a corruption included).
    public var segments = 0
    /// Blocks that passed every check, and the records in them.
    public var blocks = 0
    public var compressedBlocks = 0
    public var records: UInt64 = 0
    public var firstSequence: UInt64 = 0
    public var lastSequence: UInt64 = 0
    public var firstTimestampNs: Int64? = nil
    public var lastTimestampNs: Int64? = nil
    /// Raw block payloads: records with their framing, before compression.
    public var rawBytes: Int = 0
    /// What the journal takes on disk apart from preallocated free space: segment headers,
    /// block headers and stored payloads.
    public var storedBytes: Int = 0
    /// The segment files' sizes (preallocated).
    public var allocatedBytes: Int = 0

    public var bytesPerRecord: Double { records == 0 ? 0 : Double(storedBytes) / Double(records) }
    public var compressionRatio: Double { storedBytes == 0 ? 0 : Double(rawBytes) / Double(storedBytes) }

    /// Walks the block headers of every segment (through the index, CRC-checked).
    public static func read(directory: String, storage: any Storage = PosixStorage.shared) throws(JournalError) -> JournalInfo {
        var info = JournalInfo()
        let decoder = BlockDecoder()
        let segments = try SegmentCatalog.list(directory, storage: storage)
        for (i, file) in segments.enumerated() {
            let segment = try SegmentMap(file, storage: storage)
            if info.segments == 0 { info.firstSequence = file.firstSequence }
            info.segments += 1
            info.allocatedBytes += segment.bytes.count
            info.storedBytes += SegmentHeader.size
            let index = SegmentIndex.load(for: segment, decoder: decoder)
            for (k, offset) in index.offsets.enumerated() {
                // The index is a cache: the header it points to is checked like any other, and
                // a damaged one is reported where it is, as verify does.
                let h: BlockHeader
                switch decoder.header(in: segment.bytes, at: offset, expectedSequence: index.firstSequences[k],
                                      checkingCRC: false) {
                case let .success(header): h = header
                case let .failure(fault):
                    throw segment.corrupt(offset, index.firstSequences[k], "block header: \(fault.reason)")
                }
                info.blocks += 1
                info.compressedBlocks += h.isCompressed ? 1 : 0
                info.records += UInt64(h.recordCount)
                info.rawBytes += Int(h.rawBytes)
                info.storedBytes += h.totalBytes
                info.lastSequence = h.lastSequence
                if info.firstTimestampNs == nil { info.firstTimestampNs = h.firstTimestampNs }
                info.lastTimestampNs = h.lastTimestampNs
            }
            // A segment with a successor holds every record up to the successor's first: where
            // its blocks stop short, the next bytes are damaged, as verify would say.
            let next = index.count > 0 ? info.lastSequence + 1 : file.firstSequence
            if i + 1 < segments.count, segments[i + 1].firstSequence != next {
                let reason: String
                if case let .failure(fault) = decoder.checkedHeader(in: segment.bytes, at: index.endOffset) {
                    reason = fault.reason
                } else {
                    reason = "the next segment starts at \(segments[i + 1].firstSequence)"
                }
                throw segment.corrupt(index.endOffset, next, reason + " in a segment that has a successor")
            }
        }
        if info.records == 0 { info.firstSequence = 0 }
        return info
    }
}
