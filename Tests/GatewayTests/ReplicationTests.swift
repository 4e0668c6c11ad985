import Foundation
import Testing
import _ProcessTesting

/// Replicas as real processes on loopback: a replica follows its primary's journal byte for
/// byte, serves what a Binance client reads, refuses orders naming the primary, and takes over
/// when promoted; a primary with `--ack-replicas 1` acknowledges nothing its replica lacks; a
/// block damaged in transit is fetched again; a replica follows a primary that restarts.
@Suite(.serialized) struct ReplicationTests {
    let market = marketSetup + #"{"cmd":"deposit","account":7,"asset":"BTC","amount":"1"}"# + "\n"

    /// The `.seg` files of a data directory's journal, by name.
    func segments(_ data: String) throws -> [String: Data] {
        var out: [String: Data] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: data + "/journal") where name.hasSuffix(".seg") {
            out[name] = try Data(contentsOf: URL(fileURLWithPath: data + "/journal/" + name))
        }
        return out
    }

    /// Waits until `node`'s status satisfies `ready` (a replica catches up on its own: the
    /// limit is a liveness bound, not a measurement); the last status.
    @discardableResult
    func waitForStatus(_ node: RunningNode, _ ready: ([String: Any]) -> Bool) throws -> [String: Any] {
        let deadline = Date().addingTimeInterval(60)
        while true {
            let status = try node.call("status")
            if ready(status) { return status }
            guard Date() < deadline else { throw Failure("status never became ready: \(status)") }
            usleep(20_000)
        }
    }

    func seq(_ status: [String: Any], _ key: String) -> Int { (status[key] as? NSNumber)?.intValue ?? -1 }

    /// The last line of a node's output, a `--json` summary.
    func summary(_ output: String) -> [String: Any] {
        let line = output.split(separator: "\n").last { $0.hasPrefix("{\"last_seq\"") } ?? ""
        return ((try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]) ?? [:]
    }

    func makeReplicaDirectory(_ replica: String, from primary: String) throws {
        try FileManager.default.createDirectory(atPath: replica, withIntermediateDirectories: true)
        // The replica opens the primary's sealed HMAC secrets with the primary's node key.
        try FileManager.default.copyItem(atPath: primary + "/node.key", toPath: replica + "/node.key")
    }

    @Test func aReplicaFollowsServesReadsRefusesOrdersAndTakesOverWhenPromoted() throws {
        let scratch = Scratch("replica")
        let p = scratch.path + "/primary", r = scratch.path + "/replica"
        let primary = try RunningNode(data: p, options: ["--replication-listen", "127.0.0.1:0", "--checkpoint-every", "10", "--json"])
        var primaryStopped = false
        defer { if !primaryStopped { primary.stop() } }
        _ = try primary.admin("submit", ["-"], stdin: market)
        let key = try primary.createKey(account: 7)
        try makeReplicaDirectory(r, from: p)
        let replica = try RunningNode(data: r, options: ["--primary", try #require(primary.replication), "--checkpoint-every", "10",
                                                         "--json", "--name", "second"], command: "replica")
        var replicaStopped = false
        defer { if !replicaStopped { replica.stop() } }

        let config = scratch.path + "/replica.json"
        try JSONSerialization.data(withJSONObject: ["primary": primary.api, "replica": replica.api, "key": key])
            .write(to: URL(fileURLWithPath: config))
        let follow = try runClient("replica_client.py", [config, "follow"])
        #expect(follow.contains("all checks passed"), "\(follow)")

        // Both sides say where the other is; the replica has everything, durable and applied.
        let last = seq(try primary.call("status"), "last_seq")
        let seen = try waitForStatus(replica) { seq($0, "applied_seq") == last }
        #expect(seen["role"] as? String == "replica")
        let upstream = try #require(seen["primary"] as? [String: Any])
        #expect(upstream["connected"] as? Bool == true && upstream["leader"] as? String == primary.api)
        let status = try waitForStatus(primary) { s in
            (s["replicas"] as? [[String: Any]])?.first.map { seq($0, "applied_seq") == last } ?? false
        }
        let listed = try #require((status["replicas"] as? [[String: Any]])?.first)
        #expect(listed["name"] as? String == "second" && seq(listed, "durable_seq") == last && seq(listed, "lag_seq") == 0)
        #expect(seen["chain_head"] as? String == status["chain_head"] as? String)

        // The primary stops; the replica's journal is its journal, byte for byte.
        let stopped = primary.stop()
        primaryStopped = true
        #expect(stopped.status == 0, "\(stopped.output)")
        let primaryEnd = summary(stopped.output)
        #expect(seq(primaryEnd, "last_seq") == last)
        let primarySegments = try segments(p)
        #expect(!primarySegments.isEmpty)
        #expect(try segments(r) == primarySegments)

        // Promoted, the replica takes orders after the primary's last command, with its key.
        let promoted = try replica.call("promote")
        #expect(promoted["promoted"] as? Bool == true && seq(promoted, "last_seq") == last, "\(promoted)")
        #expect(seq(promoted, "epoch") == 1, "the first term of this journal")
        let after = try runClient("replica_client.py", [config, "promoted"])
        #expect(after.contains("all checks passed"), "\(after)")
        #expect(try replica.call("status")["role"] as? String == "primary")
        let ended = replica.stop()
        replicaStopped = true
        #expect(ended.status == 0, "\(ended.output)")
        let replicaEnd = summary(ended.output)
        #expect(seq(replicaEnd, "last_seq") > last)
        // Its journal holds the primary's commands and its own, and verifies (chain and
        // checkpoints: the primary's verified by the replica's replay, then its own).
        let verify = try exchange(["journal", "verify", "--journal", r + "/journal", "--json"])
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
        let replay = try exchange(["journal", "replay", "--journal", r + "/journal", "--json"])
        #expect(replay.status == 0, "\(replay.stderr)")
        #expect(replay.stdout.contains(try #require(replicaEnd["state_digest"] as? String)), "\(replay.stdout)")
    }

    @Test func aQuorumPrimaryWaitsForItsReplicaWhichRefetchesADamagedBlockAndFollowsARestart() throws {
        let scratch = Scratch("quorum")
        let p = scratch.path + "/primary", r = scratch.path + "/replica"
        var primary = try RunningNode(data: p, options: ["--replication-listen", "127.0.0.1:0", "--ack-replicas", "1"])
        defer { primary.stop() }
        let replicationAddress = try #require(primary.replication)
        let replicationPort = try #require(replicationAddress.split(separator: ":").last.map(String.init))

        // With no replica, the setup's first command is journaled but not acknowledged: the
        // submission (one command at a time) waits.
        let submit = Process()
        submit.executableURL = URL(fileURLWithPath: exchangeExecutable)
        submit.arguments = ["admin", "submit", "--node", primary.admin, "--data", p, "-"]
        // Its output goes to a file: a pipe's write end would be inherited by the processes
        // started after it, and never reach its end while they run.
        let outputPath = scratch.path + "/submitted.jsonl"
        FileManager.default.createFile(atPath: outputPath, contents: nil)
        let output = try #require(FileHandle(forWritingAtPath: outputPath))
        let input = Pipe()
        submit.standardInput = input
        submit.standardOutput = output
        submit.standardError = output
        try submit.run()
        try output.close()
        input.fileHandleForWriting.write(Data(market.utf8))
        try input.fileHandleForWriting.close()
        let waiting = try waitForStatus(primary) { seq($0, "last_seq") == 1 }
        #expect(seq(waiting, "durable_seq") == 0 && seq(waiting, "applied_seq") == 0, "\(waiting)")
        #expect(submit.isRunning)

        // The replica connects through a proxy that damages the first block it carries.
        let proxy = Process()
        proxy.executableURL = URL(fileURLWithPath: clientsPython)
        proxy.arguments = [clientScript("flip_proxy.py"), "127.0.0.1", replicationPort]
        let proxyOut = Pipe()
        proxy.standardOutput = proxyOut
        proxy.standardError = FileHandle.nullDevice
        try proxy.run()
        defer {
            kill(proxy.processIdentifier, SIGKILL)
            proxy.waitUntilExit()
        }
        let line = String(decoding: proxyOut.fileHandleForReading.availableData, as: UTF8.self)
        let proxyPort = try #require(line.split(separator: " ").last.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) })
        try makeReplicaDirectory(r, from: p)
        let replica = try RunningNode(data: r, options: ["--primary", "127.0.0.1:" + proxyPort], command: "replica")
        var replicaStopped = false
        defer { if !replicaStopped { replica.stop() } }

        // Once the replica has the block again, intact, the setup is acknowledged.
        submit.waitUntilExit()
        let events = try String(contentsOfFile: outputPath, encoding: .utf8)
        #expect(submit.terminationStatus == 0, "\(events)")
        #expect(events.split(separator: "\n").count == 8 && !events.contains("error"), "\(events)")
        let primaryStatus = try waitForStatus(primary) { seq($0, "durable_seq") == 8 }
        let replicaStatus = try waitForStatus(replica) { seq($0, "applied_seq") == 8 }
        #expect(replicaStatus["chain_head"] as? String == primaryStatus["chain_head"] as? String)

        // The primary dies and comes back on the same port; the replica follows it again, and
        // what the primary acknowledges after that, the replica has.
        primary.kill9()
        primary = try RunningNode(data: p, options: ["--replication-listen", "127.0.0.1:" + replicationPort, "--ack-replicas", "1"])
        let more = (0..<5).map { i in
            #"{"cmd":"place","account":7,"symbol":"BTCUSDT","side":"BUY","type":"LIMIT","price":"\#(20_000 + i)","qty":"0.001"}"#
        }.joined(separator: "\n") + "\n"
        let placed = try primary.admin("submit", ["-"], stdin: more)
        #expect(placed.split(separator: "\n").count == 10, "\(placed)")  // accepted and booked, each
        let last = try waitForStatus(replica) { seq($0, "applied_seq") == 13 }
        #expect(last["chain_head"] as? String == (try primary.call("status"))["chain_head"] as? String)

        let ended = replica.stop()
        replicaStopped = true
        #expect(ended.output.contains("a damaged block arrived"), "\(ended.output)")
        #expect(try segments(r) == segments(p))
    }

    /// Orders for account 7, one per line: `count` limit buys from `price` up, 0.001 BTC each.
    func buys(_ count: Int, from price: Int) -> String {
        (0..<count).map { i in
            #"{"cmd":"place","account":7,"symbol":"BTCUSDT","side":"BUY","type":"LIMIT","price":"\#(price + i)","qty":"0.001"}"#
        }.joined(separator: "\n") + "\n"
    }

    @Test func anOldPrimaryRejoinsTheNewOneCuttingWhatItNeverReplicated() throws {
        let scratch = Scratch("rejoin")
        let p = scratch.path + "/primary", r = scratch.path + "/replica"
        var primary = try RunningNode(data: p, options: ["--replication-listen", "127.0.0.1:0", "--checkpoint-every", "25"])
        var primaryRunning = true
        defer { if primaryRunning { primary.stop() } }
        _ = try primary.admin("submit", ["-"], stdin: market + buys(30, from: 20_000))
        try makeReplicaDirectory(r, from: p)
        let replicaOptions = ["--replication-listen", "127.0.0.1:0", "--checkpoint-every", "25"]
        var replica = try RunningNode(data: r, options: replicaOptions + ["--primary", try #require(primary.replication)],
                                      command: "replica")
        var replicaRunning = true
        defer { if replicaRunning { replica.stop() } }
        let shared = seq(try primary.call("status"), "last_seq")
        try waitForStatus(replica) { seq($0, "applied_seq") == shared }
        // The replica goes away; the primary takes 40 more orders it never sends; then it stops.
        #expect(replica.stop().status == 0)
        replicaRunning = false
        _ = try primary.admin("submit", ["-"], stdin: buys(40, from: 21_000))
        let primaryLast = seq(try primary.call("status"), "last_seq")
        #expect(primaryLast >= shared + 40)
        #expect(primary.stop().status == 0)
        primaryRunning = false

        // The replica comes back (its primary gone), is promoted, and takes other orders.
        replica = try RunningNode(data: r, options: replicaOptions + ["--primary", try #require(primary.replication)], command: "replica")
        replicaRunning = true
        #expect(try replica.call("promote")["promoted"] as? Bool == true)
        _ = try replica.admin("submit", ["-"], stdin: buys(20, from: 22_000))
        let newLast = seq(try replica.call("status"), "last_seq")

        // The old primary returns as a replica of the new one: the commands it took alone are
        // cut (and kept aside), and it follows the new history.
        primary = try RunningNode(data: p, options: ["--checkpoint-every", "25", "--primary", try #require(replica.replication)],
                                  command: "replica")
        primaryRunning = true
        let following = try waitForStatus(primary) { seq($0, "applied_seq") == newLast }
        #expect(following["chain_head"] as? String == (try replica.call("status"))["chain_head"] as? String)
        #expect(try segments(p) == segments(r))
        let ended = primary.stop()
        primaryRunning = false
        let said = ended.output.split(separator: "\n").first { $0.hasPrefix("replica: cut ") }.map(String.init) ?? ""
        let words = said.split(separator: " ")
        let cut = words.count > 2 ? Int(words[2]) ?? 0 : 0
        let after = words.count > 6 ? Int(words[6].trimmingCharacters(in: CharacterSet(charactersIn: ":"))) ?? -1 : -1
        #expect(after >= 0 && after <= shared && cut == primaryLast - after, "\(said)")
        // The records cut are those after the fork, the 40 orders the new primary never had
        // among them, as JSON lines with their sequences.
        let keptText = try String(contentsOfFile: p + "/cut-after-\(after).jsonl", encoding: .utf8)
        let kept = keptText.split(separator: "\n")
        #expect(kept.count == cut)
        #expect(kept.filter { $0.contains(#""price":"210"#) }.count == 40)
        #expect(kept.first?.contains(#""seq":\#(after + 1),"#) == true, "\(kept.first ?? "")")
    }
}
