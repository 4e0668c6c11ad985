import Foundation
import Testing
import _ProcessTesting

/// Binance's official Python SDK and ccxt, unchanged but for the base URL, against a real node.
@Suite(.serialized) struct GatewayClientTests {
    @Test func officialClientsTradeQueryAndAreRefusedAsOnBinance() throws {
        let scratch = Scratch("gateway")
        let node = try RunningNode(data: scratch.path + "/node")
        var stopped = false
        defer { if !stopped { node.stop() } }
        let events = try node.admin("submit", ["-"], stdin: marketSetup)
        #expect(events.split(separator: "\n").count == 7 && !events.contains("rejected"), "\(events)")

        // An Ed25519 key pair made by Python's cryptography; the node is given the public half.
        let privatePEM = scratch.path + "/ed25519.pem", publicPEM = scratch.path + "/ed25519.pub.pem"
        try runClient("make_ed25519_key.py", [privatePEM, publicPEM])
        var keys: [String: [String: String]] = [
            "seller": try node.createKey(account: 8),
            "buyer": try node.createKey(account: 7),
            "readonly": try node.createKey(account: 7, permissions: "READ"),
            "foreign": try node.createKey(account: 7, extra: ["--ip", "10.0.0.0/8, 192.168.0.0/16"]),
            "ed25519": try node.createKey(account: 7, extra: ["--ed25519-public-key", publicPEM]),
        ]
        #expect(keys["ed25519"]?["secret_key"] == nil, "an Ed25519 key has no secret")
        keys["ed25519"]?["private_key_path"] = privatePEM
        #expect(keys.values.allSatisfy { $0["api_key"]?.count == 64 })
        // No secret is journaled: the journal holds it sealed.
        let export = try exchange(["journal", "export", "--journal", node.data + "/journal"])
        #expect(export.stdout.contains("\"secret_sealed\":"))
        for key in keys.values { #expect(!export.stdout.contains(key["secret_key"] ?? "-")) }

        var config = keys as [String: Any]
        config["base"] = node.api
        let configPath = scratch.path + "/clients.json"
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: configPath))
        let output = try runClient("binance_clients.py", [configPath])
        #expect(output.contains("all checks passed"), "\(output)")

        // Keys are state: after a restart on the same directory they still sign, revoked ones no more.
        let listed = try node.admin("keys", ["--account", "7"])
        #expect(listed.split(separator: "\n").count == 4, "\(listed)")
        _ = try node.admin("revoke-key", [keys["readonly"]!["api_key"]!])
        let stop = node.stop()
        stopped = true
        #expect(stop.status == 0, "\(stop.output)")
        let again = try RunningNode(data: node.data)
        defer { again.stop() }
        config["base"] = again.api
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: configPath))
        let after = try runClient("after_restart.py", [configPath])
        #expect(after.contains("all checks passed"), "\(after)")
        #expect(try again.admin("keys", ["--account", "7"]).split(separator: "\n").count == 3)
    }
}

/// Request weight per IP and new orders per account, limited in short windows so that the test
/// sees the limit, the refusal and the recovery.
@Suite struct GatewayRateLimitTests {
    @Test func burstsGet429ThenRecoverAndAnIPThatKeepsGoingIsBanned() throws {
        let scratch = Scratch("gateway-limits")
        let node = try RunningNode(data: scratch.path + "/node", options: ["--request-weight", "60/2", "--order-limits", "5/2,1000/86400"])
        defer { node.stop() }
        _ = try node.admin("submit", ["-"], stdin: marketSetup)
        try runClient("rate_limits.py", on: node, keys: ["buyer": try node.createKey(account: 7)], in: scratch)
    }
}

/// WebSocket streams through the official SDK and plain WebSocket.
@Suite struct GatewayStreamTests {
    @Test func depthDiffsKeepALocalBookInSyncAndFillsReachTheUserStream() throws {
        let scratch = Scratch("gateway-streams")
        let node = try RunningNode(data: scratch.path + "/node")
        defer { node.stop() }
        _ = try node.admin("submit", ["-"], stdin: marketSetup)
        try runClient("streams.py", on: node, keys: ["seller": try node.createKey(account: 8), "buyer": try node.createKey(account: 7)],
                      in: scratch)
    }
}

/// `exchange demo`: a market a newcomer can point a Binance client at at once.
@Suite struct DemoTests {
    @Test func theDemoPrintsAKeyThatTradesOnAMovingMarket() throws {
        let scratch = Scratch("demo")
        let demo = Process()
        demo.executableURL = URL(fileURLWithPath: exchangeExecutable)
        demo.arguments = ["demo", "--data", scratch.path + "/demo", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
                          "--rate", "500", "--json"]
        let out = Pipe()
        demo.standardOutput = out
        demo.standardError = out
        try demo.run()
        // The first line is the key; the demo prints nothing more until it stops.
        var first = Data()
        while !first.contains(0x0A) {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            first.append(chunk)
        }
        let rest = readToEnd(inBackground: out.fileHandleForReading)
        let line = String(decoding: first, as: UTF8.self).split(separator: "\n").first.map(String.init) ?? ""
        let path = scratch.path + "/demo.json"
        try Data(line.utf8).write(to: URL(fileURLWithPath: path))
        let output = try runClient("demo_client.py", [path])
        #expect(output.contains("all checks passed"), "\(line)\n\(output)")
        demo.terminate()
        demo.waitUntilExit()
        let tail = String(decoding: rest(), as: UTF8.self)
        #expect(demo.terminationStatus == 0, "\(tail)")
        #expect(tail.contains("demo stopped:"), "\(tail)")
    }
}
