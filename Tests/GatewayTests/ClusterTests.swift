import Foundation
import Testing
import Workloads
import _ProcessTesting

/// Three nodes elect their leader on a real etcd; the leader is killed (SIGKILL) at seeded
/// moments while a client's orders are being acknowledged; another member takes over, the
/// killed one rejoins; no acknowledged order is lost and all three end on the same chain head
/// and state digest.
@Suite(.serialized) struct ClusterTests {
    func seq(_ status: [String: Any], _ key: String) -> Int { (status[key] as? NSNumber)?.intValue ?? -1 }

    /// The index of the member that leads, once one does (a liveness bound, not a measurement).
    func leader(_ nodes: [RunningNode?]) throws -> Int {
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            for (i, node) in nodes.enumerated() {
                if let node, let status = try? node.call("status"), status["role"] as? String == "primary" { return i }
            }
            usleep(50_000)
        }
        throw Failure("no member became the leader")
    }

    /// Client ids of the orders whose `accepted` event a submission printed (acknowledged).
    func acknowledged(_ text: String) -> [String] {
        text.split(separator: "\n").compactMap { line in
            guard line.contains(#""event":"accepted""#), let range = line.range(of: #""client_id":""#) else { return nil }
            return String(line[range.upperBound...].prefix { $0 != "\"" })
        }
    }

    /// Data directories for `count` members, each holding the same node key (the sealed HMAC
    /// secrets open on every member).
    func memberDirectories(_ count: Int, in scratch: Scratch) throws -> [String] {
        let key = (0..<32).map { _ in UInt8.random(in: 0...255) }
        let dirs = (0..<count).map { scratch.path + "/n\($0)" }
        for dir in dirs {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            FileManager.default.createFile(atPath: dir + "/node.key", contents: Data(key), attributes: [.posixPermissions: 0o600])
        }
        return dirs
    }

    @Test func aClusterOnEtcdFailsOverWithoutLosingAnAcknowledgedOrder() throws {
        let etcd = try EtcdServer()
        let scratch = Scratch("cluster")
        let dirs = try memberDirectories(3, in: scratch)
        func start(_ i: Int) throws -> RunningNode {
            try RunningNode(data: dirs[i], options: ["--etcd", etcd.url, "--cluster", "test", "--name", "n\(i)",
                                                     "--replication-listen", "127.0.0.1:0", "--ack-replicas", "1",
                                                     "--checkpoint-every", "50", "--json"])
        }
        var nodes: [RunningNode?] = []
        defer { for node in nodes { node?.stop() } }
        for i in 0..<3 { nodes.append(try start(i)) }
        var lead = try leader(nodes)
        _ = try nodes[lead]!.admin("submit", ["-"], stdin: marketSetup)

        var random = SplitMix64(seed: 16)
        var acked: [String] = []
        var failovers: [Int] = []
        for round in 0..<3 {
            // A client sends 300 orders, one at a time, each answered once durable here and on
            // a replica; the leader dies after a seeded number of answers.
            let orders = (0..<300).map { k in
                #"{"cmd":"place","account":7,"symbol":"BTCUSDT","side":"BUY","type":"LIMIT","price":"\#(20_000 + k)","qty":"0.001","client_id":"r\#(round)-\#(k)"}"#
            }.joined(separator: "\n") + "\n"
            let outputPath = scratch.path + "/round\(round).jsonl"
            FileManager.default.createFile(atPath: outputPath, contents: nil)
            let output = try #require(FileHandle(forWritingAtPath: outputPath))
            let submit = Process()
            submit.executableURL = URL(fileURLWithPath: exchangeExecutable)
            submit.arguments = ["admin", "submit", "--node", nodes[lead]!.admin, "--data", dirs[lead], "-"]
            let input = Pipe()
            submit.standardInput = input
            submit.standardOutput = output
            submit.standardError = FileHandle.nullDevice
            try submit.run()
            try output.close()
            input.fileHandleForWriting.write(Data(orders.utf8))
            try input.fileHandleForWriting.close()
            let killAfter = 20 + Int(random.next() % 200)
            let deadline = Date().addingTimeInterval(60)
            while acknowledged((try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "").count < killAfter
                    && submit.isRunning && Date() < deadline {
                usleep(2_000)
            }
            let old = lead
            nodes[old]!.kill9()
            nodes[old] = nil
            submit.waitUntilExit()
            acked += acknowledged(try String(contentsOfFile: outputPath, encoding: .utf8))
            lead = try leader(nodes)
            #expect(lead != old)
            failovers.append(lead)
            // The killed member comes back and rejoins as a replica of the new leader.
            nodes[old] = try start(old)
        }
        #expect(acked.count >= 3 * 20)

        // Every member reaches the leader's end; all hold the same journal and state.
        let leaderStatus = try nodes[lead]!.call("status")
        let last = seq(leaderStatus, "last_seq")
        for node in nodes {
            let deadline = Date().addingTimeInterval(60)
            while seq(try node!.call("status"), "applied_seq") < last && Date() < deadline { usleep(20_000) }
            #expect(try node!.call("status")["chain_head"] as? String == leaderStatus["chain_head"] as? String)
        }
        var digests: Set<String> = []
        for i in nodes.indices {
            let stopped = nodes[i]!.stop()
            nodes[i] = nil
            let summary = stopped.output.split(separator: "\n").last { $0.hasPrefix("{\"last_seq\"") }.map(String.init) ?? ""
            let object = (try? JSONSerialization.jsonObject(with: Data(summary.utf8))) as? [String: Any] ?? [:]
            digests.insert(object["state_digest"] as? String ?? "none")
        }
        #expect(digests.count == 1 && !digests.contains("none"), "\(digests)")
        // No acknowledged order is missing from the journal the cluster ended with.
        let export = try exchange(["journal", "export", "--journal", dirs[lead] + "/journal"])
        let journaled = Set(export.stdout.split(separator: "\n").compactMap { line -> String? in
            guard let range = line.range(of: #""client_id":""#) else { return nil }
            return String(line[range.upperBound...].prefix { $0 != "\"" })
        })
        let lost = acked.filter { !journaled.contains($0) }
        #expect(lost.isEmpty, "acknowledged but not in the cluster's journal: \(lost)")
        // Each election journaled a term of a higher epoch.
        let terms = export.stdout.split(separator: "\n").filter { $0.contains(#""cmd":"term""#) }
        #expect(terms.count == 4, "\(terms)")
    }

    @Test func aLeaderStoppedLongerThanItsLeaseIsDeposedAndAcknowledgesNothingMore() throws {
        let etcd = try EtcdServer()
        let scratch = Scratch("fenced")
        let dirs = try memberDirectories(3, in: scratch)
        var nodes: [RunningNode?] = try (0..<3).map { i in
            try RunningNode(data: dirs[i], options: ["--etcd", etcd.url, "--cluster", "fence", "--name", "n\(i)",
                                                     "--replication-listen", "127.0.0.1:0", "--ack-replicas", "1"])
        }
        defer { for node in nodes { node?.stop() } }
        let old = try leader(nodes)
        _ = try nodes[old]!.admin("submit", ["-"], stdin: marketSetup)
        // The leader stops (SIGSTOP) for longer than its lease; another member is elected.
        let stopped = nodes[old]!
        kill(stopped.process.processIdentifier, SIGSTOP)
        var others = nodes
        others[old] = nil
        let new = try leader(others)
        let newStatus = try nodes[new]!.call("status")
        // It resumes: whatever it is sent is not acknowledged, and it stops, deposed.
        kill(stopped.process.processIdentifier, SIGCONT)
        let order = #"{"cmd":"place","account":7,"symbol":"BTCUSDT","side":"BUY","type":"LIMIT","price":"20000","qty":"0.001","client_id":"late"}"#
        let late = try exchange(["admin", "submit", "--node", stopped.admin, "--data", dirs[old], "-"], stdin: order + "\n")
        #expect(!late.stdout.contains(#""event":"accepted""#), "\(late.stdout)")
        stopped.process.waitUntilExit()
        let ended = stopped.stop()
        nodes[old] = nil
        #expect(ended.status != 0)
        #expect(ended.output.contains("lost the leadership"), "\(ended.output)")
        // The cluster goes on without it, and never had the late order.
        let after = try nodes[new]!.call("status")
        #expect(after["role"] as? String == "primary" && seq(after, "epoch") == seq(newStatus, "epoch"))
        let export = try exchange(["journal", "export", "--journal", dirs[new] + "/journal"])
        #expect(!export.stdout.contains("\"late\""))
    }
}
