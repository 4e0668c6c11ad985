import GRDB
import GRDBSQLite
import Journal
import Projections

#if canImport(Glibc)
import Glibc
#endif

/// The read model in one SQLite file (GRDB), in WAL mode so that queries from other processes
/// read while the projector writes.
///
/// Durability: `synchronous = NORMAL`. A power cut may lose the last transactions, never half
/// of one; the checkpoint is in every transaction, so the projector resumes from what
/// survived and writes the rest again.
public final class SQLiteStore: ReadModelStore {
    public let path: String
    private let queue: DatabaseQueue

    /// Opens (or, unless `mustExist`, creates) the database at `path`.
    /// - Throws: a one-line `ReadModelError` naming the file and SQLite's reason.
    public init(path: String, mustExist: Bool = false, readOnly: Bool = false) throws(ReadModelError) {
        self.path = path
        if mustExist || readOnly {
            guard access(path, F_OK) == 0 else { throw ReadModelError("\(path): no such database") }
        }
        if !readOnly {
            // A database that cannot be written is named as such (SQLite says only that it
            // cannot open the file, or later that it is read-only).
            let exists = access(path, F_OK) == 0
            let target = exists ? path : Self.directory(of: path)
            if access(target, W_OK) != 0 && (errno == EROFS || errno == EACCES || errno == EPERM) {
                throw ReadModelError("\(path): read-only (\(String(cString: strerror(errno)))): a projector must write")
            }
        }
        var configuration = Configuration()
        configuration.readonly = readOnly
        configuration.label = "read model"
        if !readOnly {
            configuration.prepareDatabase { db in
                try db.execute(sql: "PRAGMA journal_mode = WAL")
                try db.execute(sql: "PRAGMA synchronous = NORMAL")
                // 256 MiB of page cache: index pages of a large read model stay in memory.
                try db.execute(sql: "PRAGMA cache_size = -262144")
                // Indexes are built by sorting: in memory, not in temporary files.
                try db.execute(sql: "PRAGMA temp_store = MEMORY")
                // The WAL is copied into the database every 64 MiB rather than every 4 MiB:
                // fewer checkpoints (and syncs) in a bulk build.
                try db.execute(sql: "PRAGMA wal_autocheckpoint = 16384")
            }
        }
        do {
            queue = try DatabaseQueue(path: path, configuration: configuration)
        } catch {
            throw Self.error("open", path, error)
        }
    }

    public func prepare() throws(ReadModelError) -> ProjectionCheckpoint? {
        let row: [SQLValue]?
        do {
            row = try queue.write { db -> [SQLValue]? in
                for table in Schema.tables {
                    for statement in table.createStatements(.sqlite) { try db.execute(sql: statement) }
                }
                // A write, whether or not there are tables to create: a projector that cannot
                // write is refused at the start, not when it first has rows.
                try db.execute(sql: "PRAGMA user_version = \(Schema.version)")
                let names = Schema.checkpoint.columns.map(\.name).joined(separator: ", ")
                return try Row.fetchOne(db, sql: "SELECT \(names) FROM \(Schema.checkpoint.name) WHERE id = 1")
                    .map(Self.values)
            }
        } catch {
            throw Self.error("prepare", path, error)
        }
        return try row.map { row throws(ReadModelError) in try ProjectionCheckpoint(row: row) }
    }

    public func createIndexes() throws(ReadModelError) {
        do {
            try queue.write { db in
                for table in Schema.tables { for statement in table.indexStatements { try db.execute(sql: statement) } }
            }
        } catch {
            throw Self.error("create indexes", path, error)
        }
    }

    public func write(_ batch: ProjectionBatch) throws(ReadModelError) {
        do {
            try queue.write { db in
                var writer = StatementWriter(db: db)
                try batch.write(to: &writer)
            }
        } catch {
            throw Self.error("write", path, error)
        }
    }

    public func query(_ sql: String, _ arguments: [SQLValue]) throws(ReadModelError) -> [[SQLValue]] {
        do {
            return try queue.read { db in
                let statement = try db.makeStatement(sql: sql)
                var out: [[SQLValue]] = []
                let rows = try Row.fetchCursor(statement, arguments: StatementArguments(arguments.map(Self.databaseValue)))
                while let row = try rows.next() { out.append(Self.values(row)) }
                return out
            }
        } catch {
            throw Self.error("query", path, error)
        }
    }

    public func close() {
        try? queue.close()
    }

    // MARK: - SQLite

    private static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// Writes each table's rows through its cached insert statement, binding straight through
    /// SQLite's API (the projector writes hundreds of thousands of rows a second).
    private struct StatementWriter: BatchWriter {
        let db: Database
        /// Rows a statement inserts at once (one step, one reset, one VDBE program start for
        /// all of them); the rest of a table's rows go one a statement.
        static let rowsPerStatement = 64

        mutating func write<R: TableRow>(_ rows: [R]) throws {
            guard !rows.isEmpty else { return }
            let perStatement = max(1, min(Self.rowsPerStatement, 32_000 / R.table.columns.count))
            var start = 0
            if rows.count >= perStatement {
                let many = try db.cachedStatement(sql: R.table.insertStatement(.sqlite, rows: perStatement)).sqliteStatement
                while rows.count - start >= perStatement {
                    try run(many, rows[start..<(start + perStatement)])
                    start += perStatement
                }
            }
            guard start < rows.count else { return }
            let one = try db.cachedStatement(sql: R.table.insertStatement(.sqlite)).sqliteStatement
            for i in start..<rows.count { try run(one, rows[i..<(i + 1)]) }
        }

        private func run<R: TableRow>(_ statement: SQLiteStatement, _ rows: ArraySlice<R>) throws {
            sqlite3_reset(statement)
            var binder = Binder(statement: statement)
            for row in rows { row.bind(to: &binder) }
            let code = sqlite3_step(statement)
            guard code == SQLITE_DONE else {
                throw DatabaseError(resultCode: ResultCode(rawValue: code),
                                    message: String(cString: sqlite3_errmsg(sqlite3_db_handle(statement))))
            }
        }
    }

    private struct Binder: RowBinder {
        let statement: SQLiteStatement
        var index: CInt = 1

        mutating func int(_ value: Int64) {
            sqlite3_bind_int64(statement, index, value)
            index += 1
        }
        mutating func text(_ value: String) {
            var value = value
            value.withUTF8 { utf8 in
                _ = utf8.withMemoryRebound(to: CChar.self) {
                    sqlite3_bind_text(statement, index, $0.baseAddress, CInt($0.count), SQLiteStore.transient)
                }
            }
            index += 1
        }
        mutating func null() {
            sqlite3_bind_null(statement, index)
            index += 1
        }
    }

    fileprivate static let transient = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)

    private static func values(_ row: Row) -> [SQLValue] {
        (0..<row.count).map { i -> SQLValue in
            switch row[i] as DatabaseValue {
            case let value where value.isNull: return .null
            case let value:
                if let v = Int64.fromDatabaseValue(value) { return .int(v) }
                return String.fromDatabaseValue(value).map { .text($0) } ?? .null
            }
        }
    }

    private static func databaseValue(_ value: SQLValue) -> (any DatabaseValueConvertible)? {
        switch value {
        case let .int(v): return v
        case let .text(s): return s
        case .null: return nil
        }
    }

    private static func error(_ operation: String, _ path: String, _ error: any Error) -> ReadModelError {
        if let error = error as? ReadModelError { return error }
        if let error = error as? DatabaseError {
            return ReadModelError("\(path): \(operation): \(error.message ?? "SQLite error \(error.resultCode)")")
        }
        return ReadModelError("\(path): \(operation): \(error)")
    }
}
