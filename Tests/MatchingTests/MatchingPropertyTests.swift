import Testing
@testable import Matching
import Workloads

extension SplitMix64 {
    init(state: UInt64) { self.init(seed: state) }
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}

/// Seeded random streams of orders, cancels, deposits and withdrawals. After every command the
/// full invariant check holds and every asset is conserved. A failure names its seed; run it
/// again with that seed to reproduce it.
@Suite struct MatchingPropertyTests {
    typealias Random = SplitMix64

    func randomCommand(_ r: inout Random, _ nextOrder: OrderId) -> Command {
        let account = AccountId(7 + r.below(4))
        switch r.below(100) {
        case 0..<3:
            return .deposit(account: account, asset: r.below(2) == 0 ? "BTC" : "USDT", amount: dec("\(1 + r.below(50))"))
        case 3..<5:
            return .withdraw(account: account, asset: r.below(2) == 0 ? "BTC" : "USDT", amount: dec("\(1 + r.below(5))"))
        case 5..<25:
            return .cancel(account: account, symbol: "BTCUSDT", order: .id(OrderId(1 + r.below(max(1, Int(nextOrder))))))
        case 25..<27:
            return .cancelAll(account: account, symbol: "BTCUSDT")
        case 27..<32:
            return .amend(account: account, symbol: "BTCUSDT", order: .id(OrderId(1 + r.below(max(1, Int(nextOrder))))),
                          qty: ExactDecimal(mantissa: Int64(1 + r.below(200)) * 100, scale: 5))
        case 32..<40:
            let side: Side = r.below(2) == 0 ? .buy : .sell
            let stp = SelfTradePrevention(rawValue: UInt8(r.below(4)))!
            if r.below(2) == 0 {
                return .place(PlaceOrder(account: account, symbol: "BTCUSDT", side: side, type: .market,
                                         qty: ExactDecimal(mantissa: Int64(1 + r.below(500)) * 100, scale: 5), stp: stp))
            }
            return .place(PlaceOrder(account: account, symbol: "BTCUSDT", side: side, type: .market,
                                     quoteQty: ExactDecimal(mantissa: Int64(1 + r.below(20_000)), scale: 0), stp: stp))
        default:
            let side: Side = r.below(2) == 0 ? .buy : .sell
            let cents = 3_000_000 + r.below(400) - 200 + (side == .buy ? -20 : 20)
            let price = ExactDecimal(mantissa: Int64(cents), scale: 2)
            let qty = ExactDecimal(mantissa: Int64(1 + r.below(300)) * 100, scale: 5)
            let tif: TimeInForce = [.gtc, .gtc, .gtc, .ioc, .fok][r.below(5)]
            let type: OrderType = r.below(10) == 0 ? .limitMaker : .limit
            let clientId: String? = r.below(3) == 0 ? "c\(r.below(20))" : nil
            return .place(PlaceOrder(account: account, symbol: "BTCUSDT", clientId: clientId, side: side,
                                     type: type, timeInForce: tif, price: price, qty: qty,
                                     stp: SelfTradePrevention(rawValue: UInt8(r.below(4)))!))
        }
    }

    @Test(arguments: [1, 2, 3, 4, 5] as [UInt64])
    func invariantsAndConservationHoldAfterEveryCommand(seed: UInt64) {
        var m = Market(makerFeePpm: 1_000, takerFeePpm: 2_500)
        for account: AccountId in [9, 10] {
            m.run(.openAccount(account))
            m.run(.deposit(account: account, asset: "BTC", amount: dec("10")))
            m.run(.deposit(account: account, asset: "USDT", amount: dec("1000000")))
        }
        var expectedTotals = m.engine.totals()
        var r = Random(state: seed)
        var trades = 0
        for step in 0..<3_000 {
            let command = randomCommand(&r, m.engine.nextOrderId)
            let events = m.run(command)
            if events.first == .ok {
                switch command {
                case let .deposit(_, asset, amount): expectedTotals[m.engine.assetIndex(asset)!] += amount.units(atScale: 8)!
                case let .withdraw(_, asset, amount): expectedTotals[m.engine.assetIndex(asset)!] -= amount.units(atScale: 8)!
                default: break
                }
            }
            trades += m.trades.count
            if let violation = m.engine.checkInvariants() {
                Issue.record("seed \(seed), step \(step), \(command): \(violation)")
                return
            }
            if m.engine.totals() != expectedTotals {
                Issue.record("seed \(seed), step \(step), \(command): totals \(m.engine.totals()) ≠ \(expectedTotals)")
                return
            }
        }
        #expect(trades > 100, "seed \(seed): the stream must trade (\(trades) trades)")
    }

    /// A tick and a step of more than one unit (0.05 and 0.00002: 5 and 2 in the symbol's
    /// units), where the book's ladder search divides by the tick and guesses a rung: after
    /// every command of seeded streams the full invariant check holds (a level found twice, or
    /// put out of order, fails it), and the stream trades.
    @Test(arguments: [11, 12, 13] as [UInt64])
    func coarseTicksAndStepsKeepTheBookSound(seed: UInt64) {
        var m = Market()
        m.run(.addSymbol(SymbolSpec(name: "ETHUSDT", base: "BTC", quote: "USDT", tickSize: dec("0.05"),
                                    stepSize: dec("0.00002"), minQty: dec("0.00002"), maxQty: dec("100"),
                                    minNotional: dec("0"))))
        var r = Random(state: seed)
        var trades = 0
        for step in 0..<3_000 {
            let account = AccountId(7 + r.below(2))
            let side: Side = r.below(2) == 0 ? .buy : .sell
            let qty = ExactDecimal(mantissa: Int64(2 * (1 + r.below(50))), scale: 5)
            let command: Command
            switch r.below(10) {
            case 0..<3:
                command = .cancel(account: account, symbol: "ETHUSDT",
                                  order: .id(OrderId(1 + r.below(max(1, Int(m.engine.nextOrderId))))))
            case 3:
                command = .place(PlaceOrder(account: account, symbol: "ETHUSDT", side: side, type: .market, qty: qty))
            case 4:
                command = .amend(account: account, symbol: "ETHUSDT",
                                 order: .id(OrderId(1 + r.below(max(1, Int(m.engine.nextOrderId))))),
                                 qty: ExactDecimal(mantissa: Int64(2 * (1 + r.below(10))), scale: 5))
            default:
                // 30000 ± 2 in steps of 0.05, buyers a little below and sellers a little above.
                let ticks = r.below(81) - 40 + (side == .buy ? -3 : 3)
                let price = ExactDecimal(mantissa: 3_000_000 + Int64(ticks) * 5, scale: 2)
                command = .place(PlaceOrder(account: account, symbol: "ETHUSDT", side: side,
                                            timeInForce: r.below(5) == 0 ? .ioc : .gtc, price: price, qty: qty))
            }
            let events = m.run(command)
            #expect(!events.contains(.rejected(account: account, reason: .invalidPrice)), "step \(step): \(command)")
            trades += m.trades.count
            if let violation = m.engine.checkInvariants() {
                Issue.record("seed \(seed), step \(step), \(command): \(violation)")
                return
            }
        }
        #expect(trades > 100, "seed \(seed): the stream must trade (\(trades) trades)")
        #expect(m.engine.depth(symbol: "ETHUSDT")!.bids.allSatisfy { $0.0 % 5 == 0 })
    }

    /// Room reserved up front changes nothing an engine does: the same events, the same state
    /// digest, with the reserve taken before the stream or half-way through it, on a copy that
    /// shares its storage with another engine (whose state must not move either).
    @Test func reservingCapacityChangesNoOutcome() {
        var plain = Market(), reserved = Market()
        var r = Random(state: 31)
        reserved.engine.reserveCapacity(restingOrdersPerSymbol: 5_000)
        var sharer = reserved.engine
        let sharedBefore = sharer.canonicalState()
        for i in 0..<2_000 {
            if i == 1_000 { reserved.engine.reserveCapacity(restingOrdersPerSymbol: 100_000) }
            let command = randomCommand(&r, plain.engine.nextOrderId)
            #expect(plain.run(command) == reserved.run(command), "command \(i): \(command)")
        }
        #expect(plain.engine.canonicalState() == reserved.engine.canonicalState())
        #expect(reserved.engine.checkInvariants() == nil)
        sharer.reserveCapacity(restingOrdersPerSymbol: 10)
        #expect(sharer.canonicalState() == sharedBefore)
    }

    /// The engine's books, order index and balances are buffers shared between copies until
    /// a command changes one (made unique at most once per command, not per write): a copy taken at
    /// any point keeps the state it was taken with while the original goes on, and going on
    /// from a copy gives what going on from the original gave.
    @Test func aCopyOfTheEngineIsAValue() {
        var m = Market()
        var r = Random(state: 53)
        var commands: [Command] = []
        var copies: [(at: Int, engine: MatchingEngine, state: [UInt8])] = []
        var eventsAfter: [Int: [Event]] = [:]
        for i in 0..<3_000 {
            if i % 500 == 0 { copies.append((i, m.engine, m.engine.canonicalState())) }
            commands.append(randomCommand(&r, m.engine.nextOrderId))
            eventsAfter[i] = m.run(commands[i])
        }
        let final = m.engine.canonicalState()
        for copy in copies {
            #expect(copy.engine.canonicalState() == copy.state, "the copy taken before command \(copy.at) changed")
        }
        // The copy taken in the middle goes on by itself, while the original is left as it is.
        var resumed = Market()
        resumed.engine = copies[3].engine
        for i in copies[3].at..<commands.count {
            #expect(resumed.run(commands[i]) == eventsAfter[i], "command \(i) after the copy: \(commands[i])")
        }
        #expect(resumed.engine.canonicalState() == final)
        #expect(resumed.engine.checkInvariants() == nil)
        #expect(m.engine.canonicalState() == final)
        #expect(copies[0].engine.canonicalState() == copies[0].state)
    }

    /// A command skips the uniqueness checks while no copy of the engine exists. A copy that
    /// went on by itself and was then dropped, or an original dropped while its copy goes on,
    /// leaves the one that remains to run unchecked: it must still end where an engine that
    /// was never copied ends, and the copy must have kept its own state while it lived.
    @Test func anEngineWhoseCopiesAreGoneRunsOnAsIfNeverCopied() {
        var r = Random(state: 61)
        var reference = Market()
        var commands: [Command] = []
        for _ in 0..<2_400 {
            commands.append(randomCommand(&r, reference.engine.nextOrderId))
            reference.run(commands.last!)
        }
        let final = reference.engine.canonicalState()
        var m = Market()
        for i in 0..<commands.count {
            if i % 600 == 300 {
                // A copy that goes its own way for a while (its own commands), then is dropped.
                var copy = Market()
                copy.engine = m.engine
                var other = Random(state: UInt64(i))
                for _ in 0..<50 { copy.run(randomCommand(&other, copy.engine.nextOrderId)) }
                let copyState = copy.engine.canonicalState()
                for k in i..<(i + 20) { m.run(commands[k]) }
                #expect(copy.engine.canonicalState() == copyState, "the copy taken at \(i) changed")
                #expect(copy.engine.checkInvariants() == nil)
            }
            if i % 600 < 300 || i % 600 >= 320 { m.run(commands[i]) }
        }
        #expect(m.engine.canonicalState() == final)
        // The original dropped, the copy goes on alone.
        var survivor = Market()
        do {
            var original = Market()
            for k in 0..<1_200 { original.run(commands[k]) }
            survivor.engine = original.engine
            original.run(.openAccount(99))
        }
        for k in 1_200..<commands.count { survivor.run(commands[k]) }
        #expect(survivor.engine.canonicalState() == final)
        #expect(survivor.engine.checkInvariants() == nil)
        // A copy that reserves capacity shares nothing afterwards: both go on unchecked, each
        // as an engine of its own would.
        var a = Market()
        for k in 0..<1_200 { a.run(commands[k]) }
        var b = Market()
        b.engine = a.engine
        b.engine.reserveCapacity(restingOrdersPerSymbol: 100)
        var alone = Market()
        for k in 0..<1_200 { alone.run(commands[k]) }
        var bFlow = Random(state: 5), aloneFlow = Random(state: 5)
        for k in 1_200..<commands.count {
            a.run(commands[k])
            #expect(b.run(randomCommand(&bFlow, b.engine.nextOrderId))
                    == alone.run(randomCommand(&aloneFlow, alone.engine.nextOrderId)))
        }
        #expect(a.engine.canonicalState() == final)
        #expect(b.engine.canonicalState() == alone.engine.canonicalState())
    }

    @Test func theSameStreamGivesTheSameState() {
        func run(_ seed: UInt64) -> ([Event], [Int64]) {
            var m = Market()
            var r = Random(state: seed)
            var all: [Event] = []
            for _ in 0..<1_000 { all += m.run(randomCommand(&r, m.engine.nextOrderId)) }
            return (all, [m.balance(7, "BTC").0, m.balance(8, "USDT").0].map { Int64(dec($0).mantissa) })
        }
        let (a, b) = (run(77), run(77))
        #expect(a.0 == b.0 && a.1 == b.1)
    }
}
