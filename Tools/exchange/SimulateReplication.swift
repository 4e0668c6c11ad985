import ArgumentParser
import Simulation
import _Posix

// MARK: - exchange simulate-replication

struct SimulateReplicationCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate-replication",
        abstract: "Seeded network faults, crashes and failovers against a primary and its replicas, with the quorum's guarantee checked.",
        discussion: """
        Each seed drives a primary and two replicas (node cores on simulated storage, \
        --ack-replicas 1) over a simulated network that delays, resets, partitions and flips \
        bits in transit; nodes crash one at a time; a primary gone for long enough is replaced \
        by the replica furthest ahead, and crashed nodes rejoin, cutting what the primary lacks. \
        At the end every acknowledged command must be at its sequence in the last primary's \
        journal, and every node on one chain head and state digest. A failing seed prints the \
        command that reproduces it.
        """)

    @Option(help: "The first seed.") var seed: UInt64 = 1
    @Option(help: "Seeds to run (seed, seed+1, …).") var seeds: Int = 1
    @Option(help: "Steps per seed.") var steps: Int = 3_000
    @Flag(help: "Print one JSON object per seed, and one for the whole run last.") var json = false
    @Flag(help: "Print what happens in each seed (crashes, elections, rejoins) on standard error.") var trace = false

    func run() throws {
        guard seeds >= 1, steps >= 1 else { throw fail("--seeds and --steps must be at least 1") }
        let started = monotonicNs()
        var acknowledged = 0, failovers = 0, corruptions = 0
        var cut: UInt64 = 0
        for s in seed..<(seed + UInt64(seeds)) {
            let report: ReplicationSimulationReport
            do {
                let simulator = ReplicationSimulator(seed: s, steps: steps)
                if trace { simulator.trace = { line in printError("seed \(s) \(line)") } }
                report = try simulator.run()
            } catch {
                print("FAILED \(error)")
                print("reproduce: exchange simulate-replication --seed \(s) --steps \(steps)")
                throw ExitCode.failure
            }
            acknowledged += report.acknowledged
            failovers += report.failovers
            corruptions += report.corruptions
            cut += report.commandsCut
            if json {
                var o = JSONLine()
                o.add("seed", report.seed)
                o.add("steps", report.steps)
                o.add("submitted", report.submitted)
                o.add("acknowledged", report.acknowledged)
                o.add("failovers", report.failovers)
                o.add("replica_crashes", report.replicaCrashes)
                o.add("resets", report.resets)
                o.add("partitions", report.partitions)
                o.add("corruptions", report.corruptions)
                o.add("commands_cut", report.commandsCut)
                o.add("last_seq", report.lastSequence)
                o.add("state_digest", report.stateDigest.hex)
                print(o.text)
            } else {
                print("seed \(report.seed): \(report.acknowledged) of \(report.submitted) acknowledged, \(report.failovers) failovers, "
                      + "\(report.replicaCrashes) replica crashes, \(report.resets) resets, \(report.partitions) partitions, "
                      + "\(report.corruptions) blocks damaged in transit, \(report.commandsCut) commands cut on rejoin; "
                      + "seq \(report.lastSequence), digest \(report.stateDigest.hex.prefix(16))")
            }
        }
        let seconds = Double(monotonicNs() - started) / 1e9
        if json {
            var o = JSONLine()
            o.add("seeds", seeds)
            o.add("steps", steps)
            o.add("acknowledged", acknowledged)
            o.add("failovers", failovers)
            o.add("corruptions", corruptions)
            o.add("commands_cut", cut)
            o.add("seconds", seconds)
            print(o.text)
        } else {
            print("\(seeds) seeds of \(steps) steps passed in \(format(seconds, decimals: 1)) s: \(acknowledged) acknowledged, "
                  + "\(failovers) failovers, \(corruptions) blocks damaged in transit, \(cut) commands cut on rejoin")
        }
    }
}
