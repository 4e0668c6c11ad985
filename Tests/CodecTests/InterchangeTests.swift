import Testing
@testable import Codec
@testable import Matching

@Suite struct InterchangeTests {
    /// Scans `text` and hands the members to `body` while the text's bytes are valid.
    func withMembers<T>(_ text: String, _ body: (JSONMembers, JSONMembers.Outcome) -> T) -> T {
        var text = text
        return text.withUTF8 { raw in
            var members = JSONMembers()
            let outcome = members.scan(UnsafeRawBufferPointer(raw))
            return body(members, outcome)
        }
    }

    @Test func membersKeepIntegersAndStringsApart() {
        withMembers(#"{"a":1,"b":"1","c":1.5,"d":true,"e":null,"f":[1,"x"],"g":"\u00e9\ud83d\ude00","h":-9223372036854775808}"#) { m, outcome in
            #expect(outcome == .object)
            #expect(m.members.map(\.kind) == [.number, .plainString, .number, .bool, .null, .array, .escapedString, .number])
            #expect(m.integer(m.find(JSONKey("a"))!) == 1)
            #expect(m.integer(m.find(JSONKey("b"))!) == nil)
            #expect(m.string(m.find(JSONKey("b"))!) == "1")
            #expect(m.integer(m.find(JSONKey("c"))!) == nil)
            #expect(m.string(m.find(JSONKey("g"))!) == "é😀")
            #expect(m.integer(m.find(JSONKey("h"))!) == Int64.min)
            #expect(m.find(JSONKey("z")) == nil)
        }
        for bad in ["", "{", "{\"a\":}", "[1,]", "01", "{\"a\":1}x", "\"\\q\"", "nul", "{\"a\" 1}", "{1:2}"] {
            withMembers(bad) { _, outcome in #expect(outcome == .notJSON, "\(bad)") }
        }
        for other in ["[1]", "\"x\"", "1", "-0.5e3", "null", " true "] {
            withMembers(other) { _, outcome in #expect(outcome == .notObject, "\(other)") }
        }
    }

    /// The slot constants and the keys they file must agree, one for one.
    @Test func everyKeySlotIsItsKeys() {
        let pairs: [(Int, JSONKey)] = [
            (S.account.index, K.account),
            (S.amount.index, K.amount),
            (S.asset.index, K.asset),
            (S.base.index, K.base),
            (S.client_id.index, K.client_id),
            (S.cmd.index, K.cmd),
            (S.maker_fee_ppm.index, K.maker_fee_ppm),
            (S.max_qty.index, K.max_qty),
            (S.min_notional.index, K.min_notional),
            (S.min_qty.index, K.min_qty),
            (S.order_id.index, K.order_id),
            (S.price.index, K.price),
            (S.qty.index, K.qty),
            (S.quote.index, K.quote),
            (S.quote_qty.index, K.quote_qty),
            (S.scale.index, K.scale),
            (S.seq.index, K.seq),
            (S.side.index, K.side),
            (S.step_size.index, K.step_size),
            (S.stp.index, K.stp),
            (S.symbol.index, K.symbol),
            (S.taker_fee_ppm.index, K.taker_fee_ppm),
            (S.tick_size.index, K.tick_size),
            (S.tif.index, K.tif),
            (S.ts.index, K.ts),
            (S.type.index, K.type),
            (S.api_key.index, K.api_key),
            (S.permissions.index, K.permissions),
            (S.ip.index, K.ip),
            (S.secret_sealed.index, K.secret_sealed),
            (S.public_key.index, K.public_key),
        ]
        #expect(pairs.count == K.all.count)
        for (index, key) in pairs { #expect(index == key.slot && K.all[index].name.utf8Start == key.name.utf8Start, "\(key.name)") }
    }

    /// Runs of digits of every length at every alignment, followed by every byte: the number
    /// ends exactly where its digits do (they are scanned eight at a time).
    @Test func numbersEndWhereTheirDigitsDo() {
        var digits = "9"
        for length in 1...19 {
            for pad in 0..<8 {
                let key = String(repeating: "k", count: pad + 1)
                withMembers(#"{""# + key + #"":"# + digits + "}") { m, outcome in
                    #expect(outcome == .object)
                    #expect(m.integer(m.members[0]) == Int64(digits), "\(digits) after \(key)")
                }
            }
            digits += String(length % 10)
        }
        let allowed: Set<UInt8> = [0x20, 0x09, 0x0A, 0x0D, UInt8(ascii: ","), UInt8(ascii: "}"),
                                   UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E")]
        for byte in UInt8.min...UInt8.max where !allowed.contains(byte) && !(0x30...0x39).contains(byte) {
            // The byte falls inside the first eight-byte word of the number.
            var line = Array(#"{"a":12"#.utf8)
            line.append(byte)
            line += Array("34567890123456789}".utf8)
            var members = JSONMembers()
            let outcome = line.withUnsafeBytes { members.scan($0) }
            #expect(outcome == .notJSON, "a number followed by byte \(byte)")
        }
    }

    @Test func aRepeatedKeyMeansItsLastValue() {
        withMembers(#"{"a":1,"b":2,"\u0061":3}"#) { m, _ in
            #expect(m.integer(m.find(JSONKey("a"))!) == 3)
            #expect(m.integer(m.find(JSONKey("b"))!) == 2)
        }
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

    /// API keys: a JSON line decodes to the key it describes, exports as the same line, and each
    /// malformed field is an invalid command naming it.
    @Test func apiKeyCommandsDecodeExportAndRefuseWhatIsMalformed() {
        let sealed = String(repeating: "ab", count: 44)
        let publicKey = String(repeating: "0f", count: 32)
        let hmac = #"{"cmd":"add_api_key","account":7,"api_key":"Key7","permissions":"READ,TRADE","ip":"127.0.0.1/32, ::1","secret_sealed":"\#(sealed)"}"#
        #expect(CommandJSON.decode(hmac)?.command == .addApiKey(ApiKeySpec(
            account: 7, apiKey: "Key7", permissions: [.read, .trade], ipWhitelist: "127.0.0.1/32, ::1", kind: .hmac,
            material: [UInt8](repeating: 0xAB, count: 44))))
        let ed = #"{"cmd":"add_api_key","account":8,"api_key":"e","permissions":"READ","public_key":"\#(publicKey)"}"#
        let edKey = ApiKeySpec(account: 8, apiKey: "e", permissions: .read, kind: .ed25519,
                               material: [UInt8](repeating: 0x0F, count: 32))
        #expect(CommandJSON.decode(ed)?.command == .addApiKey(edKey))
        #expect(CommandJSON.encode(.addApiKey(edKey), seq: 3, timestampNs: 4)
            == #"{"seq":3,"ts":4,"cmd":"add_api_key","account":8,"api_key":"e","permissions":"READ","public_key":"\#(publicKey)"}"#)
        #expect(CommandJSON.decode(#"{"cmd":"revoke_api_key","account":8,"api_key":"e"}"#)?.command
            == .revokeApiKey(account: 8, apiKey: "e"))
        let malformed: [(String, String)] = [
            (#""permissions":"READ,READ","public_key":"\#(publicKey)""#, "permissions"),
            (#""permissions":"WITHDRAW","public_key":"\#(publicKey)""#, "permissions"),
            (#""permissions":"READ","ip":"300.1.1.1","public_key":"\#(publicKey)""#, "ip"),
            (#""permissions":"READ","ip":"10.0.0.0/33","public_key":"\#(publicKey)""#, "ip"),
            (#""permissions":"READ""#, "secret_sealed, public_key"),
            (#""permissions":"READ","public_key":"\#(publicKey)","secret_sealed":"\#(sealed)""#, "secret_sealed, public_key"),
            (#""permissions":"READ","public_key":"0f0""#, "public_key"),
            (#""permissions":"READ","public_key":"0f0f""#, "ed25519_public_key"),
            (#""permissions":"READ","secret_sealed":"abab""#, "secret_sealed"),
        ]
        for (members, field) in malformed {
            let line = #"{"cmd":"add_api_key","account":8,"api_key":"e","# + members + "}"
            guard case let .invalid(invalid)? = CommandJSON.decode(line)?.command else {
                Issue.record("\(line) is not invalid"); continue
            }
            #expect(invalid.detail.hasPrefix(field + ":"), "\(line): \(invalid.detail)")
        }
        guard case let .invalid(bad)? = CommandJSON.decode(#"{"cmd":"add_api_key","account":8,"api_key":"a-b","permissions":"READ","public_key":"\#(publicKey)"}"#)?.command else {
            Issue.record("a key name with a dash is not invalid"); return
        }
        #expect(bad.detail.hasPrefix("api_key:"))
    }

    @Test func cidrsMatchTheirNetworksAcrossAddressFamilies() {
        let net = CIDR("10.1.0.0/16")!
        #expect(net.contains(CIDR.address("10.1.255.3")!))
        #expect(!net.contains(CIDR.address("10.2.0.1")!))
        #expect(net.contains(CIDR.address("::ffff:10.1.2.3")!))
        #expect(CIDR("127.0.0.1")!.contains(CIDR.address("127.0.0.1")!))
        #expect(!CIDR("127.0.0.1")!.contains(CIDR.address("127.0.0.2")!))
        #expect(CIDR("::1")!.contains(CIDR.address("::1")!))
        #expect(!CIDR("::1")!.contains(CIDR.address("127.0.0.1")!))
        #expect(CIDR("2001:db8::/32")!.contains(CIDR.address("2001:db8:ffff::1")!))
        #expect(CIDR("0.0.0.0/0")!.contains(CIDR.address("8.8.8.8")!))
        #expect(!CIDR("0.0.0.0/0")!.contains(CIDR.address("::1")!))
        for bad in ["", "10.0.0.0/", "10.0.0.0/-1", "1.2.3", "::1/129", "x", "10.0.0.0/8/8"] { #expect(CIDR(bad) == nil, "\(bad)") }
        #expect(CIDR.list("10.0.0.0/8, 192.168.1.1")?.count == 2)
        #expect(CIDR.list("10.0.0.0/8,") == nil)
    }

    @Test func malformedCommandsAreInvalidNotDropped() throws {
        // Each line with the detail its rejection must carry, written by hand from the rules.
        let cases: [(String, String)] = [
            (#"{"cmd":"fly"}"#, #"cmd: unknown command "fly""#),
            (#"{"account":7}"#, "cmd: missing"),
            (#"{"cmd":7}"#, "cmd: not a string"),
            (#"{"cmd":"open_account","account":"7"}"#, "account: not an integer ≥ 0"),
            (#"{"cmd":"open_account","account":-1}"#, "account: not an integer ≥ 0"),
            (#"{"cmd":"open_account","account":1.5}"#, "account: not an integer ≥ 0"),
            (#"{"cmd":"open_account","account":99999999999999999999}"#, "account: not an integer ≥ 0"),
            (#"{"cmd":"deposit","account":7,"asset":"USDT","amount":100}"#, "amount: not a decimal string"),
            (#"{"cmd":"deposit","account":7,"asset":"USDT","amount":"1e5"}"#, "amount: not a decimal string"),
            (#"{"cmd":"deposit","account":7,"asset":"USDT","amount":"1.0000000000000000001"}"#, "amount: not a decimal string"),
            (#"{"cmd":"deposit","account":7,"amount":"1"}"#, "asset: missing"),
            (#"{"cmd":"add_asset","asset":"X","scale":-1}"#, "scale: not an integer in 0…18"),
            (#"{"cmd":"add_asset","asset":"X","scale":19}"#, "scale: not an integer in 0…18"),
            (#"{"cmd":"add_symbol","symbol":"S","base":"A","quote":"B","tick_size":"1","step_size":"1","maker_fee_ppm":-1}"#,
             "maker_fee_ppm: not an integer in 0…1000000"),
            (#"{"cmd":"add_symbol","symbol":"S","base":"A","quote":"B","tick_size":"1","step_size":"1","taker_fee_ppm":1000001}"#,
             "taker_fee_ppm: not an integer in 0…1000000"),
            (#"{"cmd":"place","account":7,"symbol":"BTCUSDT","side":"BUY","price":"1"}"#, "qty: missing"),
            (#"{"cmd":"place","account":7,"symbol":"BTCUSDT","side":"BUY","type":"MARKET","qty":"1","quote_qty":"1"}"#,
             "qty, quote_qty: a MARKET order takes exactly one of them"),
            (#"{"cmd":"place","account":7,"symbol":"BTCUSDT","side":"UP","price":"1","qty":"1"}"#,
             "side: not one of BUY, SELL"),
            (#"{"cmd":"place","account":7,"symbol":"BTCUSDT","side":"BUY","tif":"gtc","price":"1","qty":"1"}"#,
             "tif: not one of GTC, IOC, FOK"),
            (#"{"cmd":"place","account":7,"symbol":"BTCUSDT","side":"BUY","client_id":5,"price":"1","qty":"1"}"#,
             "client_id: not a string"),
            (#"{"cmd":"cancel","account":7,"symbol":"BTCUSDT"}"#, "order_id, client_id: one of them is required"),
            (#"{"cmd":"cancel","account":7,"symbol":"BTCUSDT","order_id":"3"}"#, "order_id: not an integer ≥ 0"),
            (#"{"cmd":"checkpoint","verifies_seq":0}"#, "cmd: checkpoint is written by a node, not sent to one"),
            (#"{"cmd":"open_account","account":7,"ts":-1}"#, "ts: not an integer ≥ 0"),
            (#"{"cmd":"open_account","account":7,"ts":"5"}"#, "ts: not an integer ≥ 0"),
        ]
        for (line, detail) in cases {
            guard case let .invalid(invalid)? = CommandJSON.decode(line)?.command else {
                Issue.record("\(line) was not invalid"); continue
            }
            #expect(invalid.text == line)
            #expect(invalid.detail == detail, "\(line)")
            // The journal keeps the text; decoding the record gives the same detail back.
            var bytes: [UInt8] = []
            CommandCodec.encode(.invalid(invalid), into: &bytes)
            #expect(try CommandCodec.decode(bytes) == .invalid(invalid))
        }
        var engine = MatchingEngine()
        var events = EventBuffer()
        let invalid = CommandJSON.decode(cases[3].0)!.command
        engine.apply(invalid, into: &events)
        #expect(EventJSON.render(events.events[0], of: invalid, seq: 3, engine: engine)
                == #"{"seq":3,"event":"rejected","cmd":"open_account","reason":"INVALID_COMMAND","detail":"account: not an integer ≥ 0"}"#)
    }

    @Test func linesThatAreNotJSONObjectsAreNoCommands() {
        for line in ["not json", "[1,2]", "3", #""place""#, "null", "true", "{", #"{"cmd":"halt""#,
                     #"{"cmd":"halt","symbol":"X"} x"#, #"{"cmd":"halt","symbol":"\u12"}"#, "", "\u{7}",
                     #"{"a":[1,2,]}"#, #"{"a":01}"#, "{\"a\":\"\t\"}"] {
            #expect(CommandJSON.decode(line) == nil, "\(line)")
        }
        // Not UTF-8.
        var reader = CommandJSON.Reader()
        let bytes: [UInt8] = Array(#"{"cmd":"halt","symbol":""#.utf8) + [0xFF, 0x22, 0x7D]
        #expect(bytes.withUnsafeBytes { reader.decode($0) } == nil)
        // Nesting past the bound is refused, not a crash.
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(CommandJSON.decode(#"{"a":"# + deep + "}") == nil)
    }

    @Test func aCarriageReturnEndingALineIsNotPartOfIt() {
        let line = #"{"cmd":"halt","symbol":"BTCUSDT"}"#
        #expect(CommandJSON.decode(line + "\r") == CommandJSON.decode(line))
        let unknown = #"{"cmd":"fly"}"#
        guard case let .invalid(invalid)? = CommandJSON.decode(unknown + "\r")?.command else {
            Issue.record("not invalid"); return
        }
        #expect(invalid.text == unknown)
    }

    @Test func anInvalidCommandExportsAsOneObjectWithTheJournalsSeqAndTs() {
        // The client's own seq and ts go; its other members stay, as written, in order.
        let line = #"{"seq":99, "cmd":"fly","ts":5,"x":{"seq":1},"seq":7}"#
        let command = CommandJSON.decode(line)!.command
        let exported = CommandJSON.encode(command, seq: 3, timestampNs: 2_000)
        #expect(exported == #"{"seq":3,"ts":2000,"cmd":"fly","x":{"seq":1}}"#)
        // Importing the export and exporting again gives the same line.
        let again = CommandJSON.decode(exported)!
        #expect(again.timestampNs == 2_000)
        #expect(CommandJSON.encode(again.command, seq: 3, timestampNs: 2_000) == exported)
        let empty = CommandJSON.decode("{}")!.command
        #expect(CommandJSON.encode(empty, seq: 1, timestampNs: 0) == #"{"seq":1,"ts":0}"#)
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
                var full = ByteOutput(capacity: 8)
                full.reserve(ByteOutput.decimalBytesMax)
                full.putDecimal(value, scale: scale, trimmed: false)
                let expected = ExactDecimal.format(units: value, scale: scale)
                #expect(full.string == expected, "\(value) at scale \(scale)")
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
        // Past the first eight bytes (copied a word at a time when nothing needs escaping).
        #expect(JSONObjectWriter.quote("abcdefgh12345678\"ijklmnopé€qrstuvwx\tyz")
                == "\"abcdefgh12345678\\\"ijklmnopé€qrstuvwx\\tyz\"")
        var o = JSONObjectWriter()
        o.number("n", UInt64.max)
        o.number("m", -42)
        o.number("z", UInt64(Int64.max) + 1)
        o.string("s", String(repeating: "\u{01}", count: 100))
        #expect(o.text == "{\"n\":18446744073709551615,\"m\":-42,\"z\":9223372036854775808,\"s\":\""
                + String(repeating: "\\u0001", count: 100) + "\"}")
    }
}
