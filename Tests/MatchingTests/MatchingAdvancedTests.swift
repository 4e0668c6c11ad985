import Testing
@testable import Matching

/// Self-trade prevention, market orders and amends (SEMANTICS.md), figures worked by hand.
@Suite struct MatchingAdvancedTests {
    /// Account 7 rests a sell at 30000 (order 1) in front of account 8's (order 2).
    func ownOrderFirst() -> Market {
        var m = Market()
        m.limit(7, .sell, "30000", "0.1")
        m.limit(8, .sell, "30000", "0.1")
        return m
    }

    @Test func stpNoneTradesWithItself() {
        var m = ownOrderFirst()
        m.order(7, .buy, "30000", "0.1", stp: .none)
        #expect(m.trades.map(\.makerOrderId) == [1])
    }

    @Test func stpExpireTakerEndsTheTakerInMatch() {
        var m = ownOrderFirst()
        let events = m.order(7, .buy, "30000", "0.1", stp: .expireTaker)
        #expect(m.trades.isEmpty)
        #expect(events.last == .done(orderId: 3, symbol: 0, status: .expiredInMatch, filled: 0, remaining: 10_000))
        #expect(m.balance(7, "USDT") == ("1000000.00000000", "0.00000000"), "a GTC remainder does not rest")
        #expect(m.engine.depth(symbol: "BTCUSDT")!.asks.map(\.1) == [20_000])
    }

    @Test func stpExpireMakerCancelsOwnOrdersAndGoesOn() {
        var m = ownOrderFirst()
        let events = m.order(7, .buy, "30000", "0.1", stp: .expireMaker)
        #expect(events[1] == .cancelled(orderId: 1, symbol: 0, remaining: 10_000, reason: .stp))
        #expect(m.trades.map(\.makerOrderId) == [2])
        #expect(events.last == .done(orderId: 3, symbol: 0, status: .filled, filled: 10_000, remaining: 0))
        #expect(m.balance(7, "BTC") == ("10.10000000", "0.00000000"), "its sell was cancelled, its buy filled")
    }

    @Test func stpExpireBothCancelsTheMakerAndEndsTheTaker() {
        var m = ownOrderFirst()
        let events = m.order(7, .buy, "30000", "0.1", stp: .expireBoth)
        #expect(events[1] == .cancelled(orderId: 1, symbol: 0, remaining: 10_000, reason: .stp))
        #expect(events.last == .done(orderId: 3, symbol: 0, status: .expiredInMatch, filled: 0, remaining: 10_000))
        #expect(m.engine.depth(symbol: "BTCUSDT")!.asks.map(\.1) == [10_000])
    }

    @Test func fokWalkHonoursStp() {
        // Own 0.1 then 0.1 of account 8 at 30000: a FOK for 0.2 finds 0.2 with NONE, 0.1 with
        // EXPIRE_MAKER (own skipped) and 0 with EXPIRE_TAKER (the walk stops at the own order).
        var m = ownOrderFirst()
        #expect(m.order(7, .buy, "30000", "0.2", stp: .expireMaker, tif: .fok).last
                == .done(orderId: 3, symbol: 0, status: .expired, filled: 0, remaining: 20_000))
        #expect(m.order(7, .buy, "30000", "0.1", stp: .expireTaker, tif: .fok).last
                == .done(orderId: 4, symbol: 0, status: .expired, filled: 0, remaining: 10_000))
        #expect(m.trades.isEmpty)
        #expect(m.order(7, .buy, "30000", "0.1", stp: .expireMaker, tif: .fok).last
                == .done(orderId: 5, symbol: 0, status: .filled, filled: 10_000, remaining: 0))
        #expect(m.trades.map(\.makerOrderId) == [2])
    }

    @Test func marketByQtyTakesWhatTheBookHasAndExpiresTheRest() {
        var m = Market()
        m.limit(8, .sell, "30000", "0.1")
        m.limit(8, .sell, "30010", "0.1")
        let events = m.market(7, .buy, qty: "0.3")
        #expect(m.trades.map(\.qty) == [10_000, 10_000])
        #expect(events.last == .done(orderId: 3, symbol: 0, status: .expired, filled: 20_000, remaining: 10_000))
        // Paid 3000 + 3001 = 6001 USDT; nothing stays locked.
        #expect(m.balance(7, "USDT") == ("993999.00000000", "0.00000000"))
        m.limit(8, .buy, "29990", "0.5")
        #expect(m.market(7, .sell, qty: "0.5").last == .done(orderId: 5, symbol: 0, status: .filled, filled: 50_000, remaining: 0))
    }

    @Test func marketByQuoteFillsTheLargestStepMultipleOfTheLastLevel() {
        var m = Market()
        m.limit(8, .sell, "30000", "0.1")   // 3000 USDT
        m.limit(8, .sell, "40000", "1")
        // 5000 USDT: 0.1 at 30000 (3000), then 2000 / 40000 = 0.05 exactly at 40000.
        var events = m.market(7, .buy, quoteQty: "5000")
        #expect(m.trades.map(\.qty) == [10_000, 5_000])
        #expect(events.last == .done(orderId: 3, symbol: 0, status: .filled, filled: 15_000, remaining: 0))
        #expect(m.balance(7, "USDT") == ("995000.00000000", "0.00000000"))
        // 1.00001 USDT at 40000 buys 0.00002 (0.8 USDT); 0.20001 left is less than one step (0.4).
        events = m.market(7, .buy, quoteQty: "1.00001")
        #expect(m.trades.map(\.qty) == [2])
        #expect(events.last == .done(orderId: 4, symbol: 0, status: .filled, filled: 2, remaining: 0))
        #expect(m.balance(7, "USDT") == ("994999.20000000", "0.00000000"))
        // 0.3 USDT buys nothing at 40000: expired, no trade.
        events = m.market(7, .buy, quoteQty: "0.3")
        #expect(events.last == .done(orderId: 5, symbol: 0, status: .expired, filled: 0, remaining: 0))
    }

    @Test func aMarketOrderShortOfBalanceIsRejectedAlone() {
        var m = Market()
        m.run(.openAccount(9))
        m.run(.deposit(account: 9, asset: "USDT", amount: dec("100")))
        m.limit(8, .sell, "30000", "0.1")
        let events = m.market(9, .buy, qty: "0.01")   // 300 USDT > 100
        #expect(events.count == 1 && events[0].rejectReason == .insufficientBalance)
        #expect(m.engine.nextOrderId == 2)
        #expect(m.market(9, .buy, quoteQty: "100").last == .done(orderId: 2, symbol: 0, status: .filled, filled: 333, remaining: 0),
                "0.00333 × 30000 = 99.9; 0.1 left < 0.3 for a step")
    }

    @Test func amendReducesInPlaceAndKeepsPriority() {
        var m = Market()
        m.limit(7, .sell, "30000", "0.5", clientId: "x")   // 1
        m.limit(8, .sell, "30000", "0.5")                 // 2
        #expect(m.run(.amend(account: 7, symbol: "BTCUSDT", order: .clientId("x"), qty: dec("0.2")))
                == [.amended(orderId: 1, symbol: 0, remaining: 20_000)])
        #expect(m.balance(7, "BTC") == ("9.80000000", "0.20000000"))
        m.limit(9 - 1, .buy, "30000", "0.1")   // account 8 buys: meets order 1 first
        #expect(m.trades.first?.makerOrderId == 1)
        for bad in ["0.1", "0.5", "0", "0.000001", "-0.1"] {
            #expect(m.run(.amend(account: 7, symbol: "BTCUSDT", order: .id(1), qty: dec(bad))).first?.rejectReason
                    == .invalidAmend, "\(bad)")
        }
        #expect(m.run(.amend(account: 8, symbol: "BTCUSDT", order: .id(1), qty: dec("0.05"))).first?.rejectReason
                == .unknownOrder)
        m.run(.halt(symbol: "BTCUSDT"))
        #expect(m.run(.amend(account: 7, symbol: "BTCUSDT", order: .id(1), qty: dec("0.05")))
                == [.amended(orderId: 1, symbol: 0, remaining: 5_000)], "an amend only reduces: accepted while halted")
    }
}

/// Amounts at the edge of 64 bits: refused with a reason, never a crash.
@Suite struct MatchingLimitsTests {
    @Test func aDepositPastWhatTheAssetCanHoldIsRefused() {
        var m = Market()
        // 10 BTC each in accounts 7 and 8 already; 92233720368.54775807 is Int64.max units.
        #expect(m.run(.deposit(account: 7, asset: "BTC", amount: dec("92233720340"))) == [.ok])
        #expect(m.run(.deposit(account: 8, asset: "BTC", amount: dec("100"))).first?.rejectReason == .invalidCommand,
                "the sum over accounts would pass 64 bits")
        #expect(m.balance(8, "BTC") == ("10.00000000", "0.00000000"))
        #expect(m.engine.checkInvariants() == nil)
    }

    @Test func aHugeQuoteQtyMarketOrderIsHandled() {
        var m = Market()
        m.limit(8, .sell, "1.00", "10")   // all of account 8's BTC for 10 USDT
        let events = m.market(7, .buy, quoteQty: "92233720368")
        #expect(m.trades.map(\.qty) == [1_000_000], "all 10 BTC for 10 USDT")
        #expect(events.last == .done(orderId: 2, symbol: 0, status: .expired, filled: 1_000_000, remaining: 0),
                "the book ran out with almost all of the budget left")
        #expect(m.balance(7, "USDT") == ("999990.00000000", "0.00000000"))
        #expect(m.engine.checkInvariants() == nil)
    }
}

/// A market order by `quote_qty` that reaches its own resting order, for each `stp` mode. The
/// book, worked by hand: asks 0.001 @ 30000.00 (order 1, account 7), 0.001 @ 30001.00 (order 2,
/// account 8, the taker's own) and 0.001 @ 30002.00 (order 3, account 7). One step (0.00001)
/// costs 0.30000–0.30002 USDT there; 0.001 costs 30.000–30.002.
@Suite struct MarketByQuoteSelfTradeTests {
    func book() -> Market {
        var m = Market()
        m.limit(7, .sell, "30000.00", "0.001")
        m.limit(8, .sell, "30001.00", "0.001")
        m.limit(7, .sell, "30002.00", "0.001")
        return m
    }

    func done(_ events: [Event]) -> Event? { events.last }
    func cancels(_ events: [Event]) -> [Event] {
        events.filter { if case .cancelled = $0 { return true } else { return false } }
    }

    @Test func noneTradesThroughItsOwnOrder() {
        var m = book()
        // 100 USDT: 30.000 + 30.001 + 30.002 = 90.003 spent, 9.997 left: more than a step at
        // 30002.00, and the book is empty: EXPIRED.
        let events = m.market(8, .buy, quoteQty: "100", stp: .none)
        #expect(m.trades.map(\.makerOrderId) == [1, 2, 3])
        #expect(done(events) == .done(orderId: 4, symbol: 0, status: .expired, filled: 300, remaining: 0))
    }

    @Test func expireTakerEndsInMatchAtItsOwnOrder() {
        var m = book()
        // After order 1 (30.000), 70 USDT buy many steps at 30001.00: order 2 is reached.
        let events = m.market(8, .buy, quoteQty: "100", stp: .expireTaker)
        #expect(m.trades.map(\.makerOrderId) == [1])
        #expect(cancels(events).isEmpty)
        #expect(done(events) == .done(orderId: 4, symbol: 0, status: .expiredInMatch, filled: 100, remaining: 0))
        #expect(m.engine.depth(symbol: "BTCUSDT")!.asks.map(\.0) == [3_000_100, 3_000_200])
        // Paid 30 USDT, nothing left locked; bought 0.001 BTC, 0.001 still locked by order 2.
        #expect(m.balance(8, "USDT") == ("999970.00000000", "0.00000000"))
        #expect(m.balance(8, "BTC") == ("10.00000000", "0.00100000"))
        m.engine.checkInvariants()
    }

    @Test func expireMakerCancelsItsOwnOrderAndGoesOn() {
        var m = book()
        // Order 1 (30.000), order 2 cancelled, order 3 (30.002): 39.998 left, the book empty.
        let events = m.market(8, .buy, quoteQty: "100", stp: .expireMaker)
        #expect(m.trades.map(\.makerOrderId) == [1, 3])
        #expect(cancels(events) == [.cancelled(orderId: 2, symbol: 0, remaining: 100, reason: .stp)])
        #expect(done(events) == .done(orderId: 4, symbol: 0, status: .expired, filled: 200, remaining: 0))
        #expect(m.balance(8, "USDT") == ("999939.99800000", "0.00000000"))
        #expect(m.balance(8, "BTC") == ("10.00200000", "0.00000000"))
        m.engine.checkInvariants()
    }

    @Test func expireBothCancelsItsOwnOrderAndEndsInMatch() {
        var m = book()
        let events = m.market(8, .buy, quoteQty: "100", stp: .expireBoth)
        #expect(m.trades.map(\.makerOrderId) == [1])
        #expect(cancels(events) == [.cancelled(orderId: 2, symbol: 0, remaining: 100, reason: .stp)])
        #expect(done(events) == .done(orderId: 4, symbol: 0, status: .expiredInMatch, filled: 100, remaining: 0))
        #expect(m.engine.depth(symbol: "BTCUSDT")!.asks.map(\.0) == [3_000_200])
        #expect(m.balance(8, "BTC") == ("10.00100000", "0.00000000"))
        m.engine.checkInvariants()
    }

    @Test func aBudgetThatCannotBuyAStepThereNeverReachesItsOwnOrder() {
        for stp in [SelfTradePrevention.expireTaker, .expireMaker, .expireBoth] {
            var m = book()
            // 30.2 USDT: order 1 takes 30.000; 0.2 left buys no step at 30001.00 (0.30001).
            let events = m.market(8, .buy, quoteQty: "30.2", stp: stp)
            #expect(m.trades.map(\.makerOrderId) == [1], "\(stp)")
            #expect(cancels(events).isEmpty, "\(stp)")
            // 0.2 is less than a step at the last price (0.3): FILLED.
            #expect(done(events) == .done(orderId: 4, symbol: 0, status: .filled, filled: 100, remaining: 0), "\(stp)")
            #expect(m.engine.depth(symbol: "BTCUSDT")!.asks.count == 2, "\(stp)")
        }
    }

    @Test func aSellByQuoteIsHandledTheSameWay() {
        var m = Market()
        m.limit(7, .buy, "30002.00", "0.001")
        m.limit(8, .buy, "30001.00", "0.001")
        // Selling for 100 USDT: order 1 (30.002), then its own bid is reached with 69.998 left.
        let events = m.market(8, .sell, quoteQty: "100", stp: .expireBoth)
        #expect(m.trades.map(\.makerOrderId) == [1])
        #expect(cancels(events) == [.cancelled(orderId: 2, symbol: 0, remaining: 100, reason: .stp)])
        #expect(done(events) == .done(orderId: 3, symbol: 0, status: .expiredInMatch, filled: 100, remaining: 0))
        m.engine.checkInvariants()
    }
}
