import Foundation
import Testing
@testable import Journal
import Workloads

/// A torn write at every byte offset of the last block: the journal keeps exactly the records
/// of the complete blocks, says what it cut, and appending goes on.
@Suite struct RecoveryTests {
    /// A journal whose last segment ends with a few blocks; returns the segment's bytes, the
    /// last block and the sequence before it.
    func journalWithBlocks(_ dir: TemporaryDirectory, seed: UInt64, durability: Durability = .none) throws
        -> (segment: String, original: [UInt8], last: (offset: Int, header: BlockHeader)) {
        let writer = try JournalWriter(directory: dir.path, options: smallOptions(durability: durability, blockBytesMax: 512))
        for record in variedRecords(count: 40, seed: seed) {
            try writer.append(Array(record.bytes.prefix(60)), timestampNs: record.timestampNs)
        }
        try writer.close()
        let segment = writer.segments.last!.path
        let all = try blocks(inSegment: segment)
        #expect(all.count >= 3)
        // As a crash would leave it: the last block written, its sync not yet recorded in the
        // durable mark (so never acknowledged), which names the block before.
        try setDurableMark(dir.path, through: all.last!.header.firstSequence - 1)
        return (segment, try PosixStorage.shared.readFile(segment), all.last!)
    }


    /// Puts the segment back as `bytes`, with the mark as `journalWithBlocks` left it (the
    /// writer of the previous round moved it on).
    func restore(_ path: String, _ bytes: [UInt8], markedThrough sequence: UInt64) throws {
        let handle = try PosixStorage.shared.open(path, .replace)
        defer { handle.close() }
        try handle.write(bytes, at: 0)
        try setDurableMark(String(path[..<path.lastIndex(of: "/")!]), through: sequence)
    }

    func checkRecovered(_ dir: TemporaryDirectory, keptThrough: UInt64, damage: String) throws -> RecoveryReport {
        let writer = try JournalWriter(directory: dir.path, options: smallOptions(blockBytesMax: 512))
        let report = writer.recovery
        #expect(writer.lastSequence == keptThrough, "\(damage)")
        // Appending goes on after the cut, and everything reads back in order.
        #expect(try writer.append([0xEE, 0xEE], timestampNs: 77) == keptThrough + 1, "\(damage)")
        try writer.close()
        let read = try readAll(dir.path)
        #expect(read.map(\.sequence) == Array(1...(keptThrough + 1)), "\(damage)")
        #expect(read.last?.bytes == [0xEE, 0xEE], "\(damage)")
        #expect(try JournalVerifier.verify(directory: dir.path).ok, "\(damage)")
        return report
    }

    @Test func truncatingAtEveryOffsetOfTheLastBlockKeepsTheCompleteBlocks() throws {
        let dir = TemporaryDirectory("torn-truncate")
        let (segment, original, last) = try journalWithBlocks(dir, seed: 21)
        let kept = last.header.firstSequence - 1
        let end = last.offset + last.header.totalBytes
        for cut in last.offset..<end {
            try restore(segment, Array(original[..<cut]), markedThrough: last.header.firstSequence - 1)
            let report = try checkRecovered(dir, keptThrough: kept, damage: "truncated at \(cut)")
            let partial = cut - last.offset
            if partial >= 4 {
                // Non-zero bytes of the block remained: they are cut off and counted.
                #expect(report.bytesDropped > 0 && report.bytesDropped <= partial, "cut \(cut)")
                #expect(report.tornOffset == last.offset && report.tornSegment != nil)
                if partial >= BlockHeader.size {
                    #expect(report.recordsDropped == Int(last.header.recordCount), "cut \(cut)")
                }
            }
            #expect(try PosixStorage.shared.readFile(segment).count == original.count, "the file regains its size")
        }
    }

    @Test func zeroingTheTailAtEveryOffsetOfTheLastBlockKeepsTheCompleteBlocks() throws {
        let dir = TemporaryDirectory("torn-zero")
        let (segment, original, last) = try journalWithBlocks(dir, seed: 22)
        let kept = last.header.firstSequence - 1
        let end = last.offset + last.header.totalBytes
        for cut in last.offset..<end {
            var damaged = original
            for i in cut..<end { damaged[i] = 0 }
            try restore(segment, damaged, markedThrough: last.header.firstSequence - 1)
            let report = try checkRecovered(dir, keptThrough: kept, damage: "zeroed from \(cut)")
            let nonZero = original[last.offset..<cut].lastIndex { $0 != 0 }.map { $0 + 1 - last.offset } ?? 0
            #expect(report.bytesDropped == nonZero, "zeroed from \(cut)")
        }
    }

    @Test func aHalfWrittenBlockWithoutItsMagicIsTorn() throws {
        // The writer stores the magic last: a crash before it leaves a header without magic.
        let dir = TemporaryDirectory("torn-magic")
        let (segment, original, last) = try journalWithBlocks(dir, seed: 23)
        var damaged = original
        for i in last.offset..<(last.offset + 4) { damaged[i] = 0 }
        try restore(segment, damaged, markedThrough: last.header.firstSequence - 1)
        let report = try checkRecovered(dir, keptThrough: last.header.firstSequence - 1, damage: "magic")
        let end = last.offset + last.header.totalBytes
        let reach = original[last.offset..<end].lastIndex { $0 != 0 }! + 1 - last.offset
        #expect(report.bytesDropped == reach && reach > last.header.totalBytes - 8)
        #expect(report.recordsDropped == 0, "without its magic the header claims nothing")
    }

    /// Each block of an `always` journal was synced before the next was written, and the next
    /// says so (its synced hint): damage to one is corruption, whatever the mark says.
    /// Blocks written without a sync between them can reach the disk in any order: a damaged
    /// block followed by valid ones that were all written before it was synced, above the
    /// durable mark, is a torn tail, cut with everything after it.
    @Test func unsyncedBlocksThatSurviveWithoutTheOneBeforeThemAreATornTail() throws {
        let dir = TemporaryDirectory("torn-out-of-order")
        let (segment, _, _) = try journalWithBlocks(dir, seed: 25)
        let all = try blocks(inSegment: segment)
        let victim = all[all.count - 3]
        try setDurableMark(dir.path, through: victim.header.firstSequence - 1)
        try flipBit(segment, offset: victim.offset + BlockHeader.size + 3, bit: 2)
        let writer = try JournalWriter(directory: dir.path, options: smallOptions(blockBytesMax: 512))
        #expect(writer.lastSequence == victim.header.firstSequence - 1)
        #expect(writer.recovery.tornOffset == victim.offset)
        let dropped = all.suffix(3).map { Int($0.header.recordCount) }.reduce(0, +)
        #expect(writer.recovery.recordsDropped == dropped)
        try writer.close()
        // The same damage below the mark is refused (the mark says it was synced).
        let again = TemporaryDirectory("torn-out-of-order-marked")
        let (segment2, _, _) = try journalWithBlocks(again, seed: 25)
        try setDurableMark(again.path, through: victim.header.firstSequence)
        try flipBit(segment2, offset: victim.offset + BlockHeader.size + 3, bit: 2)
        #expect(throws: JournalError.self) {
            try JournalWriter(directory: again.path, options: smallOptions(blockBytesMax: 512))
        }
    }

    @Test func corruptionWithAValidBlockAfterItIsAHardError() throws {
        let dir = TemporaryDirectory("corrupt-middle")
        let (segment, _, _) = try journalWithBlocks(dir, seed: 24, durability: .always)
        try setDurableMark(dir.path, through: 0)
        let all = try blocks(inSegment: segment)
        let victim = all[all.count - 2]
        try flipBit(segment, offset: victim.offset + BlockHeader.size + 3, bit: 2)
        let opened = Result { () throws(JournalError) in
            try JournalWriter(directory: dir.path, options: smallOptions(blockBytesMax: 512))
        }
        guard case let .failure(.corrupt(name, offset, sequence, reason)) = opened else {
            Issue.record("opening a journal with corruption before valid blocks must fail: \(opened)")
            return
        }
        #expect(name == URL(fileURLWithPath: segment).lastPathComponent)
        #expect(offset == victim.offset)
        #expect(sequence == victim.header.firstSequence)
        #expect(reason.contains("valid block follows"))
        // Nothing was changed and the lock was released: the same error again (not `locked`).
        let again = Result { () throws(JournalError) in
            try JournalWriter(directory: dir.path, options: smallOptions(blockBytesMax: 512))
        }
        guard case let .failure(.corrupt(_, offsetAgain, _, reasonAgain)) = again else {
            Issue.record("a second open must report the same corruption: \(again)")
            return
        }
        #expect(offsetAgain == offset && reasonAgain == reason)
    }

    @Test func staleTemporarySegmentsAreRemoved() throws {
        let dir = TemporaryDirectory("tmp")
        let writer = try JournalWriter(directory: dir.path, options: smallOptions())
        try writer.append([1], timestampNs: 1)
        try writer.close()
        try PosixStorage.shared.writeAtomically([1, 2, 3], to: dir.sub("00000000000000000099.seg.tmp.x"), durable: false)
        try PosixStorage.shared.rename(dir.sub("00000000000000000099.seg.tmp.x"), dir.sub("00000000000000000099.seg.tmp"))
        let again = try JournalWriter(directory: dir.path, options: smallOptions())
        #expect(again.recovery.temporaryFilesRemoved == 1)
        #expect(!PosixStorage.shared.exists(dir.sub("00000000000000000099.seg.tmp")))
        try again.close()
    }
}

/// Damage to a last block whose records were synced (the durable mark covers them) is not a
/// torn write: opening refuses, naming the block, and changes nothing; an operator may accept
/// the loss.
@Suite struct AcknowledgedTailTests {
    @Test func aDamagedSyncedLastBlockIsRefusedUnlessTheLossIsAccepted() throws {
        let dir = TemporaryDirectory("acked-tail")
        let options = smallOptions(durability: .always, blockBytesMax: 512)
        let writer = try JournalWriter(directory: dir.path, options: options)
        for record in variedRecords(count: 40, seed: 31) {
            try writer.append(Array(record.bytes.prefix(60)), timestampNs: record.timestampNs)
        }
        try writer.markDurable()
        #expect(try DurableMark.read(directory: dir.path, storage: PosixStorage.shared)?.mark.sequence == 40)
        try writer.close()
        let segment = writer.segments.last!.path
        let last = try blocks(inSegment: segment).last!
        #expect(last.header.lastSequence == 40)
        var bytes = try PosixStorage.shared.readFile(segment)
        bytes[last.offset + BlockHeader.size + 5] ^= 0x10  // one bit of its payload
        try PosixStorage.shared.writeAtomically(bytes, to: segment, durable: false)

        let opened = Result { () throws(JournalError) in try JournalWriter(directory: dir.path, options: options) }
        guard case let .failure(.corrupt(name, offset, sequence, reason)) = opened else {
            Issue.record("a damaged synced block must be refused: \(opened)")
            return
        }
        #expect(name == URL(fileURLWithPath: segment).lastPathComponent)
        #expect(offset == last.offset && sequence == last.header.firstSequence)
        #expect(reason.contains("through 40"))
        #expect(try PosixStorage.shared.readFile(segment) == bytes, "nothing was changed")
        let verified = try JournalVerifier.verify(directory: dir.path)
        #expect(!verified.ok && verified.durableMark == 40 && verified.lastSequence == last.header.firstSequence - 1)

        var accepting = options
        accepting.acceptDataLoss = true
        let accepted = try JournalWriter(directory: dir.path, options: accepting)
        #expect(accepted.lastSequence == last.header.firstSequence - 1)
        #expect(accepted.recovery.acknowledgedRecordsLost == 40 - accepted.lastSequence)
        try accepted.close()
        // The mark came down with the loss: the journal opens and verifies as it is now.
        #expect(try DurableMark.read(directory: dir.path, storage: PosixStorage.shared)?.mark.sequence == last.header.firstSequence - 1)
        #expect(try JournalVerifier.verify(directory: dir.path).ok)
        let again = try JournalWriter(directory: dir.path, options: options)
        #expect(again.recovery.acknowledgedRecordsLost == 0)
        try again.close()
    }

    @Test func aMissingJournalUnderAMarkIsRefused() throws {
        let dir = TemporaryDirectory("acked-missing")
        let writer = try JournalWriter(directory: dir.path, options: smallOptions())
        try writer.append([1, 2, 3], timestampNs: 1)
        try writer.close()
        for file in try JournalDirectory.segments(dir.path) { try PosixStorage.shared.remove(file.path) }
        #expect(throws: JournalError.self) { try JournalWriter(directory: dir.path, options: smallOptions()) }
        #expect(try !JournalVerifier.verify(directory: dir.path).ok)
    }

    /// A torn mark (a crash while writing it) leaves the other slot: the mark before it counts.
    @Test func aTornMarkFallsBackToTheOtherSlot() throws {
        let dir = TemporaryDirectory("mark-slots")
        let writer = try JournalWriter(directory: dir.path, options: smallOptions(durability: .always))
        try writer.append([1], timestampNs: 1)
        try writer.markDurable()  // slot 0: 1
        try writer.append([2], timestampNs: 2)
        try writer.markDurable()  // slot 1: 2
        try writer.close()        // nothing new: no write
        #expect(try DurableMark.read(directory: dir.path, storage: PosixStorage.shared)?.mark.sequence == 2)
        var bytes = try PosixStorage.shared.readFile(DurableMark.path(in: dir.path))
        bytes[DurableMark.slotStride + 20] ^= 1
        try PosixStorage.shared.writeAtomically(bytes, to: DurableMark.path(in: dir.path), durable: false)
        #expect(try DurableMark.read(directory: dir.path, storage: PosixStorage.shared)?.mark.sequence == 1)
        let again = try JournalWriter(directory: dir.path, options: smallOptions(durability: .always))
        #expect(again.lastSequence == 2)
        try again.close()
    }
}
