import Codec
import Journal
import Matching
import Projections
import Testing

/// Live market data: depth diffs kept in step with a snapshot by Binance's documented
/// local-order-book procedure reproduce the engine's book; trades and klines follow the events.
@Suite struct MarketDataTests {
    /// Applies the journal through a projector with market data, taking a depth snapshot of
    /// every symbol after `snapshotAfter` commands; returns the diffs, the snapshots and the end.
    static func run(_ journal: String, snapshotAfter: Int)
        throws -> (diffs: [MarketData.DepthUpdate], snapshots: [MarketData.DepthSnapshot], projector: Projector, trades: [MarketData.RecentTrade]) {
        let market = MarketData(recentTradesMax: 50)
        var diffs: [MarketData.DepthUpdate] = []
        var trades: [MarketData.RecentTrade] = []
        market.onDepthUpdate = { diffs.append($0) }
        market.onTrade = { trades.append($0) }
        let projector = Projector(marketData: market)
        let reader = try JournalReader(directory: journal)
        var snapshots: [MarketData.DepthSnapshot] = []
        var applied = 0
        while let record = try reader.nextView() {
            try projector.apply(record)
            applied += 1
            if applied == snapshotAfter {
                snapshots = projector.replayer.engine.symbols.indices.map { market.depth(symbol: $0) }
            }
        }
        return (diffs, snapshots, projector, trades)
    }

    @Test func diffsOnASnapshotByBinancesProcedureReproduceTheBook() throws {
        let scratch = Scratch("depth")
        let journal = try simulate(into: scratch, seed: 9, commands: 5_000, symbols: 3)
        let (diffs, snapshots, projector, _) = try Self.run(journal, snapshotAfter: 2_500)
        let engine = projector.replayer.engine
        #expect(snapshots.count == 3)
        for (s, snapshot) in snapshots.enumerated() {
            // The local book: the snapshot, then the buffered diffs from the first that covers
            // lastUpdateId + 1 (older ones dropped), each continuing the one before.
            var bids = Dictionary(uniqueKeysWithValues: snapshot.bids.map { ($0.price, $0.qty) })
            var asks = Dictionary(uniqueKeysWithValues: snapshot.asks.map { ($0.price, $0.qty) })
            var previousFinal: UInt64?
            var applied = 0
            for diff in diffs where diff.symbol == s && diff.finalUpdateId > snapshot.lastUpdateId {
                if let previousFinal {
                    #expect(diff.firstUpdateId == previousFinal + 1, "diffs continue one another")
                } else {
                    #expect(diff.firstUpdateId <= snapshot.lastUpdateId + 1 && snapshot.lastUpdateId + 1 <= diff.finalUpdateId)
                }
                previousFinal = diff.finalUpdateId
                for level in diff.bids { bids[level.price] = level.qty == 0 ? nil : level.qty }
                for level in diff.asks { asks[level.price] = level.qty == 0 ? nil : level.qty }
                applied += 1
            }
            #expect(applied > 100, "the book changed after the snapshot")
            let book = engine.depth(symbol: engine.symbolNames[s])!
            #expect(bids.sorted { $0.key > $1.key }.map { [$0.key, $0.value] } == book.bids.map { [$0.0, $0.1] })
            #expect(asks.sorted { $0.key < $1.key }.map { [$0.key, $0.value] } == book.asks.map { [$0.0, $0.1] })
            let live = projector.marketData!.depth(symbol: s)
            #expect(live.bids.map { [$0.price, $0.qty] } == book.bids.map { [$0.0, $0.1] })
            #expect(live.asks.map { [$0.price, $0.qty] } == book.asks.map { [$0.0, $0.1] })
            #expect(!book.bids.isEmpty && !book.asks.isEmpty)
            let top = projector.marketData!.depth(symbol: s, limit: 5)
            #expect(top.bids.count == min(5, book.bids.count) && top.bids == Array(live.bids.prefix(5)))
        }
    }

    /// A second derivation (a replica, a restarted node) gives the same update ids, diffs,
    /// trades and klines.
    @Test func aSecondDerivationIsTheSameAndTradesAndKlinesFollowTheEvents() throws {
        let scratch = Scratch("again")
        let journal = try simulate(into: scratch, seed: 4, commands: 3_000)
        let first = try Self.run(journal, snapshotAfter: 0)
        let second = try Self.run(journal, snapshotAfter: 0)
        #expect(first.diffs == second.diffs)
        #expect(first.diffs.count > 1_000)
        #expect(first.trades.map(\.trade) == second.trades.map(\.trade))

        let facts = try ReplayFacts(journal: journal)
        var trades: [(Trade, Int64)] = []
        for step in facts.steps { for case let .trade(t) in step.events { trades.append((t, step.ts)) } }
        #expect(first.trades.map(\.trade) == trades.map(\.0))
        let market = first.projector.marketData!
        for s in facts.engine.symbols.indices {
            let mine = trades.filter { $0.0.symbol == s }
            #expect(market.recentTrades(symbol: s).map(\.trade) == mine.suffix(50).map(\.0))
            #expect(market.recentTrades(symbol: s, limit: 3).map(\.trade) == mine.suffix(3).map(\.0))
            // The current minute: the trades since the last one's minute began.
            let last = mine.last!
            let minute = last.1 / 60_000_000_000
            let inMinute = mine.filter { $0.1 / 60_000_000_000 == minute }.map(\.0)
            let kline = market.currentKline(symbol: s, interval: .oneMinute)!
            #expect(kline.openTimeMs == minute * 60_000)
            #expect(kline.trades == Int64(inMinute.count))
            #expect(kline.open == inMinute.first!.price && kline.close == inMinute.last!.price)
            #expect(kline.high == inMinute.map(\.price).max()! && kline.low == inMinute.map(\.price).min()!)
            #expect(kline.volume == inMinute.reduce(0) { $0 + $1.qty })
        }
    }
}
