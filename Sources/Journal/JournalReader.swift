#if canImport(Glibc)
import Glibc
import _Posix
#endif

/// One record as the reader hands it out. `bytes` points into the reader's buffers and is valid
/// only until the closure it was passed to returns; copy it (`Array(record.bytes)`) to keep it.
public struct JournalRecord {
    @usableFromInline
    init(sequence: UInt64, timestampNs: Int64, bytes: UnsafeRawBufferPointer) {
        self.sequence = sequence
        self.timestampNs = timestampNs
        self.bytes = bytes
    }

    public var sequence: UInt64
    public var timestampNs: Int64
    public var bytes: UnsafeRawBufferPointer
}

/// Reads records in sequence order from any sequence number, checking every block it opens
/// (CRC-32C, decompression, framing and, unless disabled, the chain hash). It takes no lock and
/// can read a journal that a writer in another process is appending to: `waitForData` then
/// tells when more has arrived (follow mode).
///
/// A torn tail at the end of the last segment (a writer that crashed mid-block and has not been
/// reopened) reads as the end of the journal, and is reported in `tornTail` when the torn block
/// got as far as its magic (without it, it is indistinguishable from a block not written yet,
/// which is what a follower must wait for); any other damage is a `JournalError.corrupt`
/// naming segment, offset and sequence.
public final class JournalReader {
    public let directory: String
    public let verifiesChain: Bool
    public let storage: any Storage
    /// Set when reading stopped at a torn tail: (segment name, byte offset).
    public private(set) var tornTail: (segment: String, offset: Int)?

    private var segments: [SegmentFile] = []
    private var position = 0
    private var current: SegmentMap?
    private var offset = 0
    /// The sequence the next block must start at.
    private var blockSequence: UInt64 = 0
    /// The chain hash before the block at `offset`.
    private var chain = Digest32.zero
    /// The records of the current block; `hasCursor` says whether there is one.
    private var cursor = RecordCursor(raw: UnsafeRawBufferPointer(start: nil, count: 0), firstTimestampNs: 0)
    private var hasCursor = false
    private var cursorSequence: UInt64 = 0
    /// The chain hash after the block the last record handed out came from (zero before one).
    public private(set) var chainOfCurrentBlock = Digest32.zero
    /// Records below this are skipped (a seek into the middle of a block).
    private var skipBelow: UInt64 = 0
    private let decoder = BlockDecoder()

    // Read-ahead: while the caller takes the records of block k, the worker thread checks the
    // CRC and computes the chain hash of blocks k+1 and k+2. Decompression and framing (into
    // each block's own buffer) go to whichever thread is free: when the worker has finished
    // what it was given (the caller is the slower side, as in a replay that applies every
    // record), it decompresses too and the caller checks only the header, which says where the
    // next block starts; when it is still busy (a bare read, where SHA-256 is the longer
    // task), the caller decompresses. Either way a block's records are handed out only after
    // all its checks have passed, and a fault is the same fault; an error found ahead is
    // thrown when the reader gets there. Without the chain check there is no worker, and the
    // caller does it all.
    private struct Ahead {
        /// Its raw payload is known once checked (the worker expands it into `decoder`).
        var block: BlockDecoder.Block
        var segment: SegmentMap
        var offset: Int
        var previousChain: Digest32
        var decoder: BlockDecoder
        /// Decompressed and framed by the caller (else the worker does it).
        var isExpanded: Bool
    }
    private let buffers = (0...HashWorker.capacity).map { _ in BlockDecoder() }
    private var nextBuffer = 0
    /// Decoded blocks whose checks are queued on the worker, oldest first (a ring).
    private var flights = [Ahead?](repeating: nil, count: HashWorker.capacity)
    private var flightHead = 0
    private var flightCount = 0
    private var aheadError: JournalError?
    /// The segment whose block the cursor reads (kept mapped while records point into it).
    private var cursorSegment: SegmentMap?
    private let hashWorker: HashWorker?

    /// Opens a journal directory for reading, positioned at its first record.
    /// - Parameter verifyChain: check each block's chain hash (SHA-256) too; CRC and framing
    ///   are always checked.
    public init(directory: String, verifyChain: Bool = true, storage: any Storage = PosixStorage.shared) throws(JournalError) {
        self.directory = directory
        self.storage = storage
        self.verifiesChain = verifyChain
        hashWorker = verifyChain ? HashWorker() : nil
        guard storage.isDirectory(directory) else {
            throw JournalError.io(operation: "open journal", path: directory, errno: ENOENT)
        }
        // The mark first: a live writer stores it only after the blocks it covers.
        durableMark = try DurableMark.read(directory: directory, storage: storage)?.mark.sequence ?? 0
        segments = try SegmentCatalog.list(directory, storage: storage)
        if let first = segments.first { try open(position: 0, sequence: first.firstSequence) }
    }

    /// What the journal's durable mark said when the reader opened: its blocks must reach it,
    /// so a torn tail or a missing block at or below it is corruption, not the end.
    private let durableMark: UInt64

    deinit { hashWorker?.shutdown() }

    /// The first sequence the journal still holds (nil when it is empty).
    public var firstSequence: UInt64? { segments.first?.firstSequence }

    /// The sequence of the record `next` returns next.
    public var nextSequence: UInt64 {
        if hasCursor { return max(cursorSequence, skipBelow) }
        if flightCount > 0 { return max(flights[flightHead]!.block.header.firstSequence, skipBelow) }
        return max(blockSequence, skipBelow)
    }

    /// Positions the reader so that `next` returns `sequence` (or waits for it, when it is
    /// beyond the end).
    /// - Throws: `.sequenceUnavailable` for a sequence below the first segment kept.
    public func seek(to sequence: UInt64) throws(JournalError) {
        segments = try SegmentCatalog.list(directory, storage: storage)
        guard let first = segments.first, sequence >= first.firstSequence else {
            throw JournalError.sequenceUnavailable(
                requested: sequence, first: segments.first?.firstSequence ?? 1, last: 0)
        }
        let at = SegmentCatalog.position(of: sequence, in: segments)!
        try open(position: at, sequence: sequence)
    }

    /// Positions the reader at the first block that may hold records at or after `timestampNs`
    /// (by the blocks' first timestamps in the index; records come back from there).
    public func seek(toTimestamp timestampNs: Int64) throws(JournalError) {
        segments = try SegmentCatalog.list(directory, storage: storage)
        guard !segments.isEmpty else { return }
        // The last segment whose first block starts before the time.
        var at = 0
        for i in 1..<max(1, segments.count) {
            let segment = try SegmentMap(segments[i], storage: storage)
            let index = SegmentIndex.load(for: segment, decoder: decoder)
            guard let start = index.firstTimestamps.first, start < timestampNs else { break }
            at = i
        }
        let segment = try SegmentMap(segments[at], storage: storage)
        let index = SegmentIndex.load(for: segment, decoder: decoder)
        let entry = index.entry(atOrBefore: timestampNs)
        try open(position: at, sequence: entry.map { index.firstSequences[$0] } ?? segments[at].firstSequence)
    }

    /// Calls `body` with the next record and returns what it returns; nil at the end of what
    /// has been written so far.
    @inlinable
    public func next<R>(_ body: (JournalRecord) throws -> R) throws -> R? {
        guard let record = try nextView() else { return nil }
        return try body(record)
    }

    /// The next record without a copy: its `bytes` point into the reader's buffers and stay
    /// valid only until the next call on this reader. Nil at the end of what is written so far.
    public func nextView() throws(JournalError) -> JournalRecord? {
        while true {
            if hasCursor, let bytes = cursor.next() {
                let sequence = cursorSequence
                cursorSequence += 1
                if sequence < skipBelow { continue }
                return JournalRecord(sequence: sequence, timestampNs: cursor.timestampNs, bytes: bytes)
            }
            hasCursor = false
            guard try loadNextBlock() else { return nil }
        }
    }

    /// The next record, copied.
    public func nextRecord() throws -> (sequence: UInt64, timestampNs: Int64, bytes: [UInt8])? {
        try next { ($0.sequence, $0.timestampNs, Array($0.bytes)) }
    }

    /// Waits until a record after the current position may be there, polling the shared map
    /// (stores through another process's map raise no file events) with a back-off from 20 µs
    /// to 2 ms.
    /// - Returns: true when there is something new, false when `timeoutNs` passed first.
    public func waitForData(timeoutNs: Int64) throws(JournalError) -> Bool {
        let deadline = monotonicNs() + timeoutNs
        var pauseNs: Int64 = 20_000
        while true {
            if try hasData() { return true }
            let now = monotonicNs()
            if now >= deadline { return false }
            var pause = timespec(tv_sec: 0, tv_nsec: Int(min(pauseNs, deadline - now)))
            nanosleep(&pause, nil)
            pauseNs = min(pauseNs * 2, 2_000_000)
        }
    }

    // MARK: - Blocks

    private func hasData() throws(JournalError) -> Bool {
        if hasCursor || flightCount > 0 || aheadError != nil { return true }
        if let current {
            let bytes = current.bytes
            if offset + 4 <= bytes.count && bytes.baseAddress!.loadLE(offset, as: UInt32.self) != 0 {
                tornTail = nil
                return true
            }
        }
        let listed = try SegmentCatalog.list(directory, storage: storage)
        if current == nil, let first = listed.first {
            segments = listed
            try open(position: 0, sequence: first.firstSequence)
            return true
        }
        // A segment after the current one means the current one is complete.
        guard let current, let newest = listed.last else { return false }
        return newest.firstSequence > current.file.firstSequence
    }

    /// Maps segment `position`, finds the block holding `sequence` through the index, and
    /// takes the chain hash before it from the block before it (or the segment header).
    private func open(position: Int, sequence: UInt64) throws(JournalError) {
        let segment = try SegmentMap(segments[position], storage: storage)
        let index = SegmentIndex.load(for: segment, decoder: decoder)
        segment.map.prefault(0..<index.endOffset, forWriting: false)
        dropFlights()
        aheadError = nil
        self.position = position
        current = segment
        hasCursor = false
        cursorSegment = nil
        tornTail = nil
        skipBelow = sequence
        if let entry = index.entry(holding: sequence) {
            offset = index.offsets[entry]
            blockSequence = index.firstSequences[entry]
            if entry == 0 {
                chain = segment.header.previousChain
            } else {
                // The chain before the block comes from the header of the block before it,
                // checked as any header is (the index only points at it).
                let before = index.offsets[entry - 1]
                switch decoder.header(in: segment.bytes, at: before, expectedSequence: index.firstSequences[entry - 1],
                                      checkingCRC: true) {
                case let .success(header): chain = header.chain
                case let .failure(fault):
                    throw segment.corrupt(before, index.firstSequences[entry - 1], "block header: \(fault.reason)")
                }
            }
        } else {
            offset = SegmentHeader.size
            blockSequence = segment.header.firstSequence
            chain = segment.header.previousChain
        }
    }

    /// Makes the next block current once its CRC and chain hash check out, keeping the
    /// worker busy. False at the end of the journal (so far).
    private func loadNextBlock() throws(JournalError) -> Bool {
        refill()
        guard flightCount > 0 else {
            if let error = aheadError {
                aheadError = nil
                throw error
            }
            return false
        }
        let next = flights[flightHead]!
        flights[flightHead] = nil
        flightHead = (flightHead + 1) % flights.count
        flightCount -= 1
        var raw = next.block.raw
        if let hashWorker {
            switch hashWorker.waitChecked() {
            case let .success(checked) where checked.chain == next.block.header.chain: raw = checked.raw
            case .success:
                dropFlights()
                throw next.segment.corrupt(next.offset, next.block.header.firstSequence,
                                           BlockDecoder.Fault.chainMismatch.reason)
            case let .failure(fault):
                // A block failing a check the worker made (CRC, decompression, framing):
                // classify it as the decoder would have (torn tail at the end, else corruption).
                return try handleDeferredFault(fault, at: next)
            }
        }
        // Queue the next block before handing out this one's records.
        refill()
        cursor = RecordCursor(raw: raw, firstTimestampNs: next.block.header.firstTimestampNs)
        hasCursor = true
        cursorSequence = next.block.header.firstSequence
        cursorSegment = next.segment
        chainOfCurrentBlock = next.block.header.chain
        return true
    }

    /// Decodes blocks ahead and queues their checks until the worker holds as many as it can.
    private func refill() {
        while flightCount < flights.count && aheadError == nil {
            do {
                guard let ahead = try decodeNext() else { return }
                let block = ahead.segment.bytes.baseAddress! + ahead.offset
                if ahead.isExpanded {
                    hashWorker?.submit(ahead.block.header, raw: ahead.block.raw, previous: ahead.previousChain,
                                       checking: block)
                } else {
                    hashWorker?.submitStored(ahead.block.header, block: block, previous: ahead.previousChain,
                                             into: ahead.decoder)
                }
                flights[(flightHead + flightCount) % flights.count] = ahead
                flightCount += 1
            } catch {
                aheadError = error
            }
        }
    }

    /// Forgets the blocks read ahead (their checks are waited for first).
    private func dropFlights() {
        hashWorker?.drain()
        for i in flights.indices { flights[i] = nil }
        flightHead = 0
        flightCount = 0
    }

    /// A block that failed a check the worker made: rewind to it and let the usual end-of-data
    /// rules decide (a torn tail is the end; anything else throws).
    private func handleDeferredFault(_ fault: BlockDecoder.Fault, at block: Ahead) throws(JournalError) -> Bool {
        dropFlights()
        aheadError = nil
        if let position = segments.firstIndex(where: { $0 == block.segment.file }) { self.position = position }
        current = block.segment
        offset = block.offset
        blockSequence = block.block.header.firstSequence
        chain = block.previousChain
        guard try moveToNextSegment(after: fault) else { return false }
        return try loadNextBlock()
    }

    /// The block at the current offset, checked as far as its header (with a worker, which
    /// does the rest) or fully and decompressed into the next free buffer (without); moving on
    /// to the next segment at the end of this one. Nil when there is no block yet.
    private func decodeNext() throws(JournalError) -> Ahead? {
        while let segment = current {
            let decoder = buffers[nextBuffer]
            var result: Result<BlockDecoder.Block, BlockDecoder.Fault>
            var expands = false
            if let hashWorker {
                // The CRC is the worker's; decompression too when it is idle.
                result = decoder.header(in: segment.bytes, at: offset, expectedSequence: blockSequence, checkingCRC: false)
                    .map { BlockDecoder.Block(header: $0, raw: UnsafeRawBufferPointer(start: nil, count: 0)) }
                if case let .success(block) = result, hashWorker.isBusy,
                   case let .success(raw) = decoder.expand(block.header, stored: BlockDecoder.payload(of: block.header, in: segment.bytes, at: offset),
                                                           previousChain: nil) {
                    // (A block that does not expand goes to the worker as stored: its CRC,
                    // checked first there, tells a torn tail from corruption.)
                    result = .success(BlockDecoder.Block(header: block.header, raw: raw))
                    expands = true
                }
            } else {
                expands = true
                result = decoder.decode(in: segment.bytes, at: offset, expectedSequence: blockSequence, previousChain: nil)
            }
            switch result {
            case let .success(block):
                let ahead = Ahead(block: block, segment: segment, offset: offset, previousChain: chain, decoder: decoder,
                                  isExpanded: expands)
                nextBuffer = (nextBuffer + 1) % buffers.count
                chain = block.header.chain
                offset += block.header.totalBytes
                blockSequence = block.header.lastSequence + 1
                tornTail = nil
                return ahead
            case let .failure(fault):
                guard try moveToNextSegment(after: fault) else { return nil }
            }
        }
        return nil
    }

    /// At a block that is not there (or not whole): the next segment when one follows, else
    /// the end of the journal; corruption otherwise.
    private func moveToNextSegment(after fault: BlockDecoder.Fault) throws(JournalError) -> Bool {
        let segment = current!
        switch fault {
        case .noBlock, .badHeader, .badChecksum: break
        default: throw segment.corrupt(offset, blockSequence, fault.reason)
        }
        if position + 1 >= segments.count {
            // Listed again, the segments may have moved: a writer that retires the journal's
            // first segments shortens the list. Find this one's place by its first sequence.
            segments = try SegmentCatalog.list(directory, storage: storage)
            position = (segments.lastIndex { $0.firstSequence <= segment.file.firstSequence } ?? -1)
        }
        guard position + 1 < segments.count else {
            // The last segment. Nothing there yet is the end so far: a live writer publishes a
            // block by storing its magic last, so no block is ever seen half-written. A damaged
            // block is a torn tail (the end, reported) unless valid blocks follow it.
            if fault != .noBlock {
                do {
                    if case .torn = try segment.classifyEnd(at: offset, fault: fault,
                                                            expectedSequence: blockSequence, decoder: decoder) {
                        tornTail = (segment.file.name, offset)
                    }
                } catch {
                    // A writer recovering the tail may have replaced it meanwhile: look again once.
                    if case .success = decoder.checkedHeader(in: segment.bytes, at: offset) { return true }
                    throw error
                }
            }
            if blockSequence <= durableMark {
                throw segment.corrupt(offset, blockSequence,
                                      "\(fault.reason): " + DurableMark.shortfall(validThrough: blockSequence - 1, marked: durableMark))
            }
            return false
        }
        // A later segment exists, so this one is complete: a block appearing here now would
        // have been written before the next segment was created, and is read first.
        if fault == .noBlock, case .success = decoder.checkedHeader(in: segment.bytes, at: offset) {
            return true
        }
        if case .torn = try segment.classifyEnd(at: offset, fault: fault,
                                                expectedSequence: blockSequence, decoder: decoder) {
            throw segment.corrupt(offset, blockSequence, "\(fault.reason) in a segment that has a successor")
        }
        let next = try SegmentMap(segments[position + 1], storage: storage)
        guard next.header.firstSequence == blockSequence else {
            throw next.corrupt(0, blockSequence,
                               "segment starts at \(next.header.firstSequence), expected \(blockSequence)")
        }
        guard next.header.segmentIndex == segment.header.segmentIndex + 1 else {
            throw next.corrupt(0, blockSequence, "segment index \(next.header.segmentIndex) does not follow \(segment.header.segmentIndex)")
        }
        if verifiesChain && next.header.previousChain != chain {
            throw next.corrupt(0, blockSequence, "carried chain hash differs from the previous segment's last block")
        }
        position += 1
        current = next
        offset = SegmentHeader.size
        return true
    }
}
