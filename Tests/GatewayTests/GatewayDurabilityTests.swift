import Foundation
import Testing
import Workloads
import _ProcessTesting

/// Orders acknowledged over HTTP survive `kill -9` of the node at any moment.
@Suite(.serialized) struct GatewayDurabilityTests {
    @Test(arguments: [UInt64(31), 32])
    func everyOrderAcknowledgedOverHTTPSurvivesAKill(seed: UInt64) throws {
        let scratch = Scratch("gateway-kill")
        let data = scratch.path + "/node"
        var node = try RunningNode(data: data)
        _ = try node.admin("submit", ["-"], stdin: marketSetup)
        let buyer = try node.createKey(account: 7)
        let acked = scratch.path + "/acked.txt"
        FileManager.default.createFile(atPath: acked, contents: nil)
        var random = SplitMix64(seed: seed)
        for round in 0..<5 {
            let configPath = scratch.path + "/clients.json"
            try JSONSerialization.data(withJSONObject: ["base": node.api, "buyer": buyer] as [String: Any])
                .write(to: URL(fileURLWithPath: configPath))
            let before = try String(contentsOfFile: acked, encoding: .utf8).split(separator: "\n").count
            let loop = Process()
            loop.executableURL = URL(fileURLWithPath: clientsPython)
            loop.arguments = [clientScript("order_loop.py"), configPath, "r\(round)", acked]
            loop.standardOutput = FileHandle.nullDevice
            loop.standardError = FileHandle.nullDevice
            try loop.run()
            // Kill once a seeded number of orders is acknowledged, a seeded moment later.
            let target = before + 5 + Int(random.next() % 60)
            while try String(contentsOfFile: acked, encoding: .utf8).split(separator: "\n").count < target, loop.isRunning {
                usleep(2_000)
            }
            usleep(useconds_t(random.next() % 30_000))
            node.kill9()
            loop.waitUntilExit()
            #expect(loop.terminationStatus == 0, "round \(round): the client stopped on an error")
            node = try RunningNode(data: data)
            try JSONSerialization.data(withJSONObject: ["base": node.api, "buyer": buyer] as [String: Any])
                .write(to: URL(fileURLWithPath: configPath))
            let checked = try runClient("check_acknowledged.py", [configPath, acked])
            #expect(checked.hasPrefix("all "), "round \(round): \(checked)")
        }
        let stop = node.stop()
        #expect(stop.status == 0, "\(stop.output)")
        #expect(try String(contentsOfFile: acked, encoding: .utf8).split(separator: "\n").count >= 25)
    }
}
