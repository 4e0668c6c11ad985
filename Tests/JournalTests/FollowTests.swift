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
}
