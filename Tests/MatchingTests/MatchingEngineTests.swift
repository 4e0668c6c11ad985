import Testing
@testable import Matching

/// One test per rule of SEMANTICS.md covered so far; expected figures are worked out by hand
/// in the comments.
@Suite struct MatchingEngineTests {
    @Test func adminCommandsRejectDuplicatesAndBadUnits() {
        var m = Market()
        #expect(m.run(.addAsset(name: "BTC", scale: 8)).first?.rejectReason == .duplicate)
        #expect(m.run(.addAsset(name: "ETH", scale: 19)).first?.rejectReason == .invalidCommand)
        #expect(m.run(.openAccount(7)).first?.rejectReason == .duplicate)
        #expect(m.run(.openAccount(0)).first?.rejectReason == .duplicate, "account 0 exists from the start")
        // 0.001 (3 decimals) + 0.000001 (6) = 9 decimals > USDT's 8.
        let tooFine = SymbolSpec(name: "X", base: "BTC", quote: "USDT", tickSize: dec("0.001"),
                                 stepSize: dec("0.000001"), minQty: dec("0"), maxQty: dec("1"), minNotional: dec("0"))
        #expect(m.run(.addSymbol(tooFine)).first?.rejectReason == .invalidCommand)
        var unknown = tooFine
        unknown.quote = "EUR"
        #expect(m.run(.addSymbol(unknown)).first?.rejectReason == .unknownAsset)
        var duplicate = tooFine
        duplicate.name = "BTCUSDT"
        #expect(m.run(.addSymbol(duplicate)).first?.rejectReason == .duplicate)
    }

    @Test func depositsAndWithdrawals() {
        var m = Market()
        #expect(m.run(.deposit(account: 9, asset: "BTC", amount: dec("1"))).first?.rejectReason == .unknownAccount)
        #expect(m.run(.deposit(account: 7, asset: "EUR", amount: dec("1"))).first?.rejectReason == .unknownAsset)
        #expect(m.run(.deposit(account: 7, asset: "BTC", amount: dec("0"))).first?.rejectReason == .invalidCommand)
        #expect(m.run(.deposit(account: 7, asset: "BTC", amount: dec("0.000000001"))).first?.rejectReason == .invalidCommand)
        #expect(m.run(.withdraw(account: 7, asset: "BTC", amount: dec("10.00000001"))).first?.rejectReason == .insufficientBalance)
        #expect(m.run(.withdraw(account: 7, asset: "BTC", amount: dec("2.5"))) == [.ok])
        #expect(m.balance(7, "BTC") == ("7.50000000", "0.00000000"))
    }

    @Test func aRestingBuyLocksPriceTimesQtyAndCancelReleasesIt() {
        var m = Market()
        let events = m.limit(7, .buy, "30000.00", "0.5", clientId: "a1")
        #expect(events.count == 2)
        #expect(events.last == .booked(orderId: 1, symbol: 0, remaining: 50_000))
        // 30000 × 0.5 = 15000 USDT locked.
        #expect(m.balance(7, "USDT") == ("985000.00000000", "15000.00000000"))
        #expect(m.run(.cancel(account: 7, symbol: "BTCUSDT", order: .clientId("a1")))
                == [.cancelled(orderId: 1, symbol: 0, remaining: 50_000, reason: .user)])
        #expect(m.balance(7, "USDT") == ("1000000.00000000", "0.00000000"))
        #expect(m.run(.cancel(account: 7, symbol: "BTCUSDT", order: .id(1))).first?.rejectReason == .unknownOrder)
    }

    @Test func priceTimePriorityAndTheMakersPrice() {
        var m = Market()
        m.limit(8, .sell, "30001.00", "0.1")   // order 1
        m.limit(8, .sell, "30000.00", "0.1")   // order 2: better price
        m.limit(7, .sell, "30000.00", "0.1")   // order 3: same price, later
        m.limit(7, .buy, "30002.00", "0.25")   // order 4 takes 2, then 3, then half of 1
        #expect(m.trades.map(\.makerOrderId) == [2, 3, 1])
        #expect(m.trades.map(\.price) == [3_000_000, 3_000_000, 3_000_100])
        #expect(m.trades.map(\.qty) == [10_000, 10_000, 5_000])
        #expect(m.events.events.last == .done(orderId: 4, symbol: 0, status: .filled, filled: 25_000, remaining: 0))
        // Account 7 bought 0.25 for 0.1×30000 + 0.1×30000 + 0.05×30001 = 7500.05 USDT, and sold
        // 0.1 to itself at 30000 (3000 back): net −4500.05 USDT, +0.15 BTC; nothing stays locked.
        #expect(m.balance(7, "USDT") == ("995499.95000000", "0.00000000"))
        #expect(m.balance(7, "BTC") == ("10.15000000", "0.00000000"))
        #expect(m.engine.depth(symbol: "BTCUSDT")!.asks.map(\.1) == [5_000])
    }

    @Test func feesGoToAccountZeroInTheReceivedAsset() {
        var m = Market(makerFeePpm: 1_000, takerFeePpm: 2_000)
        m.limit(8, .sell, "30000.00", "0.2")
        m.limit(7, .buy, "30100.00", "0.2")
        // Buyer (taker) receives 0.2 BTC less 0.2%: fee 0.0004 BTC. Seller (maker) receives
        // 6000 USDT less 0.1%: fee 6 USDT. The buyer locked 6020 and gets 20 back.
        let trade = m.trades[0]
        #expect(trade.takerFee == 40_000 && trade.makerFee == 600_000_000)
        #expect(m.balance(7, "BTC") == ("10.19960000", "0.00000000"))
        #expect(m.balance(7, "USDT") == ("994000.00000000", "0.00000000"))
        #expect(m.balance(8, "BTC") == ("9.80000000", "0.00000000"))
        #expect(m.balance(8, "USDT") == ("1005994.00000000", "0.00000000"))
        #expect(m.balance(0, "BTC") == ("0.00040000", "0.00000000"))
        #expect(m.balance(0, "USDT") == ("6.00000000", "0.00000000"))
    }

    @Test func iocExpiresItsRemainderAndFokAllOrNothing() {
        var m = Market()
        m.limit(8, .sell, "30000.00", "0.1")
        let ioc = m.limit(7, .buy, "30000.00", "0.3", tif: .ioc)
        #expect(ioc.last == .done(orderId: 2, symbol: 0, status: .expired, filled: 10_000, remaining: 20_000))
        #expect(m.balance(7, "USDT") == ("997000.00000000", "0.00000000"))

        m.limit(8, .sell, "30000.00", "0.1")   // order 3
        let before = [m.balance(7, "USDT"), m.balance(8, "BTC")]
        let fok = m.limit(7, .buy, "30000.00", "0.2", tif: .fok)
        #expect(fok.count == 2 && fok.last == .done(orderId: 4, symbol: 0, status: .expired, filled: 0, remaining: 20_000))
        let after = [m.balance(7, "USDT"), m.balance(8, "BTC")]
        #expect(after.map(\.0) == before.map(\.0) && after.map(\.1) == before.map(\.1))
        let filled = m.limit(7, .buy, "30000.00", "0.1", tif: .fok)
        #expect(filled.last == .done(orderId: 5, symbol: 0, status: .filled, filled: 10_000, remaining: 0))
    }

    @Test func aMakerOnlyOrderThatWouldTakeIsRejected() {
        var m = Market()
        m.limit(8, .sell, "30000.00", "0.1")
        #expect(m.limit(7, .buy, "30000.00", "0.1", type: .limitMaker).first?.rejectReason == .wouldTake)
        #expect(m.limit(7, .buy, "29999.99", "0.1", type: .limitMaker).last == .booked(orderId: 2, symbol: 0, remaining: 10_000))
        #expect(m.engine.nextOrderId == 3, "a rejected order takes no id")
    }

    @Test func validationOrderOfPlace() {
        var m = Market()
        func reason(account: AccountId = 7, symbol: String = "BTCUSDT", _ price: String, _ qty: String,
                    clientId: String? = nil) -> RejectReason? {
            m.run(.place(PlaceOrder(account: account, symbol: symbol, clientId: clientId, side: .buy,
                                    price: dec(price), qty: dec(qty)))).first?.rejectReason
        }
        #expect(reason(symbol: "ETHUSDT", "1", "1") == .unknownSymbol)
        #expect(reason(account: 99, "30000.001", "0") == .unknownAccount, "references before values")
        #expect(reason("30000.001", "0") == .invalidPrice, "price before qty")
        #expect(reason("-1", "1") == .invalidPrice)
        #expect(reason("30000", "0.000001") == .invalidQty)
        #expect(reason("30000", "9000.00001") == .invalidQty)
        #expect(reason("1", "1") == .minNotional, "1 × 1 = 1 USDT < 5")
        m.limit(7, .buy, "10000", "0.1", clientId: "dup")
        #expect(reason("10000", "0.1", clientId: "dup") == .duplicateClientId)
        #expect(reason("30000", "100") == .insufficientBalance, "3,000,000 USDT > 1,000,000")
        m.run(.halt(symbol: "BTCUSDT"))
        #expect(reason(account: 99, "1", "1") == .symbolHalted, "halted before unknown account")
        #expect(m.run(.cancel(account: 7, symbol: "BTCUSDT", order: .clientId("dup"))).count == 1,
                "cancels are accepted while halted")
        m.run(.resume(symbol: "BTCUSDT"))
        #expect(reason("10000", "0.1", clientId: "dup") == nil, "the client id is free again")
    }

    @Test func cancelAllGoesOldestFirstAndTouchesOnlyThatAccount() {
        var m = Market()
        m.limit(7, .sell, "30010", "0.1")   // 1
        m.limit(8, .sell, "30005", "0.1")   // 2
        m.limit(7, .buy, "29990", "0.1")    // 3
        m.limit(7, .sell, "30005", "0.1")   // 4
        let events = m.run(.cancelAll(account: 7, symbol: "BTCUSDT"))
        #expect(events.map { (event: Event) -> OrderId in if case let .cancelled(id, _, _, _) = event { return id } else { return 0 } } == [1, 3, 4])
        #expect(m.run(.cancelAll(account: 7, symbol: "BTCUSDT")) == [.ok])
        #expect(m.run(.cancel(account: 7, symbol: "BTCUSDT", order: .id(2))).first?.rejectReason == .unknownOrder,
                "another account's order")
        #expect(m.balance(7, "BTC") == ("10.00000000", "0.00000000"))
    }

    /// A cancel's or an amend's references fail in the order of SEMANTICS.md: UNKNOWN_SYMBOL,
    /// then UNKNOWN_ACCOUNT, then UNKNOWN_ORDER, whatever the order reference names.
    @Test func referenceChecksComeInTheirOrder() {
        var m = Market()
        m.limit(7, .sell, "30010", "0.1", clientId: "c")   // 1
        for reference in [OrderReference.id(1), .clientId("c"), .id(99)] {
            #expect(m.run(.cancel(account: 99, symbol: "ETHUSDT", order: reference)).first?.rejectReason == .unknownSymbol)
            #expect(m.run(.cancel(account: 99, symbol: "BTCUSDT", order: reference)).first?.rejectReason == .unknownAccount)
            #expect(m.run(.amend(account: 99, symbol: "BTCUSDT", order: reference, qty: dec("0.05"))).first?.rejectReason
                    == .unknownAccount)
            #expect(m.run(.cancel(account: 8, symbol: "BTCUSDT", order: reference)).first?.rejectReason == .unknownOrder)
        }
        #expect(m.run(.cancel(account: 7, symbol: "BTCUSDT", order: .clientId("c")))
                == [.cancelled(orderId: 1, symbol: 0, remaining: 10_000, reason: .user)])
    }
}
