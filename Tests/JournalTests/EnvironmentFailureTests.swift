import Foundation
import Testing
@testable import Journal
import Workloads

/// Whether this process may mount file systems (root, as CI runs). The tests that need a small
/// tmpfs are skipped otherwise, and the test run says so.
let canMount = geteuid() == 0

/// A second writer, a full disk and a read-only file system: each a clear typed error, nothing
/// half-written. The disk tests mount small tmpfs file systems; run as a user who may not, they
/// are reported as skipped.
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

    @Test(.enabled(if: canMount, "mounting a tmpfs needs root: skipped"))
    func aFullDiskIsATypedErrorAndTheBlockWaitsInMemory() throws {
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
            #expect(!(try PosixStorage.shared.list(journal)).contains { $0.hasSuffix(".tmp") }, "no half-made segment")
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

    @Test(.enabled(if: canMount, "mounting a tmpfs needs root: skipped"))
    func aReadOnlyFileSystemRefusesTheWriterAndStillReads() throws {
        try withTmpfs(kib: 4096) { mount in
            let journal = mount + "/journal"
            let writer = try JournalWriter(directory: journal, options: smallOptions())
            try appendAll(variedRecords(count: 300, seed: 41), to: writer)
            try writer.close()
            try PosixStorage.shared.remove(journal + "/" + SegmentCatalog.name(1).replacingOccurrences(of: ".seg", with: ".idx"))
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

    /// An import that meets a full disk part way says which lines are in the journal, and
    /// `--from-line` goes on from the first that is not once there is room again: the journal
    /// then holds the file once, as an import on a roomy disk does.
    @Test(.enabled(if: canMount, "mounting a tmpfs needs root: skipped"))
    func anImportThatMeetsAFullDiskSaysWhereToGoOnFrom() throws {
        let dir = TemporaryDirectory("import-full")
        var random = SplitMix64(seed: 9)
        var lines = [#"{"cmd":"open_account","account":1}"#]
        for _ in 0..<100_000 {
            // Client ids of random digits keep LZ4 from packing the records into nothing.
            lines.append(#"{"cmd":"cancel","account":1,"symbol":"BTCUSDT","client_id":"\#(random.next())"}"#)
        }
        let file = dir.sub("commands.jsonl")
        try (lines.joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        try withTmpfs(kib: 2600) { mount in
            // Ballast leaves room for one 1,100 KiB segment (the least that holds a 1 MiB
            // record), not two.
            #expect(try shell("head -c 600000 /dev/zero > \(mount)/ballast") == 0)
            let journal = mount + "/journal"
            let full = try run(exchangeExecutable, ["journal", "import", file, "--journal", journal, "--segment-kib", "1100"])
            #expect(full.status != 0)
            #expect(full.stderr.contains("no space left"), "\(full.stderr)")
            // "lines 1…N are in the journal as sequences 1…N; --from-line N+1 goes on from there"
            let said = full.stderr.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            let resume = try #require(said.last.flatMap { $0.split(separator: " ").dropFirst().first }.flatMap { Int($0) })
            #expect(resume > 1 && resume <= lines.count, "\(full.stderr)")
            let verified = try JournalVerifier.verify(directory: journal)
            #expect(verified.ok && verified.lastSequence == UInt64(resume - 1), "the journal holds exactly the lines reported")

            #expect(try shell("rm \(mount)/ballast") == 0)
            let rest = try run(exchangeExecutable, ["journal", "import", file, "--journal", journal, "--from-line", "\(resume)"])
            #expect(rest.status == 0, "\(rest.stderr)")
            let roomy = dir.sub("roomy")
            #expect(try run(exchangeExecutable, ["journal", "import", file, "--journal", roomy]).status == 0)
            let resumed = try run(exchangeExecutable, ["journal", "export", "--journal", journal]).stdout
            #expect(resumed == (try run(exchangeExecutable, ["journal", "export", "--journal", roomy]).stdout))
        }
    }

    /// A snapshot that meets a full disk is reported, and the node goes on: every command is
    /// acknowledged and journaled, and the process ends well.
    @Test(.enabled(if: canMount, "mounting a tmpfs needs root: skipped"))
    func aSnapshotThatMeetsAFullDiskDoesNotStopTheNode() throws {
        let dir = TemporaryDirectory("snapshot-full")
        let data = dir.sub("data")
        try FileManager.default.createDirectory(atPath: data + "/snapshots", withIntermediateDirectories: true)
        #expect(try shell("mount -t tmpfs -o size=64k tmpfs \(data)/snapshots") == 0)
        defer { _ = try? shell("umount \(data)/snapshots") }
        // The snapshots' file system is full before the node starts.
        _ = try shell("head -c 1000000 /dev/zero > \(data)/snapshots/ballast")
        let golden = try String(contentsOfFile: packageRoot + "/Journal/golden/commands-v1/commands.jsonl", encoding: .utf8)
        let deposits = (0..<2_000).map { _ in #"{"cmd":"deposit","account":1,"asset":"USD","amount":"1"}"# }
        let input = golden + deposits.joined(separator: "\n") + "\n"
        let result = try run(exchangeExecutable, ["node", "--data", data, "--stdin", "--fsync", "none",
                                                  "--snapshot-every", "500", "--json"], stdin: input)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("snapshot writes failed"), "\(result.stderr)")
        let summary = lastJSON(result.stderr)
        #expect((summary["snapshot_failures"] as? Int ?? 0) >= 1)
        #expect(summary["acknowledged"] as? Int == 2_045)
        // Everything acknowledged is in the journal, and it replays to the node's state.
        let replay = lastJSON(try run(exchangeExecutable, ["journal", "replay", "--journal", data + "/journal", "--json"]).stdout)
        #expect(replay["last_seq"] as? Int == 2_045)
        #expect(replay["state_digest"] as? String == summary["state_digest"] as? String)
    }
}
