import Benchmark
import Codec
import Journal
import Matching
import Node
import Projections
import ProjectionsPostgres
import ProjectionsSQLite
import Simulation
import _ProcessTesting
#if canImport(Glibc)
import Glibc
import _Posix
#endif

// Read models: a 1M-command simulation's journal projected into SQLite and PostgreSQL (every
// row: orders, trades, ledger, balances, klines, with the checkpoint in each transaction),
// against the baseline of the projector deriving the same rows and writing none; a query of one
// account's last 100 orders; and a live projector following a node at full rate.

func temporaryDirectory(_ label: String) -> String {
    var template = Array("/tmp/exchange-bench-\(label)-XXXXXX".utf8CString)
    let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    precondition(made != nil)
    return String(cString: template.withUnsafeBufferPointer { $0.baseAddress! })
}

func removeDirectory(_ path: String) { _ = try? PostgresCluster.system("rm -rf '\(path)'") }

/// A store that keeps nothing: the projector's own cost.
final class DiscardingStore: ReadModelStore {
    func prepare() throws(ReadModelError) -> ProjectionCheckpoint? { nil }
    func createIndexes() throws(ReadModelError) {}
    func write(_ batch: ProjectionBatch) throws(ReadModelError) {}
    func query(_ sql: String, _ arguments: [SQLValue]) throws(ReadModelError) -> [[SQLValue]] { [] }
    func close() {}
}

/// The 1M-command journal every benchmark here reads (made once per process).
let simulated: (data: String, journal: String, events: Int) = {
    let data = temporaryDirectory("projections")
    var options = SimulationOptions()
    options.seed = 1
    options.commands = 1_000_000
    let report = try! Simulation(options: options).run(data: DataDirectory(data + "/sim"))
    return (data, data + "/sim/journal", report.events)
}()

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .throughput], scalingFactor: .one,
                                           maxDuration: .seconds(120), maxIterations: 3)
    let eventsPerSecond = BenchmarkMetric.custom("events/s", polarity: .prefersLarger, useScalingFactor: false)

    func project(_ benchmark: Benchmark, into store: @autoclosure () throws -> any ReadModelStore) throws {
        let store = try store()
        defer { store.close() }
        let runner = ProjectionRunner(journal: simulated.journal, store: store)
        benchmark.startMeasurement()
        let started = monotonicNs()
        let summary = try runner.run()
        let seconds = Double(monotonicNs() - started) / 1e9
        benchmark.stopMeasurement()
        precondition(summary.lastSequence > 1_000_000)
        benchmark.measurement(eventsPerSecond, Int(Double(summary.events) / seconds))
    }

    Benchmark("Projection baseline: 1M commands, every row derived, none written") { benchmark in
        try project(benchmark, into: DiscardingStore())
    }

    Benchmark("Projection: 1M commands into SQLite (WAL), indexes built at the end") { benchmark in
        let directory = temporaryDirectory("sqlite")
        defer { removeDirectory(directory) }
        try project(benchmark, into: SQLiteStore(path: directory + "/rm.sqlite"))
    }

    Benchmark("Projection: 1M commands into PostgreSQL (COPY and multi-row upserts)") { benchmark in
        guard PostgresCluster.isInstalled else { fatalError("PostgreSQL is not installed (Debian: postgresql)") }
        let cluster = try PostgresCluster()
        try project(benchmark, into: PostgresStore(url: cluster.createDatabase("bench")))
    }

    // One account's last 100 orders from the 1M read model (its index, then decimals rendered).
    let queryDirectory = temporaryDirectory("query")
    Benchmark("Query: one account's last 100 orders, 1M-command read model (SQLite)",
              configuration: .init(metrics: [.wallClock], maxDuration: .seconds(30), maxIterations: 1_000,
                                   setup: {
                                       let store = try! SQLiteStore(path: queryDirectory + "/rm.sqlite")
                                       _ = try! ProjectionRunner(journal: simulated.journal, store: store).run()
                                       store.close()
                                   })) { benchmark in
        let store = try SQLiteStore(path: queryDirectory + "/rm.sqlite", mustExist: true, readOnly: true)
        defer { store.close() }
        var account: UInt64 = 1
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            let answer = try ReadModelQuery.orders(account: account, symbol: nil, openOnly: false, limit: 100).run(on: store)
            precondition(answer.rows.count == 100)
            blackHole(answer)
            account = account % 20 + 1
        }
    }

    // A node taking 1M commands from a producer thread as fast as it can (fsync none), a live
    // projector following its journal into SQLite: how far behind it is when the node has
    // acknowledged the last command, and how long it then takes to catch up.
    let lagAtEnd = BenchmarkMetric.custom("projector lag at the last ack (commands)", polarity: .prefersSmaller,
                                          useScalingFactor: false)
    let drainMs = BenchmarkMetric.custom("catch-up after the last ack ms", polarity: .prefersSmaller,
                                         useScalingFactor: false)
    Benchmark("Live projector: a node at full rate (1M commands, fsync none) into SQLite",
              configuration: .init(metrics: [.wallClock, lagAtEnd, drainMs], maxDuration: .seconds(120), maxIterations: 3)) { benchmark in
        let directory = temporaryDirectory("live")
        defer { removeDirectory(directory) }
        let flow = OrderFlow.commands(seed: 5, count: 1_000_000 - OrderFlow.setup().count)
        var batches = stride(from: 0, to: flow.count, by: 256).map { Array(flow[$0..<min($0 + 256, flow.count)]) }
        var options = NodeOptions(data: DataDirectory(directory + "/node"))
        options.journal.durability = .none
        options.snapshotEveryCommands = 0
        let sink = CountingSink()
        let node = try Node(options: options, sink: sink)
        let live = LiveProjector(journal: directory + "/node/journal", store: try SQLiteStore(path: directory + "/rm.sqlite"))
        live.start()
        benchmark.startMeasurement()
        var tag: UInt64 = 0
        for b in batches.indices {
            let count = batches[b].count
            guard node.submit(taking: &batches[b], firstTag: tag, waitingForRoom: true) == .queued else { fatalError("node stopped") }
            tag += UInt64(count)
        }
        sink.wait(for: Int(tag))
        let last = node.appliedSequence
        let lag = live.lag(behind: last)
        let caughtUpFrom = monotonicNs()
        precondition(live.wait(for: last, timeoutNs: 600_000_000_000), "the projector failed: \(String(describing: live.failure))")
        let drained = monotonicNs() - caughtUpFrom
        benchmark.stopMeasurement()
        try node.stop()
        _ = live.stop()
        benchmark.measurement(lagAtEnd, Int(lag))
        benchmark.measurement(drainMs, Int(drained / 1_000_000))
    }
}

/// Counts acknowledgements.
final class CountingSink: NodeSink, @unchecked Sendable {
    let monitor = Monitor()
    private var count = 0
    /// Written by the engine thread only.
    private var acknowledgedCount = 0
    func acknowledged(tag: UInt64, sequence: UInt64, timestampNs: Int64, command: Command, events: EventList,
                      engine: MatchingEngine) { acknowledgedCount += 1 }
    func failed(tag: UInt64, error: NodeError) { fatalError("\(error)") }
    func caughtUp(to sequence: UInt64) {
        monitor.locked {
            count = acknowledgedCount
            monitor.broadcast()
        }
    }
    func wait(for n: Int) { monitor.whenReady({ count >= n }) {} }
}
