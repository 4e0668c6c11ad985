import Benchmark
import Codec
import Journal
import Matching
import Node
import Simulation
#if canImport(Glibc)
import Glibc
import _Posix
#endif

// The node end to end: a producer thread submits, the sequencer journals with fsync, the
// engine applies and acknowledges. Then snapshots of a 1M-resting-order state, and recovery of
// a 10M-command journal from a recent snapshot.

/// Records each command's acknowledgement latency: from its submission to the moment the
/// engine has applied the batch it came in and hands the acknowledgements over (`caughtUp`,
/// when a sink that writes to clients flushes), one clock reading per batch.
final class LatencySink: NodeSink, @unchecked Sendable {
    let monitor = Monitor()
    var submittedNs: [Int64]
    var latencyNs: [Int64]
    /// Acknowledged so far (tags are consecutive: one producer, submission order is sequence
    /// order), and how many of them have a latency.
    private var acknowledgedCount = 0
    private var measured = 0
    private(set) var count = 0

    init(capacity: Int) {
        submittedNs = [Int64](repeating: 0, count: capacity)
        latencyNs = [Int64](repeating: 0, count: capacity)
    }

    func acknowledged(tag: UInt64, sequence: UInt64, timestampNs: Int64, command: Command, events: EventList,
                      engine: MatchingEngine) {
        acknowledgedCount = Int(tag) + 1
    }

    func failed(tag: UInt64, error: NodeError) { fatalError("\(error)") }

    func caughtUp(to sequence: UInt64) {
        let now = monotonicNs()
        for i in measured..<acknowledgedCount { latencyNs[i] = now - submittedNs[i] }
        measured = acknowledgedCount
        monitor.locked {
            count = acknowledgedCount
            monitor.broadcast()
        }
    }

    func wait(for n: Int) { monitor.whenReady({ count >= n }) {} }
}

func temporaryDirectory(_ label: String) -> String {
    var template = Array("/tmp/exchange-bench-\(label)-XXXXXX".utf8CString)
    let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    precondition(made != nil)
    return String(cString: template.withUnsafeBufferPointer { $0.baseAddress! })
}

func removeDirectory(_ path: String) { _ = system("rm -rf '\(path)'") }

/// An engine with one symbol, 1,000 funded accounts and `count` resting orders 1–500 ticks
/// from 30000.00 on both sides.
func restingState(count: Int) -> MatchingEngine {
    func dec(_ m: Int, _ s: Int) -> ExactDecimal { ExactDecimal(mantissa: Int64(m), scale: s) }
    var engine = MatchingEngine()
    var events = EventBuffer()
    func apply(_ c: Command) {
        events.removeAll()
        engine.apply(c, into: &events)
        // Every setup command takes and every order rests: the state holds what it says.
        switch events.events.last {
        case .ok, .booked: break
        default: preconditionFailure("setup refused: \(c) → \(events.events)")
        }
    }
    apply(.addAsset(name: "BTC", scale: 8))
    apply(.addAsset(name: "USDT", scale: 8))
    apply(.addSymbol(SymbolSpec(name: "BTCUSDT", base: "BTC", quote: "USDT", tickSize: dec(1, 2), stepSize: dec(1, 5),
                                minQty: dec(1, 5), maxQty: dec(9000, 0), minNotional: dec(0, 0))))
    for a in 1...1_000 {
        apply(.openAccount(AccountId(a)))
        apply(.deposit(account: AccountId(a), asset: "BTC", amount: dec(1_000, 0)))
        apply(.deposit(account: AccountId(a), asset: "USDT", amount: dec(1_000_000, 0)))
    }
    var seed: UInt64 = 7
    for i in 0..<count {
        seed = seed &* 6364136223846793005 &+ 1442695040888963407
        let ticks = 1 + Int(seed >> 33) % 500
        let side: Side = i % 2 == 0 ? .buy : .sell
        let price = side == .buy ? 3_000_000 - ticks : 3_000_000 + ticks
        apply(.place(PlaceOrder(account: AccountId(1 + i % 1_000), symbol: "BTCUSDT", clientId: i % 10 == 0 ? "c\(i)" : nil,
                                side: side, price: dec(price, 2), qty: dec(1 + Int(seed >> 40) % 100, 5))))
    }
    return engine
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput],
        scalingFactor: .one,
        maxDuration: .seconds(30),
        maxIterations: 5
    )

    // 1. Durable throughput and acknowledgement latency.
    let commandsPerRun = 1_000_000
    let flow = OrderFlow.commands(seed: 5, count: commandsPerRun - OrderFlow.setup().count)
    // Cut into the batches the producer submits before any measurement.
    let batches = stride(from: 0, to: flow.count, by: 256).map { Array(flow[$0..<min($0 + 256, flow.count)]) }
    let ackLatency = BenchmarkMetric.custom("ack latency ns", polarity: .prefersSmaller, useScalingFactor: false)
    // The table shows p0…p100 of the samples; p99.9 of each run is reported on its own.
    let ackP999 = BenchmarkMetric.custom("ack latency p99.9 ns", polarity: .prefersSmaller, useScalingFactor: false)
    let engineCPU = BenchmarkMetric.custom("engine thread CPU ms", polarity: .prefersSmaller, useScalingFactor: false)
    let sequencerCPU = BenchmarkMetric.custom("sequencer thread CPU ms", polarity: .prefersSmaller, useScalingFactor: false)
    let readerCPU = BenchmarkMetric.custom("reading thread CPU ms", polarity: .prefersSmaller, useScalingFactor: false)
    func report(_ node: Node, _ benchmark: Benchmark) {
        benchmark.measurement(engineCPU, Int(node.engineCPUSeconds * 1_000))
        benchmark.measurement(sequencerCPU, Int(node.sequencerCPUSeconds * 1_000))
    }
    func report(_ sink: LatencySink, _ benchmark: Benchmark) {
        for (i, ns) in sink.latencyNs.enumerated() where i % 10 == 0 { benchmark.measurement(ackLatency, Int(ns)) }
        let sorted = sink.latencyNs.sorted()
        benchmark.measurement(ackP999, Int(sorted[sorted.count * 999 / 1000]))
    }
    /// One measured run: a fresh node, the producer handing its batches over (moved, as a
    /// gateway would), at most `inFlight` commands unacknowledged when given, every
    /// acknowledgement awaited; then the latency and CPU figures.
    func run(_ benchmark: Benchmark, durability: Durability, inFlight: Int? = nil) throws {
        let directory = temporaryDirectory("node")
        defer { removeDirectory(directory) }
        let sink = LatencySink(capacity: flow.count)
        var options = NodeOptions(data: DataDirectory(directory))
        options.journal.durability = durability
        options.snapshotEveryCommands = 0
        let node = try Node(options: options, sink: sink)
        var owned = batches.map { batch in batch.map { $0 } }
        benchmark.startMeasurement()
        var next = 0
        for b in owned.indices {
            let count = owned[b].count
            if let inFlight, next + count - inFlight > 0 { sink.wait(for: next + count - inFlight) }
            let now = monotonicNs()
            for i in next..<(next + count) { sink.submittedNs[i] = now }
            guard node.submit(taking: &owned[b], firstTag: UInt64(next), waitingForRoom: true) == .queued else {
                fatalError("node stopped: \(String(describing: node.failed))")
            }
            next += count
        }
        sink.wait(for: flow.count)
        benchmark.stopMeasurement()
        try node.stop()
        report(sink, benchmark)
        report(node, benchmark)
    }
    let nodeConfiguration = Benchmark.Configuration(
        metrics: [.wallClock, ackLatency, ackP999, engineCPU, sequencerCPU], scalingFactor: .one,
        maxDuration: .seconds(60), maxIterations: 5)

    for (label, durability) in [("fsync always", Durability.always), ("fsync none", Durability.none)] {
        Benchmark("Node: 1M commands submitted by a producer thread, \(label), batches of 256",
                  configuration: nodeConfiguration) { benchmark in
            for _ in benchmark.scaledIterations { try run(benchmark, durability: durability) }
        }
    }

    // Acknowledgement latency at a bounded load: the producer keeps at most 4,096 commands in
    // flight (it submits the next batch of 256 only when that leaves room), as clients waiting
    // for answers do.
    Benchmark("Node: ack latency with at most 4,096 commands in flight, fsync always",
              configuration: nodeConfiguration) { benchmark in
        for _ in benchmark.scaledIterations { try run(benchmark, durability: .always, inFlight: 4_096) }
    }

    // The JSON Lines path of `exchange node --stdin`: the same 1M commands as INTERCHANGE lines
    // read from a file descriptor, decoded, journaled with fsync, applied, and every event
    // rendered as a line into a file.
    let linesFile = temporaryDirectory("lines") + "/commands.jsonl"
    Benchmark("Node: 1M JSON command lines in, event lines out (node --stdin), fsync always",
              configuration: .init(metrics: [.wallClock, readerCPU, engineCPU, sequencerCPU], scalingFactor: .one,
                                   maxDuration: .seconds(60), maxIterations: 5)) { benchmark in
        for _ in benchmark.scaledIterations {
            let directory = temporaryDirectory("node-lines")
            defer { removeDirectory(directory) }
            let input = open(linesFile, O_RDONLY)
            let output = open(directory + "/events.jsonl", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            precondition(input >= 0 && output >= 0)
            defer { close(input); close(output) }
            let sink = EventLinesSink(fd: output)
            var options = NodeOptions(data: DataDirectory(directory + "/data"))
            options.journal.durability = .always
            options.snapshotEveryCommands = 0
            let node = try Node(options: options, sink: sink)
            benchmark.startMeasurement()
            let readerStart = threadCPUSeconds()
            let fed = feedCommandLines(from: input, into: node, sink: sink, stop: { false }) { line, why in
                fatalError("line \(line): \(why)")
            }
            let readerSeconds = threadCPUSeconds() - readerStart
            try node.stop()
            benchmark.stopMeasurement()
            precondition(fed.lines == flow.count && sink.acknowledged == flow.count)
            report(node, benchmark)
            benchmark.measurement(readerCPU, Int(readerSeconds * 1_000))
        }
    } setup: {
        var text: [UInt8] = []
        for (i, command) in flow.enumerated() {
            text.append(contentsOf: CommandJSON.encode(command, seq: UInt64(i + 1), timestampNs: 0).utf8)
            text.append(0x0A)
        }
        let fd = open(linesFile, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        precondition(fd >= 0)
        _ = text.withUnsafeBytes { writeAll(fd, $0) }
        close(fd)
    }

    // The engine alone on the same flow (the baseline for the node's figure).
    Benchmark("Node baseline: the engine alone applies the same 1M commands",
              configuration: .init(metrics: [.wallClock], scalingFactor: .one, maxDuration: .seconds(60), maxIterations: 5)) { benchmark in
        for _ in benchmark.scaledIterations {
            var engine = MatchingEngine()
            var events = EventBuffer(capacity: 256)
            // Owned commands, as the node's engine thread has them (moved out of its queue).
            let owned = OwnedCommands(flow)
            benchmark.startMeasurement()
            owned.applyAll(to: &engine, events: &events)
            benchmark.stopMeasurement()
            blackHole(engine.nextOrderId)
        }
    }

    // 2. Snapshots of a state with 1M resting orders.
    let million = restingState(count: 1_000_000)
    let snapshotDirectory = temporaryDirectory("snap")
    Benchmark("Snapshot write: 1M resting orders (serialize, LZ4, SHA-256, fsync, rename)") { benchmark in
        for _ in benchmark.scaledIterations {
            let header = try SnapshotStore.write(million.canonicalState(), sequence: 1, timestampNs: 0, createdNs: 0,
                                                 to: snapshotDirectory, keep: 1)
            blackHole(header.storedBytes)
        }
    }
    Benchmark("Snapshot restore: 1M resting orders (read, SHA-256 ×2, LZ4, rebuild the engine, invariant check)") { benchmark in
        let path = snapshotDirectory + "/" + SnapshotStore.fileName(sequence: 1)
        if (try? SnapshotStore.header(path)) == nil {
            try SnapshotStore.write(million.canonicalState(), sequence: 1, timestampNs: 0, createdNs: 0, to: snapshotDirectory)
        }
        for _ in benchmark.scaledIterations {
            let (_, body) = try SnapshotStore.read(path)
            let engine = try MatchingEngine(canonicalState: body)
            blackHole(engine.nextOrderId)
        }
    }

    // 3. Recovery of a 10M-command journal whose newest snapshot is 100k commands old.
    let recoveryDirectory = "/tmp/exchange-bench-recovery"
    Benchmark("Recovery: 10M-command journal, snapshot 100k commands before its end",
              configuration: .init(metrics: [.wallClock], maxDuration: .seconds(60), maxIterations: 5)) { benchmark in
        for _ in benchmark.scaledIterations {
            let recovery = try Recovery.rebuild(journal: recoveryDirectory + "/journal",
                                                RebuildOptions(snapshots: recoveryDirectory + "/snapshots"))
            precondition(recovery.snapshot != nil && recovery.replayed == 100_000)
            blackHole(recovery.lastSequence)
        }
    } setup: {
        removeDirectory(recoveryDirectory)
        let data = DataDirectory(recoveryDirectory)
        let writer = try JournalWriter(directory: data.journal, options: JournalOptions(durability: .none))
        var engine = MatchingEngine()
        var events = EventBuffer()
        var bytes: [UInt8] = []
        var flow = OrderFlow(seed: 10)
        let setup = OrderFlow.setup()
        let total = 10_000_000
        for i in 0..<total {
            let command = i < setup.count ? setup[i] : flow.next()
            bytes.removeAll(keepingCapacity: true)
            CommandCodec.encode(command, into: &bytes)
            let seq = try writer.append(bytes, timestampNs: 1_767_225_600_000_000_000 + Int64(i) * 1_000)
            events.removeAll()
            engine.apply(command, into: &events)
            if seq == UInt64(total - 100_000) {
                try SnapshotStore.write(engine.canonicalState(), sequence: seq, timestampNs: 0, createdNs: 0, to: data.snapshots)
            }
        }
        try writer.close()
    } teardown: {
        removeDirectory(recoveryDirectory)
    }
}
