import ArgumentParser
import Codec
import Foundation
import Gateway
import Journal
import Matching
import Node
import Simulation
import _Posix

// MARK: - exchange demo

struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "A node with a small demo market serving the Binance API: seeded agents trade through it, and one account's API key is printed.",
        discussion: """
        On a new or empty DIR: the simulator's market (USDT and CAUSDT, CBUSDT, … with funded \
        accounts 1…N), an account 1000 with 1,000,000 USDT and 1,000 of each base asset, and an \
        HMAC API key for it (printed, with its secret). The agents then trade through the node \
        at --rate commands a second until SIGINT/SIGTERM. Point a Binance client at --listen.
        """)

    @Option(help: "The data directory (new or empty).") var data: String
    @Option(help: "The Binance API's address.") var listen: String = "127.0.0.1:8080"
    @Option(name: .customLong("admin-listen"), help: "The admin API's address.") var adminListen: String = "127.0.0.1:8081"
    @Option(help: "The agents' seed.") var seed: UInt64 = 1
    @Option(help: "The agents' commands a second.") var rate: Int = 200
    @Option(help: "Symbols in the market (1...26).") var symbols: Int = 3
    @Flag(help: "Print the key as one JSON object.") var json = false

    func run() throws {
        switch DataDirectory.contents(data) {
        case .missing, .empty: break
        default: throw fail("\(data) is not new or empty: a demo starts a market from nothing")
        }
        guard let listenAt = Gateway.Address(listen) else { throw fail("--listen \(listen): not HOST:PORT") }
        guard let adminAt = Gateway.Address(adminListen) else { throw fail("--admin-listen \(adminListen): not HOST:PORT") }
        guard rate > 0, (1...26).contains(symbols) else { throw fail("--rate above 0, --symbols 1...26") }
        ProcessSignals.install()
        var simulation = SimulationOptions()
        simulation.seed = seed
        simulation.symbols = symbols
        let agents = Agents(options: simulation)
        let driver = AgentDriver(agents: agents)
        let view = GatewayView()
        var options = NodeOptions(data: DataDirectory(data))
        options.journal.durability = .always
        let node: Node
        do { node = try Node(options: options, sink: FanOutSink([driver, view])) } catch { throw fail(error.description) }
        driver.node = node
        let gateway: Gateway
        let apiPort: Int, adminPort: Int
        do {
            try view.catchUp(journal: DataDirectory(data).journal, snapshots: DataDirectory(data).snapshots, to: 0)
            view.start()
            gateway = try Gateway(node: node, view: view, data: data)
            apiPort = try gateway.listen(listenAt)
            adminPort = try gateway.listenAdmin(adminAt, control: AdminControl(status: { nodeStatus(node, server: nil, client: nil, replicationPort: nil) }))
        } catch {
            view.stop()
            try? node.stop()
            throw fail("\(error)")
        }
        // The market, the demo account and its key, journaled like any commands.
        let demoAccount: AccountId = 1_000
        var setup = agents.setupCommands()
        setup.append(.openAccount(demoAccount))
        for asset in ["USDT"] + (0..<symbols).map({ "C" + String(Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ")[$0]) }) {
            setup.append(.deposit(account: demoAccount, asset: asset,
                                  amount: ExactDecimal(mantissa: asset == "USDT" ? 1_000_000 : 1_000, scale: 0)))
        }
        let apiKey = randomAlphanumeric(64), secret = randomAlphanumeric(64)
        do {
            let sealed = try NodeKey.load(data: data).seal(Array(secret.utf8), apiKey: apiKey)
            setup.append(.addApiKey(ApiKeySpec(account: demoAccount, apiKey: apiKey, permissions: .all, kind: .hmac,
                                               material: sealed)))
            try driver.submit(setup)
        } catch {
            gateway.stopListening()
            try? node.stop()
            view.stop()
            throw fail("\(error)")
        }
        let api = "http://\(listenAt.host):\(apiPort)"
        if json {
            var o = JSONObjectWriter()
            o.string("api", api)
            o.string("admin", "http://\(adminAt.host):\(adminPort)")
            o.number("account", demoAccount)
            o.string("api_key", apiKey)
            o.string("secret_key", secret)
            print(o.text)
        } else {
            print("""
            demo market on \(data): Binance API on \(api), admin API on http://\(adminAt.host):\(adminPort)
            symbols: \((0..<symbols).map { "C" + String(Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ")[$0]) + "USDT" }.joined(separator: ", "))
            account \(demoAccount): api key    \(apiKey)
                          secret key \(secret)
            agents (seed \(seed)) trade \(rate) commands/s; SIGINT/SIGTERM stops
            """)
        }
        fflush(nil)
        // The agents' commands, in batches of 20, paced to --rate.
        let batch = 20
        let started = monotonicNs()
        var sent = 0
        var failure: String?
        while !ProcessSignals.stopRequested {
            let due = Int(Double(monotonicNs() - started) / 1e9 * Double(rate))
            if sent + batch > due {
                usleep(10_000)
                continue
            }
            do { try driver.submit(agents.nextBatch(batch)) } catch {
                failure = "\(error)"
                break
            }
            sent += batch
        }
        gateway.stopListening()
        let stopped = Result { () throws(NodeError) in try node.stop() }
        view.stop()
        if let failure { throw fail("the agents stopped: \(failure)") }
        do { try stopped.get() } catch { throw fail(error.description) }
        print("demo stopped: \(sent) agent commands, \(agents.trades) trades")
    }
}
