import Foundation
import Projections
import ProjectionsSQLite
import Testing
import Workloads

/// A standalone projector following a journal that a live node is writing: killed with
/// SIGKILL at seeded moments and started again, it loses and doubles no row; SIGTERM stops it
/// cleanly.
@Suite(.serialized) struct ProjectorFollowTests {
    /// The commands of a seeded simulation, as a client would send them (checkpoints are the
    /// node's own).
    static func commandLines(seed: UInt64, commands: Int) throws -> [String] {
        let source = Scratch("source")
        let journal = try simulate(into: source, seed: seed, commands: commands)
        let export = try exchange(["journal", "export", "--journal", journal])
        return export.stdout.split(separator: "\n").map(String.init).filter { !$0.contains("\"checkpoint\"") }
    }

    /// A node on `data` taking commands on its standard input.
    static func startNode(_ data: String) throws -> (Process, FileHandle) {
        let node = Process()
        node.executableURL = URL(fileURLWithPath: exchangeExecutable)
        node.arguments = ["node", "--data", data, "--stdin", "--fsync", "none", "--checkpoint-every", "500"]
        let input = Pipe()
        node.standardInput = input
        node.standardOutput = FileHandle.nullDevice
        node.standardError = FileHandle.nullDevice
        try node.run()
        return (node, input.fileHandleForWriting)
    }

    static func startProjector(journal: String, db: String, output: Pipe? = nil) throws -> Process {
        let projector = Process()
        projector.executableURL = URL(fileURLWithPath: exchangeExecutable)
        projector.arguments = ["project", "--journal", journal, "--db", db, "--follow", "--batch", "300", "--json"]
        projector.standardOutput = output ?? FileHandle.nullDevice
        projector.standardError = FileHandle.nullDevice
        try projector.run()
        return projector
    }

    @Test(arguments: [UInt64(21), 22])
    func sigkilledWhileFollowingALiveNodeItLosesAndDoublesNothing(seed: UInt64) throws {
        let scratch = Scratch("follow")
        let lines = try Self.commandLines(seed: seed, commands: 12_000)
        let data = scratch.path + "/node"
        let journal = data + "/journal"
        let db = scratch.path + "/rm.sqlite"
        let (node, input) = try Self.startNode(data)
        // The node gets the commands a chunk at a time while the projector is killed and started.
        let fed = DispatchSemaphore(value: 0)
        Thread {
            for start in stride(from: 0, to: lines.count, by: 200) {
                let chunk = lines[start..<min(start + 200, lines.count)].joined(separator: "\n") + "\n"
                input.write(Data(chunk.utf8))
                usleep(8_000)
            }
            try? input.close()
            fed.signal()
        }.start()
        var random = SplitMix64(seed: seed)
        var kills = 0
        while !FileManager.default.fileExists(atPath: journal) { usleep(1_000) }
        for _ in 0..<10 {
            let projector = try Self.startProjector(journal: journal, db: db)
            usleep(useconds_t(20_000 + random.next() % 200_000))
            kill(projector.processIdentifier, SIGKILL)
            projector.waitUntilExit()
            kills += projector.terminationReason == .uncaughtSignal ? 1 : 0
        }
        fed.wait()
        node.waitUntilExit()
        #expect(node.terminationStatus == 0)
        #expect(kills == 10)

        // Finished by a last run, the database equals one built at once from the same journal.
        let last = try exchange(["project", "--journal", journal, "--db", db, "--json"])
        #expect(last.status == 0, "\(last.stderr)")
        #expect((lastJSON(last.stdout)["resumed_from"] as? Int ?? 0) > 0, "the killed runs got somewhere")
        let whole = scratch.path + "/whole.sqlite"
        #expect(try exchange(["project", "--journal", journal, "--db", whole]).status == 0)
        let a = try SQLiteStore(path: db), b = try SQLiteStore(path: whole)
        defer { a.close(); b.close() }
        let expected = try dump(b)
        #expect(expected["trades"]!.count > 1_000)
        #expect(try dump(a) == expected)
    }

    @Test func sigtermStopsAFollowingProjectorCleanly() throws {
        let scratch = Scratch("sigterm")
        let lines = try Self.commandLines(seed: 23, commands: 2_000)
        let data = scratch.path + "/node"
        let (node, input) = try Self.startNode(data)
        input.write(Data((lines.joined(separator: "\n") + "\n").utf8))
        try input.close()
        node.waitUntilExit()
        let db = scratch.path + "/rm.sqlite"
        let output = Pipe()
        let projector = try Self.startProjector(journal: data + "/journal", db: db, output: output)
        // Caught up: the checkpoint reaches the journal's last sequence.
        let info = lastJSON(try exchange(["journal", "info", "--journal", data + "/journal", "--json"]).stdout)
        let end = try #require(info["last_seq"] as? Int)
        var caughtUp = false
        for _ in 0..<6_000 where !caughtUp {
            usleep(10_000)
            if let store = try? SQLiteStore(path: db, mustExist: true, readOnly: true) {
                caughtUp = (try? store.query("SELECT last_seq FROM projection_checkpoint", [])) == [[.int(Int64(end))]]
                store.close()
            }
        }
        #expect(caughtUp)
        kill(projector.processIdentifier, SIGTERM)
        let out = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        projector.waitUntilExit()
        #expect(projector.terminationStatus == 0)
        #expect(lastJSON(out)["last_seq"] as? Int == end)
    }

    /// `exchange node --project`: the node keeps a read model as it runs; stopped, it has
    /// projected all it journaled, the same rows `exchange project` builds from its journal. A
    /// read model that cannot go on (another journal's) is reported; the node does not stop.
    @Test func aNodeKeepsItsReadModelAndGoesOnWithoutABrokenOne() throws {
        let scratch = Scratch("nodeproject")
        let lines = try Self.commandLines(seed: 24, commands: 3_000)
        let file = scratch.path + "/commands.jsonl"
        try (lines.joined(separator: "\n") + "\n").write(toFile: file, atomically: false, encoding: .utf8)
        let db = scratch.path + "/live.sqlite"
        let data = scratch.path + "/node"
        let ran = try exchange(["node", "--data", data, "--stdin", "--fsync", "none", "--project", db, "--json"],
                               stdin: String(decoding: FileManager.default.contents(atPath: file)!, as: UTF8.self))
        #expect(ran.status == 0, "\(ran.stderr)")
        let summary = lastJSON(ran.stderr)
        #expect(summary["projector_ok"] as? Bool == true)
        #expect(summary["projected_seq"] as? Int == summary["last_seq"] as? Int && (summary["last_seq"] as? Int ?? 0) > 3_000)
        let fresh = scratch.path + "/fresh.sqlite"
        #expect(try exchange(["project", "--journal", data + "/journal", "--db", fresh]).status == 0)
        let a = try SQLiteStore(path: db), b = try SQLiteStore(path: fresh)
        defer { a.close(); b.close() }
        #expect(try dump(a) == dump(b))

        // Another node's journal, the same read model: refused, reported, and the node runs on.
        let other = try exchange(["node", "--data", scratch.path + "/other", "--stdin", "--fsync", "none", "--project", db, "--json"],
                                 stdin: lines.prefix(100).joined(separator: "\n") + "\n")
        #expect(other.status == 0)
        #expect(other.stderr.contains("not built from this journal"), "\(other.stderr)")
        let otherSummary = lastJSON(other.stderr)
        #expect(otherSummary["projector_ok"] as? Bool == false && otherSummary["acknowledged"] as? Int == 100)
        #expect(try dump(a) == dump(b))
    }
}
