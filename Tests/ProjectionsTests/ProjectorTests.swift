import Codec
import Foundation
import Journal
import Matching
import Node
import Projections
import ProjectionsSQLite
import Testing

/// A read model built from a seeded simulation's journal, every table checked against what
/// the test works out itself from an independent replay of the same journal.
@Suite struct ProjectorTests {
    /// Projects `journal` into a new SQLite file in `scratch`.
    static func project(_ journal: String, into path: String, batch: Int = 1_000) throws -> SQLiteStore {
        let store = try SQLiteStore(path: path)
        _ = try ProjectionRunner(journal: journal, store: store, batchCommandsMax: batch).run()
        return store
    }

    @Test(arguments: [UInt64(3), 11])
    func everyTableEqualsAnIndependentRecomputation(seed: UInt64) throws {
        let scratch = Scratch("tables")
        let journal = try simulate(into: scratch, seed: seed, commands: 6_000, symbols: 3, accounts: 25)
        let store = try Self.project(journal, into: scratch.path + "/rm.sqlite", batch: 777)
        defer { store.close() }
        let facts = try ReplayFacts(journal: journal)
        let engine = facts.engine

        // Balances: every account's every asset as the engine holds it (no row: zero).
        var rows: [String: (Int64, Int64)] = [:]
        for r in try store.query("SELECT account, asset, free, locked FROM balances", []) {
            rows["\(r[0].int!)/\(r[1].text!)"] = (r[2].int!, r[3].int!)
        }
        var accounts: Set<UInt64> = [0]
        for step in facts.steps { if case let .openAccount(a) = step.command { accounts.insert(a) } }
        for account in accounts where engine.hasAccount(account) {
            for asset in engine.assets {
                let b = engine.balance(account: account, asset: asset.name)!
                let row = rows["\(account)/\(asset.name)"] ?? (0, 0)
                #expect(row == (b.free, b.locked), "account \(account) \(asset.name)")
            }
        }

        // Trades: the replay's trade events, field by field.
        var trades: [Trade] = []
        var tradeTimes: [UInt64: Int64] = [:]
        for step in facts.steps {
            for case let .trade(t) in step.events {
                trades.append(t)
                tradeTimes[t.tradeId] = step.ts
            }
        }
        let tradeRows = try store.query("SELECT trade_id, symbol, price, qty, taker_side, maker_order_id, taker_order_id, maker_account, taker_account, maker_fee, taker_fee, ts_ns FROM trades ORDER BY trade_id", [])
        #expect(tradeRows.count == trades.count)
        #expect(trades.count > 500, "the simulation trades")
        for (t, r) in zip(trades, tradeRows) {
            #expect(r == [.int(Int64(t.tradeId)), .text(engine.symbolNames[t.symbol]), .int(t.price), .int(t.qty),
                          .text(t.takerSide.description), .int(Int64(t.makerOrderId)), .int(Int64(t.takerOrderId)),
                          .int(Int64(t.makerAccount)), .int(Int64(t.takerAccount)), .int(t.makerFee), .int(t.takerFee),
                          .int(tradeTimes[t.tradeId]!)])
        }

        try checkOrders(store, facts)
        try checkKlines(store, facts, trades: trades, times: tradeTimes)
        try checkLedger(store, facts)
    }

    /// Orders: one row per accepted order; its fills from the trades; its status from its last
    /// event, or from whether the engine still rests it.
    func checkOrders(_ store: SQLiteStore, _ facts: ReplayFacts) throws {
        struct Expected { var symbol = ""; var executed: Int64 = 0; var quote: Int64 = 0; var status = "" }
        var expected: [UInt64: Expected] = [:]
        var order: [UInt64] = []
        let engine = facts.engine
        for step in facts.steps {
            for event in step.events {
                switch event {
                case let .accepted(id, _, s, _, _, _, _, _, _):
                    expected[id] = Expected(symbol: engine.symbolNames[s])
                    order.append(id)
                case let .trade(t):
                    let info = engine.symbols[t.symbol]
                    let quote = t.price * t.qty * info.quoteMultiplier
                    for id in [t.makerOrderId, t.takerOrderId] {
                        expected[id]!.executed += t.qty
                        expected[id]!.quote += quote
                    }
                case let .done(id, _, status, _, _): expected[id]!.status = status.rawValue
                case let .cancelled(id, _, _, reason): expected[id]!.status = reason == .stp ? "EXPIRED_IN_MATCH" : "CANCELED"
                default: break
                }
            }
        }
        let rows = try store.query("SELECT order_id, symbol, executed_qty, cumulative_quote_qty, status, orig_qty FROM orders ORDER BY order_id", [])
        #expect(rows.map { UInt64($0[0].int!) } == order)
        var open = 0
        for r in rows {
            let id = UInt64(r[0].int!)
            var e = expected[id]!
            let resting = engine.remaining(of: .id(id), symbol: e.symbol)
            if e.status.isEmpty {
                e.status = resting != nil ? (e.executed > 0 ? "PARTIALLY_FILLED" : "NEW") : "FILLED"
            }
            #expect(r[1] == .text(e.symbol) && r[2] == .int(e.executed) && r[3] == .int(e.quote) && r[4] == .text(e.status),
                    "order \(id): \(r) expected \(e)")
            if let resting {
                open += 1
                #expect(r[5].int! - e.executed == resting, "order \(id): what rests")
            }
        }
        #expect(open > 10, "some orders rest at the end")
    }

    /// Klines: the trades grouped by symbol and period here, with Binance's fields.
    func checkKlines(_ store: SQLiteStore, _ facts: ReplayFacts, trades: [Trade], times: [UInt64: Int64]) throws {
        var expected: [String: [Int64]] = [:]
        for t in trades {
            let info = facts.engine.symbols[t.symbol]
            for interval in KlineInterval.allCases {
                let ms = times[t.tradeId]! / 1_000_000
                let open = ms - ms % interval.milliseconds
                let key = "\(facts.engine.symbolNames[t.symbol]) \(interval.rawValue) \(open)"
                let quote = t.price * t.qty * info.quoteMultiplier
                let buy: Int64 = t.takerSide == .buy ? 1 : 0
                if var k = expected[key] {
                    k[1] = max(k[1], t.price); k[2] = min(k[2], t.price); k[3] = t.price
                    k[4] += t.qty; k[5] += quote; k[6] += 1; k[7] += buy * t.qty; k[8] += buy * quote
                    expected[key] = k
                } else {
                    expected[key] = [t.price, t.price, t.price, t.price, t.qty, quote, 1, buy * t.qty, buy * quote]
                }
            }
        }
        let rows = try store.query("SELECT symbol, kline_interval, open_time_ms, open, high, low, close, volume, quote_volume, trades, taker_buy_volume, taker_buy_quote_volume, close_time_ms FROM klines", [])
        #expect(rows.count == expected.count)
        for r in rows {
            let key = "\(r[0].text!) \(r[1].text!) \(r[2].int!)"
            #expect(expected[key] == r[3...11].map { $0.int! }, "kline \(key)")
            #expect(r[12].int! == r[2].int! + KlineInterval(rawValue: r[1].text!)!.milliseconds - 1)
        }
    }

    /// Ledger: its sums are the balances, each trade's movements cancel out per asset, and per
    /// asset everything held is what was deposited less what was withdrawn (conservation).
    func checkLedger(_ store: SQLiteStore, _ facts: ReplayFacts) throws {
        let engine = facts.engine
        let sums = try store.query("SELECT account, asset, SUM(free_delta), SUM(locked_delta) FROM ledger GROUP BY account, asset", [])
        #expect(!sums.isEmpty)
        for r in sums {
            let b = engine.balance(account: UInt64(r[0].int!), asset: r[1].text!)!
            #expect([r[2].int!, r[3].int!] == [b.free, b.locked], "ledger sums of \(r[0]) \(r[1])")
        }
        let unbalancedTrades = try store.query("SELECT trade_id, asset FROM ledger WHERE trade_id IS NOT NULL AND cause IN ('trade', 'fee') GROUP BY trade_id, asset HAVING SUM(free_delta + locked_delta) != 0", [])
        #expect(unbalancedTrades.isEmpty)
        let locksAndReleases = try store.query("SELECT COUNT(*) FROM ledger WHERE cause IN ('lock', 'release') AND free_delta + locked_delta != 0", [])
        #expect(locksAndReleases == [[.int(0)]], "a lock or a release moves between free and locked only")
        var net: [String: Int64] = [:]
        for step in facts.steps where step.events == [.ok] {
            switch step.command {
            case let .deposit(_, asset, amount): net[asset, default: 0] += amount.units(atScale: engine.assets[engine.assetIndex(asset)!].scale)!
            case let .withdraw(_, asset, amount): net[asset, default: 0] -= amount.units(atScale: engine.assets[engine.assetIndex(asset)!].scale)!
            default: break
            }
        }
        for r in try store.query("SELECT asset, SUM(free_delta + locked_delta) FROM ledger GROUP BY asset", []) {
            #expect(r[1].int! == net[r[0].text!, default: 0], "conservation of \(r[0])")
        }
        let causes = try store.query("SELECT DISTINCT cause FROM ledger ORDER BY cause", []).map { $0[0].text! }
        #expect(causes == ["deposit", "fee", "lock", "release", "trade", "withdrawal"])
    }

    /// A database built in several runs, the journal growing between them, equals one built
    /// in one run; any batch size gives the same rows.
    @Test func resumingAndBatchingChangeNoRow() throws {
        let scratch = Scratch("resume")
        let journal = try simulate(into: scratch, seed: 5, commands: 4_000)
        // The journal's commands, imported a part at a time into a new journal, projected after
        // each part into the same database.
        let export = try exchange(["journal", "export", "--journal", journal])
        #expect(export.status == 0)
        let lines = export.stdout.split(separator: "\n").map(String.init)
        let grown = scratch.path + "/grown"
        let store = try SQLiteStore(path: scratch.path + "/grown.sqlite")
        defer { store.close() }
        var start = 0
        for end in [1, 300, 301, 2_000, lines.count] {
            let file = scratch.path + "/part.jsonl"
            try (lines[start..<end].joined(separator: "\n") + "\n").write(toFile: file, atomically: false, encoding: .utf8)
            #expect(try exchange(["journal", "import", file, "--journal", grown]).status == 0)
            let summary = try ProjectionRunner(journal: grown, store: store, batchCommandsMax: 97).run()
            #expect(summary.resumedFrom == (start == 0 ? 0 : summary.resumedFrom))
            start = end
        }
        let whole = try Self.project(grown, into: scratch.path + "/whole.sqlite", batch: 100_000)
        defer { whole.close() }
        let expected = try dump(whole)
        #expect(expected["trades"]!.count > 100)
        #expect(try dump(store) == expected)
    }

    /// A stop asked in the middle of a rebuild (SIGINT, SIGTERM) ends the run after the batch in
    /// hand, its checkpoint written; the next run resumes there and ends as one run would.
    @Test func aStopInTheMiddleEndsAfterTheBatchInHand() throws {
        let scratch = Scratch("stop")
        let journal = try simulate(into: scratch, seed: 14, commands: 3_000)
        let store = try SQLiteStore(path: scratch.path + "/rm.sqlite")
        defer { store.close() }
        var asked = 0
        let stopped = try ProjectionRunner(journal: journal, store: store, batchCommandsMax: 200)
            .run(shouldStop: { asked += 1; return asked >= 4 })
        #expect(stopped.lastSequence == 800 && stopped.batches == 4)
        #expect(try store.prepare()?.lastSequence == 800)
        let rest = try ProjectionRunner(journal: journal, store: store, batchCommandsMax: 200).run()
        #expect(rest.resumedFrom == 800 && rest.lastSequence > 3_000)
        let whole = try Self.project(journal, into: scratch.path + "/whole.sqlite")
        defer { whole.close() }
        #expect(try dump(store) == dump(whole))
    }
}
