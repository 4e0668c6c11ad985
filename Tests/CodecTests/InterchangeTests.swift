import Testing
@testable import Codec
@testable import Matching

@Suite struct InterchangeTests {
    @Test func jsonValuesKeepIntegersAndStringsApart() {
        #expect(JSONValue.parse(#"{"a":1,"b":"1","c":1.5,"d":true,"e":null,"f":[1,"x"]}"#)
                == .object(["a": .integer(1), "b": .string("1"), "c": .number("1.5"), "d": .bool(true),
                            "e": .null, "f": .array([.integer(1), .string("x")])]))
        for bad in ["", "{", "{\"a\":}", "[1,]", "01", "{\"a\":1}x", "\"\\q\"", "nul"] {
            #expect(JSONValue.parse(bad) == nil, "\(bad)")
        }
        #expect(JSONValue.parse(#""\u00e9\ud83d\ude00""#) == .string("é😀"))
    }

    @Test func everyInterchangeExampleDecodes() {
        let lines = [
            #"{"cmd":"add_asset","asset":"BTC","scale":8}"#,
            #"{"cmd":"add_symbol","symbol":"BTCUSDT","base":"BTC","quote":"USDT","tick_size":"0.01","step_size":"0.00001","min_qty":"0.00001","max_qty":"9000","min_notional":"5","maker_fee_ppm":0,"taker_fee_ppm":0}"#,
            #"{"cmd":"open_account","account":7}"#,
            #"{"cmd":"deposit","account":7,"asset":"USDT","amount":"100000"}"#,
            #"{"cmd":"withdraw","account":7,"asset":"USDT","amount":"25.5"}"#,
            #"{"cmd":"place","account":7,"symbol":"BTCUSDT","client_id":"a1","side":"BUY","type":"LIMIT","tif":"GTC","price":"30000.00","qty":"0.5","stp":"NONE"}"#,
            #"{"cmd":"place","account":8,"symbol":"BTCUSDT","client_id":"m1","side":"SELL","type":"MARKET","qty":"0.2"}"#,
            #"{"cmd":"place","account":8,"symbol":"BTCUSDT","client_id":"m2","side":"BUY","type":"MARKET","quote_qty":"1000"}"#,
            #"{"cmd":"cancel","account":7,"symbol":"BTCUSDT","client_id":"a1"}"#,
            #"{"cmd":"cancel","account":7,"symbol":"BTCUSDT","order_id":12}"#,
            #"{"cmd":"cancel_all","account":7,"symbol":"BTCUSDT"}"#,
            #"{"cmd":"amend","account":7,"symbol":"BTCUSDT","order_id":12,"qty":"0.25"}"#,
            #"{"cmd":"halt","symbol":"BTCUSDT"}"#,
            #"{"cmd":"resume","symbol":"BTCUSDT"}"#,
        ]
        for line in lines {
            let decoded = CommandJSON.decode(line)
            if case .invalid? = decoded?.command { Issue.record("\(line) decoded as invalid") }
            #expect(decoded != nil)
        }
        #expect(CommandJSON.decode(lines[5])?.command == .place(PlaceOrder(
            account: 7, symbol: "BTCUSDT", clientId: "a1", side: .buy, price: dec("30000.00"), qty: dec("0.5"))))
    }

    @Test func malformedCommandsAreInvalidNotDropped() {
        let cases = [
            #"{"cmd":"fly"}"#,
            #"{"cmd":"open_account","account":"7"}"#,
            #"{"cmd":"deposit","account":7,"asset":"USDT","amount":100}"#,
            #"{"cmd":"deposit","account":7,"asset":"USDT","amount":"1e5"}"#,
            #"{"cmd":"place","account":7,"symbol":"BTCUSDT","side":"BUY","price":"1"}"#,
            #"{"cmd":"place","account":7,"symbol":"BTCUSDT","side":"BUY","type":"MARKET","qty":"1","quote_qty":"1"}"#,
            #"{"cmd":"place","account":7,"symbol":"BTCUSDT","side":"UP","price":"1","qty":"1"}"#,
            #"{"cmd":"cancel","account":7,"symbol":"BTCUSDT"}"#,
            #"[1,2]"#,
        ]
        for line in cases {
            guard case let .invalid(_, _, _, text)? = CommandJSON.decode(line)?.command else {
                Issue.record("\(line) was not invalid"); continue
            }
            #expect(text == line)
        }
        #expect(CommandJSON.decode("not json") == nil)
        var engine = MatchingEngine()
        var events = EventBuffer()
        let invalid = CommandJSON.decode(cases[1])!.command
        engine.apply(invalid, into: &events)
        #expect(EventJSON.render(events.events[0], of: invalid, seq: 3, engine: engine)
                == #"{"seq":3,"event":"rejected","cmd":"open_account","reason":"INVALID_COMMAND"}"#)
    }

    @Test func eventsRenderAsInterchangeSays() {
        var engine = MatchingEngine()
        var events = EventBuffer()
        var lines: [String] = []
        let script = [
            #"{"cmd":"add_asset","asset":"BTC","scale":8}"#,
            #"{"cmd":"add_asset","asset":"USDT","scale":8}"#,
            #"{"cmd":"add_symbol","symbol":"BTCUSDT","base":"BTC","quote":"USDT","tick_size":"0.01","step_size":"0.00001","min_qty":"0.00001","max_qty":"9000","min_notional":"5"}"#,
            #"{"cmd":"open_account","account":7}"#,
            #"{"cmd":"open_account","account":8}"#,
            #"{"cmd":"deposit","account":7,"asset":"USDT","amount":"100000"}"#,
            #"{"cmd":"deposit","account":8,"asset":"BTC","amount":"1"}"#,
            #"{"cmd":"place","account":7,"symbol":"BTCUSDT","client_id":"a1","side":"BUY","type":"LIMIT","tif":"GTC","price":"30000.00","qty":"0.5"}"#,
            #"{"cmd":"place","account":8,"symbol":"BTCUSDT","client_id":"m1","side":"SELL","type":"MARKET","qty":"0.2"}"#,
            #"{"cmd":"cancel","account":7,"symbol":"BTCUSDT","client_id":"a1"}"#,
        ]
        for (i, line) in script.enumerated() {
            events.removeAll()
            let command = CommandJSON.decode(line)!.command
            engine.apply(command, into: &events)
            lines += events.events.map { EventJSON.render($0, of: command, seq: UInt64(i + 1), engine: engine) }
        }
        // Written by hand from INTERCHANGE.md's examples, with this script's numbers.
        #expect(Array(lines.suffix(6)) == [
            #"{"seq":8,"event":"accepted","order_id":1,"account":7,"symbol":"BTCUSDT","client_id":"a1","side":"BUY","type":"LIMIT","tif":"GTC","price":"30000.00","qty":"0.5"}"#,
            #"{"seq":8,"event":"booked","order_id":1,"remaining":"0.5"}"#,
            #"{"seq":9,"event":"accepted","order_id":2,"account":8,"symbol":"BTCUSDT","client_id":"m1","side":"SELL","type":"MARKET","qty":"0.2"}"#,
            #"{"seq":9,"event":"trade","trade_id":1,"symbol":"BTCUSDT","price":"30000.00","qty":"0.2","taker_side":"SELL","maker_order_id":1,"taker_order_id":2,"maker_account":7,"taker_account":8,"maker_fee":"0","taker_fee":"0"}"#,
            #"{"seq":9,"event":"done","order_id":2,"status":"FILLED","filled":"0.2","remaining":"0"}"#,
            #"{"seq":10,"event":"cancelled","order_id":1,"remaining":"0.3","reason":"USER"}"#,
        ])
        #expect(lines.first == #"{"seq":1,"event":"ok","cmd":"add_asset"}"#)
    }
}

func dec(_ text: String) -> ExactDecimal { ExactDecimal(parsing: text)! }

/// The byte writer's decimals against `ExactDecimal.format` (a second implementation, by
/// strings) over random values and every scale, trimmed and not.
@Suite struct DecimalTextTests {
    @Test func theByteWriterWritesWhatExactDecimalFormats() {
        var state: UInt64 = 12345
        func next() -> UInt64 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return state
        }
        var values: [Int64] = [0, 1, -1, 10, 100, Int64.max, Int64.min + 1, 5, 50, 500_000]
        for _ in 0..<2_000 { values.append(Int64(bitPattern: next()) >> Int64(next() % 63)) }
        for value in values {
            for scale in 0...18 {
                var full: [UInt8] = []
                JSONObjectWriter.appendDecimal(value, scale: scale, trimmed: false, to: &full)
                let expected = ExactDecimal.format(units: value, scale: scale)
                #expect(String(decoding: full, as: UTF8.self) == expected, "\(value) at scale \(scale)")
                var trimmedExpected = expected
                if trimmedExpected.contains(".") {
                    while trimmedExpected.hasSuffix("0") { trimmedExpected.removeLast() }
                    if trimmedExpected.hasSuffix(".") { trimmedExpected.removeLast() }
                }
                #expect(EventJSON.trimmed(value, scale) == trimmedExpected, "\(value) at scale \(scale), trimmed")
            }
        }
    }

    @Test func quotingEscapesWhatJSONRequires() {
        #expect(JSONObjectWriter.quote("a\"b\\c\nd\u{01}é") == "\"a\\\"b\\\\c\\nd\\u0001é\"")
        var o = JSONObjectWriter()
        o.number("n", UInt64.max)
        o.number("m", -42)
        #expect(o.text == "{\"n\":18446744073709551615,\"m\":-42}")
    }
}

@Suite struct JSONObjectTests {
    @Test func aRepeatedKeyMeansItsLastValueAndOrderDoesNotMatter() {
        let v = JSONValue.parse(#"{"a":1,"b":2,"a":3}"#)
        #expect(v?["a"] == .integer(3) && v?["b"] == .integer(2) && v?["c"] == nil)
        #expect(v == .object(["b": .integer(2), "a": .integer(3)]))
        #expect(v != .object(["a": .integer(1), "b": .integer(2)]))
        #expect(JSONValue.parse(#"{"a":1}"#) != .object(["a": .integer(1), "b": .null]))
    }
}
