import Foundation
import Testing
@testable import Journal

/// A replica's copy of a journal: the stored pieces a primary reads (`StoredBlockCursor`),
/// written by another writer (`startSegment`, `appendStored`), give byte-identical segments;
/// anything that does not continue the copy, or fails a check, is refused with nothing written.
@Suite struct StoredBlockTests {
    /// Copies every piece the cursor has from where `copy` ends; returns the records seen.
    @discardableResult
    func copy(from cursor: StoredBlockCursor, into copy: JournalWriter) throws -> [UInt64] {
        var seen: [UInt64] = []
        while let piece = try cursor.next() {
            switch piece {
            case let .segment(_, bytes): try copy.startSegment(bytes)
            case let .block(_, bytes): try copy.appendStored(bytes) { sequence, _, _ in seen.append(sequence) }
            }
        }
        return seen
    }

    func segmentFiles(_ dir: String) throws -> [String: Data] {
        var out: [String: Data] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: dir) where name.hasSuffix(".seg") {
            out[name] = try Data(contentsOf: URL(fileURLWithPath: dir + "/" + name))
        }
        return out
    }

    @Test func aCopyFollowingAWriterIsByteIdentical() throws {
        let primary = TemporaryDirectory(), replica = TemporaryDirectory()
        let records = variedRecords(count: 3_000, seed: 31)
        let writer = try JournalWriter(directory: primary.path, options: smallOptions())
        let cursor = StoredBlockCursor(directory: primary.path)
        try cursor.start(after: 0, chain: .zero)
        // The copy's own options differ (segment size, limits): what it writes is the sender's.
        var copied: [UInt64] = []
        var follower = try JournalWriter(directory: replica.path, options: smallOptions(segmentBytes: 1 << 20))
        for part in 0..<3 {
            try appendAll(Array(records[(part * 1_000)..<(part * 1_000 + 1_000)]), to: writer)
            try writer.flush()
            copied += try copy(from: cursor, into: follower)
            #expect(follower.lastSequence == writer.writtenSequence)
            #expect(follower.chainHead == writer.chainHead)
            // The copy stops and starts again from where it ended, as a reconnecting replica.
            try follower.close()
            follower = try JournalWriter(directory: replica.path, options: smallOptions(segmentBytes: 1 << 20))
            try cursor.start(after: follower.lastSequence, chain: follower.chainHead)
        }
        try writer.close()
        try follower.close()
        #expect(copied == Array(1...3_000))
        #expect(writer.segments.count >= 4)
        #expect(try segmentFiles(primary.path) == segmentFiles(replica.path))
        let read = try readAll(replica.path)
        #expect(read.map(\.bytes) == records.map(\.bytes))
        #expect(try JournalVerifier.verify(directory: replica.path).ok)
    }

    @Test func aPositionOffTheChainIsRefused() throws {
        let primary = TemporaryDirectory()
        let writer = try JournalWriter(directory: primary.path, options: smallOptions())
        try appendAll(variedRecords(count: 500, seed: 32), to: writer)
        try writer.close()
        let cursor = StoredBlockCursor(directory: primary.path)
        let blocks = try collectBlocks(primary.path)
        let end = blocks[3]
        try cursor.start(after: end.lastSequence, chain: end.chain)
        // The stream starts with the header of the segment it continues in, then its blocks.
        guard case .segment? = try cursor.next() else { Issue.record("no segment header first"); return }
        guard case let .block(h, _)? = try cursor.next() else { Issue.record("no block after the position"); return }
        #expect(h.firstSequence == end.lastSequence + 1)
        #expect(throws: JournalError.self) { try cursor.start(after: end.lastSequence, chain: blocks[2].chain) }
        #expect(throws: JournalError.self) { try cursor.start(after: end.lastSequence - 1, chain: end.chain) }
        #expect(throws: JournalError.self) { try cursor.start(after: 501, chain: end.chain) }
    }

    @Test func aDamagedOrMisplacedBlockIsRefusedAndNothingIsWritten() throws {
        let primary = TemporaryDirectory(), replica = TemporaryDirectory()
        let writer = try JournalWriter(directory: primary.path, options: smallOptions())
        try appendAll(variedRecords(count: 400, seed: 33), to: writer)
        try writer.close()
        let cursor = StoredBlockCursor(directory: primary.path)
        try cursor.start(after: 0, chain: .zero)
        var pieces: [(isSegment: Bool, bytes: [UInt8])] = []
        while let piece = try cursor.next() {
            switch piece {
            case let .segment(_, bytes): pieces.append((true, bytes))
            case let .block(_, bytes): pieces.append((false, Array(bytes)))
            }
        }
        let follower = try JournalWriter(directory: replica.path, options: smallOptions())
        try follower.startSegment(pieces[0].bytes)
        try pieces[1].bytes.withUnsafeBytes { _ = try follower.appendStored($0) { _, _, _ in } }
        let head = follower.chainHead, last = follower.lastSequence
        // A flipped bit anywhere in the next block: its CRC.
        for position in [10, 50, 100, pieces[2].bytes.count - 1] {
            var damaged = pieces[2].bytes
            damaged[position] ^= 0x04
            #expect(throws: JournalError.self) { try damaged.withUnsafeBytes { try follower.appendStored($0) { _, _, _ in } } }
        }
        // A valid block that does not follow (the one after next), and one cut short.
        #expect(throws: JournalError.self) { try pieces[3].bytes.withUnsafeBytes { try follower.appendStored($0) { _, _, _ in } } }
        #expect(throws: JournalError.self) { try Array(pieces[2].bytes.dropLast()).withUnsafeBytes { try follower.appendStored($0) { _, _, _ in } } }
        // A record the caller refuses: the block is not written either.
        struct Refused: Error {}
        #expect(throws: Refused.self) { try pieces[2].bytes.withUnsafeBytes { try follower.appendStored($0) { _, _, _ in throw Refused() } } }
        #expect(follower.chainHead == head && follower.lastSequence == last)
        try pieces[2].bytes.withUnsafeBytes { _ = try follower.appendStored($0) { _, _, _ in } }
        #expect(follower.lastSequence > last)
        try follower.close()
        #expect(try JournalVerifier.verify(directory: replica.path).ok)
    }

    @Test func aJournalCutAfterABlockEndsThereAndGrowsAgainFromThere() throws {
        let dir = TemporaryDirectory()
        let records = variedRecords(count: 2_000, seed: 34)
        let writer = try JournalWriter(directory: dir.path, options: smallOptions(durability: .always))
        try appendAll(records, to: writer)
        try writer.markDurable()
        let blocks = try collectBlocks(dir.path)
        #expect(writer.segments.count >= 3)
        // A point every replica offers: its end first, then block ends further and further back.
        let points = writer.recentPoints()
        #expect(points.first?.sequence == 2_000 && points.first?.chain == writer.chainHead)
        #expect(zip(points, points.dropFirst()).allSatisfy { $0.sequence > $1.sequence })
        let ends = Dictionary(uniqueKeysWithValues: blocks.map { ($0.lastSequence, $0.chain) })
        #expect(points.dropFirst().allSatisfy { ends[$0.sequence] == $0.chain || $0.sequence == 0 })
        // Not at a block's end: refused, nothing changed.
        let middle = blocks[blocks.count / 3]
        #expect(throws: JournalError.self) { try writer.cut(after: middle.lastSequence - 1) }
        #expect(writer.lastSequence == 2_000)
        try writer.close()
        let again = try JournalWriter(directory: dir.path, options: smallOptions(durability: .always))
        #expect(again.lastSequence == 2_000)
        #expect(try again.cut(after: middle.lastSequence) == 2_000 - middle.lastSequence)
        let read = try readAll(dir.path)
        #expect(read.map(\.bytes) == records.prefix(Int(middle.lastSequence)).map(\.bytes))
        let report = try JournalVerifier.verify(directory: dir.path)
        #expect(report.ok && report.chainHead == middle.chain && report.durableMark == middle.lastSequence)
        // It grows again from there, with other records.
        let more = try JournalWriter(directory: dir.path, options: smallOptions(durability: .always))
        #expect(more.lastSequence == middle.lastSequence && more.chainHead == middle.chain)
        try appendAll(variedRecords(count: 300, seed: 35), to: more)
        try more.close()
        #expect(try readAll(dir.path).count == Int(middle.lastSequence) + 300)
        #expect(try JournalVerifier.verify(directory: dir.path).ok)
    }

    /// Every block header of a journal, in order.
    func collectBlocks(_ dir: String) throws -> [BlockHeader] {
        let cursor = StoredBlockCursor(directory: dir)
        try cursor.start(after: 0, chain: .zero)
        var out: [BlockHeader] = []
        while let piece = try cursor.next() { if case let .block(h, _) = piece { out.append(h) } }
        return out
    }
}
