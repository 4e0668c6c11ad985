import Foundation
import Projections
import ProjectionsSQLite
import Testing
import Workloads

let canMount = geteuid() == 0

/// `exchange project` and `exchange query` as users run them, bad input included: each
/// failure one line on stderr and a database that holds what its checkpoint says.
@Suite(.serialized) struct ProjectCLITests {
    @Test func projectThenQueryEveryTable() throws {
        let scratch = Scratch("cli")
        let journal = try simulate(into: scratch, seed: 2, commands: 3_000)
        let db = scratch.path + "/rm.sqlite"
        let projected = try exchange(["project", "--journal", journal, "--db", db, "--json"])
        #expect(projected.status == 0, "\(projected.stderr)")
        let summary = lastJSON(projected.stdout)
        #expect(summary["resumed_from"] as? Int == 0)
        #expect((summary["commands"] as? Int ?? 0) > 3_000 && summary["last_seq"] as? Int == summary["commands"] as? Int)
        // A second run has nothing to do.
        let again = lastJSON(try exchange(["project", "--journal", journal, "--db", db, "--json"]).stdout)
        #expect(again["resumed_from"] as? Int == summary["last_seq"] as? Int && again["commands"] as? Int == 0)

        // Balances as `exchange state` prints them.
        for account in [0, 3, 7] {
            let state = lastJSON(try exchange(["state", "--journal", journal, "--account", "\(account)"]).stdout)
            let balances = state["balances"] as! [String: [String: String]]
            let lines = try exchange(["query", "--db", db, "balances", "--account", "\(account)", "--json"])
            #expect(lines.status == 0)
            var fromModel: [String: [String: String]] = [:]
            for line in lines.stdout.split(separator: "\n") {
                let row = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: String]
                fromModel[row["asset"]!] = ["free": row["free"]!, "locked": row["locked"]!]
            }
            #expect(fromModel == balances.filter { $0.value != ["free": "0", "locked": "0"] || fromModel[$0.key] != nil },
                    "account \(account)")
        }
        // A table per question, the header first; JSON lines with the same columns.
        for question in [["orders", "--account", "7", "--limit", "5"], ["trades", "--account", "7"], ["trades", "--symbol", "CAUSDT", "--limit", "3"],
                         ["klines", "--symbol", "CAUSDT", "--interval", "1m"], ["ledger", "--account", "7", "--limit", "10"]] {
            let table = try exchange(["query", "--db", db] + question)
            #expect(table.status == 0, "\(question): \(table.stderr)")
            let json = try exchange(["query"] + question + ["--db", db, "--json"])
            let rows = json.stdout.split(separator: "\n")
            try #require(!rows.isEmpty, "\(question)")
            #expect(table.stdout.split(separator: "\n").count == rows.count + 1)
            let header = table.stdout.split(separator: "\n")[0].split(separator: " ").map(String.init)
            let first = try JSONSerialization.jsonObject(with: Data(rows[0].utf8)) as! [String: Any]
            #expect(Set(header) == Set(first.keys))
        }
        let limited = try exchange(["query", "--db", db, "orders", "--account", "7", "--limit", "5", "--json"])
        let ids = limited.stdout.split(separator: "\n").map {
            (try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any])["order_id"] as! Int
        }
        #expect(ids.count == 5 && ids == ids.sorted(), "the newest five, oldest first")
        var openOrders = 0
        for account in 1...20 {
            let open = try exchange(["query", "--db", db, "orders", "--account", "\(account)", "--status", "open", "--json"])
            for line in open.stdout.split(separator: "\n") {
                let status = (try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any])["status"] as! String
                #expect(status == "NEW" || status == "PARTIALLY_FILLED")
                openOrders += 1
            }
        }
        let store = try SQLiteStore(path: db)
        defer { store.close() }
        #expect(openOrders > 0)
        #expect(try store.query("SELECT COUNT(*) FROM orders WHERE status IN ('NEW', 'PARTIALLY_FILLED') AND account BETWEEN 1 AND 20", [])
                == [[.int(Int64(openOrders))]])
    }

    @Test func badInputIsOneLineAndChangesNothing() throws {
        let scratch = Scratch("bad")
        let journal = try simulate(into: scratch, seed: 2, commands: 1_000)
        let other = Scratch("other")
        let otherJournal = try simulate(into: other, seed: 3, commands: 1_000)
        let db = scratch.path + "/rm.sqlite"
        #expect(try exchange(["project", "--journal", journal, "--db", db]).status == 0)
        let store = try SQLiteStore(path: db)
        let before = try dump(store)
        store.close()

        // A database of another journal.
        let mixed = try exchange(["project", "--journal", otherJournal, "--db", db])
        #expect(mixed.status != 0)
        #expect(mixed.stderr.contains("not built from this journal") && mixed.stderr.split(separator: "\n").count == 1,
                "\(mixed.stderr)")
        // No database, no journal, a file that is no database, a bad option.
        let missing = try exchange(["query", "--db", scratch.path + "/none.sqlite", "orders", "--account", "1"])
        #expect(missing.status != 0 && missing.stderr.contains("no such database"))
        #expect(!FileManager.default.fileExists(atPath: scratch.path + "/none.sqlite"))
        let noJournal = try exchange(["project", "--journal", scratch.path + "/nothing", "--db", db])
        #expect(noJournal.status != 0 && noJournal.stderr.contains("no journal directory"))
        try Data("this is not a database, it is text".utf8).write(to: URL(fileURLWithPath: scratch.path + "/text.sqlite"))
        let notDatabase = try exchange(["project", "--journal", journal, "--db", scratch.path + "/text.sqlite"])
        #expect(notDatabase.status != 0 && notDatabase.stderr.contains("text.sqlite") && notDatabase.stderr.split(separator: "\n").count == 1,
                "\(notDatabase.stderr)")
        let badInterval = try exchange(["query", "--db", db, "klines", "--symbol", "CAUSDT", "--interval", "2m"])
        #expect(badInterval.status != 0 && badInterval.stderr.contains("--interval"))

        let reopened = try SQLiteStore(path: db)
        defer { reopened.close() }
        #expect(try dump(reopened) == before)
    }

    @Test(.enabled(if: canMount, "mounting a tmpfs needs root: skipped"))
    func aFullDiskStopsTheProjectorCleanlyAndItResumesWhenThereIsRoom() throws {
        let scratch = Scratch("full")
        let journal = try simulate(into: scratch, seed: 6, commands: 6_000)
        let whole = scratch.path + "/whole.sqlite"
        #expect(try exchange(["project", "--journal", journal, "--db", whole]).status == 0)
        let mount = scratch.path + "/mnt"
        try FileManager.default.createDirectory(atPath: mount, withIntermediateDirectories: true)
        try #require(try shell("mount -t tmpfs -o size=1500k tmpfs \(mount)") == 0)
        defer { _ = try? shell("umount \(mount)") }
        let db = mount + "/rm.sqlite"
        let full = try exchange(["project", "--journal", journal, "--db", db, "--batch", "500"])
        #expect(full.status != 0)
        #expect(full.stderr.contains("full") && full.stderr.split(separator: "\n").count == 1, "\(full.stderr)")
        // What is there is whole batches, up to its checkpoint.
        let partial = try SQLiteStore(path: db)
        let checkpoint = try #require(try partial.prepare())
        let ledger = try partial.query("SELECT COUNT(*), MAX(entry_id) FROM ledger", [])[0]
        #expect(ledger[0].int == Int64(checkpoint.ledgerEntries) && ledger[1].int == Int64(checkpoint.ledgerEntries))
        #expect(try partial.query("SELECT MAX(seq) FROM ledger", [])[0][0].int! <= Int64(checkpoint.lastSequence))
        partial.close()
        // Room again: it resumes to the same read model as one built at once.
        try FileManager.default.moveItem(atPath: db, toPath: scratch.path + "/moved.sqlite")
        for suffix in ["-wal", "-shm"] { try? FileManager.default.moveItem(atPath: db + suffix, toPath: scratch.path + "/moved.sqlite" + suffix) }
        let resumed = try exchange(["project", "--journal", journal, "--db", scratch.path + "/moved.sqlite", "--json"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(lastJSON(resumed.stdout)["resumed_from"] as? Int == Int(checkpoint.lastSequence))
        let a = try SQLiteStore(path: scratch.path + "/moved.sqlite"), b = try SQLiteStore(path: whole)
        defer { a.close(); b.close() }
        #expect(try dump(a) == dump(b))
    }

    @Test(.enabled(if: canMount, "mounting a tmpfs needs root: skipped"))
    func aReadOnlyDatabaseIsRefusedAndStillAnswersQueries() throws {
        let scratch = Scratch("readonly")
        let journal = try simulate(into: scratch, seed: 7, commands: 1_000)
        let mount = scratch.path + "/mnt"
        try FileManager.default.createDirectory(atPath: mount, withIntermediateDirectories: true)
        try #require(try shell("mount -t tmpfs -o size=8m tmpfs \(mount)") == 0)
        defer { _ = try? shell("umount \(mount)") }
        let db = mount + "/rm.sqlite"
        #expect(try exchange(["project", "--journal", journal, "--db", db]).status == 0)
        let answer = try exchange(["query", "--db", db, "balances", "--account", "3"])
        #expect(try shell("mount -o remount,ro \(mount)") == 0)
        let refused = try exchange(["project", "--journal", journal, "--db", db])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("read-only"), "\(refused.stderr)")
        #expect(refused.stderr.split(separator: "\n").count == 1)
        let query = try exchange(["query", "--db", db, "balances", "--account", "3"])
        #expect(query.status == 0, "\(query.stderr)")
        #expect(query.stdout == answer.stdout)
    }
}

/// `exchange project --from-snapshot`: a read model that starts at a snapshot holds the same
/// balances, and the same rows for everything after the snapshot, as one built from sequence 1;
/// it resumes from the same snapshot as the journal grows.
@Suite struct FromSnapshotTests {
    @Test func aReadModelFromASnapshotAgreesWithOneFromTheStart() throws {
        let scratch = Scratch("fromsnap")
        let journal = try simulate(into: scratch, seed: 8, commands: 4_000)
        let data = scratch.path + "/data"
        let made = try exchange(["snapshot", "create", "--data", data, "--json"])
        #expect(made.status == 0, "\(made.stderr)")
        let base = try #require(lastJSON(made.stdout)["seq"] as? Int)
        // More commands after the snapshot: another seed's flow on the same market.
        let more = Scratch("more")
        let moreJournal = try simulate(into: more, seed: 9, commands: 2_000)
        let lines = try exchange(["journal", "export", "--journal", moreJournal]).stdout.split(separator: "\n")
            .filter { !$0.contains("\"checkpoint\"") }
        let half = lines.count / 2
        try (lines[..<half].joined(separator: "\n") + "\n").write(toFile: scratch.path + "/a.jsonl", atomically: false, encoding: .utf8)
        try (lines[half...].joined(separator: "\n") + "\n").write(toFile: scratch.path + "/b.jsonl", atomically: false, encoding: .utf8)
        #expect(try exchange(["journal", "import", scratch.path + "/a.jsonl", "--journal", journal]).status == 0)

        let db = scratch.path + "/snap.sqlite"
        let first = try exchange(["project", "--journal", journal, "--db", db, "--from-snapshot", "--json"])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(lastJSON(first.stdout)["resumed_from"] as? Int == 0)
        #expect(try exchange(["journal", "import", scratch.path + "/b.jsonl", "--journal", journal]).status == 0)
        let second = try exchange(["project", "--journal", journal, "--db", db, "--from-snapshot", "--json"])
        #expect(second.status == 0, "\(second.stderr)")
        #expect(lastJSON(second.stdout)["resumed_from"] as? Int == lastJSON(first.stdout)["last_seq"] as? Int)

        let full = scratch.path + "/full.sqlite"
        #expect(try exchange(["project", "--journal", journal, "--db", full]).status == 0)
        let a = try SQLiteStore(path: db), b = try SQLiteStore(path: full)
        defer { a.close(); b.close() }
        // Balances, and the rows of everything after the snapshot, are the same.
        #expect(try a.query("SELECT * FROM balances WHERE free != 0 OR locked != 0 ORDER BY account, asset", [])
                == b.query("SELECT * FROM balances WHERE free != 0 OR locked != 0 ORDER BY account, asset", []))
        for (table, after) in [("trades", "seq"), ("orders", "created_seq"), ("klines", "open_time_ms")] where table != "klines" {
            let rows = try a.query("SELECT * FROM \(table) WHERE \(after) > \(base) ORDER BY 1", [])
            #expect(rows == (try b.query("SELECT * FROM \(table) WHERE \(after) > \(base) ORDER BY 1", [])), "\(table)")
            #expect(rows.count > 100, "\(table)")
        }
        // The orders resting at the snapshot: where they stand now, as from the start.
        let resting = "SELECT order_id, status, orig_qty - executed_qty FROM orders WHERE created_seq <= \(base) ORDER BY order_id"
        let atSnapshot = try a.query(resting, [])
        #expect(!atSnapshot.isEmpty)
        let sameIds = try b.query(resting.replacingOccurrences(of: "WHERE created_seq <= \(base)",
                                                              with: "WHERE order_id IN (\(atSnapshot.map { String($0[0].int!) }.joined(separator: ",")))"), [])
        #expect(atSnapshot == sameIds)
        // Its ledger opens with the balances at the snapshot and sums to the balances now.
        #expect(try a.query("SELECT COUNT(*) FROM ledger WHERE cause = 'opening' AND seq != \(base)", []) == [[.int(0)]])
        #expect(try a.query("SELECT account, asset, SUM(free_delta), SUM(locked_delta) FROM ledger GROUP BY account, asset HAVING SUM(free_delta) != 0 OR SUM(locked_delta) != 0 ORDER BY account, asset", [])
                == b.query("SELECT account, asset, free, locked FROM balances WHERE free != 0 OR locked != 0 ORDER BY account, asset", []))
        // Without its snapshot, it cannot resume.
        try FileManager.default.removeItem(atPath: data + "/snapshots")
        let gone = try exchange(["project", "--journal", journal, "--db", db])
        #expect(gone.status != 0 && gone.stderr.contains("snapshot at sequence \(base)"), "\(gone.stderr)")
    }
}
