import Foundation
import Testing
@testable import Journal
import _JournalTesting

/// A second writer, a full disk and a read-only file system: each a clear typed error, nothing
/// half-written. The disk tests mount small tmpfs file systems (the suite runs as root, as CI
/// does); a mount that fails is a test failure, not a skip.
@Suite(.serialized) struct EnvironmentFailureTests {
    @Test func aSecondWriterIsRefusedInThisProcessAndAnother() throws {
        let dir = TemporaryDirectory("lock")
        let first = try JournalWriter(directory: dir.path, options: smallOptions())
        try first.append([1], timestampNs: 1)
        #expect(throws: JournalError.locked(path: dir.sub("LOCK"))) {
            try JournalWriter(directory: dir.path, options: smallOptions())
        }
        let other = try run(exchangeExecutable, ["journal", "generate", "--journal", dir.path, "--records", "10"])
        #expect(other.status != 0)
        #expect(other.stderr.contains("locked by another writer"), "\(other.stderr)")
        #expect(other.stderr.split(separator: "\n").count == 1)
        try first.close()
        let second = try JournalWriter(directory: dir.path, options: smallOptions())
        #expect(second.lastSequence == 1)
        try second.close()
    }

    /// A tmpfs of `kib` KiB at a new mount point, unmounted at the end of `body`.
    func withTmpfs(kib: Int, _ body: (String) throws -> Void) throws {
        let dir = TemporaryDirectory("mnt")
        let status = try shell("mount -t tmpfs -o size=\(kib)k tmpfs \(dir.path)")
        try #require(status == 0, "mounting a tmpfs needs root (CI runs as root)")
        defer { _ = try? shell("umount \(dir.path)") }
        try body(dir.path)
    }

    @Test func aFullDiskIsATypedErrorAndTheBlockWaitsInMemory() throws {
        try withTmpfs(kib: 1200) { mount in
            let journal = mount + "/journal"
            // Ballast leaves room for one 512 KiB segment, not two.
            #expect(try shell("head -c 400000 /dev/zero > \(mount)/ballast") == 0)
            let options = smallOptions(durability: .always, segmentBytes: 512 << 10, blockBytesMax: 16 << 10)
            let writer = try JournalWriter(directory: journal, options: options)
            var stream = OrderLikeRecords(seed: 3)
            var appended: [[UInt8]] = []
            var failure: JournalError?
            for _ in 0..<20_000 {
                let record = stream.next()
                do {
                    try writer.append(record, timestampNs: stream.timestampNs)
                    appended.append(record)
                } catch {
                    failure = error as? JournalError
                    break
                }
            }
            #expect(failure == .noSpace(path: journal + "/" + SegmentCatalog.name(writer.writtenSequence + 1) + ".tmp"))
            #expect(!(try FileSystem.list(journal)).contains { $0.hasSuffix(".tmp") }, "no half-made segment")
            // What was acknowledged is on disk; the refused record was not appended.
            #expect(writer.durableSequence == writer.writtenSequence)
            #expect(UInt64(appended.count) == writer.lastSequence)
            #expect(try readAll(journal).count == Int(writer.writtenSequence))
            // Free the ballast: the waiting block goes out and nothing is lost.
            #expect(try shell("rm \(mount)/ballast") == 0)
            try writer.flush()
            #expect(writer.durableSequence == writer.lastSequence)
            try writer.close()
            #expect(try readAll(journal).map(\.bytes) == appended)
            #expect(try JournalVerifier.verify(directory: journal).ok)
        }
    }

    @Test func aReadOnlyFileSystemRefusesTheWriterAndStillReads() throws {
        try withTmpfs(kib: 4096) { mount in
            let journal = mount + "/journal"
            let writer = try JournalWriter(directory: journal, options: smallOptions())
            try appendAll(variedRecords(count: 300, seed: 41), to: writer)
            try writer.close()
            try FileSystem.remove(journal + "/" + SegmentCatalog.name(1).replacingOccurrences(of: ".seg", with: ".idx"))
            #expect(try shell("mount -o remount,ro \(mount)") == 0)
            #expect(throws: JournalError.readOnly(path: journal + "/LOCK")) {
                try JournalWriter(directory: journal, options: smallOptions())
            }
            #expect(throws: JournalError.readOnly(path: mount + "/other/")) {
                try JournalWriter(directory: mount + "/other", options: smallOptions())
            }
            // Readers need no write access; a missing index is rebuilt in memory only.
            #expect(try readAll(journal).count == 300)
            #expect(try JournalVerifier.verify(directory: journal).ok)
        }
    }
}
