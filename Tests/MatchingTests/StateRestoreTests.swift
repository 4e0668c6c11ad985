import Testing
@testable import Matching
import Workloads

/// A snapshot's body is the canonical state; restoring it must give an engine that is the same
/// in everything that decides what happens next (priority, client ids, balances, counters).
@Suite struct StateRestoreTests {
    @Test(arguments: [11, 12, 13] as [UInt64])
    func aRestoredEngineBehavesExactlyLikeTheOriginal(seed: UInt64) throws {
        var m = Market(makerFeePpm: 1_000, takerFeePpm: 2_500)
        m.run(.addAsset(name: "ETH", scale: 18))
        m.run(.halt(symbol: "BTCUSDT"))
        m.run(.resume(symbol: "BTCUSDT"))
        var r = SplitMix64(state: seed)
        let generator = MatchingPropertyTests()
        for step in 0..<2_000 {
            m.run(generator.randomCommand(&r, m.engine.nextOrderId))
            guard step % 250 == 0 else { continue }
            let state = m.engine.canonicalState()
            var restored = try MatchingEngine(canonicalState: state)
            #expect(restored.canonicalState() == state, "seed \(seed), step \(step): state changed in the round trip")
            // The next 200 commands give the same events on both.
            var copy = r
            var original = m.engine
            var a = EventBuffer(), b = EventBuffer()
            for _ in 0..<200 {
                let command = generator.randomCommand(&copy, original.nextOrderId)
                a.removeAll(); b.removeAll()
                original.apply(command, into: &a)
                restored.apply(command, into: &b)
                #expect(a.events == b.events, "seed \(seed), step \(step): \(command) differs after a restore")
                if a.events != b.events { return }
            }
            #expect(original.canonicalState() == restored.canonicalState())
        }
    }

    @Test func aHaltedSymbolAndClientIdsSurviveARestore() throws {
        var m = Market()
        m.limit(7, .buy, "29000.00", "0.5", clientId: "keep-me")
        m.run(.halt(symbol: "BTCUSDT"))
        var restored = try MatchingEngine(canonicalState: m.engine.canonicalState())
        var events = EventBuffer()
        restored.apply(.place(PlaceOrder(account: 7, symbol: "BTCUSDT", side: .buy, price: dec("1.00"), qty: dec("1"))), into: &events)
        #expect(events.events == [.rejected(account: 7, reason: .symbolHalted)])
        events.removeAll()
        restored.apply(.resume(symbol: "BTCUSDT"), into: &events)
        events.removeAll()
        restored.apply(.cancel(account: 7, symbol: "BTCUSDT", order: .clientId("keep-me")), into: &events)
        guard case .cancelled(1, 0, 50_000, .user)? = events.events.first else {
            Issue.record("cancel by client id after a restore: \(events.events)")
            return
        }
    }

    /// API keys are state: kept by name, refused for an unknown account or a name taken, revoked
    /// only by their account; restored from the canonical state. A state without keys has the
    /// bytes (and so the digest) it had before keys existed.
    @Test func apiKeysAreStateAndSurviveARestore() throws {
        var m = Market()
        m.limit(7, .buy, "29000.00", "0.5")
        let before = m.engine.canonicalState()
        let hmac = ApiKeySpec(account: 7, apiKey: "zz", permissions: .all, ipWhitelist: "10.0.0.0/8", kind: .hmac,
                              material: Array(0..<44))
        let ed = ApiKeySpec(account: 8, apiKey: "aa", permissions: .read, kind: .ed25519, material: Array(0..<32))
        #expect(m.run(.addApiKey(hmac)) == [.ok])
        #expect(m.run(.addApiKey(ed)) == [.ok])
        #expect(m.run(.addApiKey(ed)) == [.rejected(account: 8, reason: .duplicate)])
        var stranger = ed
        stranger.account = 999; stranger.apiKey = "bb"
        #expect(m.run(.addApiKey(stranger)) == [.rejected(account: 999, reason: .unknownAccount)])
        #expect(m.run(.revokeApiKey(account: 8, apiKey: "zz")) == [.rejected(account: 8, reason: .unknownApiKey)])
        #expect(m.engine.apiKeysByName.map(\.apiKey) == ["aa", "zz"])
        let state = m.engine.canonicalState()
        #expect(state != before)
        let restored = try MatchingEngine(canonicalState: state)
        #expect(restored.canonicalState() == state)
        #expect(restored.apiKey("zz") == hmac && restored.apiKey("aa") == ed)
        // Every cut inside the key section is refused.
        for n in (before.count + 1)..<state.count {
            #expect(throws: StateRestoreError.self) { try MatchingEngine(canonicalState: Array(state[..<n])) }
        }
        #expect(m.run(.revokeApiKey(account: 7, apiKey: "zz")) == [.ok])
        #expect(m.run(.revokeApiKey(account: 8, apiKey: "aa")) == [.ok])
        #expect(m.engine.canonicalState() == before)
    }

    @Test func everyTruncationAndManyCorruptionsAreRefusedWithoutACrash() {
        var m = Market()
        m.limit(7, .buy, "29000.00", "0.5", clientId: "a")
        m.limit(8, .sell, "31000.00", "0.25")
        m.limit(8, .sell, "31000.00", "0.25")
        let state = m.engine.canonicalState()
        for n in 0..<state.count {
            #expect(throws: StateRestoreError.self) { try MatchingEngine(canonicalState: Array(state[..<n])) }
        }
        #expect(throws: StateRestoreError.self) { try MatchingEngine(canonicalState: state + [0]) }
        // Flip each byte: either refused, or (a byte that only changes a value) a sound state
        // that serializes back to exactly those bytes.
        var refused = 0
        for i in 0..<state.count {
            var bad = state
            bad[i] ^= 0x41
            if let engine = try? MatchingEngine(canonicalState: bad) {
                let same = engine.canonicalState() == bad
                #expect(same, "byte \(i): accepted but not what was read")
                #expect(engine.checkInvariants() == nil)
            } else {
                refused += 1
            }
        }
        #expect(refused > state.count / 3)
    }

    @Test func locksThatDoNotMatchTheBookAreRefused() {
        var m = Market()
        m.limit(7, .buy, "29000.00", "0.5")
        var state = m.engine.canonicalState()
        // Account 7's BTC `locked` (nothing is locked in BTC): find the account record and bump it.
        var found = false
        let sevenLE: [UInt8] = [7, 0, 0, 0, 0, 0, 0, 0]
        for i in 0..<(state.count - 40) where Array(state[i..<(i + 8)]) == sevenLE {
            // id, then BTC free, BTC locked
            state[i + 8 + 8] = 1
            found = true
            break
        }
        #expect(found)
        #expect(throws: StateRestoreError.self) { try MatchingEngine(canonicalState: state) }
    }

    /// FORMAT.md, "State digest": a new engine's ids start at 1, the fee account 0 is listed,
    /// and assets and symbols take ids from 0; tick_size "0.010" counts prices in hundredths.
    @Test func theCanonicalStateStartsAsFormatSays() {
        let empty = MatchingEngine().canonicalState()
        let expected: [UInt8] = Array("XSTATE01".utf8)
            + [1, 0, 0, 0, 0, 0, 0, 0] + [1, 0, 0, 0, 0, 0, 0, 0]   // next_order_id, next_trade_id
            + [0, 0, 0, 0] + [0, 0, 0, 0]                           // no assets, no symbols
            + [1, 0, 0, 0] + [0, 0, 0, 0, 0, 0, 0, 0]               // one account: id 0
        #expect(empty == expected)

        var engine = MatchingEngine()
        var events = EventBuffer()
        for command: Command in [.addAsset(name: "B", scale: 8), .addAsset(name: "Q", scale: 4),
                                 .addSymbol(SymbolSpec(name: "BQ", base: "B", quote: "Q", tickSize: dec("0.010"),
                                                       stepSize: dec("0.10"), minQty: dec("0.1"), maxQty: dec("10"),
                                                       minNotional: dec("1")))] {
            events.removeAll()
            engine.apply(command, into: &events)
            #expect(events.events.first == .ok)
        }
        #expect(engine.symbols[0].priceDecimals == 2 && engine.symbols[0].qtyDecimals == 1)
        #expect(engine.symbols[0].tick == 1 && engine.symbols[0].step == 1)
        #expect(engine.symbols[0].minNotional == 10_000, "min_notional in the quote's smallest units")
        #expect(engine.symbols[0].base == 0 && engine.symbols[0].quote == 1)
    }
}
