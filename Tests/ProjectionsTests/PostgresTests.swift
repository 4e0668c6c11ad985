import Foundation
import Projections
import ProjectionsPostgres
import ProjectionsSQLite
import Testing

/// The read model in a real PostgreSQL cluster (started by the test on loopback): the same
/// rows and the same query answers as SQLite for the same journal.
@Suite(.serialized, .enabled(if: PostgresCluster.isInstalled, "PostgreSQL is not installed (Debian: postgresql)"))
struct PostgresTests {
    @Test func postgresAndSQLiteHoldTheSameRowsAndAnswerTheSame() throws {
        let cluster = try PostgresCluster()
        let scratch = Scratch("pg")
        let journal = try simulate(into: scratch, seed: 12, commands: 5_000, symbols: 3)
        let sqlite = try SQLiteStore(path: scratch.path + "/rm.sqlite")
        defer { sqlite.close() }
        _ = try ProjectionRunner(journal: journal, store: sqlite, batchCommandsMax: 100_000).run()

        // PostgreSQL: built in two runs of small batches, the second resuming the first.
        let url = try cluster.createDatabase("readmodel")
        let postgres = try PostgresStore(url: url)
        defer { postgres.close() }
        let first = try ProjectionRunner(journal: journal, store: postgres, batchCommandsMax: 333).run()
        #expect(first.resumedFrom == 0 && first.batches > 10)
        let again = try ProjectionRunner(journal: journal, store: postgres, batchCommandsMax: 333).run()
        #expect(again.resumedFrom == first.lastSequence && again.commands == 0)

        let expected = try dump(sqlite)
        #expect(expected["ledger"]!.count > 1_000)
        #expect(try dump(postgres) == expected)

        // Every question, answered alike (as tables and as JSON lines), through the CLI too.
        let questions: [ReadModelQuery] = [
            .orders(account: 7, symbol: nil, openOnly: false, limit: 50), .orders(account: 7, symbol: "CBUSDT", openOnly: true, limit: 100),
            .trades(account: 7, symbol: nil, limit: 40), .trades(account: nil, symbol: "CAUSDT", limit: 40),
            .trades(account: 3, symbol: "CCUSDT", limit: 10), .klines(symbol: "CAUSDT", interval: .oneMinute, limit: 10),
            .klines(symbol: "CBUSDT", interval: .oneDay, limit: 10), .balances(account: 0), .balances(account: 7),
            .ledger(account: 7, limit: 60),
        ]
        for question in questions {
            let a = try question.run(on: sqlite), b = try question.run(on: postgres)
            #expect(a == b, "\(question)")
            #expect(!a.rows.isEmpty, "\(question)")
        }
        for arguments in [["orders", "--account", "7"], ["trades", "--symbol", "CAUSDT"], ["ledger", "--account", "5", "--json"]] {
            let fromSQLite = try exchange(["query", "--db", scratch.path + "/rm.sqlite"] + arguments)
            let fromPostgres = try exchange(["query", "--db", url] + arguments)
            #expect(fromPostgres.status == 0, "\(fromPostgres.stderr)")
            #expect(fromSQLite.stdout == fromPostgres.stdout && !fromSQLite.stdout.isEmpty)
        }

        // The CLI projects into PostgreSQL as into SQLite.
        let other = try cluster.createDatabase("bycli")
        let projected = try exchange(["project", "--journal", journal, "--db", other, "--json"])
        #expect(projected.status == 0, "\(projected.stderr)")
        let byCLI = try PostgresStore(url: other)
        defer { byCLI.close() }
        #expect(try dump(byCLI) == expected)
        // And refuses a database of another journal.
        let otherScratch = Scratch("pgother")
        let otherJournal = try simulate(into: otherScratch, seed: 13, commands: 500)
        let mixed = try exchange(["project", "--journal", otherJournal, "--db", other])
        #expect(mixed.status != 0 && mixed.stderr.contains("not built from this journal"))
        #expect(try dump(byCLI) == expected)
    }

    @Test func aDeadServerOrABadURLIsOneLine() throws {
        let scratch = Scratch("pgdead")
        let journal = try simulate(into: scratch, seed: 1, commands: 200)
        let port = try PostgresCluster.freePort()
        let dead = try exchange(["project", "--journal", journal, "--db", "postgres://exchange:secret@127.0.0.1:\(port)/x"])
        #expect(dead.status != 0)
        #expect(dead.stderr.split(separator: "\n").count == 1 && dead.stderr.contains("connect"), "\(dead.stderr)")
        #expect(!dead.stderr.contains("secret"), "the password is not shown")
        let badPort = try exchange(["query", "--db", "postgres://exchange@127.0.0.1:99999/x", "balances", "--account", "1"])
        #expect(badPort.status != 0 && badPort.stderr.contains("port"))
    }

    /// Client ids are the clients' own text: tabs, backslashes, newlines, quotes and non-ASCII
    /// reach PostgreSQL (through COPY's text format) and SQLite alike.
    @Test func clientTextArrivesAsWritten() throws {
        let cluster = try PostgresCluster()
        let scratch = Scratch("pgtext")
        let ids = ["tab\\there", "back\\\\slash", "new\\nline", "quote\\\"d", "\\\\N", "café 😀", "cr\\rend"]
        var lines = [
            #"{"cmd":"add_asset","asset":"BTC","scale":8}"#,
            #"{"cmd":"add_asset","asset":"USDT","scale":6}"#,
            #"{"cmd":"add_symbol","symbol":"BTCUSDT","base":"BTC","quote":"USDT","tick_size":"0.01","step_size":"0.0001","min_qty":"0.0001","max_qty":"100","min_notional":"1"}"#,
            #"{"cmd":"open_account","account":1}"#,
            #"{"cmd":"deposit","account":1,"asset":"USDT","amount":"1000000"}"#,
        ]
        // 600 orders: enough for the orders of one batch to go through the staging table's COPY.
        for i in 0..<600 {
            let id = ids[i % ids.count] + "-\(i)"
            lines.append(#"{"cmd":"place","account":1,"symbol":"BTCUSDT","client_id":"\#(id)","side":"BUY","price":"\#(100 + i % 50).00","qty":"0.5"}"#)
        }
        let file = scratch.path + "/commands.jsonl"
        try (lines.joined(separator: "\n") + "\n").write(toFile: file, atomically: false, encoding: .utf8)
        let journal = scratch.path + "/journal"
        let imported = try exchange(["journal", "import", file, "--journal", journal])
        #expect(imported.status == 0, "\(imported.stderr)")
        let sqlite = try SQLiteStore(path: scratch.path + "/rm.sqlite")
        defer { sqlite.close() }
        let postgres = try PostgresStore(url: try cluster.createDatabase("text"))
        defer { postgres.close() }
        for store in [sqlite, postgres] as [any ReadModelStore] {
            _ = try ProjectionRunner(journal: journal, store: store, batchCommandsMax: 1_000).run()
        }
        let stored = try postgres.query("SELECT client_id FROM orders ORDER BY order_id", []).map { $0[0].text }
        #expect(stored.count == 600)
        #expect(try dump(postgres) == dump(sqlite))
        let decoded = try sqlite.query("SELECT client_id FROM orders ORDER BY order_id", []).map { $0[0].text }
        #expect(decoded == stored && decoded.contains("tab\there-0") && decoded.contains("\\N-4"))
    }
}
