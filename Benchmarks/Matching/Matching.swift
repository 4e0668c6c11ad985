import Benchmark
import Codec
import Journal
import Matching
import Simulation
#if canImport(Glibc)
import Glibc
#endif
import Workloads

// The matching engine alone (commands already decoded), on a mix like exchange-core's: mostly
// new limits near the touch and cancels (cancel/replace), some IOC and market orders, around a
// central price; once with about 1,000 resting orders, once with about 1,000,000 resting
// further from the touch; and once more over the million with the price drifting into them.

typealias Random = SplitMix64

extension SplitMix64 {
    init(state: UInt64) { self.init(seed: state) }
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}

func dec(_ mantissa: Int, _ scale: Int) -> ExactDecimal { ExactDecimal(mantissa: Int64(mantissa), scale: scale) }

/// An engine with one symbol and 1,000 funded accounts.
func market() -> MatchingEngine {
    var engine = MatchingEngine()
    var events = EventBuffer()
    engine.apply(.addAsset(name: "BTC", scale: 8), into: &events)
    engine.apply(.addAsset(name: "USDT", scale: 8), into: &events)
    engine.apply(.addSymbol(SymbolSpec(name: "BTCUSDT", base: "BTC", quote: "USDT", tickSize: dec(1, 2),
                                       stepSize: dec(1, 5), minQty: dec(1, 5), maxQty: dec(9000, 0), minNotional: dec(0, 0))),
                 into: &events)
    for a in 1...1_000 {
        for command in [Command.openAccount(AccountId(a)),
                        .deposit(account: AccountId(a), asset: "BTC", amount: dec(1_000, 0)),
                        .deposit(account: AccountId(a), asset: "USDT", amount: dec(1_000_000, 0))] {
            events.removeAll()
            engine.apply(command, into: &events)
            // Every account funded (a deposit past what an asset's total may hold is refused).
            precondition(events.events == [.ok], "setup refused: \(command)")
        }
    }
    return engine
}

/// Rests `count` orders 50–550 ticks away from 30000.00 on both sides; returns the commands.
@discardableResult
func deepen(_ engine: inout MatchingEngine, count: Int) -> [Command] {
    var events = EventBuffer()
    var r = Random(state: 7)
    var commands: [Command] = []
    for i in 0..<count {
        let side: Side = i % 2 == 0 ? .buy : .sell
        let ticks = 50 + r.below(500)
        let price = side == .buy ? 3_000_000 - ticks : 3_000_000 + ticks
        let command = Command.place(PlaceOrder(account: AccountId(1 + r.below(1_000)), symbol: "BTCUSDT", side: side,
                                               price: dec(price, 2), qty: dec(1 + r.below(100), 5)))
        events.removeAll()
        engine.apply(command, into: &events)
        guard case .booked = events.events.last else { preconditionFailure("a deep-book order did not rest: \(events.events)") }
        commands.append(command)
    }
    return commands
}

/// `count` commands of the mix, generated against a copy of `engine` so that cancels name
/// orders that rest. The mid moves by -2…+2 ticks per command; with a `band`, it stays within
/// that many ticks of 30000.00 (the walk is held at the band's edges), as exchange-core's
/// generator keeps its orders around a central price. Without one it is a free random walk,
/// which over 200k commands wanders hundreds of ticks: into a deep book, a sweep of it.
func mix(_ engine: MatchingEngine, count: Int, seed: UInt64, band: Int?) -> [Command] {
    var scratch = engine
    var events = EventBuffer()
    var r = Random(state: seed)
    var live: [(AccountId, OrderId)] = []
    var commands: [Command] = []
    commands.reserveCapacity(count)
    var mid = 3_000_000
    while commands.count < count {
        mid += r.below(5) - 2
        if let band { mid = min(max(mid, 3_000_000 - band), 3_000_000 + band) }
        let account = AccountId(1 + r.below(1_000))
        let side: Side = r.below(2) == 0 ? .buy : .sell
        let command: Command
        switch r.below(100) {
        case 0..<40 where !live.isEmpty:
            let (owner, id) = live.remove(at: r.below(live.count))
            command = .cancel(account: owner, symbol: "BTCUSDT", order: .id(id))
        case 40..<47:
            let price = side == .buy ? mid + 5 : mid - 5
            command = .place(PlaceOrder(account: account, symbol: "BTCUSDT", side: side, timeInForce: .ioc,
                                        price: dec(price, 2), qty: dec(1 + r.below(300), 5)))
        case 47..<50:
            command = .place(PlaceOrder(account: account, symbol: "BTCUSDT", side: side, type: .market,
                                        qty: dec(1 + r.below(300), 5)))
        default:
            let offset = r.below(20)
            let price = side == .buy ? mid - offset : mid + offset
            command = .place(PlaceOrder(account: account, symbol: "BTCUSDT", side: side,
                                        price: dec(price, 2), qty: dec(1 + r.below(200), 5)))
        }
        events.removeAll()
        scratch.apply(command, into: &events)
        for event in events.events {
            if case let .booked(id, _, _) = event { live.append((account, id)) }
        }
        commands.append(command)
    }
    return commands
}

/// A copy of `engine` that shares no storage with it, so that copy-on-write happens here and
/// not in the measurement, with room for the orders the mix will rest (no array grows while
/// it runs). It changes no order id: the mix's cancels name the ids `mix` saw.
func touchedCopy(of engine: MatchingEngine) -> MatchingEngine {
    var copy = engine
    var events = EventBuffer()
    copy.apply(.deposit(account: 1, asset: "BTC", amount: dec(1, 8)), into: &events)
    copy.reserveCapacity(restingOrdersPerSymbol: 200_000)
    precondition(copy.nextOrderId == engine.nextOrderId)
    return copy
}

/// The two benchmarks of one command stream applied to a copy of `start`: the whole stream
/// timed (`throughput`), and each command timed on its own (`latency`, CLOCK_MONOTONIC around
/// every apply, which adds the clock's own cost, about 20–40 ns, to every figure).
func applyBenchmarks(throughput: String, latency: String, metric: String, start: MatchingEngine, commands: [Command]) {
    Benchmark(throughput) { benchmark in
        for _ in benchmark.scaledIterations {
            var engine = touchedCopy(of: start)
            var events = EventBuffer(capacity: 256)
            let owned = OwnedCommands(commands)
            benchmark.startMeasurement()
            owned.applyAll(to: &engine, events: &events)
            benchmark.stopMeasurement()
            blackHole(engine.nextOrderId)
        }
    }
    let perCommand = BenchmarkMetric.custom(metric, polarity: .prefersSmaller, useScalingFactor: false)
    Benchmark(latency, configuration: .init(metrics: [perCommand], maxDuration: .seconds(15), maxIterations: 3)) { benchmark in
        for _ in benchmark.scaledIterations {
            var engine = touchedCopy(of: start)
            var events = EventBuffer(capacity: 256)
            var before = timespec(), after = timespec()
            let owned = OwnedCommands(commands)
            for i in 0..<owned.count {
                events.removeAll()
                let command = owned.take(i)
                clock_gettime(CLOCK_MONOTONIC, &before)
                engine.apply(command, into: &events)
                clock_gettime(CLOCK_MONOTONIC, &after)
                benchmark.measurement(perCommand, (after.tv_sec - before.tv_sec) * 1_000_000_000 + (after.tv_nsec - before.tv_nsec))
            }
            blackHole(engine.nextOrderId)
        }
    }
}

/// Journals `commands` into a fresh directory.
func journal(_ commands: [Command], at directory: String) throws {
    _ = system("rm -rf '\(directory)'")
    let writer = try JournalWriter(directory: directory, options: JournalOptions(durability: .none))
    var bytes: [UInt8] = []
    var time: Int64 = 0
    for command in commands {
        bytes.removeAll(keepingCapacity: true)
        CommandCodec.encode(command, into: &bytes)
        time += 1_000
        try writer.append(bytes, timestampNs: time)
    }
    try writer.close()
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        scalingFactor: .one,
        maxDuration: .seconds(15),
        maxIterations: 10
    )
    let commandsPerIteration = 200_000
    // The mid's band: 30 ticks, so the mix's limits (up to 20 ticks from the mid) stay clear
    // of the deep book's (50 ticks and further from 30000.00); IOCs and market orders still
    // cross, and a large market order reaches it.
    let touchBand = 30

    // Replay from a compressed journal: read + verify (CRC, chain) + decompress + decode +
    // apply, the whole flow from the start: the market's setup, the 1,000 resting orders and
    // the same 200k-command mix as the benchmarks below (about 204k commands in all).
    let replayDirectory = "/tmp/matching-bench-replay"
    Benchmark("Replay 200k commands from a compressed journal (~1,000 resting)") { benchmark in
        for _ in benchmark.scaledIterations {
            let reader = try JournalReader(directory: replayDirectory)
            var engine = MatchingEngine()
            var events = EventBuffer(capacity: 256)
            var decoder = CommandDecoder()
            while let record = try reader.nextView() {
                events.removeAll()
                engine.apply(try decoder.decode(record.bytes), into: &events)
            }
            blackHole(engine.nextOrderId)
        }
    } setup: {
        // The market's own setup as commands, then the mix, all journaled.
        var setup: [Command] = [
            .addAsset(name: "BTC", scale: 8), .addAsset(name: "USDT", scale: 8),
            .addSymbol(SymbolSpec(name: "BTCUSDT", base: "BTC", quote: "USDT", tickSize: dec(1, 2), stepSize: dec(1, 5),
                                  minQty: dec(1, 5), maxQty: dec(9000, 0), minNotional: dec(0, 0))),
        ]
        for a in 1...1_000 {
            setup.append(.openAccount(AccountId(a)))
            setup.append(.deposit(account: AccountId(a), asset: "BTC", amount: dec(1_000, 0)))
            setup.append(.deposit(account: AccountId(a), asset: "USDT", amount: dec(1_000_000, 0)))
        }
        var base = market()
        let resting = deepen(&base, count: 1_000)
        try journal(setup + resting + mix(base, count: 200_000, seed: 11, band: touchBand), at: replayDirectory)
    } teardown: {
        _ = system("rm -rf '\(replayDirectory)'")
    }

    // liquibook's deep-book shape: a million orders resting on few levels (ten a side, about
    // 50,000 orders each), then new orders joining the back of those queues, none crossing.
    do {
        var base = market()
        var events = EventBuffer()
        var r = Random(state: 5)
        func order(_ i: Int) -> Command {
            let side: Side = i % 2 == 0 ? .buy : .sell
            let ticks = 1 + r.below(10)
            return .place(PlaceOrder(account: AccountId(1 + r.below(1_000)), symbol: "BTCUSDT", side: side,
                                     price: dec(side == .buy ? 3_000_000 - ticks : 3_000_000 + ticks, 2),
                                     qty: dec(1 + r.below(100), 5)))
        }
        for i in 0..<1_000_000 {
            events.removeAll()
            base.apply(order(i), into: &events)
            guard case .booked = events.events.last else { preconditionFailure("a deep-book order did not rest") }
        }
        let inserts = (0..<commandsPerIteration).map { order($0) }
        applyBenchmarks(throughput: "Insert 200k limit orders into ~1,000,000 resting on 20 levels (liquibook's deep shape)",
                        latency: "Per-insert latency, ~1,000,000 resting on 20 levels", metric: "ns per insert",
                        start: base, commands: inserts)
    }

    for (name, resting, band) in [("~1,000 resting orders", 1_000, touchBand),
                                  ("~1,000,000 resting orders", 1_000_000, touchBand),
                                  ("~1,000,000 resting orders, the price drifting into them", 1_000_000, nil)] {
        var base = market()
        deepen(&base, count: resting)
        applyBenchmarks(throughput: "Apply 200k commands (limit/cancel/IOC/market mix), \(name)",
                        latency: "Per-command latency, \(name)", metric: "ns per command",
                        start: base, commands: mix(base, count: commandsPerIteration, seed: 11, band: band))
    }
}
