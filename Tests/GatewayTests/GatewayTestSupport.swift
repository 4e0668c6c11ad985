import Foundation
import Testing
import _ProcessTesting

/// A node serving the Binance API and the admin API on loopback ports of its choosing.
final class RunningNode {
    let process: Process
    let data: String
    let api: String
    let admin: String
    /// Where it streams its journal to replicas (with `--replication-listen`).
    let replication: String?
    private let output: () -> Data
    /// What it printed while starting.
    private let startup: String

    /// Starts `exchange node --data DATA --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0` (or
    /// `exchange replica …` with `command: "replica"`) and waits for the lines that name its
    /// ports.
    init(data: String, fsync: String = "always", options: [String] = [], command: String = "node") throws {
        self.data = data
        process = Process()
        process.executableURL = URL(fileURLWithPath: exchangeExecutable)
        process.arguments = [command, "--data", data, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
                             "--fsync", fsync] + options
        let out = Pipe()
        process.standardOutput = out
        process.standardError = out
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // Read lines until both listeners are named (the node prints nothing more until it stops).
        let handle = out.fileHandleForReading
        var text = ""
        var api: String?, admin: String?, replication: String?
        while api == nil || admin == nil {
            let chunk = handle.availableData
            guard !chunk.isEmpty else { break }
            text += String(decoding: chunk, as: UTF8.self)
            for line in text.split(separator: "\n") {
                if line.hasPrefix("gateway: Binance API on ") { api = String(line.dropFirst("gateway: Binance API on ".count)) }
                if line.hasPrefix("replication: listening on ") {
                    replication = String(line.dropFirst("replication: listening on ".count).prefix(while: { $0 != "," }))
                }
                if line.hasPrefix("gateway: admin API on ") {
                    admin = String(line.dropFirst("gateway: admin API on ".count).prefix(while: { $0 != " " }))
                }
            }
        }
        output = readToEnd(inBackground: handle)
        guard let api, let admin else {
            process.waitUntilExit()
            throw Failure("the node did not start its listeners: \(text)\(String(decoding: output(), as: UTF8.self))")
        }
        self.api = api
        self.admin = admin
        self.replication = replication
        startup = text
    }

    /// `exchange COMMAND --node ADMIN --data DATA` (status, promote): its one JSON line.
    func call(_ command: String) throws -> [String: Any] {
        let result = try exchange([command, "--node", admin, "--data", data])
        guard result.status == 0 else { throw Failure("exchange \(command) failed: \(result.stderr)") }
        return (try JSONSerialization.jsonObject(with: Data(result.stdout.utf8))) as? [String: Any] ?? [:]
    }

    /// Stops the node with SIGTERM; its exit status and output.
    @discardableResult
    func stop() -> (status: Int32, output: String) {
        process.terminate()
        process.waitUntilExit()
        return (process.terminationStatus, startup + String(decoding: output(), as: UTF8.self))
    }

    /// SIGKILL: the node stops where it is.
    func kill9() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        _ = output()
    }

    /// `exchange admin SUBCOMMAND --node ADMIN --data DATA ARGUMENTS…`.
    func admin(_ subcommand: String, _ arguments: [String] = [], stdin: String? = nil) throws -> String {
        let result = try exchange(["admin", subcommand, "--node", admin, "--data", data] + arguments, stdin: stdin)
        guard result.status == 0 else { throw Failure("exchange admin \(subcommand) failed: \(result.stderr)") }
        return result.stdout
    }

    /// A key made by `exchange admin create-key --json`: {"api_key", "secret_key"}.
    func createKey(account: Int, permissions: String = "READ,TRADE", extra: [String] = []) throws -> [String: String] {
        let text = try admin("create-key", ["--account", "\(account)", "--permissions", permissions, "--json"] + extra)
        return (try JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: String] ?? [:]
    }
}

struct Failure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// The market every gateway test trades: BTCUSDT (tick 0.01, step 0.00001, maker fee 0.1%,
/// taker fee 0.2%), account 7 with 100000 USDT, account 8 with 10 BTC.
let marketSetup = """
{"cmd":"add_asset","asset":"BTC","scale":8}
{"cmd":"add_asset","asset":"USDT","scale":8}
{"cmd":"add_symbol","symbol":"BTCUSDT","base":"BTC","quote":"USDT","tick_size":"0.01","step_size":"0.00001","min_qty":"0.00001","max_qty":"9000","min_notional":"5","maker_fee_ppm":1000,"taker_fee_ppm":2000}
{"cmd":"open_account","account":7}
{"cmd":"open_account","account":8}
{"cmd":"deposit","account":7,"asset":"USDT","amount":"100000"}
{"cmd":"deposit","account":8,"asset":"BTC","amount":"10"}

"""

/// The Python with Binance's official SDK and ccxt (Tools/install-deps.sh makes it).
var clientsPython: String {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    return root.appendingPathComponent(".venv-clients/bin/python").path
}

/// A script of `Tests/GatewayTests/Clients`.
func clientScript(_ name: String) -> String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Clients/" + name).path
}

/// Runs a client script with the clients' Python; fails the test, with its output, unless it
/// exits 0.
@discardableResult
func runClient(_ script: String, _ arguments: [String]) throws -> String {
    guard FileManager.default.isExecutableFile(atPath: clientsPython) else {
        throw Failure("no \(clientsPython): run Tools/install-deps.sh (it installs binance-sdk-spot and ccxt)")
    }
    let result = try run(clientsPython, [clientScript(script)] + arguments)
    #expect(result.status == 0, "\(script): \(result.stdout)\(result.stderr)")
    return result.stdout
}

/// Runs a client script on `node`: its configuration, `{"base": API URL, …keys}`, is written to
/// `scratch`. Fails the test unless the script says all its checks passed.
func runClient(_ script: String, on node: RunningNode, keys: [String: Any], in scratch: Scratch) throws {
    var config = keys
    config["base"] = node.api
    let path = scratch.path + "/clients.json"
    try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: path))
    let output = try runClient(script, [path])
    #expect(output.contains("all checks passed"), "\(output)")
}
