import Foundation
import Testing
@testable import Journal
import Workloads

/// A flipped bit anywhere in a journal is detected and located.
@Suite struct CorruptionTests {
    struct Layout {
        var segments: [SegmentFile]
        /// Per segment: its blocks.
        var blocks: [[(offset: Int, header: BlockHeader)]]
    }

    func makeJournal(_ dir: TemporaryDirectory) throws -> Layout {
        let writer = try JournalWriter(directory: dir.path, options: smallOptions(segmentBytes: 8 << 10, blockBytesMax: 1 << 10))
        for record in variedRecords(count: 400, seed: 31) {
            try writer.append(Array(record.bytes.prefix(120)), timestampNs: record.timestampNs)
        }
        try writer.close()
        let segments = writer.segments
        return Layout(segments: segments, blocks: try segments.map { try blocks(inSegment: $0.path) })
    }

    /// Where verify must point for a flip at `offset` of segment `s`: the block holding the
    /// byte, the segment header (offset 0), or the end of the last block (garbage after it).
    func expectedOffset(_ layout: Layout, segment s: Int, offset: Int) -> Int {
        if offset < SegmentHeader.size { return 0 }
        for block in layout.blocks[s] where offset < block.offset + block.header.totalBytes {
            return block.offset
        }
        let last = layout.blocks[s].last!
        return last.offset + last.header.totalBytes
    }

    @Test func everyFlippedBitBeforeTheLastBlockIsFoundWhereItIs() throws {
        let dir = TemporaryDirectory("flip")
        let layout = try makeJournal(dir)
        #expect(layout.segments.count >= 3)
        let clean = try JournalVerifier.verify(directory: dir.path)
        #expect(clean.ok)
        var random = SplitMix64(seed: 32)
        var checked = 0
        for s in layout.segments.indices {
            let last = layout.blocks[s].last!
            let isLastSegment = s == layout.segments.count - 1
            // Every header byte of every block, and random payload and zero-tail bytes.
            var offsets = Array(0..<SegmentHeader.size).filter { _ in random.next() % 4 == 0 }
            for block in layout.blocks[s] {
                offsets += Array(block.offset..<(block.offset + BlockHeader.size)).filter { _ in random.next() % 3 == 0 }
                offsets += (0..<4).map { _ in block.offset + BlockHeader.size + Int(random.next() % UInt64(block.header.storedBytes)) }
            }
            let tail = last.offset + last.header.totalBytes
            if !isLastSegment && tail < 8 << 10 {
                offsets.append(tail + Int(random.next() % UInt64((8 << 10) - tail)))
            }
            for offset in offsets {
                if isLastSegment && offset >= last.offset { continue }  // see the torn-tail test
                let bit = Int(random.next() % 8)
                try flipBit(layout.segments[s].path, offset: offset, bit: bit)
                let report = try JournalVerifier.verify(directory: dir.path)
                #expect(!report.ok, "flip at \(layout.segments[s].name)+\(offset) went unnoticed")
                if case let .corrupt(name, at, _, _)? = report.error {
                    #expect(name == layout.segments[s].name, "flip at +\(offset)")
                    #expect(at == expectedOffset(layout, segment: s, offset: offset), "flip at +\(offset)")
                } else {
                    Issue.record("flip at +\(offset): \(String(describing: report.error))")
                }
                // A reader stops there with the same kind of error, never with wrong records.
                #expect(throws: JournalError.self, "reader, flip at +\(offset)") { _ = try readAll(dir.path) }
                try flipBit(layout.segments[s].path, offset: offset, bit: bit)
                checked += 1
            }
        }
        #expect(checked > 500)
        #expect(try JournalVerifier.verify(directory: dir.path).ok)
    }

    @Test func aFlippedBitInASyncedLastBlockIsCorruption() throws {
        // The durable mark (stored when the writer closed) covers the last block: damage to it
        // is not a write cut short, and every reader says so.
        let dir = TemporaryDirectory("flip-last-synced")
        let layout = try makeJournal(dir)
        let s = layout.segments.count - 1
        let last = layout.blocks[s].last!
        try flipBit(layout.segments[s].path, offset: last.offset + 100, bit: 0)
        let report = try JournalVerifier.verify(directory: dir.path)
        #expect(!report.ok && report.lastSequence == last.header.firstSequence - 1)
        guard case let .corrupt(_, _, sequence, reason)? = report.error else {
            Issue.record("verify must report corruption: \(String(describing: report.error))")
            return
        }
        #expect(sequence == last.header.firstSequence && reason.contains("DURABLE"))
        let reader = try JournalReader(directory: dir.path)
        var count = 0
        #expect(throws: JournalError.self) { while try reader.nextRecord() != nil { count += 1 } }
        #expect(UInt64(count) == last.header.firstSequence - 1)
    }

    @Test func aFlippedBitInAnUnsyncedLastBlockReadsAsATornTailAndIsReported() throws {
        // Without a mark covering it (as a crash before the mark leaves it), nothing can tell a
        // damaged last block from a cut-short write: it is reported (verify's torn tail, the
        // reader's tornTail, recovery's report), never read as records.
        let dir = TemporaryDirectory("flip-last")
        let layout = try makeJournal(dir)
        let s = layout.segments.count - 1
        let last = layout.blocks[s].last!
        try setDurableMark(dir.path, through: last.header.firstSequence - 1)
        try flipBit(layout.segments[s].path, offset: last.offset + 100, bit: 0)
        let report = try JournalVerifier.verify(directory: dir.path)
        #expect(report.ok && report.tornTail?.offset == last.offset)
        #expect(report.lastSequence == last.header.firstSequence - 1)
        let reader = try JournalReader(directory: dir.path)
        var count = 0
        while try reader.nextRecord() != nil { count += 1 }
        #expect(UInt64(count) == last.header.firstSequence - 1)
        #expect(reader.tornTail?.offset == last.offset)
    }

    /// Damage in a segment that has a successor, where its index does not reach (the index
    /// file lost in a crash), makes its blocks stop short of the next segment: `JournalInfo`
    /// (what recovery asks for the journal's end) names it instead of reporting a shorter
    /// journal. (It used to; recovery then refused every snapshot as past the end.)
    @Test func damageInAnEarlierSegmentIsNamedByInfoNotTakenForTheEnd() throws {
        let dir = TemporaryDirectory("info-damage")
        let writer = try JournalWriter(directory: dir.path, options: smallOptions(segmentBytes: 16 << 10, blockBytesMax: 1 << 10))
        for record in variedRecords(count: 600, seed: 41) { try writer.append(record.bytes, timestampNs: record.timestampNs) }
        try writer.close()
        let segments = try JournalDirectory.segments(dir.path)
        #expect(segments.count >= 3)
        let first = segments[0].path
        try PosixStorage.shared.remove(String(first.dropLast(4)) + ".idx")
        let victim = try blocks(inSegment: first)[3]
        try flipBit(first, offset: victim.offset + BlockHeader.size + 5, bit: 1)
        #expect {
            _ = try JournalInfo.read(directory: dir.path)
        } throws: { error in
            guard case let JournalError.corrupt(segment, offset, sequence, reason) = error else { return false }
            return segment == segments[0].name && offset == victim.offset && sequence == victim.header.firstSequence
                && reason.contains("successor")
        }
    }

    @Test func aChainThatDoesNotLinkIsCorruptionEvenWithGoodCRCs() throws {
        // Rewrite a block's chain field and its CRC: only the chain check can catch it.
        let dir = TemporaryDirectory("chain")
        let layout = try makeJournal(dir)
        let victim = layout.blocks[0][1]
        let path = layout.segments[0].path
        var bytes = try PosixStorage.shared.readFile(path)
        bytes[victim.offset + 48] ^= 0xFF
        let crc = bytes.withUnsafeBytes {
            BlockHeader.computeCRC($0.baseAddress! + victim.offset, storedBytes: Int(victim.header.storedBytes))
        }
        withUnsafeBytes(of: crc.littleEndian) { for i in 0..<4 { bytes[victim.offset + 92 + i] = $0[i] } }
        try PosixStorage.shared.writeAtomically(bytes, to: path, durable: false)
        let report = try JournalVerifier.verify(directory: dir.path)
        guard case let .corrupt(_, offset, sequence, reason)? = report.error else {
            Issue.record("a broken chain was not reported"); return
        }
        #expect(offset == victim.offset && sequence == victim.header.firstSequence)
        #expect(reason.contains("chain"))
        // Without chain checks the CRC-valid block reads; with them it does not.
        #expect(throws: Never.self) { _ = try readAll(dir.path, verifyChain: false) }
        #expect(throws: JournalError.self) { _ = try readAll(dir.path) }
    }
}
