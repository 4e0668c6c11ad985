#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import _Posix

/// Appends records to a journal directory; the only writer (it holds `LOCK`).
///
/// Records collect in an in-memory block (group commit). A block is written into the active
/// segment's memory map when it reaches `blockBytesMax` raw bytes or `blockRecordsMax` records,
/// or on `flush()`. Sequence numbers start at 1 and are assigned by `append`.
///
/// Three sequence marks tell a caller what it may acknowledge:
/// - `lastSequence`: appended (maybe still in memory);
/// - `writtenSequence`: in the map, so in the page cache: survives a crash of this process;
/// - `durableSequence`: synced to disk: survives a power cut.
/// With `.always` every block is synced before the call that wrote it returns, so a caller that
/// appends a batch and then calls `flush()` may acknowledge the whole batch when it returns.
public final class JournalWriter {
    public let directory: String
    public let options: JournalOptions
    /// What opening the journal found (and cut off).
    public let recovery: RecoveryReport

    public private(set) var lastSequence: UInt64
    public private(set) var writtenSequence: UInt64
    public private(set) var durableSequence: UInt64
    /// The chain hash of the last written block (the segment's carried hash before any block).
    public private(set) var chainHead: Digest32
    public private(set) var segments: [SegmentFile]

    private let lock: any StoredFile
    private let clock: any TimeSource
    /// Where the files are (the file system, or a simulation's memory).
    public let storage: any Storage
    private var active: ActiveSegment?
    private var block: BlockBuilder
    private let compressed: UnsafeMutableRawBufferPointer
    private let headerScratch = UnsafeMutableRawBufferPointer.allocate(byteCount: BlockHeader.size, alignment: 8)
    private let decoder = BlockDecoder()
    private let hashWorker = HashWorker()
    private var lastSyncNs: Int64
    /// Set by a failed sync: after an fsync error the state of the disk is unknown, so the
    /// writer refuses to go on rather than acknowledge anything more.
    private var failure: JournalError?
    private var isClosed = false
    /// Where the durable mark is kept (see `DurableMark`).
    private let marks: DurableMarkFile
    /// What the journal's records are: its first segment's kind, or for a new journal the
    /// options' (every segment this writer creates carries it).
    public private(set) var recordKind: RecordKind = .unspecified

    /// Opens (creating it if missing) a journal directory for appending, after recovering its
    /// last segment.
    /// - Parameters:
    ///   - directory: the journal directory.
    ///   - options: limits and durability; checked before anything is touched.
    ///   - clock: time for the `interval` policy.
    ///   - storage: where the files are.
    ///   - syncedAtLeast: a sequence known from elsewhere to have been synced (a node's newest
    ///     snapshot: it applied only synced records), named in errors as `syncedEvidence`;
    ///     recovery holds the journal to it as to the durable mark.
    /// - Throws: `JournalError.locked` when another writer has it, `.readOnly`, `.corrupt` for
    ///   damage that is not a torn tail, `.invalidOptions`.
    public init(directory: String, options: JournalOptions = JournalOptions(),
                clock: any TimeSource = SystemTime.shared, storage: any Storage = PosixStorage.shared,
                syncedAtLeast: UInt64 = 0, syncedEvidence: String = "") throws(JournalError) {
        try options.validate()
        try storage.createDirectory(directory)
        let lock = try storage.open(StoragePath.join(directory, SegmentCatalog.lockName), .create)
        guard try lock.tryLock() else {
            lock.close()
            throw JournalError.locked(path: lock.path)
        }
        self.directory = directory
        self.options = options
        self.lock = lock
        self.storage = storage
        do { marks = try DurableMarkFile(directory: directory, storage: storage) } catch {
            lock.close()
            throw error
        }
        self.clock = clock
        block = BlockBuilder(capacity: options.blockRawMax)
        compressed = .allocate(byteCount: LZ4.compressBound(options.blockRawMax), alignment: 16)
        lastSyncNs = clock.monotonicNs()
        do throws(JournalError) {
            var report = RecoveryReport()
            report.temporaryFilesRemoved = try Self.removeTemporaryFiles(directory, storage: storage)
            segments = try SegmentCatalog.list(directory, storage: storage)
            report.segments = segments.count
            // What the journal must hold: the mark, or what the caller knows was synced.
            let durableThrough = max(marks.sequence, syncedAtLeast)
            let evidence = syncedAtLeast > marks.sequence ? syncedEvidence : "the DURABLE mark"
            if let last = segments.last {
                let recovered = try JournalRecovery.recover(last, storage: storage, decoder: decoder, durableThrough: durableThrough,
                                                            evidence: evidence,
                                                            acceptingLoss: options.acceptDataLoss, report: &report)
                let kind = recovered.segment.header.recordKind
                if let wanted = options.recordKind, kind != .unspecified, kind != wanted {
                    recovered.map.unmap()
                    throw JournalError.wrongRecordKind(path: directory, journal: kind, writer: wanted)
                }
                recordKind = kind
                active = recovered
                chainHead = recovered.chainHead
                lastSequence = recovered.nextSequence - 1
            } else {
                if durableThrough > 0 && !options.acceptDataLoss {
                    throw JournalError.corrupt(segment: DurableMark.fileName, offset: 0, sequence: 1,
                                               reason: DurableMark.shortfall(validThrough: 0, marked: durableThrough, by: evidence) + ": the journal has no segment")
                }
                report.acknowledgedRecordsLost = durableThrough
                chainHead = .zero
                lastSequence = 0
                recordKind = options.recordKind ?? .unspecified
            }
            if report.acknowledgedRecordsLost > 0 {
                // The loss was accepted: the mark comes down to what the journal holds.
                try marks.write(sequence: lastSequence, chain: chainHead)
            }
            report.lastSequence = lastSequence
            recovery = report
        } catch {
            marks.close()
            lock.close()
            hashWorker.shutdown()
            throw error
        }
        writtenSequence = lastSequence
        durableSequence = lastSequence
    }

    deinit {
        if !isClosed { try? close() }
        compressed.deallocate()
        headerScratch.deallocate()
        block.deallocate()
    }

    /// Appends one record and returns its sequence number. It may write the previous block
    /// (group commit) and, with `.always`, sync it before returning.
    /// - Parameters:
    ///   - record: the record's bytes, at most `recordBytesMax`.
    ///   - timestampNs: the record's time (nanoseconds); the journal only stores it.
    /// - Throws: `.recordTooLarge` (nothing appended), or an error from writing the previous
    ///   block (then this record was not appended either).
    @discardableResult
    public func append(_ record: UnsafeRawBufferPointer, timestampNs: Int64) throws(JournalError) -> UInt64 {
        try checkUsable()
        guard record.count <= options.recordBytesMax else {
            throw JournalError.recordTooLarge(bytes: record.count, limit: options.recordBytesMax)
        }
        if block.count > 0 && (block.count == options.blockRecordsMax
            || block.rawCount + block.framedSize(record.count, timestampNs: timestampNs) > options.blockBytesMax) {
            try writeBlock()
        }
        lastSequence += 1
        block.append(record, timestampNs: timestampNs, sequence: lastSequence)
        if case let .interval(ms) = options.durability,
           clock.monotonicNs() - lastSyncNs >= Int64(ms) * 1_000_000 {
            try writeBlock()
            try sync()
        }
        return lastSequence
    }

    @discardableResult
    public func append(_ record: [UInt8], timestampNs: Int64) throws(JournalError) -> UInt64 {
        let result = record.withUnsafeBytes { raw in
            Result { () throws(JournalError) -> UInt64 in try append(raw, timestampNs: timestampNs) }
        }
        return try result.get()
    }

    /// Writes the open block into the map and syncs as the policy says.
    /// - Returns: `durableSequence` afterwards.
    @discardableResult
    public func flush() throws(JournalError) -> UInt64 {
        try checkUsable()
        try writeBlock()
        if case let .interval(ms) = options.durability,
           clock.monotonicNs() - lastSyncNs >= Int64(ms) * 1_000_000 {
            try sync()
        }
        return durableSequence
    }

    /// Syncs if the `interval` policy is due (a node calls this from a timer).
    public func syncIfDue() throws(JournalError) {
        guard case let .interval(ms) = options.durability,
              clock.monotonicNs() - lastSyncNs >= Int64(ms) * 1_000_000 else { return }
        try writeBlock()
        try sync()
    }

    /// Writes the open block and syncs everything written, whatever the policy.
    @discardableResult
    public func sync() throws(JournalError) -> UInt64 {
        try checkUsable()
        try writeBlock()
        try syncWritten()
        return durableSequence
    }

    /// The sequence the journal's durable mark holds (0 without one).
    public var markedSequence: UInt64 { marks.sequence }

    /// Syncs what was written and records the durable point in the journal's mark (one more
    /// small write and fsync, skipped when the mark is already there). Call it when the writer
    /// goes idle after acknowledging: under load the blocks' own syncs are all there is, and
    /// the mark catches up at the next pause or on close.
    public func markDurable() throws(JournalError) {
        try sync()
        guard durableSequence > marks.sequence else { return }
        do {
            try marks.write(sequence: durableSequence, chain: chainHead)
        } catch {
            failure = error
            throw error
        }
    }

    /// Syncs what is in the map (not the open block).
    private func syncWritten() throws(JournalError) {
        if let active {
            do {
                try active.map.sync(active.syncedOffset..<active.writeOffset)
            } catch {
                failure = error
                throw error
            }
            active.syncedOffset = active.writeOffset
        }
        durableSequence = writtenSequence
        lastSyncNs = clock.monotonicNs()
    }

    /// Flushes, syncs, saves the active segment's index and releases the lock.
    public func close() throws(JournalError) {
        guard !isClosed else { return }
        defer {
            isClosed = true
            active?.map.unmap()
            active = nil
            marks.close()
            lock.close()
            hashWorker.shutdown()
        }
        if failure == nil { try markDurable() }
        if let active { active.saveIndex() }
    }

    /// Lets go of the journal as a crash of this process would: the open block is dropped,
    /// nothing is written or synced, the lock and the maps are released (a simulation's crash;
    /// a writer that is simply dropped closes properly instead).
    public func abandon() {
        guard !isClosed else { return }
        isClosed = true
        block.reset()
        active?.map.unmap()
        active = nil
        marks.close()
        lock.close()
        hashWorker.shutdown()
    }

    /// Removes (or moves into `archive`) every segment that holds only records below
    /// `sequence`; the active segment always stays.
    /// - Returns: the segment files removed or moved.
    @discardableResult
    public func removeSegments(below sequence: UInt64, movingTo archive: String? = nil) throws(JournalError) -> [SegmentFile] {
        try checkUsable()
        if let archive { try storage.createDirectory(archive) }
        var removed: [SegmentFile] = []
        while segments.count > 1 && segments[1].firstSequence <= sequence {
            let segment = segments.removeFirst()
            if let archive {
                try storage.rename(segment.path, StoragePath.join(archive, segment.name))
            } else {
                try storage.remove(segment.path)
            }
            try storage.remove(segment.indexPath)
            removed.append(segment)
        }
        if !removed.isEmpty { try storage.syncDirectory(directory) }
        return removed
    }

    // MARK: - Replicas

    /// Starts the next segment with another journal's segment header, as that journal's writer
    /// made it (a replica following its primary): same size, index, first sequence, carried
    /// chain hash and record kind, so the segment comes out byte for byte the same. The segment
    /// before is synced first, as at any roll.
    /// The header of the segment this journal ends in changes nothing (a sender starts every
    /// stream with the header of the segment it continues in); the header of the segment
    /// before an empty last segment makes that one active again and removes the empty one.
    /// - Throws: `.notOnChain` when the header does not continue this journal (its first
    ///   sequence, index or carried hash), `.corrupt` when it fails its own checks.
    public func startSegment(_ bytes: [UInt8]) throws(JournalError) {
        try checkUsable()
        precondition(block.count == 0, "a replica's writer appends stored blocks only")
        let decoded = bytes.count == SegmentHeader.size
            ? bytes.withUnsafeBytes { SegmentHeader.decode($0.baseAddress!) } : .failure(.badSize)
        guard case let .success(header) = decoded else {
            throw .corrupt(segment: "(received segment header)", offset: 0, sequence: lastSequence + 1,
                           reason: "segment header: \(decoded)")
        }
        if let active, active.header == header {
            // The segment the stream continues in (a sender says it at every connection).
            return
        }
        if let active, active.writeOffset == SegmentHeader.size, segments.count >= 2, header.segmentIndex + 1 == active.header.segmentIndex,
           header.firstSequence == segments[segments.count - 2].firstSequence {
            // This journal's last segment is empty, made on another sender's word (which never
            // sent a block for it): this sender continues in the segment before. The empty
            // one goes.
            let previous = try SegmentMap(segments[segments.count - 2], storage: storage, writable: true)
            guard previous.header == header else {
                previous.map.unmap()
                throw .notOnChain(sequence: lastSequence, reason: "the segment from \(header.firstSequence) differs from this journal's")
            }
            let index = SegmentIndex.load(for: previous, decoder: decoder)
            active.map.unmap()
            try storage.remove(active.segment.file.path)
            try? storage.remove(active.segment.file.indexPath)
            try storage.syncDirectory(directory)
            segments.removeLast()
            self.active = ActiveSegment(segment: previous, writeOffset: index.endOffset, chainHead: chainHead,
                                        nextSequence: lastSequence + 1, index: index)
            return
        }
        let expectedIndex = active.map { $0.header.segmentIndex + 1 } ?? (segments.isEmpty ? 0 : nil)
        guard header.firstSequence == lastSequence + 1, header.previousChain == chainHead,
              expectedIndex == nil || header.segmentIndex == expectedIndex! else {
            let mine = active.map { "its last segment is index \($0.header.segmentIndex) from \($0.header.firstSequence), \($0.writeOffset) bytes used" }
                ?? "it has no segment"
            throw .notOnChain(sequence: lastSequence,
                              reason: "a segment starting at \(header.firstSequence) (index \(header.segmentIndex)) does not follow this journal's end (\(mine))")
        }
        guard Int(header.segmentBytes) >= SegmentHeader.size + BlockHeader.size + 2,
              header.segmentBytes <= UInt64(JournalOptions.blockRawCeiling) * 2 else {
            throw .corrupt(segment: "(received segment header)", offset: 32, sequence: header.firstSequence,
                           reason: "segment size \(header.segmentBytes) is out of range")
        }
        if recordKind == .unspecified { recordKind = header.recordKind }
        if let active {
            try syncWritten()
            active.saveIndex()
        }
        let file = SegmentFile(firstSequence: header.firstSequence,
                               path: StoragePath.join(directory, SegmentCatalog.name(header.firstSequence)))
        try Self.createSegment(file, header: header, directory: directory, storage: storage)
        let mapped = try SegmentMap(file, storage: storage, writable: true)
        active?.map.unmap()
        active = ActiveSegment(segment: mapped, writeOffset: SegmentHeader.size,
                               chainHead: chainHead, nextSequence: header.firstSequence)
        segments.append(file)
    }

    /// Appends a block exactly as another journal's writer stored it (header and stored
    /// payload: a replica following its primary), after checking all of it as a reader would:
    /// header, CRC, that it starts right after this journal's last record, decompression, the
    /// chain hash from this journal's head, and the record framing. `records` sees each record
    /// before anything is written; if it throws, nothing is. The block goes where the next
    /// block of the active segment goes, so the segments stay byte-identical to the sender's.
    /// - Returns: the block's header.
    /// - Throws: `.corrupt` for a block that fails a check, `.notOnChain` for a valid block that
    ///   does not continue this journal, `.invalidOptions` when it does not fit in the active
    ///   segment (the sender starts a segment first: `startSegment`); what `records` throws.
    /// - Parameter syncing: sync as the policy says (false: the caller syncs after a group of
    ///   blocks, `sync()`, as a replica does with what one step received).
    @discardableResult
    public func appendStored(_ bytes: UnsafeRawBufferPointer, syncing: Bool = true,
                             records: (_ sequence: UInt64, _ timestampNs: Int64, _ record: UnsafeRawBufferPointer) throws -> Void) throws -> BlockHeader {
        try checkUsable()
        precondition(block.count == 0, "a replica's writer appends stored blocks only")
        let next = lastSequence + 1
        func corrupt(_ reason: String) -> JournalError {
            .corrupt(segment: "(received block)", offset: 0, sequence: next, reason: reason)
        }
        guard bytes.count >= BlockHeader.size else { throw corrupt("\(bytes.count) bytes are no block") }
        let header: BlockHeader
        switch decoder.header(in: bytes, at: 0, expectedSequence: nil, checkingCRC: true) {
        case let .success(h): header = h
        case let .failure(fault): throw corrupt(fault.reason)
        }
        guard header.totalBytes == bytes.count else { throw corrupt("the block takes \(header.totalBytes) bytes, \(bytes.count) received") }
        guard header.firstSequence == next else {
            throw JournalError.notOnChain(sequence: lastSequence, reason: "a block starting at \(header.firstSequence) does not follow this journal's end")
        }
        let stored = BlockDecoder.payload(of: header, in: bytes, at: 0)
        let raw: UnsafeRawBufferPointer
        switch decoder.expand(header, stored: stored, previousChain: chainHead) {
        case let .success(r): raw = r
        case .failure(.chainMismatch):
            throw JournalError.notOnChain(sequence: lastSequence, reason: "the block \(header.firstSequence)...\(header.lastSequence) does not chain from this journal's head \(chainHead.hex)")
        case let .failure(fault): throw corrupt(fault.reason)
        }
        var cursor = RecordCursor(raw: raw, firstTimestampNs: header.firstTimestampNs)
        var sequence = header.firstSequence
        while let record = cursor.next() {
            try records(sequence, cursor.timestampNs, record)
            sequence += 1
        }
        guard let segment = active, segment.writeOffset + bytes.count <= segment.map.count else {
            throw JournalError.invalidOptions("the block \(header.firstSequence)...\(header.lastSequence) does not fit in the active segment; its sender starts a new segment first")
        }
        if segment.writeOffset + bytes.count > segment.prefaultedOffset {
            let end = min(segment.map.count, segment.writeOffset + bytes.count + ActiveSegment.prefaultBytes)
            segment.map.prefault(segment.prefaultedOffset..<end, forWriting: true)
            segment.prefaultedOffset = end
        }
        let target = segment.map.base! + segment.writeOffset
        (target + 4).copyMemory(from: bytes.baseAddress! + 4, byteCount: bytes.count - 4)
        atomicMemoryFence(ordering: .releasing)
        target.storeLE(BlockHeader.magic, 0)
        segment.index.append(header, at: segment.writeOffset)
        segment.writeOffset += bytes.count
        chainHead = header.chain
        lastSequence = header.lastSequence
        writtenSequence = header.lastSequence
        guard syncing else { return header }
        if options.durability == .always {
            try syncWritten()
        } else if case let .interval(ms) = options.durability, clock.monotonicNs() - lastSyncNs >= Int64(ms) * 1_000_000 {
            try syncWritten()
        }
        return header
    }

    /// Cuts the journal after `sequence`, which must end one of its blocks (or be the sequence
    /// before a segment's first): the blocks after it are zeroed, later segments removed, and
    /// the durable mark brought down to it. For a replica whose tail is not on its new
    /// primary's chain (records no quorum acknowledged: the primary never had them, or lost
    /// them when it failed). The writer is closed afterwards; open the journal again to append.
    /// - Returns: how many records were cut.
    /// - Throws: `.notOnChain` when `sequence` ends no block here; I/O errors.
    @discardableResult
    public func cut(after sequence: UInt64) throws(JournalError) -> UInt64 {
        try checkUsable()
        precondition(block.count == 0, "cut with records in the open block")
        guard sequence < lastSequence else {
            try close()
            return 0
        }
        guard let first = segments.first, sequence + 1 >= first.firstSequence,
              let at = SegmentCatalog.position(of: sequence + 1, in: segments) else {
            throw .sequenceUnavailable(requested: sequence, first: segments.first?.firstSequence ?? 1, last: lastSequence)
        }
        let segment = try SegmentMap(segments[at], storage: storage)
        var offset = SegmentHeader.size
        var chain = segment.header.previousChain
        if segment.header.firstSequence <= sequence {
            let index = SegmentIndex.load(for: segment, decoder: decoder)
            guard let entry = index.entry(holding: sequence),
                  case let .success(h) = decoder.checkedHeader(in: segment.bytes, at: index.offsets[entry]),
                  h.lastSequence == sequence else {
                segment.map.unmap()
                throw .notOnChain(sequence: sequence, reason: "no block of this journal ends there")
            }
            offset = index.offsets[entry] + h.totalBytes
            chain = h.chain
        }
        let end = segment.lastNonZero(from: offset).map { $0 + 1 }
        segment.map.unmap()
        let cut = lastSequence - sequence
        active?.map.unmap()
        active = nil
        defer {
            isClosed = true
            marks.close()
            lock.close()
            hashWorker.shutdown()
        }
        if let end {
            let file = try storage.open(segments[at].path, .readWrite)
            do {
                var position = offset
                while position < end {
                    let n = min(1 << 20, end - position)
                    try file.write([UInt8](repeating: 0, count: n), at: position)
                    position += n
                }
                try file.sync()
                file.close()
            } catch {
                file.close()
                throw error
            }
        }
        try? storage.remove(segments[at].indexPath)
        for later in segments[(at + 1)...].reversed() {
            try storage.remove(later.path)
            try? storage.remove(later.indexPath)
        }
        segments.removeSubrange((at + 1)...)
        try storage.syncDirectory(directory)
        if marks.sequence > sequence { try marks.write(sequence: sequence, chain: chain) }
        lastSequence = sequence
        writtenSequence = sequence
        durableSequence = sequence
        chainHead = chain
        return cut
    }

    /// Points of this journal's chain a replica offers its primary to find where their
    /// histories part: the ends of its last blocks, then of blocks ever further back (2, 4, 8…
    /// blocks apart), and the journal's start; newest first.
    public func recentPoints(limit: Int = 64) -> [(sequence: UInt64, chain: Digest32)] {
        var points: [(sequence: UInt64, chain: Digest32)] = [(lastSequence, chainHead)]
        var step = 1, skipped = 0
        for file in segments.reversed() {
            guard points.count < limit, let map = try? SegmentMap(file, storage: storage) else { break }
            let index = SegmentIndex.load(for: map, decoder: decoder)
            var entry = index.count - 1
            while entry >= 0 && points.count < limit {
                if skipped + 1 >= step, case let .success(h) = decoder.checkedHeader(in: map.bytes, at: index.offsets[entry]),
                   h.lastSequence < points.last!.sequence {
                    points.append((h.lastSequence, h.chain))
                    skipped = 0
                    if points.count > 16 { step *= 2 }
                } else {
                    skipped += 1
                }
                entry -= 1
            }
            if points.last!.sequence >= map.header.firstSequence, points.count < limit {
                points.append((map.header.firstSequence - 1, map.header.previousChain))
            }
            map.map.unmap()
        }
        return points
    }

    // MARK: - Blocks and segments

    private func checkUsable() throws(JournalError) {
        if isClosed { throw JournalError.closed }
        if let failure { throw failure }
    }

    /// Closes the open block: chain hash, compression, then into the map with its magic last,
    /// so that a reader following the journal never sees a half-written block as a block.
    private func writeBlock() throws(JournalError) {
        guard block.count > 0 else { return }
        var header = block.header()
        header.syncedHint = durableSequence + 1
        // SHA-256 on the worker thread while this one compresses.
        hashWorker.submit(header, raw: block.raw, previous: chainHead)
        var stored = block.raw
        if let n = LZ4.compress(block.raw, into: compressed), n < block.rawCount {
            header.flags = BlockHeader.flagLZ4
            stored = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(compressed)[0..<n])
        }
        header.chain = hashWorker.wait()
        header.storedBytes = UInt32(stored.count)
        let needed = BlockHeader.size + stored.count
        if active == nil || active!.writeOffset + needed > active!.map.count {
            try roll(firstSequence: header.firstSequence)
        }
        let segment = active!
        if segment.writeOffset + needed > segment.prefaultedOffset {
            // Map the next pages in bulk: one call instead of a fault per 4 KiB.
            let end = min(segment.map.count, segment.writeOffset + needed + ActiveSegment.prefaultBytes)
            segment.map.prefault(segment.prefaultedOffset..<end, forWriting: true)
            segment.prefaultedOffset = end
        }
        let target = segment.map.base! + segment.writeOffset
        (target + BlockHeader.size).copyMemory(from: stored.baseAddress!, byteCount: stored.count)
        let scratch = headerScratch.baseAddress!
        header.crc = 0
        header.encode(to: scratch)
        let head = CRC32C.checksum(UnsafeRawBufferPointer(start: scratch, count: BlockHeader.crcOffset))
        header.crc = CRC32C.checksum(stored, continuing: head)
        header.encode(to: scratch)
        (target + 4).copyMemory(from: scratch + 4, byteCount: BlockHeader.size - 4)
        atomicMemoryFence(ordering: .releasing)
        target.storeLE(BlockHeader.magic, 0)

        segment.index.append(header, at: segment.writeOffset)
        segment.writeOffset += needed
        chainHead = header.chain
        writtenSequence = header.lastSequence
        block.reset()
        if options.durability == .always { try syncWritten() }
    }

    /// Starts a new segment for a block that does not fit in the active one. The active one is
    /// synced first (whatever the policy) so that a later segment never outlives an earlier one.
    private func roll(firstSequence: UInt64) throws(JournalError) {
        if let active {
            try syncWritten()
            active.saveIndex()
        }
        let header = SegmentHeader(
            segmentIndex: active.map { $0.header.segmentIndex + 1 } ?? 0,
            firstSequence: firstSequence, segmentBytes: UInt64(options.segmentBytes),
            previousChain: chainHead, recordKind: recordKind)
        let file = SegmentFile(firstSequence: firstSequence,
                               path: StoragePath.join(directory, SegmentCatalog.name(firstSequence)))
        try Self.createSegment(file, header: header, directory: directory, storage: storage)
        let mapped = try SegmentMap(file, storage: storage, writable: true)
        active?.map.unmap()
        active = ActiveSegment(segment: mapped, writeOffset: SegmentHeader.size,
                               chainHead: chainHead, nextSequence: firstSequence)
        segments.append(file)
    }

    /// Creates a segment atomically: a preallocated temporary file with its header, synced,
    /// renamed into place, and the directory synced. A crash leaves either no segment or a
    /// whole one; a full disk leaves nothing.
    static func createSegment(_ file: SegmentFile, header: SegmentHeader, directory: String,
                              storage: any Storage) throws(JournalError) {
        let temporary = file.path + ".tmp"
        try? storage.remove(temporary)
        let handle = try storage.open(temporary, .createNew)
        do {
            try handle.preallocate(Int(header.segmentBytes))
            try handle.write(header.encoded, at: 0)
            try handle.sync()
            handle.close()
            try storage.rename(temporary, file.path)
            try storage.syncDirectory(directory)
        } catch {
            handle.close()
            try? storage.remove(temporary)
            throw error
        }
    }

    private static func removeTemporaryFiles(_ directory: String, storage: any Storage) throws(JournalError) -> Int {
        var removed = 0
        for name in try storage.list(directory) where name.hasSuffix(".tmp") {
            try storage.remove(StoragePath.join(directory, name))
            removed += 1
        }
        return removed
    }
}

/// The segment being appended to.
final class ActiveSegment {
    let segment: SegmentMap
    /// Pages are mapped ahead of the write offset this far at a time.
    static let prefaultBytes = 1 << 20
    var writeOffset: Int
    var syncedOffset: Int
    var prefaultedOffset: Int
    var index: SegmentIndex
    let chainHead: Digest32
    let nextSequence: UInt64

    init(segment: SegmentMap, writeOffset: Int, chainHead: Digest32, nextSequence: UInt64,
         index: SegmentIndex? = nil) {
        self.segment = segment
        self.writeOffset = writeOffset
        self.syncedOffset = writeOffset
        self.prefaultedOffset = writeOffset
        self.chainHead = chainHead
        self.nextSequence = nextSequence
        self.index = index ?? SegmentIndex(segmentFirstSequence: segment.file.firstSequence)
    }

    var map: MappedFile { segment.map }
    var header: SegmentHeader { segment.header }

    /// Writes the index file; a failure is ignored because the index is rebuilt when missing.
    func saveIndex() {
        try? segment.storage.writeAtomically(index.encoded, to: segment.file.indexPath, durable: false)
    }
}

/// The open block: raw payload bytes with record framing, before compression.
struct BlockBuilder {
    private let storage: UnsafeMutableRawBufferPointer
    private(set) var rawCount = 0
    private(set) var count = 0
    private(set) var firstSequence: UInt64 = 0
    private(set) var firstTimestampNs: Int64 = 0
    private(set) var lastTimestampNs: Int64 = 0

    init(capacity: Int) {
        storage = .allocate(byteCount: capacity, alignment: 16)
    }

    func deallocate() { storage.deallocate() }

    var raw: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: storage.baseAddress, count: rawCount)
    }

    /// Bytes the record would take with its framing, appended to this block.
    func framedSize(_ length: Int, timestampNs: Int64) -> Int {
        let delta = count == 0 ? 0 : Varint.zigzag(timestampNs &- lastTimestampNs)
        return Varint.size(UInt64(length)) + Varint.size(delta) + length
    }

    mutating func append(_ record: UnsafeRawBufferPointer, timestampNs: Int64, sequence: UInt64) {
        if count == 0 {
            firstSequence = sequence
            firstTimestampNs = timestampNs
            lastTimestampNs = timestampNs
        }
        // The writer closes the block before a record could overflow it (a record and its
        // framing, at most 20 bytes, fit in an empty block); a write past the buffer would
        // corrupt memory, so this stays checked in release builds.
        precondition(rawCount + framedSize(record.count, timestampNs: timestampNs) <= storage.count,
                     "block buffer overflow: the writer's size checks are wrong")
        let base = storage.baseAddress!
        var at = Varint.write(UInt64(record.count), to: base, at: rawCount)
        at = Varint.write(Varint.zigzag(timestampNs &- lastTimestampNs), to: base, at: at)
        if record.count > 0 { (base + at).copyMemory(from: record.baseAddress!, byteCount: record.count) }
        rawCount = at + record.count
        lastTimestampNs = timestampNs
        count += 1
    }

    func header() -> BlockHeader {
        BlockHeader(flags: 0, firstSequence: firstSequence, recordCount: UInt32(count),
                    rawBytes: UInt32(rawCount), storedBytes: 0, firstTimestampNs: firstTimestampNs,
                    lastTimestampNs: lastTimestampNs, chain: .zero, crc: 0)
    }

    mutating func reset() {
        rawCount = 0
        count = 0
    }
}
