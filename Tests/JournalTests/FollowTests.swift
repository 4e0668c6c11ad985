import Foundation
import Testing
@testable import Journal
import Workloads

@Suite struct FollowTests {
    @Test func aFollowerSeesWhatAnotherProcessAppends() throws {
        let dir = TemporaryDirectory("follow")
        let count = 80_000
        let process = Process()
        process.executableURL = URL(fileURLWithPath: exchangeExecutable)
        // Small segments and frequent flushes: the follower crosses rolls while they happen.
        process.arguments = ["journal", "generate", "--journal", dir.path, "--records", "\(count)",
                             "--batch", "100", "--fsync", "none", "--segment-kib", "1024", "--seed", "8"]
        try process.run()

        var expected = OrderLikeRecords(seed: 8)
        var seen = 0
        let reader = try JournalReader(directory: dir.path)
        var idleRounds = 0
        while seen < count && idleRounds < 200 {
            while let record = try reader.nextRecord() {
                seen += 1
                #expect(record.sequence == UInt64(seen))
                #expect(record.bytes == expected.next(), "record \(seen)")
                #expect(record.timestampNs == expected.timestampNs)
            }
            if seen < count { idleRounds = try reader.waitForData(timeoutNs: 50_000_000) ? 0 : idleRounds + 1 }
        }
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        #expect(seen == count)
        #expect(try JournalDirectory.segments(dir.path).count > 1, "the writer rolled segments")
        #expect(try reader.nextRecord() == nil)
        #expect(try reader.waitForData(timeoutNs: 1_000_000) == false)
    }

    @Test func aFollowerWaitsForTheFirstSegmentAndWakesOnNewBlocks() throws {
        let dir = TemporaryDirectory("follow-empty")
        let writer = try JournalWriter(directory: dir.path, options: smallOptions())
        let reader = try JournalReader(directory: dir.path)
        #expect(try reader.nextRecord() == nil)
        #expect(try reader.waitForData(timeoutNs: 1_000_000) == false)
        try writer.append([9], timestampNs: 1)
        #expect(try reader.waitForData(timeoutNs: 1_000_000) == false, "an open block is not visible")
        try writer.flush()
        #expect(try reader.waitForData(timeoutNs: 1_000_000_000))
        #expect(try reader.nextRecord()?.bytes == [9])
        try writer.append([10], timestampNs: 2)
        try writer.flush()
        #expect(try reader.waitForData(timeoutNs: 1_000_000_000))
        #expect(try reader.nextRecord()?.sequence == 2)
        try writer.close()
    }

    /// `journal verify` on a journal being written checks the prefix the writer has published,
    /// as a reader does: blocks appearing while it looks past the end are not corruption. (A
    /// block caught mid-write, its magic not yet stored, reads as a torn tail at that moment.)
    /// A writer that retires segments in front of a follower (the node behind a snapshot)
    /// shortens the segment list; the follower finds its place again and reads on. (It used to
    /// take the shorter list for the end and stop for good.)
    @Test func aFollowerReadsOnWhenTheWriterRetiresSegmentsInFrontOfIt() throws {
        let dir = TemporaryDirectory("follow-retire")
        let writer = try JournalWriter(directory: dir.path, options: smallOptions(segmentBytes: 8 << 10, blockBytesMax: 1 << 10))
        let records = variedRecords(count: 3_000, seed: 31)
        let reader = try JournalReader(directory: dir.path)
        var seen = 0
        func readAll() throws {
            _ = try reader.waitForData(timeoutNs: 0)
            while let r = try reader.nextRecord() {
                seen += 1
                #expect(r.sequence == UInt64(seen) && r.bytes == records[seen - 1].bytes)
            }
        }
        var retired = 0
        for (i, record) in records.enumerated() {
            try writer.append(record.bytes, timestampNs: record.timestampNs)
            if i % 50 == 49 {
                try writer.flush()
                try readAll()
                // Keep two segments: everything the reader has passed may go.
                if writer.segments.count > 2 {
                    retired += try writer.removeSegments(below: writer.segments[writer.segments.count - 2].firstSequence).count
                }
            }
        }
        try writer.flush()
        try readAll()
        #expect(retired > 3, "segments retired under the reader: \(retired)")
        #expect(seen == records.count)
        try writer.close()
    }

    @Test func verifyOnALiveJournalReportsNoCorruption() throws {
        let dir = TemporaryDirectory("verify-live")
        // Handed to the writing thread and not touched here again.
        nonisolated(unsafe) let writer = try JournalWriter(directory: dir.path, options: smallOptions(segmentBytes: 256 << 10))
        let records = variedRecords(count: 40_000, seed: 21)
        let finished = DispatchSemaphore(value: 0)
        // The writer runs on its own thread; the checks below are made whatever the interleaving
        // (each one must hold at every point of the writer's progress).
        let thread = Thread {
            defer { finished.signal() }
            for (k, record) in records.enumerated() {
                try! writer.append(record.bytes, timestampNs: record.timestampNs)
                if k % 7 == 0 { try! writer.flush() }
            }
            try! writer.close()
        }
        thread.start()
        var checks = 0
        var lastSeen: UInt64 = 0
        while true {
            let done = finished.wait(timeout: .now()) == .success
            let report = try JournalVerifier.verify(directory: dir.path)
            checks += 1
            #expect(report.ok, "check \(checks): \(report.error.map { "\($0)" } ?? "")")
            #expect(report.lastSequence >= lastSeen, "check \(checks): the verified prefix only grows")
            lastSeen = report.lastSequence
            if done || !report.ok { break }
        }
        let final = try JournalVerifier.verify(directory: dir.path)
        #expect(final.ok && final.records == UInt64(records.count) && final.tornTail == nil)
        #expect(try JournalDirectory.segments(dir.path).count > 1, "the writer rolled segments")
    }
}
