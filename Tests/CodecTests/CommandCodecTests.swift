import Testing
@testable import Codec
@testable import Matching

@Suite struct CommandCodecTests {
    static let samples: [Command] = [
        .addAsset(name: "BTC", scale: 8),
        .addSymbol(SymbolSpec(name: "BTCUSDT", base: "BTC", quote: "USDT", tickSize: dec("0.01"), stepSize: dec("0.00001"),
                              minQty: dec("0.00001"), maxQty: dec("9000"), minNotional: dec("5"), makerFeePpm: 100, takerFeePpm: 1_000_000)),
        .openAccount(0), .openAccount(UInt64.max),
        .deposit(account: 7, asset: "USDT", amount: dec("100000")),
        .withdraw(account: 7, asset: "USDT", amount: dec("-25.5")),
        .place(PlaceOrder(account: 7, symbol: "BTCUSDT", clientId: "a1", side: .buy, price: dec("30000.00"), qty: dec("0.5"))),
        .place(PlaceOrder(account: 8, symbol: "BTCUSDT", side: .sell, type: .limitMaker, timeInForce: .fok,
                          price: dec("92233720368.54775807"), qty: ExactDecimal(mantissa: Int64.min, scale: 0), stp: .expireBoth)),
        .place(PlaceOrder(account: 8, symbol: "BTCUSDT", clientId: "m1", side: .sell, type: .market, qty: dec("0.2"), stp: .expireMaker)),
        .place(PlaceOrder(account: 8, symbol: "BTCUSDT", side: .buy, type: .market, timeInForce: .ioc, quoteQty: dec("1000"))),
        .cancel(account: 7, symbol: "BTCUSDT", order: .clientId("a1")),
        .cancel(account: 7, symbol: "BTCUSDT", order: .id(12)),
        .cancelAll(account: 7, symbol: "BTCUSDT"),
        .amend(account: 7, symbol: "BTCUSDT", order: .id(12), qty: dec("0.25")),
        .amend(account: 7, symbol: "ÉTH€", order: .clientId(""), qty: dec("0")),
        .halt(symbol: "BTCUSDT"), .resume(symbol: "BTCUSDT"),
        .addApiKey(ApiKeySpec(account: 7, apiKey: "k1", permissions: [.read, .trade], ipWhitelist: "10.0.0.0/8,::1",
                              kind: .hmac, material: Array(0..<60))),
        .addApiKey(ApiKeySpec(account: 8, apiKey: "ed", permissions: .read, kind: .ed25519, material: Array(100..<132))),
        .revokeApiKey(account: 7, apiKey: "k1"),
        .invalid(InvalidCommand(cmd: "fly", account: nil, clientId: nil, detail: #"cmd: unknown command "fly""#,
                                text: #"{"cmd":"fly"}"#)),
        .invalid(InvalidCommand(cmd: "place", account: 3, clientId: "x", detail: "not a JSON object", text: "{…}")),
    ]

    @Test func everyCommandRoundTrips() throws {
        for command in Self.samples {
            var bytes: [UInt8] = []
            CommandCodec.encode(command, into: &bytes)
            let back = try CommandCodec.decode(bytes)
            #expect(back == command)
            // Every strict prefix is refused, never misread.
            for cut in 0..<bytes.count {
                let prefix = Array(bytes[..<cut])
                #expect(throws: CommandCodec.DecodeError.self) { _ = try CommandCodec.decode(prefix) }
            }
        }
    }

    /// One decoder across many records hands back the names each record holds, whether the
    /// name it remembers is the same, another of the same length, a prefix, longer than it
    /// keeps (16 bytes), or not ASCII; and a record that fails to decode leaves it sound.
    @Test func aDecoderThatRemembersNamesDecodesEachRecordAsAFreshOneWould() throws {
        let names = ["BTCUSDT", "BTCUSDC", "BTCUSD", "BTCUSDTT", "ETHUSDT", "", "A",
                     "SIXTEEN_BYTES_AB", "SEVENTEEN_BYTES_A", "A_NAME_LONGER_THAN_ANY_CACHE", "ÉTH€", "ÉTH€X"]
        var state: UInt64 = 2026
        func next(_ n: Int) -> Int { state = state &* 6364136223846793005 &+ 1442695040888963407; return Int(state >> 33) % n }
        var decoder = CommandDecoder()
        for i in 0..<5_000 {
            let symbol = names[next(names.count)], asset = names[next(names.count)]
            let command: Command
            switch next(5) {
            case 0: command = .place(PlaceOrder(account: UInt64(i), symbol: symbol, side: .buy, price: dec("1.5"), qty: dec("2")))
            case 1: command = .cancel(account: 1, symbol: symbol, order: .id(UInt64(i)))
            case 2: command = .deposit(account: 2, asset: asset, amount: dec("3"))
            case 3: command = .halt(symbol: symbol)
            default: command = .addSymbol(SymbolSpec(name: symbol, base: asset, quote: names[next(names.count)],
                                                     tickSize: dec("0.01"), stepSize: dec("1"), minQty: dec("1"),
                                                     maxQty: dec("10"), minNotional: dec("0")))
            }
            var bytes: [UInt8] = []
            CommandCodec.encode(command, into: &bytes)
            if next(10) == 0 {
                // A record cut short in the middle of its name: refused, and nothing remembered from it.
                #expect(throws: CommandCodec.DecodeError.self) { _ = try decoder.decode(Array(bytes.dropLast(2))) }
            }
            let back = try decoder.decode(bytes)
            #expect(back == command, "record \(i)")
            if back != command { return }
        }
    }

    /// Varints of every length, each followed by 0 to 9 more bytes (so that both the word-wide
    /// read, which needs eight bytes left, and the byte loop decode it), read back exactly, the
    /// cursor after their last byte; the same bytes cut anywhere are refused.
    @Test func varintsOfEveryLengthReadBackOnEveryPath() throws {
        var values: [UInt64] = [0, 1, 127, 128, 255, 300, UInt64.max, UInt64(Int64.max), 1 << 63]
        for bits in 7...63 { values += [(1 << UInt64(bits)) - 1, 1 << UInt64(bits), (1 << UInt64(bits)) + 1] }
        var state: UInt64 = 42
        for _ in 0..<2_000 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            values.append(state >> (state & 63))
        }
        for value in values {
            var scratch = [UInt8](repeating: 0, count: 16)
            let encoded = scratch.withUnsafeMutableBufferPointer { buffer -> [UInt8] in
                var writer = CommandCodec.Writer(start: buffer.baseAddress!)
                writer.varint(value)
                return Array(buffer.prefix(writer.count))
            }
            for padding in 0...9 {
                let bytes = encoded + [UInt8](repeating: 0xFF, count: padding)
                let (read, at) = bytes.withUnsafeBytes { raw -> (UInt64?, Int) in
                    var reader = CommandCodec.Reader(bytes: raw)
                    let read = try? reader.varint()
                    return (read, reader.at)
                }
                #expect(read == value, "\(value) + \(padding)")
                #expect(at == encoded.count)
            }
            for cut in 0..<encoded.count {
                let read = Array(encoded[..<cut]).withUnsafeBytes { raw -> UInt64? in
                    var reader = CommandCodec.Reader(bytes: raw)
                    return try? reader.varint()
                }
                #expect(read == nil, "\(value) cut at \(cut)")
            }
        }
    }

    @Test func randomBytesNeverCrashTheDecoder() {
        var state: UInt64 = 99
        func next() -> UInt64 { state = state &* 6364136223846793005 &+ 1442695040888963407; return state >> 33 }
        for _ in 0..<20_000 {
            let bytes = (0..<Int(next() % 40)).map { _ in UInt8(truncatingIfNeeded: next()) }
            _ = try? CommandCodec.decode(bytes)
        }
    }

    /// FORMAT.md: type 3 and tif 3 are invalid, and tag 6 takes LIMIT or LIMIT_MAKER while tags
    /// 7 and 8 take MARKET only.
    @Test func orderFlagsOutsideTheFormatAreRefused() throws {
        var limit: [UInt8] = []
        CommandCodec.encode(.place(PlaceOrder(account: 1, symbol: "S", side: .buy, price: dec("1"), qty: dec("1"))),
                            into: &limit)
        #expect(limit[0] == 6 && limit[1] == 0)
        #expect(throws: Never.self) { try CommandCodec.decode(limit) }
        for flags: UInt8 in [3 << 1, 3 << 3, 2 << 1] {  // type 3, tif 3, MARKET under tag 6
            var bytes = limit
            bytes[1] = flags
            #expect(throws: CommandCodec.DecodeError.self) { try CommandCodec.decode(bytes) }
        }
        var market: [UInt8] = []
        CommandCodec.encode(.place(PlaceOrder(account: 1, symbol: "S", side: .buy, type: .market, qty: dec("1"))),
                            into: &market)
        #expect(market[0] == 7 && market[1] == 2 << 1)
        market[1] = 1 << 1  // LIMIT_MAKER under tag 7
        #expect(throws: CommandCodec.DecodeError.self) { try CommandCodec.decode(market) }
    }
}
