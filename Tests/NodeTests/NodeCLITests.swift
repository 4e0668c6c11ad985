import Codec
import Foundation
import Journal
import Node
import Testing

/// `exchange sim | snapshot | journal replay --from-snapshot --since --until | node`, through
/// the real binary.
@Suite struct NodeCLITests {
    @Test func simPrintsItsSeedDigestAndTradesAndIsRepeatable() throws {
        let scratch = Scratch("simcli")
        let a = try exchange(["sim", "--seed", "9", "--commands", "3000", "--journal", scratch.path + "/a", "--json"])
        let b = try exchange(["sim", "--seed", "9", "--commands", "3000", "--journal", scratch.path + "/b", "--json",
                              "--mix", "makers=40,momentum=15,noise=15,storms=10,invalid=10,transfers=10"])
        #expect(a.status == 0 && b.status == 0, "\(a.stderr) \(b.stderr)")
        let ja = lastJSON(a.stdout), jb = lastJSON(b.stdout)
        for key in ["last_seq", "state_digest", "trades", "seed", "chain_head"] {
            #expect(ja[key] != nil, "sim --json lacks \(key)")
        }
        #expect(ja["state_digest"] as? String == jb["state_digest"] as? String)
        #expect(ja["chain_head"] as? String == jb["chain_head"] as? String)
        // A replay counts the trades the agents saw, and writes that many trade events.
        let events = scratch.path + "/a-events.jsonl"
        let replay = lastJSON(try exchange(["journal", "replay", "--journal", scratch.path + "/a", "--events", events, "--json"]).stdout)
        let tradeLines = try String(contentsOfFile: events, encoding: .utf8).split(separator: "\n")
            .filter { $0.contains("\"event\":\"trade\"") }.count
        #expect(replay["trades"] as? Int == ja["trades"] as? Int && tradeLines == ja["trades"] as? Int)
        let human = try exchange(["sim", "--seed", "9", "--commands", "100", "--journal", scratch.path + "/c"])
        #expect(human.stdout.contains("seed 9"))
        let badMix = try exchange(["sim", "--seed", "9", "--journal", scratch.path + "/d", "--mix", "whales=3"])
        #expect(badMix.status != 0 && badMix.stderr.split(separator: "\n").count == 1)
    }

    @Test func simulateFaultsReportsItsSeedsAndReproducesAFailure() throws {
        let run = try exchange(["simulate-faults", "--seed", "3", "--seeds", "2", "--steps", "800", "--json"])
        #expect(run.status == 0, "\(run.stdout) \(run.stderr)")
        let lines = run.stdout.split(separator: "\n")
        #expect(lines.count == 3, "one line per seed and a summary: \(run.stdout)")
        let summary = lastJSON(run.stdout)
        #expect(summary["seeds"] as? Int == 2 && summary["seeds_per_minute"] != nil && summary["fault_kinds"] != nil)
        let lying = try exchange(["simulate-faults", "--seed", "1", "--steps", "3000", "--lying-disk"])
        #expect(lying.status == 1)
        #expect(lying.stdout.contains("FAILED seed 1, step "))
        #expect(lying.stdout.contains("reproduce: exchange simulate-faults --seed 1 --steps 3000 --lying-disk"))
    }

    /// The simulator's clock gives sequence s the time 2026-01-01T00:00:00Z + s ms.
    @Test func replayTimeWindowsAndSnapshots() throws {
        let scratch = Scratch("window")
        let sim = try exchange(["sim", "--seed", "4", "--commands", "6000", "--data", scratch.path, "--json"])
        #expect(sim.status == 0, "\(sim.stderr)")
        let journal = scratch.data.journal
        let full = lastJSON(try exchange(["journal", "replay", "--journal", journal, "--json"]).stdout)

        // A snapshot offline (no node runs), then list and verify.
        let created = try exchange(["snapshot", "create", "--data", scratch.path, "--json"])
        #expect(created.status == 0, "\(created.stderr)")
        #expect(lastJSON(created.stdout)["state_digest"] as? String == full["state_digest"] as? String)
        let listed = try exchange(["snapshot", "list", "--data", scratch.path, "--json"])
        #expect(listed.stdout.contains("\"seq\":\(full["last_seq"]!)"))
        let verified = try exchange(["snapshot", "verify", "--data", scratch.path, "--json"])
        #expect(verified.status == 0 && lastJSON(verified.stdout)["ok"] as? Bool == true)

        // A snapshot at seq 3000 for the windows below (state up to 3000 through `--to-seq`).
        let prefix = try Recovery.rebuild(journal: journal, RebuildOptions(toSeq: 3_000)).replayer
        try SnapshotStore.write(prefix.engine.canonicalState(), sequence: 3_000, timestampNs: prefix.lastTimestampNs,
                                createdNs: 0, to: scratch.data.snapshots)

        // From the newest snapshot: the same digest, only the tail replayed.
        let fromNewest = lastJSON(try exchange(["journal", "replay", "--journal", journal, "--from-snapshot", "--json"]).stdout)
        #expect(fromNewest["state_digest"] as? String == full["state_digest"] as? String)
        #expect(fromNewest["commands"] as? Int == 0)
        // From a named file.
        let file = scratch.data.snapshots + "/" + SnapshotStore.fileName(sequence: 3_000)
        let fromFile = lastJSON(try exchange(["journal", "replay", "--journal", journal, "--snapshot", file, "--json"]).stdout)
        #expect(fromFile["snapshot_seq"] as? Int == 3_000 && fromFile["state_digest"] as? String == full["state_digest"] as? String)

        // A window: seq 4000 is stamped 2026-01-01T00:00:04Z, seq 5000 …05Z.
        let events = scratch.path + "/window.jsonl"
        let window = try exchange(["journal", "replay", "--journal", journal, "--from-snapshot",
                                   "--since", "2026-01-01T00:00:04Z", "--until", "1767225605000000000",
                                   "--events", events, "--json"])
        #expect(window.status == 0, "\(window.stderr)")
        let w = lastJSON(window.stdout)
        #expect(w["last_seq"] as? Int == 5_000)
        #expect(w["snapshot_seq"] as? Int == 3_000, "the newest snapshot before --since is used")
        let seqs = try String(contentsOfFile: events, encoding: .utf8).split(separator: "\n").compactMap { line in
            Int(line.dropFirst(7).prefix { $0.isNumber })
        }
        #expect(seqs.first == 4_000 && seqs.last == 5_000)
        // The same window replayed from the start writes the same events.
        let events2 = scratch.path + "/window2.jsonl"
        _ = try exchange(["journal", "replay", "--journal", journal, "--since", "2026-01-01T00:00:04Z",
                          "--until", "2026-01-01T00:00:05Z", "--events", events2])
        #expect(try String(contentsOfFile: events, encoding: .utf8) == String(contentsOfFile: events2, encoding: .utf8))
        let badTime = try exchange(["journal", "replay", "--journal", journal, "--since", "yesterday"])
        #expect(badTime.status != 0 && badTime.stderr.contains("--since"))
    }

    /// A node asked for a snapshot by `exchange snapshot create` while it runs, then stopped by
    /// SIGTERM: it syncs, closes, and says where it stopped.
    @Test func aRunningNodeTakesASnapshotOnRequestAndStopsOnSIGTERM() throws {
        let scratch = Scratch("running")
        let sim = try exchange(["sim", "--seed", "2", "--commands", "2000", "--data", scratch.path])
        #expect(sim.status == 0)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: exchangeExecutable)
        process.arguments = ["node", "--data", scratch.path, "--json"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Wait for the line that says it is up (printed after its pid file is written).
        var early = Data()
        while !String(decoding: early, as: UTF8.self).contains("node on ") {
            let more = output.fileHandleForReading.availableData
            if more.isEmpty { break }
            early.append(more)
        }
        #expect(FileManager.default.fileExists(atPath: scratch.path + "/node.pid"))
        let created = try exchange(["snapshot", "create", "--data", scratch.path, "--json", "--timeout", "20"])
        #expect(created.status == 0, "\(created.stderr)")
        let snapshot = lastJSON(created.stdout)
        kill(process.processIdentifier, SIGTERM)
        let out = String(decoding: early + output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let stopped = lastJSON(out)
        #expect(stopped["state_digest"] as? String == snapshot["state_digest"] as? String)
        #expect(stopped["last_seq"] as? Int == snapshot["seq"] as? Int)
        #expect(!FileManager.default.fileExists(atPath: scratch.path + "/node.pid"))
    }

    /// A pid file left by a node that died, its number since reused by another program: that
    /// program is not signalled, and the snapshot is made offline.
    @Test func aStalePidFileIsNotSignalled() throws {
        let scratch = Scratch("stalepid")
        #expect(try exchange(["sim", "--seed", "3", "--commands", "500", "--data", scratch.path]).status == 0)
        let bystander = Process()
        bystander.executableURL = URL(fileURLWithPath: "/bin/sleep")
        bystander.arguments = ["30"]
        try bystander.run()
        defer { bystander.terminate() }
        try "\(bystander.processIdentifier)\n".write(toFile: scratch.path + "/node.pid", atomically: true, encoding: .utf8)
        let created = try exchange(["snapshot", "create", "--data", scratch.path, "--json"])
        #expect(created.status == 0, "\(created.stderr)")
        #expect(bystander.isRunning, "snapshot create signalled a process that is not a node")
        #expect(try SnapshotStore.list(scratch.data.snapshots).count == 1)
    }

    /// A node that has acknowledged everything and gone idle has recorded its durable point, so
    /// damage to its last block is refused at the next start (not cut off as a torn write),
    /// unless the operator passes --accept-data-loss.
    @Test func damageToAcknowledgedCommandsIsRefusedAtStartUnlessAccepted() throws {
        let scratch = Scratch("acked-damage")
        let lines = marketCommands(seed: 9, count: 300).map { CommandJSON.encode($0, seq: 0, timestampNs: 0) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: exchangeExecutable)
        process.arguments = ["node", "--data", scratch.path, "--stdin", "--fsync", "always"]
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        input.fileHandleForWriting.write(Data((lines.joined(separator: "\n") + "\n").utf8))
        // Read acknowledgements until the last command's ({"seq":N,...} lines).
        let last = lines.count
        var seen = Data()
        while !String(decoding: seen, as: UTF8.self).contains("{\"seq\":\(last),") {
            let more = output.fileHandleForReading.availableData
            if more.isEmpty { break }
            seen.append(more)
        }
        // Idle now (stdin still open): the mark reaches the last command. 60 s is a liveness bound.
        var mark: UInt64?
        try eventually {
            mark = try JournalVerifier.verify(directory: scratch.data.journal).durableMark
            return mark == UInt64(last)
        }
        #expect(mark == UInt64(last))
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        try? input.fileHandleForWriting.close()

        // One bit of the last block's payload (the last non-zero bytes of the last segment).
        let segment = try JournalDirectory.segments(scratch.data.journal).last!.path
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: segment)))
        let end = bytes.lastIndex { $0 != 0 }!
        bytes[end - 4] ^= 0x08
        try Data(bytes).write(to: URL(fileURLWithPath: segment))

        let refused = try exchange(["node", "--data", scratch.path, "--stdin"], stdin: "")
        #expect(refused.stdout.isEmpty)
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("DURABLE") && refused.stderr.contains("through \(last)"), "\(refused.stderr)")
        #expect(try [UInt8](Data(contentsOf: URL(fileURLWithPath: segment))) == bytes, "a refusal changes nothing")
        let verify = try exchange(["journal", "verify", "--journal", scratch.data.journal, "--json"])
        #expect(verify.status != 0)
        let verified = lastJSON(verify.stdout)
        #expect(verified["ok"] as? Bool == false && verified["durable_mark"] as? Int == last)

        let accepted = try exchange(["node", "--data", scratch.path, "--stdin", "--accept-data-loss", "--json"], stdin: "")
        #expect(accepted.status == 0, "\(accepted.stderr)")
        #expect(accepted.stderr.contains("ACCEPTED THE LOSS"))
        let kept = lastJSON(accepted.stderr)["last_seq"] as? Int ?? -1
        #expect(kept >= 0 && kept < last)
        #expect(try exchange(["journal", "verify", "--journal", scratch.data.journal]).status == 0)
    }
}
