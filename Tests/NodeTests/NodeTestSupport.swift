import Codec
import Foundation
import Journal
import Matching
import Node
import Simulation
import Workloads
@_exported import _ProcessTesting
import _Posix

extension Scratch {
    /// The scratch directory itself as a node's data directory.
    var data: DataDirectory { DataDirectory(path) }
}

/// Runs a seeded simulation into `scratch` and returns its report.
func simulate(into data: DataDirectory, seed: UInt64, commands: Int, symbols: Int = 2, accounts: Int = 20) throws
    -> SimulationReport {
    var options = SimulationOptions()
    options.seed = seed
    options.commands = commands
    options.symbols = symbols
    options.accounts = accounts
    return try Simulation(options: options).run(data: data)
}

/// The digest of a replay of the whole journal from its first command (no snapshot).
func fullReplayDigest(_ journal: String) throws -> (digest: Digest32, last: UInt64) {
    let r = try Recovery.rebuild(journal: journal, RebuildOptions()).replayer
    return (r.digest, r.lastSequence)
}

/// Collects what a node acknowledges, for tests that drive a node in this process.
final class CollectingSink: NodeSink, @unchecked Sendable {
    let monitor = Monitor()
    private(set) var acknowledged: [(tag: UInt64, sequence: UInt64, events: [Event])] = []
    private(set) var failures: [(tag: UInt64, error: NodeError)] = []

    func acknowledged(tag: UInt64, sequence: UInt64, timestampNs: Int64, command: Command, events: EventList,
                      engine: MatchingEngine) {
        monitor.locked {
            acknowledged.append((tag, sequence, Array(events)))
            monitor.broadcast()
        }
    }

    func failed(tag: UInt64, error: NodeError) {
        monitor.locked {
            failures.append((tag, error))
            monitor.broadcast()
        }
    }

    /// Waits until `count` commands are acknowledged or failed.
    func wait(for count: Int) {
        monitor.whenReady({ acknowledged.count + failures.count >= count }) {}
    }

    /// Waits as `wait(for:)`, giving up after `limitNs`: for what a node must do on its own
    /// (a periodic sync), where a node that never does it fails the test instead of hanging
    /// it. The limit is a liveness bound far above any expected time, not a measurement.
    func wait(for count: Int, limitNs: Int64) -> Bool {
        let deadline = monotonicNs() + limitNs
        return monitor.locked {
            while acknowledged.count + failures.count < count {
                let left = deadline - monotonicNs()
                if left <= 0 { return false }
                monitor.wait(timeoutNs: left)
            }
            return true
        }
    }
}

/// Polls `ready` every millisecond until it holds or `limitNs` passes; whether it held. For
/// what a node does on its own (a snapshot, a retirement, its durable mark): the limit is a
/// liveness bound far above any expected time, so that a node that never does it fails the
/// test instead of hanging it, not a measurement.
@discardableResult
func eventually(limitNs: Int64 = 60_000_000_000, _ ready: () throws -> Bool) rethrows -> Bool {
    let deadline = monotonicNs() + limitNs
    while true {
        if try ready() { return true }
        if monotonicNs() >= deadline { return false }
        usleep(1_000)
    }
}

/// A market's setup and a seeded stream of orders, cancels and transfers.
func marketCommands(seed: UInt64, count: Int) -> [Command] { OrderFlow.commands(seed: seed, count: count) }


