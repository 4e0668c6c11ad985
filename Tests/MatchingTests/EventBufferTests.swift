import Testing
@testable import Matching

/// The event buffer is a value: what a caller took from it (a view, a copy) keeps its events
/// while the buffer goes on, and a command may emit more events than the buffer holds at first.
struct EventBufferTests {
    @Test func aViewKeepsItsEventsWhileTheBufferGoesOn() {
        var market = Market()
        market.limit(7, .sell, "100.00", "1")
        let booked = market.events.events
        #expect(booked.count == 2)
        guard case .booked(1, 0, 100_000)? = booked.last else {
            Issue.record("the sell did not rest: \(booked)")
            return
        }
        // The next command empties the buffer and writes where the view's events are.
        market.limit(8, .buy, "100.00", "1")
        guard case .trade? = market.events.events.dropFirst().first else {
            Issue.record("the buy did not trade: \(market.events.events)")
            return
        }
        #expect(booked.count == 2)
        guard case .accepted(1, 7, 0, .sell, .limit, .gtc, 10_000, 100_000, nil)? = booked.first,
              case .booked(1, 0, 100_000)? = booked.last else {
            Issue.record("the view changed: \(booked)")
            return
        }
    }

    @Test func aCopyOfTheBufferIsItsOwn() {
        var market = Market()
        market.limit(7, .sell, "100.00", "1")
        let copy = market.events
        market.run(.cancel(account: 7, symbol: "BTCUSDT", order: .id(1)))
        #expect(copy.count == 2)
        #expect(copy.events.last == .booked(orderId: 1, symbol: 0, remaining: 100_000))
        #expect(market.events.events == [.cancelled(orderId: 1, symbol: 0, remaining: 100_000, reason: .user)])
    }

    /// A market order through 40 resting orders emits 42 events into a buffer made for 16.
    @Test func aCommandMayEmitMoreEventsThanTheBufferHeld() {
        var market = Market()
        market.events = EventBuffer(capacity: 16)
        for i in 0..<40 { market.limit(7, .sell, "\(100 + i).00", "0.1") }
        market.market(8, .buy, qty: "4")
        let events = market.events.events
        #expect(events.count == 42)
        let trades = market.trades
        #expect(trades.map(\.makerOrderId) == Array(1...40))
        #expect(trades.map(\.price) == (0..<40).map { Int64(10_000 + 100 * $0) })
        #expect(trades.allSatisfy { $0.qty == 10_000 && $0.takerOrderId == 41 })
        #expect(events.last == .done(orderId: 41, symbol: 0, status: .filled, filled: 400_000, remaining: 0))
    }
}
