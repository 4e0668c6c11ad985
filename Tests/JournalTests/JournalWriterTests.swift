import Testing
@testable import Journal
import Workloads

@Suite struct JournalWriterTests {
    @Test func roundTripAcrossSegmentRolls() throws {
        let dir = TemporaryDirectory()
        let records = variedRecords(count: 3_000, seed: 11)
        let writer = try JournalWriter(directory: dir.path, options: smallOptions())
        try appendAll(records, to: writer)
        try writer.close()
        #expect(writer.lastSequence == 3_000)
        #expect(writer.segments.count >= 4, "small segments must roll: \(writer.segments.count)")

        let read = try readAll(dir.path)
        #expect(read.count == records.count)
        for (i, record) in read.enumerated() {
            #expect(record.sequence == UInt64(i + 1))
            #expect(record.bytes == records[i].bytes)
            #expect(record.timestampNs == records[i].timestampNs)
        }
        let report = try JournalVerifier.verify(directory: dir.path)
        #expect(report.ok && report.error == nil && report.tornTail == nil)
        #expect(report.records == 3_000 && report.lastSequence == 3_000)
        #expect(report.chainHead == writer.chainHead)
        #expect(report.segments == writer.segments.count)
    }

    @Test func reopeningContinuesTheSequenceAndTheChain() throws {
        let dir = TemporaryDirectory()
        let records = variedRecords(count: 900, seed: 12)
        for part in 0..<3 {
            let writer = try JournalWriter(directory: dir.path, options: smallOptions())
            #expect(writer.lastSequence == UInt64(part * 300))
            #expect(!writer.recovery.droppedAnything)
            try appendAll(Array(records[(part * 300)..<(part * 300 + 300)]), to: writer)
            try writer.close()
        }
        let read = try readAll(dir.path)
        #expect(read.map(\.bytes) == records.map(\.bytes))
        #expect(try JournalVerifier.verify(directory: dir.path).ok)
    }

    @Test func seekFindsEverySequence() throws {
        let dir = TemporaryDirectory()
        let records = variedRecords(count: 2_000, seed: 13)
        let writer = try JournalWriter(directory: dir.path, options: smallOptions())
        try appendAll(records, to: writer)
        try writer.close()
        let reader = try JournalReader(directory: dir.path)
        var random = SplitMix64(seed: 99)
        for _ in 0..<200 {
            let sequence = 1 + random.next() % 2_000
            try reader.seek(to: sequence)
            let record = try #require(try reader.nextRecord())
            #expect(record.sequence == sequence)
            #expect(record.bytes == records[Int(sequence) - 1].bytes)
        }
        try reader.seek(to: 2_001)
        #expect(try reader.nextRecord() == nil)
        #expect(throws: JournalError.self) { try reader.seek(to: 0) }
    }

    @Test func anEmptyJournalReadsAsEmpty() throws {
        let dir = TemporaryDirectory()
        let writer = try JournalWriter(directory: dir.sub("new/journal"), options: smallOptions())
        #expect(writer.lastSequence == 0 && writer.durableSequence == 0)
        try writer.flush()
        try writer.close()
        #expect(try JournalDirectory.segments(dir.sub("new/journal")).isEmpty)
        #expect(try readAll(dir.sub("new/journal")).isEmpty)
        let report = try JournalVerifier.verify(directory: dir.sub("new/journal"))
        #expect(report.ok && report.records == 0 && report.lastSequence == 0)
        let info = try JournalInfo.read(directory: dir.sub("new/journal"))
        #expect(info.segments == 0 && info.records == 0 && info.lastSequence == 0)
        let again = try JournalWriter(directory: dir.sub("new/journal"), options: smallOptions())
        #expect(try again.append([1, 2, 3], timestampNs: 5) == 1)
        try again.close()
        #expect(try readAll(dir.sub("new/journal")).map(\.bytes) == [[1, 2, 3]])
    }

    @Test func anOversizedRecordIsRefusedAndNothingChanges() throws {
        let dir = TemporaryDirectory()
        let writer = try JournalWriter(directory: dir.path, options: smallOptions())
        try writer.append([1], timestampNs: 1)
        #expect(throws: JournalError.recordTooLarge(bytes: 4097, limit: 4096)) {
            try writer.append([UInt8](repeating: 7, count: 4097), timestampNs: 2)
        }
        #expect(writer.lastSequence == 1)
        try writer.append([UInt8](repeating: 7, count: 4096), timestampNs: 3)
        try writer.append([], timestampNs: 4)
        try writer.close()
        let read = try readAll(dir.path)
        #expect(read.map(\.sequence) == [1, 2, 3])
        #expect(read.map(\.bytes.count) == [1, 4096, 0])
    }

    @Test func optionsThatBreakALimitAreRefused() {
        let dir = TemporaryDirectory()
        #expect(throws: JournalError.self) {
            try JournalWriter(directory: dir.path, options: JournalOptions(segmentBytes: 4096))
        }
        #expect(throws: JournalError.self) {
            try JournalWriter(directory: dir.path, options: JournalOptions(blockRecordsMax: 0))
        }
    }

    @Test func alwaysMakesEveryFlushedRecordDurable() throws {
        let dir = TemporaryDirectory()
        let writer = try JournalWriter(directory: dir.path, options: smallOptions(durability: .always))
        for i in 0..<10 { try writer.append([UInt8(i)], timestampNs: Int64(i)) }
        #expect(writer.durableSequence == 0, "an open block is not durable")
        #expect(try writer.flush() == 10)
        #expect(writer.writtenSequence == 10 && writer.durableSequence == 10)
        try writer.close()
    }

    @Test func noneLeavesDurabilityToSyncAndRolls() throws {
        let dir = TemporaryDirectory()
        let writer = try JournalWriter(directory: dir.path, options: smallOptions(durability: .none))
        for i in 0..<10 { try writer.append([UInt8(i)], timestampNs: Int64(i)) }
        #expect(try writer.flush() == 0)
        #expect(writer.writtenSequence == 10)
        #expect(try writer.sync() == 10)
        try writer.close()
    }

    @Test func intervalSyncsWhenTheClockSaysSo() throws {
        let dir = TemporaryDirectory()
        let clock = ManualTime()
        let writer = try JournalWriter(directory: dir.path,
                                       options: smallOptions(durability: .interval(milliseconds: 5)),
                                       clock: clock)
        try writer.append([1], timestampNs: 1)
        try writer.flush()
        #expect(writer.writtenSequence == 1 && writer.durableSequence == 0)
        clock.advance(byNs: 4_999_999)
        try writer.syncIfDue()
        #expect(writer.durableSequence == 0)
        clock.advance(byNs: 1)
        try writer.append([2], timestampNs: 2)
        #expect(writer.durableSequence == 2, "the append that finds the interval over syncs")
        try writer.append([3], timestampNs: 3)
        clock.advance(byNs: 5_000_000)
        try writer.syncIfDue()
        #expect(writer.durableSequence == 3)
        try writer.close()
    }

    @Test func blocksCloseAtTheirSizeAndCountLimits() throws {
        let dir = TemporaryDirectory()
        var options = smallOptions()
        options.blockRecordsMax = 7
        let writer = try JournalWriter(directory: dir.path, options: options)
        for i in 0..<20 { try writer.append([UInt8(i)], timestampNs: 0) }
        #expect(writer.writtenSequence == 14, "two full blocks of 7 are written, 6 wait")
        try writer.append([UInt8](repeating: 1, count: 2_000), timestampNs: 0)
        try writer.append([UInt8](repeating: 2, count: 2_000), timestampNs: 0)
        #expect(writer.writtenSequence == 21, "a block closes before going past 2 KiB")
        try writer.close()
        let blocks = try blocks(inSegment: writer.segments[0].path)
        #expect(blocks.map(\.header.recordCount) == [7, 7, 7, 1])
        #expect(blocks.allSatisfy { Int($0.header.rawBytes) <= 2 << 10 })
    }

    @Test func incompressibleBlocksAreStoredRaw() throws {
        let dir = TemporaryDirectory()
        let writer = try JournalWriter(directory: dir.path, options: smallOptions())
        var random = SplitMix64(seed: 5)
        let noise = (0..<1_500).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        try writer.append(noise, timestampNs: 0)
        try writer.flush()
        try writer.append([UInt8](repeating: 0, count: 1_500), timestampNs: 0)
        try writer.close()
        let blocks = try blocks(inSegment: writer.segments[0].path)
        #expect(!blocks[0].header.isCompressed && blocks[0].header.storedBytes == blocks[0].header.rawBytes)
        #expect(blocks[1].header.isCompressed && blocks[1].header.storedBytes < 100)
        #expect(try readAll(dir.path).map(\.bytes) == [noise, [UInt8](repeating: 0, count: 1_500)])
    }
}
