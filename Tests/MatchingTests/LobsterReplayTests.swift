import Foundation
import Testing
@testable import Matching

/// Replays NASDAQ's AAPL order flow of 2012-06-21 (LOBSTER sample, Tests/Data/lobster)
/// through the engine and compares the book with NASDAQ's after every message.
///
/// Mapping: a new order (type 1) is a GTC limit of account 1 with the LOBSTER id as client id;
/// a deletion (3) a cancel; a partial cancel (2) an amend to what remains; a visible execution
/// (4) an IOC of account 2 on the opposite side at that price and size, which must trade with
/// that very order; hidden executions (5), cross trades (6) and halts (7) change no visible
/// book. Orders resting before the file starts appear only in the first book row: each level of
/// that row (less what message 1 added) is seeded as one order of account 1, and messages about
/// orders the file never showed act on that level's seed order. AAPL trades in whole shares
/// (step 1) at cent ticks; USD has 4 decimals here.
@Suite struct LobsterReplayTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Data/lobster").path

    struct Message { var type: Int; var id: Int64; var size: Int64; var price: Int64; var direction: Int }
    /// Per level 1...10: (ask price, ask size, bid price, bid size), LOBSTER units.
    typealias Row = [(Int64, Int64, Int64, Int64)]

    static func load() throws -> ([Message], [Row]) {
        let prefix = directory + "/AAPL_2012-06-21_34200000_57600000_"
        let messages = try String(contentsOfFile: prefix + "message_10.csv", encoding: .utf8)
            .split(separator: "\n").map { line -> Message in
                let f = line.split(separator: ",").map(String.init)
                return Message(type: Int(f[1])!, id: Int64(f[2])!, size: Int64(f[3])!, price: Int64(f[4])!, direction: Int(f[5])!)
            }
        let rows = try String(contentsOfFile: prefix + "orderbook_10.csv", encoding: .utf8)
            .split(separator: "\n").map { line -> Row in
                let f = line.split(separator: ",").map { Int64($0)! }
                return (0..<10).map { (f[4 * $0], f[4 * $0 + 1], f[4 * $0 + 2], f[4 * $0 + 3]) }
            }
        return (messages, rows)
    }

    struct Replay {
        var engine = MatchingEngine()
        var events = EventBuffer()
        /// LOBSTER id → our order id, for orders the file showed.
        var ours: [Int64: OrderId] = [:]
        /// (side, price) → our seed order there.
        var seeds: [String: OrderId] = [:]
        var executionsOnSeenOrders = 0
        var executionsHittingTheirOrder = 0

        init() {
            run(.addAsset(name: "AAPL", scale: 0))
            run(.addAsset(name: "USD", scale: 4))
            run(.addSymbol(SymbolSpec(name: "AAPL", base: "AAPL", quote: "USD", tickSize: ExactDecimal(parsing: "0.01")!,
                                      stepSize: ExactDecimal(parsing: "1")!, minQty: ExactDecimal(parsing: "1")!,
                                      maxQty: ExactDecimal(parsing: "1000000")!, minNotional: ExactDecimal(parsing: "0")!)))
            for account: AccountId in [1, 2] {
                run(.openAccount(account))
                run(.deposit(account: account, asset: "AAPL", amount: ExactDecimal(parsing: "100000000")!))
                run(.deposit(account: account, asset: "USD", amount: ExactDecimal(parsing: "100000000000")!))
            }
        }

        @discardableResult
        mutating func run(_ command: Command) -> [Event] {
            events.removeAll()
            engine.apply(command, into: &events)
            return Array(events.events)
        }

        static func price(_ lobster: Int64) -> ExactDecimal { ExactDecimal(mantissa: lobster / 100, scale: 2) }
        static func qty(_ shares: Int64) -> ExactDecimal { ExactDecimal(mantissa: shares, scale: 0) }
        static func key(_ side: Side, _ price: Int64) -> String { "\(side)\(price)" }

        mutating func place(_ account: AccountId, _ side: Side, _ price: Int64, _ size: Int64,
                            clientId: String?, tif: TimeInForce = .gtc) -> [Event] {
            run(.place(PlaceOrder(account: account, symbol: "AAPL", clientId: clientId, side: side,
                                  timeInForce: tif, price: Self.price(price), qty: Self.qty(size))))
        }

        mutating func seed(_ row: Row, undoing first: Message) {
            for (askPrice, askSize, bidPrice, bidSize) in row {
                for (side, price, size) in [(Side.sell, askPrice, askSize), (Side.buy, bidPrice, bidSize)] {
                    var size = size
                    let firstSide: Side = first.direction == 1 ? .buy : .sell
                    if first.type == 1 && firstSide == side && first.price == price { size -= first.size }
                    guard size > 0, abs(price) < 9_999_999_999 else { continue }
                    if case let .accepted(id, _, _, _, _, _, _, _, _)? = place(1, side, price, size, clientId: nil).first {
                        seeds[Self.key(side, price)] = id
                    }
                }
            }
        }

        /// Our order for a LOBSTER id: the one the file placed, else the seed at its level.
        func order(for m: Message) -> (OrderReference, isSeen: Bool)? {
            if let id = ours[m.id] { return (.id(id), true) }
            let side: Side = m.direction == 1 ? .buy : .sell
            return seeds[Self.key(side, m.price)].map { (.id($0), false) }
        }

        mutating func apply(_ m: Message) {
            let side: Side = m.direction == 1 ? .buy : .sell
            switch m.type {
            case 1:
                if case let .accepted(id, _, _, _, _, _, _, _, _)? = place(1, side, m.price, m.size, clientId: "\(m.id)").first {
                    ours[m.id] = id
                }
            case 2, 3:
                guard let (reference, _) = order(for: m) else { return }
                let remaining = engine.remaining(of: reference, symbol: "AAPL") ?? 0
                if m.type == 3 && ours[m.id] != nil || remaining <= m.size {
                    run(.cancel(account: 1, symbol: "AAPL", order: reference))
                } else {
                    run(.amend(account: 1, symbol: "AAPL", order: reference, qty: Self.qty(remaining - m.size)))
                }
            case 4:
                let target = order(for: m)
                let events = place(2, side.opposite, m.price, m.size, clientId: nil, tif: .ioc)
                guard let (reference, seen) = target, seen, case let .id(id) = reference else { return }
                executionsOnSeenOrders += 1
                let makers = events.compactMap { if case let .trade(t) = $0 { return t.makerOrderId } else { return nil } }
                if makers.contains(id) { executionsHittingTheirOrder += 1 }
            default:
                break  // hidden executions, cross trades, halts: no visible change
            }
        }

        /// Whether our first `depth` levels equal the row's, price and size on both sides.
        func matches(_ row: Row, depth: Int) -> Bool {
            let book = engine.depth(symbol: "AAPL", levels: depth)!
            var asks: [(Int64, Int64)] = [], bids: [(Int64, Int64)] = []
            for (askPrice, askSize, bidPrice, bidSize) in row.prefix(depth) {
                if askSize > 0 && askPrice < 9_999_999_999 { asks.append((askPrice / 100, askSize)) }
                if bidSize > 0 && bidPrice > -9_999_999_999 { bids.append((bidPrice / 100, bidSize)) }
            }
            return book.asks.map(\.0) == asks.map(\.0) && book.asks.map(\.1) == asks.map(\.1)
                && book.bids.map(\.0) == bids.map(\.0) && book.bids.map(\.1) == bids.map(\.1)
        }
    }

    @Test func nasdaqBookIsReproduced() throws {
        let (messages, rows) = try Self.load()
        #expect(messages.count == 999 && rows.count == 999)
        var replay = Replay()
        replay.seed(rows[0], undoing: messages[0])
        var matched = [1: 0, 5: 0, 10: 0]
        for (m, row) in zip(messages, rows) {
            replay.apply(m)
            for depth in [1, 5, 10] where replay.matches(row, depth: depth) { matched[depth]! += 1 }
            if let violation = replay.engine.checkInvariants() { Issue.record("\(violation)"); return }
        }
        print("LOBSTER AAPL: book matches NASDAQ after \(matched[1]!) of 999 messages at depth 1, \(matched[5]!) at depth 5, \(matched[10]!) at depth 10; \(replay.executionsHittingTheirOrder) of \(replay.executionsOnSeenOrders) visible executions on orders seen in the file hit that order")
        #expect(matched[1]! >= 955)
        #expect(replay.executionsOnSeenOrders > 0)
        #expect(replay.executionsHittingTheirOrder == replay.executionsOnSeenOrders)
    }
}
