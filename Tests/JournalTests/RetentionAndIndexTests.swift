import Foundation
import Testing
@testable import Journal
import Workloads

@Suite struct RetentionAndIndexTests {
    @Test func retiringSegmentsKeepsEverythingFromTheGivenSequence() throws {
        let dir = TemporaryDirectory("retire")
        let records = variedRecords(count: 3_000, seed: 51)
        let writer = try JournalWriter(directory: dir.path, options: smallOptions())
        try appendAll(records, to: writer)
        let before = writer.segments
        #expect(before.count >= 4)
        let keep = before[2].firstSequence + 1
        let removed = try writer.removeSegments(below: keep, movingTo: dir.sub("archive"))
        #expect(removed == Array(before[0..<2]))
        #expect(writer.segments.first == before[2])
        #expect(try PosixStorage.shared.list(dir.sub("archive")) == before[0..<2].map(\.name))
        // The active segment always stays, whatever the sequence.
        try writer.removeSegments(below: UInt64.max)
        #expect(writer.segments.count == 1)
        try writer.close()

        let read = try readAll(dir.path)
        #expect(read.first?.sequence == writer.segments[0].firstSequence)
        #expect(read.last?.sequence == 3_000)
        let report = try JournalVerifier.verify(directory: dir.path)
        #expect(report.ok && report.firstSequence == writer.segments[0].firstSequence)
        #expect(throws: JournalError.self) { _ = try readAll(dir.path, from: 1) }
    }

    @Test func aMissingOrStaleIndexIsRebuilt() throws {
        let dir = TemporaryDirectory("index")
        let records = variedRecords(count: 1_000, seed: 52)
        let writer = try JournalWriter(directory: dir.path, options: smallOptions(segmentBytes: 1 << 20))
        try appendAll(Array(records[..<500]), to: writer)
        try writer.close()
        let segment = try JournalDirectory.segments(dir.path)[0]
        let stale = try PosixStorage.shared.readFile(segment.indexPath)

        let more = try JournalWriter(directory: dir.path, options: smallOptions(segmentBytes: 1 << 20))
        try appendAll(Array(records[500...]), to: more)
        try more.flush()
        // Put back the index of the first 500 records while the segment holds 1,000.
        try PosixStorage.shared.writeAtomically(stale, to: segment.indexPath, durable: false)
        #expect(try readAll(dir.path, from: 900).first?.bytes == records[899].bytes)
        let rebuilt = SegmentIndex.decode(try PosixStorage.shared.readFile(segment.indexPath),
                                          segmentFirstSequence: 1)!
        #expect(rebuilt.count == (try blocks(inSegment: segment.path)).count)
        #expect(rebuilt.offsets == (try blocks(inSegment: segment.path)).map(\.offset))
        // A damaged index is ignored and rewritten.
        try PosixStorage.shared.writeAtomically([1, 2, 3], to: segment.indexPath, durable: false)
        #expect(try readAll(dir.path, from: 777).first?.bytes == records[776].bytes)
        #expect(SegmentIndex.decode(try PosixStorage.shared.readFile(segment.indexPath), segmentFirstSequence: 1) == rebuilt)
        try more.close()
    }

    @Test func seekingByTimeStartsAtOrBeforeTheFirstLaterRecord() throws {
        let dir = TemporaryDirectory("time")
        var stream = OrderLikeRecords(seed: 53)
        let writer = try JournalWriter(directory: dir.path, options: smallOptions())
        var times: [Int64] = []
        for _ in 0..<5_000 {
            try writer.append(stream.next(), timestampNs: stream.timestampNs)
            times.append(stream.timestampNs)
        }
        try writer.close()
        let reader = try JournalReader(directory: dir.path)
        for target in [times[0], times[1_234], times[4_000] + 1, times[4_999]] {
            try reader.seek(toTimestamp: target)
            var first: Int64?
            var reachedTarget = false
            while let record = try reader.nextRecord() {
                if first == nil { first = record.timestampNs }
                if record.timestampNs >= target { reachedTarget = true; break }
            }
            #expect(first! <= target && reachedTarget, "target \(target)")
        }
    }
}
