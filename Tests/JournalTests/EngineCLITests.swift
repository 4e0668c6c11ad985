import Foundation
import Testing
@testable import Journal
import Workloads

/// `exchange journal import | export | replay` and `exchange state`, end to end through the
/// real binary and a real journal.
@Suite struct EngineCLITests {
    /// A seeded stream of INTERCHANGE commands: setup, then orders, cancels, amends, market
    /// orders, transfers and a few malformed lines.
    func commandStream(seed: UInt64, count: Int) -> [String] {
        var r = SplitMix64(seed: seed)
        var lines = [
            #"{"cmd":"add_asset","asset":"BTC","scale":8}"#,
            #"{"cmd":"add_asset","asset":"USDT","scale":8}"#,
            #"{"cmd":"add_symbol","symbol":"BTCUSDT","base":"BTC","quote":"USDT","tick_size":"0.01","step_size":"0.00001","min_qty":"0.00001","max_qty":"9000","min_notional":"5","maker_fee_ppm":1000,"taker_fee_ppm":2000}"#,
        ]
        for a in 1...5 {
            lines.append(#"{"cmd":"open_account","account":\#(a)}"#)
            lines.append(#"{"cmd":"deposit","account":\#(a),"asset":"BTC","amount":"50"}"#)
            lines.append(#"{"cmd":"deposit","account":\#(a),"asset":"USDT","amount":"2000000"}"#)
        }
        let sides = ["BUY", "SELL"], tifs = ["GTC", "GTC", "IOC", "FOK"], stps = ["NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"]
        for i in 0..<count {
            let account = 1 + r.next() % 5
            let side = sides[Int(r.next() % 2)]
            switch r.next() % 20 {
            case 0..<3: lines.append(#"{"cmd":"cancel","account":\#(account),"symbol":"BTCUSDT","order_id":\#(1 + r.next() % UInt64(i + 1))}"#)
            case 3: lines.append(#"{"cmd":"amend","account":\#(account),"symbol":"BTCUSDT","order_id":\#(1 + r.next() % UInt64(i + 1)),"qty":"0.0\#(1 + r.next() % 9)"}"#)
            case 4: lines.append(#"{"cmd":"place","account":\#(account),"symbol":"BTCUSDT","side":"\#(side)","type":"MARKET","quote_qty":"\#(1 + r.next() % 5000)"}"#)
            case 5: lines.append(#"{"cmd":"place","account":\#(account),"symbol":"BTCUSDT","side":"\#(side)","price":"oops"}"#)
            case 6: lines.append(#"{"cmd":"withdraw","account":\#(account),"asset":"USDT","amount":"\#(r.next() % 1000)"}"#)
            default:
                let cents = 3_000_000 + Int(r.next() % 300) - 150
                let price = "\(cents / 100).\(String(format: "%02d", cents % 100))"
                lines.append(#"{"cmd":"place","account":\#(account),"symbol":"BTCUSDT","client_id":"c\#(r.next() % 50)","side":"\#(side)","tif":"\#(tifs[Int(r.next() % 4)])","price":"\#(price)","qty":"0.\#(1 + r.next() % 999)","stp":"\#(stps[Int(r.next() % 4)])"}"#)
            }
        }
        return lines
    }

    @Test func replayIsRepeatableAndExportImportKeepsTheDigest() throws {
        let dir = TemporaryDirectory("engine-cli")
        let input = dir.sub("commands.jsonl")
        try (commandStream(seed: 5, count: 3_000).joined(separator: "\n") + "\n").write(toFile: input, atomically: true, encoding: .utf8)
        let imported = try lastJSON(try run(exchangeExecutable, ["journal", "import", input, "--journal", dir.sub("a"), "--json"]).stdout)
        #expect(imported["first_seq"] as? Int == 1 && imported["commands"] as? Int == 3_018)

        let first = try run(exchangeExecutable, ["journal", "replay", "--journal", dir.sub("a"), "--events", dir.sub("events.jsonl"), "--json"])
        #expect(first.status == 0, "\(first.stderr)")
        let r1 = try lastJSON(first.stdout)
        let r2 = try lastJSON(try run(exchangeExecutable, ["journal", "replay", "--journal", dir.sub("a"), "--json"]).stdout)
        #expect(r1["state_digest"] as? String == r2["state_digest"] as? String)
        #expect(r1["last_seq"] as? Int == 3_018)
        #expect((r1["trades"] as? Int ?? 0) > 100, "the stream trades")
        let events = try String(contentsOfFile: dir.sub("events.jsonl"), encoding: .utf8).split(separator: "\n")
        #expect(events.count == r1["events"] as? Int)
        #expect(events.contains { $0.contains(#""reason":"INVALID_COMMAND""#) })

        let exported = try run(exchangeExecutable, ["journal", "export", "--journal", dir.sub("a")])
        try exported.stdout.write(toFile: dir.sub("export.jsonl"), atomically: true, encoding: .utf8)
        _ = try run(exchangeExecutable, ["journal", "import", dir.sub("export.jsonl"), "--journal", dir.sub("b")])
        let r3 = try lastJSON(try run(exchangeExecutable, ["journal", "replay", "--journal", dir.sub("b"), "--json"]).stdout)
        #expect(r3["state_digest"] as? String == r1["state_digest"] as? String)
        #expect(try run(exchangeExecutable, ["journal", "export", "--journal", dir.sub("b")]).stdout == exported.stdout,
                "the re-imported journal exports the same lines, seq and ts included")

        let half = try lastJSON(try run(exchangeExecutable, ["journal", "replay", "--journal", dir.sub("a"), "--to-seq", "1500", "--json"]).stdout)
        #expect(half["last_seq"] as? Int == 1_500 && half["state_digest"] as? String != r1["state_digest"] as? String)
    }

    @Test func aLineThatIsNotJSONStopsTheImportAndAppendsNothing() throws {
        let dir = TemporaryDirectory("engine-cli-bad")
        let input = dir.sub("commands.jsonl")
        try "{\"cmd\":\"add_asset\",\"asset\":\"BTC\",\"scale\":8}\n\n{\"cmd\":\"fly\"}\n{oops\n".write(toFile: input, atomically: true, encoding: .utf8)
        let result = try run(exchangeExecutable, ["journal", "import", input, "--journal", dir.sub("j")])
        #expect(result.status != 0 && result.stderr.contains("commands.jsonl:4"))
        #expect(!FileManager.default.fileExists(atPath: dir.sub("j")))
    }

    @Test func stateShowsTheBookAndBalances() throws {
        let dir = TemporaryDirectory("engine-cli-state")
        let input = dir.sub("c.jsonl")
        try [
            #"{"cmd":"add_asset","asset":"BTC","scale":8}"#, #"{"cmd":"add_asset","asset":"USDT","scale":8}"#,
            #"{"cmd":"add_symbol","symbol":"BTCUSDT","base":"BTC","quote":"USDT","tick_size":"0.01","step_size":"0.00001","min_notional":"5"}"#,
            #"{"cmd":"open_account","account":7}"#, #"{"cmd":"deposit","account":7,"asset":"USDT","amount":"100000"}"#,
            #"{"cmd":"deposit","account":7,"asset":"BTC","amount":"1"}"#,
            #"{"cmd":"place","account":7,"symbol":"BTCUSDT","side":"BUY","price":"30000.00","qty":"0.5"}"#,
            #"{"cmd":"place","account":7,"symbol":"BTCUSDT","side":"BUY","price":"29999.50","qty":"0.25"}"#,
            #"{"cmd":"place","account":7,"symbol":"BTCUSDT","side":"SELL","price":"30100","qty":"0.1"}"#,
        ].joined(separator: "\n").write(toFile: input, atomically: true, encoding: .utf8)
        _ = try run(exchangeExecutable, ["journal", "import", input, "--journal", dir.sub("j")])
        let book = try run(exchangeExecutable, ["state", "--journal", dir.sub("j"), "--book", "BTCUSDT", "--json"])
        #expect(book.stdout.contains(#""bids":[["30000.00","0.5"],["29999.50","0.25"]],"asks":[["30100.00","0.1"]]"#), "\(book.stdout)")
        let top = try run(exchangeExecutable, ["state", "--journal", dir.sub("j"), "--book", "BTCUSDT", "--levels", "1", "--to-seq", "7"])
        #expect(top.stdout.contains(#""bids":[["30000.00","0.5"]],"asks":[]"#), "\(top.stdout)")
        let account = try run(exchangeExecutable, ["state", "--journal", dir.sub("j"), "--account", "7", "--json"])
        // 15000 + 7499.875 = 22499.875 USDT locked; 0.1 BTC locked.
        #expect(account.stdout.contains(#""USDT":{"free":"77500.125","locked":"22499.875"}"#), "\(account.stdout)")
        #expect(account.stdout.contains(#""BTC":{"free":"0.9","locked":"0.1"}"#))
        #expect(try run(exchangeExecutable, ["state", "--journal", dir.sub("j"), "--account", "99"]).status != 0)
    }
}
