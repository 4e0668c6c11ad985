import ArgumentParser
import Journal
import Simulation
import _Posix

// MARK: - exchange simulate-faults

struct SimulateFaultsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate-faults",
        abstract: "Seeded crashes and storage faults against the node's core, with its guarantees checked after every restart.",
        discussion: """
        Each seed drives the node's core step by step on simulated storage and time: the \
        seeded agents submit, the stages step in a seeded order, and the storage fails calls \
        (ENOSPC, EIO), is slow, crashes (losing or tearing what was not synced) and flips \
        stored bits. After every restart it checks that every acknowledged command is in the \
        journal as it was applied, that a refused recovery names the damage, that the journal \
        holds exactly what was written, and that the recovered state equals a replay from \
        scratch. Nothing touches the disk. A failing seed is printed with the command that \
        reproduces it; the same seed and steps give the same run.
        """)

    @Option(help: "The first seed.") var seed: UInt64 = 1
    @Option(help: "Seeds to run (seed, seed+1, …).") var seeds: Int = 1
    @Option(help: "Steps per seed.") var steps: Int = 20_000
    @Flag(help: "No storage faults: clean stops and restarts only.") var noFaults = false
    @Flag(help: "A disk whose syncs keep nothing: no journal survives it, and the run must report lost acknowledged commands (a check of the checks).")
    var lyingDisk = false
    @Flag(help: "Print one JSON object per seed, and one for the whole run last.") var json = false
    @Flag(help: "Print what happens in each seed (restarts, crashes, flipped bits, failures) on standard error.")
    var trace = false

    func run() throws {
        guard seeds >= 1, steps >= 1 else { throw fail("--seeds and --steps must be at least 1") }
        let started = monotonicNs()
        var faults: [StorageFault: Int] = [:]
        var acknowledged = 0, restarts = 0
        for s in seed..<(seed + UInt64(seeds)) {
            let report: FaultSimulationReport
            do {
                let simulator = FaultSimulator(options: FaultSimulationOptions(seed: s, steps: steps, faults: !noFaults, lyingDisk: lyingDisk))
                if trace { simulator.trace = { line in printError("seed \(s) \(line)") } }
                report = try simulator.run()
            } catch {
                print("FAILED \(error)")
                print("reproduce: exchange simulate-faults --seed \(s) --steps \(steps)\(noFaults ? " --no-faults" : "")\(lyingDisk ? " --lying-disk" : "")")
                throw ExitCode.failure
            }
            for (kind, n) in report.faults { faults[kind, default: 0] += n }
            acknowledged += report.acknowledged
            restarts += report.restarts
            if json {
                var o = JSONLine()
                o.add("seed", report.seed)
                o.add("steps", report.steps)
                o.add("configuration", report.configuration)
                o.add("submitted", report.submitted)
                o.add("acknowledged", report.acknowledged)
                o.add("restarts", report.restarts)
                o.add("crashes", report.crashes)
                o.add("process_exits", report.processExits)
                o.add("clean_stops", report.cleanStops)
                o.add("failed_nodes", report.failedNodes)
                o.add("refused_recoveries", report.refusedRecoveries)
                o.add("damage_found_by_replay", report.damageFoundByReplay)
                o.add("retried_recoveries", report.retriedRecoveries)
                o.add("acknowledged_lost_to_flips", report.acknowledgedLostToFlips)
                o.add("snapshot_failures", report.snapshotFailures)
                o.addRaw("faults", faultsJSON(report.faults))
                o.add("last_seq", report.lastSequence)
                o.add("state_digest", report.stateDigest.hex)
                print(o.text)
            } else {
                print("seed \(report.seed): \(report.acknowledged) of \(report.submitted) commands acknowledged, "
                      + "\(report.restarts) restarts (\(report.crashes) crashes, \(report.processExits) process exits, "
                      + "\(report.cleanStops) stops), \(report.failedNodes) nodes stopped by errors, "
                      + "\(report.refusedRecoveries) recoveries refused naming damage, \(report.damageFoundByReplay) damage found on replay, "
                      + "\(report.acknowledgedLostToFlips) acknowledged lost to flips before the durable mark; "
                      + "faults \(faultsText(report.faults)); seq \(report.lastSequence), digest \(report.stateDigest.hex.prefix(16))")
            }
        }
        let seconds = Double(monotonicNs() - started) / 1e9
        let perMinute = seconds > 0 ? Double(seeds) * 60 / seconds : 0
        let kinds = faults.keys.count
        if json {
            var o = JSONLine()
            o.add("seeds", seeds)
            o.add("steps", steps)
            o.add("acknowledged", acknowledged)
            o.add("restarts", restarts)
            o.addRaw("faults", faultsJSON(faults))
            o.add("fault_kinds", kinds)
            o.add("seconds", seconds)
            o.add("seeds_per_minute", perMinute, decimals: 1)
            print(o.text)
        } else {
            print("\(seeds) seeds of \(steps) steps passed in \(format(seconds, decimals: 1)) s (\(format(perMinute, decimals: 1)) seeds/min); "
                  + "\(kinds) of \(StorageFault.allCases.count) fault kinds exercised: \(faultsText(faults))")
        }
    }

    private func faultsText(_ faults: [StorageFault: Int]) -> String {
        faults.isEmpty ? "none" : faults.keys.sorted().map { "\($0.rawValue)=\(faults[$0]!)" }.joined(separator: " ")
    }

    private func faultsJSON(_ faults: [StorageFault: Int]) -> String {
        "{" + faults.keys.sorted().map { "\"\($0.rawValue)\":\(faults[$0]!)" }.joined(separator: ",") + "}"
    }
}
