import ArgumentParser
import Journal
import Projections
import ProjectionsPostgres
import ProjectionsSQLite
#if canImport(Glibc)
import Glibc
import _Posix
#endif

/// Where a read model lives: a SQLite file, or a PostgreSQL URL.
struct DatabaseOption: ParsableArguments {
    @Option(name: .long, help: "The read model: a SQLite file, or postgres://user@host[:port]/db.")
    var db: String

    /// Opens the read model (a query needs one that exists).
    func open(forQuery: Bool = false) throws -> any ReadModelStore { try Self.open(db, forQuery: forQuery) }

    static func open(_ db: String, forQuery: Bool = false) throws -> any ReadModelStore {
        do {
            if PostgresStore.isURL(db) { return try PostgresStore(url: db) }
            return try SQLiteStore(path: db, mustExist: forQuery, readOnly: forQuery)
        } catch {
            throw fail(error.description)
        }
    }
}

struct ProjectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "project",
        abstract: "Build or update a read model (orders, trades, balances, klines, ledger) from a journal.",
        discussion: """
            A new database is built from the journal's first record; an existing one resumes after its \
            checkpoint, and is refused if it was built from another journal. --follow keeps projecting what a \
            running node appends until SIGINT or SIGTERM.
            """)

    @OptionGroup var common: JournalOptionsGroup
    @OptionGroup var database: DatabaseOption
    @Flag(help: "Keep following the journal as a node appends to it.") var follow = false
    @Option(name: .customLong("batch"), help: "Commands per transaction (at most).") var batchCommands = 20_000
    @Flag(name: .customLong("from-snapshot"),
          help: "Start a new read model from the newest snapshot (in the snapshots directory beside the journal) rather than from sequence 1.")
    var fromSnapshot = false
    @Option(help: "The snapshots directory (default: snapshots/ beside the journal directory).") var snapshots: String?

    func run() throws {
        guard batchCommands > 0 else { throw fail("--batch must be at least 1") }
        let journal = try common.existingJournal()
        let store = try database.open()
        defer { store.close() }
        ProcessSignals.install()
        let showProgress = isatty(2) == 1
        let startNs = monotonicNs()
        let target = showProgress ? (try? JournalInfo.read(directory: journal).lastSequence) ?? 0 : 0
        let runner = ProjectionRunner(journal: journal, store: store, batchCommandsMax: batchCommands,
                                      snapshots: snapshots ?? Self.snapshotsBeside(journal), fromSnapshot: fromSnapshot)
        let summary: ProjectionSummary
        do {
            summary = try runner.run(follow: follow, shouldStop: { ProcessSignals.stopRequested }) { p in
                guard showProgress else { return }
                let seconds = Double(monotonicNs() - startNs) / 1e9
                let rate = seconds > 0 ? Double(p.commands) / seconds : 0
                var line = "\r\u{1B}[Kseq \(p.lastSequence)  \(Int(rate)) commands/s"
                if target > p.lastSequence, rate > 0 {
                    line += "  ETA \(Int(Double(target - p.lastSequence) / rate)) s"
                }
                printErrorRaw(line)
            }
        } catch {
            if showProgress { printErrorRaw("\n") }
            throw fail(error.description)
        }
        if showProgress { printErrorRaw("\n") }
        let seconds = Double(monotonicNs() - startNs) / 1e9
        if common.json {
            var line = JSONLine()
            line.add("resumed_from", summary.resumedFrom)
            line.add("last_seq", summary.lastSequence)
            line.add("commands", summary.commands)
            line.add("events", summary.events)
            line.add("rows", summary.rows)
            line.add("batches", summary.batches)
            line.add("events_per_second", seconds > 0 ? Double(summary.events) / seconds : 0, decimals: 0)
            if let checkpoint = summary.checkpoint {
                line.add("chain", checkpoint.chain.hex)
                line.add("ledger_entries", checkpoint.ledgerEntries)
            }
            print(line.text)
        } else {
            print("projected sequences \(summary.resumedFrom + 1)...\(summary.lastSequence) into \(database.db): "
                  + "\(summary.commands) commands, \(summary.events) events, \(summary.rows) rows")
        }
    }
}

extension ProjectCommand {
    /// DIR/snapshots for a journal at DIR/journal (a node's data directory).
    static func snapshotsBeside(_ journal: String) -> String {
        var path = journal
        while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
        guard let slash = path.lastIndex(of: "/") else { return "snapshots" }
        return String(path[...slash]) + "snapshots"
    }
}

func printErrorRaw(_ text: String) { writeAll(2, Array(text.utf8)) }

struct QueryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "query", abstract: "Ask a read model: orders, trades, klines, balances, ledger.",
        subcommands: [Orders.self, Trades.self, Klines.self, Balances.self, Ledger.self])

    // `--db` and `--json` may come before the subcommand (`exchange query --db FILE orders …`) or after it.
    @OptionGroup var output: Output

    struct Output: ParsableArguments {
        @OptionGroup var database: DatabaseOption
        @Flag(help: "Print JSON lines instead of a table.") var json = false

        func print(_ query: ReadModelQuery) throws {
            let store = try database.open(forQuery: true)
            defer { store.close() }
            let answer: ReadModelQuery.Answer
            do {
                answer = try query.run(on: store)
            } catch {
                throw fail(error.description)
            }
            if json {
                for line in answer.jsonLines { Swift.print(line) }
            } else {
                Swift.print(answer.table)
            }
        }
    }

    struct Orders: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "An account's orders, newest last.")
        @OptionGroup var output: Output
        @Option(help: "The account.") var account: UInt64
        @Option(help: "Only this symbol.") var symbol: String?
        @Option(help: "open or all.") var status: String = "all"
        @Option(help: "At most this many (the newest).") var limit: Int = 100

        func run() throws {
            guard status == "open" || status == "all" else { throw fail("--status is open or all") }
            guard limit > 0 else { throw fail("--limit must be at least 1") }
            try output.print(.orders(account: account, symbol: symbol, openOnly: status == "open", limit: limit))
        }
    }

    struct Trades: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Trades of an account or of a symbol, newest last.")
        @OptionGroup var output: Output
        @Option(help: "Trades where this account is maker or taker.") var account: UInt64?
        @Option(help: "Trades of this symbol.") var symbol: String?
        @Option(help: "At most this many (the newest).") var limit: Int = 100

        func run() throws {
            guard account != nil || symbol != nil else { throw fail("give --account or --symbol") }
            guard limit > 0 else { throw fail("--limit must be at least 1") }
            try output.print(.trades(account: account, symbol: symbol, limit: limit))
        }
    }

    struct Klines: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A symbol's klines (OHLCV), newest last.")
        @OptionGroup var output: Output
        @Option(help: "The symbol.") var symbol: String
        @Option(help: "1m, 1h or 1d.") var interval: String = "1m"
        @Option(help: "At most this many (the newest).") var limit: Int = 100

        func run() throws {
            guard let interval = KlineInterval(rawValue: interval) else { throw fail("--interval is 1m, 1h or 1d") }
            guard limit > 0 else { throw fail("--limit must be at least 1") }
            try output.print(.klines(symbol: symbol, interval: interval, limit: limit))
        }
    }

    struct Balances: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "An account's balances.")
        @OptionGroup var output: Output
        @Option(help: "The account.") var account: UInt64

        func run() throws { try output.print(.balances(account: account)) }
    }

    struct Ledger: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "An account's balance movements, newest last.")
        @OptionGroup var output: Output
        @Option(help: "The account.") var account: UInt64
        @Option(help: "At most this many (the newest).") var limit: Int = 100

        func run() throws {
            guard limit > 0 else { throw fail("--limit must be at least 1") }
            try output.print(.ledger(account: account, limit: limit))
        }
    }
}
