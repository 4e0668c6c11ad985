import ArgumentParser
import Codec
import Foundation
import Journal
import Matching
import Node
import Simulation
#if canImport(Glibc)
import Glibc
#endif

// MARK: - exchange sim

struct SimCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sim",
        abstract: "A deterministic market simulation through a real node into a real journal.",
        discussion: """
        Seeded agents (market makers, momentum and noise takers, cancel storms, clients sending \
        invalid commands, deposits and withdrawals) submit batches through the sequencer and \
        the journal to the engine, on a logical clock. The same seed, options and count give \
        the same journal (chain head) and state digest on every run and machine.
        """)

    @Option(help: "Seed of the agents.") var seed: UInt64 = 1
    @Option(help: "Commands the agents send (after the market's setup).") var commands: Int = 100_000
    @Option(help: "The journal directory (new or empty).") var journal: String?
    @Option(help: "A data directory instead (DIR/journal, DIR/snapshots; new or empty).") var data: String?
    @Flag(help: "Start again in a --data directory that an earlier `exchange sim` made (nothing else is ever removed).")
    var replace = false
    @Option(help: "Symbols (1...26).") var symbols: Int = 3
    @Option(help: "Accounts.") var accounts: Int = 50
    @Option(help: "Agent mix: makers=40,momentum=15,noise=15,storms=10,invalid=10,transfers=10.") var mix: String?
    @Option(help: "Commands per batch (the agents see a batch's events before the next).") var batch: Int = 256
    @Option(help: fsyncHelp) var fsync: Durability = .none
    @Option(name: .customLong("segment-kib"), help: "Size of the journal's segment files, in KiB.")
    var segmentKib: Int = 65_536
    @Flag(help: "Print one JSON object as the last line of output.") var json = false

    func run() throws {
        guard (journal == nil) != (data == nil) else { throw fail("give exactly one of --journal DIR and --data DIR") }
        let durability = fsync
        var options = SimulationOptions()
        options.seed = seed
        options.commands = commands
        options.symbols = symbols
        options.accounts = accounts
        options.batch = batch
        options.segmentBytes = segmentKib << 10
        if let mix {
            guard let parsed = AgentMix(parsing: mix) else { throw fail("--mix: expected kind=weight,… with kinds makers, momentum, noise, storms, invalid, transfers") }
            options.mix = parsed
        }
        if let data { try prepare(data) }
        let directory = data.map { DataDirectory($0) } ?? DataDirectory(journal: journal!, snapshots: journal! + ".snapshots")
        if !json { print("sim: seed \(seed), \(commands) commands, \(symbols) symbols, \(accounts) accounts, mix \(options.mix)") }
        let progress = json ? nil : Progress(label: "sim", total: UInt64(commands))
        let report: SimulationReport
        do {
            report = try Simulation(options: options).run(data: directory, durability: durability) { progress?.show(UInt64($0)) }
        } catch {
            progress?.done()
            throw fail(error.description)
        }
        progress?.done()
        let rate = report.seconds > 0 ? Double(report.commands + report.setupCommands) / report.seconds : 0
        var o = JSONLine()
        o.add("seed", report.seed)
        o.add("commands", report.commands)
        o.add("setup_commands", report.setupCommands)
        o.add("checkpoints", report.checkpoints)
        o.add("last_seq", report.lastSequence)
        o.add("state_digest", report.stateDigest.hex)
        o.add("chain_head", report.chainHead.hex)
        o.add("trades", report.trades)
        o.add("events", report.events)
        o.add("rejected", report.rejected)
        o.add("seconds", report.seconds)
        o.add("commands_per_second", rate, decimals: 0)
        if let data {
            // Marks the directory as a simulation's (what --replace may start again).
            _ = writeAll(path: data + "/" + DataDirectory.simulationMarker, Array((o.text + "\n").utf8))
        }
        if json {
            print(o.text)
        } else {
            print("seq 1...\(report.lastSequence): \(report.setupCommands) setup commands, \(report.commands) agents' commands, \(report.checkpoints) checkpoints")
            print("\(report.events) events (as a replay of the journal counts them), \(report.trades) trades, \(report.rejected) rejected; \(format(report.seconds, decimals: 3)) s (\(format(rate, decimals: 0)) commands/s)")
            print("seed \(report.seed), state digest \(report.stateDigest.hex), chain head \(report.chainHead.hex)")
        }
    }

    /// A --data directory must be new or empty, or (with --replace) one an earlier simulation
    /// made, whose journal and snapshots are then removed. Anything else is left alone.
    func prepare(_ data: String) throws {
        switch DataDirectory.contents(data) {
        case .missing, .empty:
            return
        case .data(simulation: true) where replace:
            let directory = DataDirectory(data)
            for path in [directory.journal, directory.snapshots, data + "/" + DataDirectory.simulationMarker]
            where FileManager.default.fileExists(atPath: path) {
                do { try FileManager.default.removeItem(atPath: path) } catch { throw fail("cannot remove \(path): \(error)") }
            }
        case .data(simulation: true):
            throw fail("\(data) holds an earlier simulation: --replace starts it again")
        case .data(simulation: false), .other:
            throw fail("\(data) is not empty and is not a directory an earlier `exchange sim` made: not touching it")
        }
    }
}
