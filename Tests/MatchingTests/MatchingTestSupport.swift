@testable import Matching

func dec(_ text: String) -> ExactDecimal {
    guard let value = ExactDecimal(parsing: text) else { preconditionFailure("bad decimal \(text)") }
    return value
}

/// An engine with BTC and USDT (8 decimals each) and BTCUSDT (tick 0.01, step 0.00001,
/// min qty 0.00001, max 9000, min notional 5), accounts 7 and 8 funded with 10 BTC and
/// 1,000,000 USDT each.
struct Market {
    var engine = MatchingEngine()
    var events = EventBuffer()

    init(makerFeePpm: Int64 = 0, takerFeePpm: Int64 = 0) {
        run(.addAsset(name: "BTC", scale: 8))
        run(.addAsset(name: "USDT", scale: 8))
        run(.addSymbol(SymbolSpec(name: "BTCUSDT", base: "BTC", quote: "USDT", tickSize: dec("0.01"),
                                  stepSize: dec("0.00001"), minQty: dec("0.00001"), maxQty: dec("9000"),
                                  minNotional: dec("5"), makerFeePpm: makerFeePpm, takerFeePpm: takerFeePpm)))
        for account: AccountId in [7, 8] {
            run(.openAccount(account))
            run(.deposit(account: account, asset: "BTC", amount: dec("10")))
            run(.deposit(account: account, asset: "USDT", amount: dec("1000000")))
        }
    }

    /// Applies a command and returns its events.
    @discardableResult
    mutating func run(_ command: Command) -> [Event] {
        events.removeAll()
        engine.apply(command, into: &events)
        return Array(events.events)
    }

    @discardableResult
    mutating func limit(_ account: AccountId, _ side: Side, _ price: String, _ qty: String,
                        tif: TimeInForce = .gtc, type: OrderType = .limit, clientId: String? = nil) -> [Event] {
        run(.place(PlaceOrder(account: account, symbol: "BTCUSDT", clientId: clientId, side: side, type: type,
                              timeInForce: tif, price: dec(price), qty: dec(qty))))
    }

    /// (free, locked) as decimal strings with 8 decimals.
    func balance(_ account: AccountId, _ asset: String) -> (String, String) {
        let b = engine.balance(account: account, asset: asset)!
        return (ExactDecimal.format(units: b.free, scale: 8), ExactDecimal.format(units: b.locked, scale: 8))
    }

    var trades: [Trade] {
        events.events.compactMap { if case let .trade(t) = $0 { return t } else { return nil } }
    }
}

extension Event {
    var rejectReason: RejectReason? {
        if case let .rejected(_, reason) = self { return reason }
        return nil
    }
}

extension Market {
    @discardableResult
    mutating func order(_ account: AccountId, _ side: Side, _ price: String, _ qty: String,
                        stp: SelfTradePrevention, tif: TimeInForce = .gtc) -> [Event] {
        run(.place(PlaceOrder(account: account, symbol: "BTCUSDT", side: side, timeInForce: tif,
                              price: dec(price), qty: dec(qty), stp: stp)))
    }

    @discardableResult
    mutating func market(_ account: AccountId, _ side: Side, qty: String? = nil, quoteQty: String? = nil,
                         stp: SelfTradePrevention = .none) -> [Event] {
        run(.place(PlaceOrder(account: account, symbol: "BTCUSDT", side: side, type: .market,
                              qty: qty.map(dec), quoteQty: quoteQty.map(dec), stp: stp)))
    }
}
