import Dispatch
import Journal
import Logging
import NIOCore
import PostgresNIO
import Projections

/// The read model in PostgreSQL (postgres-nio): the same tables as SQLite (Schema.swift), for
/// when one machine's disk or query load is outgrown.
///
/// A batch is one transaction: trades and ledger entries (new rows only) go in with `COPY …
/// FROM STDIN`, the tables whose rows change (orders, balances, klines) with multi-row
/// `INSERT … ON CONFLICT … DO UPDATE`, and the checkpoint last.
///
/// The store is used from one thread, synchronously, as the projector runs: each call waits
/// for its work on postgres-nio's event loop.
public final class PostgresStore: ReadModelStore {
    public let url: String
    private let connection: PostgresConnection
    private let logger = Logger(label: "read-model", factory: { _ in SwiftLogNoOpLogHandler() })

    /// Whether `text` names a PostgreSQL database rather than a file.
    public static func isURL(_ text: String) -> Bool {
        text.hasPrefix("postgres://") || text.hasPrefix("postgresql://")
    }

    /// Connects to `postgres://user[:password]@host[:port]/database` (TLS off: loopback or a
    /// trusted network).
    public init(url: String) throws(ReadModelError) {
        self.url = url
        let configuration = try Self.configuration(url)
        let logger = self.logger
        do {
            connection = try blocking {
                try await PostgresConnection.connect(configuration: configuration, id: 1, logger: logger)
            }
        } catch {
            throw Self.error("connect", url, error)
        }
    }

    static func configuration(_ url: String) throws(ReadModelError) -> PostgresConnection.Configuration {
        guard let schemeEnd = url.range(of: "://") else { throw ReadModelError("\(url): not a postgres:// URL") }
        var rest = url[schemeEnd.upperBound...]
        var username = "postgres", password: String?
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = credentials.firstIndex(of: ":") {
                username = String(credentials[..<colon])
                password = String(credentials[credentials.index(after: colon)...])
            } else {
                username = String(credentials)
            }
        }
        var database: String?
        if let slash = rest.firstIndex(of: "/") {
            database = String(rest[rest.index(after: slash)...].prefix { $0 != "?" })
            rest = rest[..<slash]
        }
        var host = String(rest), port = 5432
        if let colon = rest.lastIndex(of: ":") {
            guard let p = Int(rest[rest.index(after: colon)...]), p > 0, p < 65_536 else {
                throw ReadModelError("\(url): the port is not a number from 1 to 65535")
            }
            host = String(rest[..<colon])
            port = p
        }
        guard !host.isEmpty else { throw ReadModelError("\(url): no host") }
        return PostgresConnection.Configuration(host: host, port: port, username: username, password: password,
                                                database: database?.isEmpty == false ? database : nil, tls: .disable)
    }

    public func prepare() throws(ReadModelError) -> ProjectionCheckpoint? {
        let connection = self.connection, logger = self.logger
        let row: [SQLValue]?
        do {
            row = try blocking {
                try await connection.query("BEGIN", logger: logger)
                for table in Schema.tables {
                    for statement in table.createStatements(.postgres) {
                        try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                    }
                }
                let names = Schema.checkpoint.columns.map(\.name).joined(separator: ", ")
                let rows = try await Self.rows(connection.query(
                    PostgresQuery(unsafeSQL: "SELECT \(names) FROM \(Schema.checkpoint.name) WHERE id = 1"), logger: logger))
                try await connection.query("COMMIT", logger: logger)
                return rows.first
            }
        } catch {
            throw Self.error("prepare", url, error)
        }
        return try row.map { row throws(ReadModelError) in try ProjectionCheckpoint(row: row) }
    }

    public func createIndexes() throws(ReadModelError) {
        let connection = self.connection, logger = self.logger
        do {
            try blocking {
                for table in Schema.tables {
                    for statement in table.indexStatements {
                        try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                    }
                }
            }
        } catch {
            throw Self.error("create indexes", url, error)
        }
    }

    public func write(_ batch: ProjectionBatch) throws(ReadModelError) {
        let connection = self.connection, logger = self.logger
        // Encoded here, on the caller's thread: the task only sends.
        var encoder = Encoder()
        do { try batch.write(to: &encoder) } catch { throw Self.error("write", url, error) }
        let parts = encoder.parts
        do {
            try blocking {
                try await connection.query("BEGIN", logger: logger)
                do {
                    for part in parts {
                        switch part {
                        case let .copy(table, buffer):
                            try await connection.copyFrom(table: table.name, columns: table.columns.map(\.name),
                                                          logger: logger) { writer in try await writer.write(buffer) }
                        case let .stagedUpsert(table, buffer):
                            // COPY into a temporary table of the same shape (emptied at commit),
                            // then one set-based upsert from it.
                            let staging = "staging_\(table.name)"
                            try await connection.query(PostgresQuery(unsafeSQL:
                                "CREATE TEMP TABLE IF NOT EXISTS \(staging) (LIKE \(table.name)) ON COMMIT DELETE ROWS"),
                                logger: logger)
                            try await connection.copyFrom(table: staging, columns: table.columns.map(\.name),
                                                          logger: logger) { writer in try await writer.write(buffer) }
                            try await connection.query(PostgresQuery(unsafeSQL: table.insertStatement(selectingFrom: staging)),
                                                       logger: logger)
                        case let .upsert(table, statements):
                            for (rows, bindings) in statements {
                                try await connection.query(
                                    PostgresQuery(unsafeSQL: table.insertStatement(.postgres, rows: rows), binds: bindings),
                                    logger: logger)
                            }
                        }
                    }
                    try await connection.query("COMMIT", logger: logger)
                } catch {
                    _ = try? await connection.query("ROLLBACK", logger: logger)
                    throw error
                }
            }
        } catch {
            throw Self.error("write", url, error)
        }
    }

    public func query(_ sql: String, _ arguments: [SQLValue]) throws(ReadModelError) -> [[SQLValue]] {
        let connection = self.connection, logger = self.logger
        var bindings = PostgresBindings()
        for value in arguments { Self.bind(value, &bindings) }
        let query = PostgresQuery(unsafeSQL: Self.numberedPlaceholders(sql), binds: bindings)
        do {
            return try blocking { try await Self.rows(connection.query(query, logger: logger)) }
        } catch {
            throw Self.error("query", url, error)
        }
    }

    public func close() {
        let connection = self.connection
        try? blocking { try await connection.close() }
    }

    // MARK: - Statements

    private static func bind(_ value: SQLValue, _ bindings: inout PostgresBindings) {
        switch value {
        case let .int(v): bindings.append(v)
        case let .text(s): bindings.append(s)
        case .null: bindings.appendNull()
        }
    }

    /// `?1` → `$1` (the queries are written once, with SQLite's numbered placeholders).
    static func numberedPlaceholders(_ sql: String) -> String {
        var out = ""
        var inString = false
        for c in sql {
            if c == "'" { inString.toggle() }
            out.append(!inString && c == "?" ? "$" : c)
        }
        return out
    }

    private static func rows(_ sequence: PostgresRowSequence) async throws -> [[SQLValue]] {
        var out: [[SQLValue]] = []
        for try await row in sequence {
            var values: [SQLValue] = []
            for cell in row {
                if cell.bytes == nil {
                    values.append(.null)
                } else if let v = try? cell.decode(Int64.self) {
                    values.append(.int(v))
                } else if let s = try? cell.decode(String.self) {
                    values.append(Int64(s).map { .int($0) } ?? .text(s))
                } else {
                    throw ReadModelError("a column of type \(cell.dataType) is neither an integer nor text")
                }
            }
            out.append(values)
        }
        return out
    }

    // MARK: - Errors

    private static func error(_ operation: String, _ url: String, _ error: any Error) -> ReadModelError {
        if let error = error as? ReadModelError { return error }
        let shown = redacted(url)
        if let error = error as? PSQLError {
            if let message = error.serverInfo?[.message] {
                return ReadModelError("\(shown): \(operation): \(message)")
            }
            if let underlying = error.underlying {
                return ReadModelError("\(shown): \(operation): \(error.code): \(underlying)")
            }
            return ReadModelError("\(shown): \(operation): \(error.code)")
        }
        return ReadModelError("\(shown): \(operation): \(error)")
    }

    /// The URL without its password (error messages end up in logs).
    static func redacted(_ url: String) -> String {
        guard let scheme = url.range(of: "://"), let at = url.lastIndex(of: "@") else { return url }
        let credentials = url[scheme.upperBound..<at]
        guard let colon = credentials.firstIndex(of: ":") else { return url }
        return String(url[..<colon]) + ":***" + String(url[at...])
    }
}

/// A batch encoded for the wire: new rows (trades, ledger) as COPY's text format, changed rows
/// (orders, balances, klines, the checkpoint) as multi-row upserts, as many rows a statement as
/// its 65,535 parameters allow (at most 1,000).
private enum EncodedTable: Sendable {
    case copy(Table, ByteBuffer)
    /// Many changed rows: through a staging table.
    case stagedUpsert(Table, ByteBuffer)
    case upsert(Table, [(rows: Int, bindings: PostgresBindings)])
}

private struct Encoder: BatchWriter {
    var parts: [EncodedTable] = []

    mutating func write<R: TableRow>(_ rows: [R]) throws {
        guard !rows.isEmpty else { return }
        let table = R.table
        if table.upserts && rows.count < Self.stagedRowsMin {
            let perStatement = min(1_000, Int(UInt16.max) / table.columns.count)
            var statements: [(rows: Int, bindings: PostgresBindings)] = []
            var start = 0
            while start < rows.count {
                let end = min(start + perStatement, rows.count)
                var binder = BindingsBinder(bindings: PostgresBindings(capacity: (end - start) * table.columns.count))
                for row in rows[start..<end] { row.bind(to: &binder) }
                statements.append((end - start, binder.bindings))
                start = end
            }
            parts.append(.upsert(table, statements))
        } else {
            var binder = CopyBinder(buffer: ByteBuffer())
            binder.buffer.reserveCapacity(rows.count * 96)
            for row in rows {
                binder.first = true
                row.bind(to: &binder)
                binder.buffer.writeInteger(UInt8(ascii: "\n"))
            }
            parts.append(table.upserts ? .stagedUpsert(table, binder.buffer) : .copy(table, binder.buffer))
        }
    }

    /// From this many changed rows on, a table's rows go through COPY and a staging table.
    static let stagedRowsMin = 500
}

private struct BindingsBinder: RowBinder {
    var bindings: PostgresBindings
    mutating func int(_ value: Int64) { bindings.append(value) }
    mutating func text(_ value: String) { bindings.append(value) }
    mutating func null() { bindings.appendNull() }
}

/// COPY's text format: a tab between columns, `\N` for null, backslash escapes in text.
private struct CopyBinder: RowBinder {
    var buffer: ByteBuffer
    var first = true

    private mutating func separate() {
        if !first { buffer.writeInteger(UInt8(ascii: "\t")) }
        first = false
    }

    mutating func int(_ value: Int64) {
        separate()
        if value < 0 { buffer.writeInteger(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: room for 20 digits
        withUnsafeMutableBytes(of: &digits) { raw in
            var i = raw.count
            repeat {
                i -= 1
                raw[i] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            buffer.writeBytes(UnsafeRawBufferPointer(rebasing: raw[i...]))
        }
    }

    mutating func text(_ value: String) {
        separate()
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\\"): buffer.writeStaticString("\\\\")
            case UInt8(ascii: "\t"): buffer.writeStaticString("\\t")
            case UInt8(ascii: "\n"): buffer.writeStaticString("\\n")
            case UInt8(ascii: "\r"): buffer.writeStaticString("\\r")
            default: buffer.writeInteger(byte)
            }
        }
    }

    mutating func null() {
        separate()
        buffer.writeStaticString("\\N")
    }
}

/// Runs `body` on a task and waits for it. The task prefers an executor of its own (a serial
/// dispatch queue, which gets a thread even when every thread of the concurrency pool is
/// busy): a caller that blocks a pool thread here (a synchronous test, say) cannot starve the
/// very task it waits for.
private func blocking<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
    let box = ResultBox<T>()
    let done = DispatchSemaphore(value: 0)
    Task(executorPreference: QueueExecutor.shared) {
        do { box.result = .success(try await body()) } catch { box.result = .failure(error) }
        done.signal()
    }
    done.wait()
    return try box.result!.get()
}

/// Where the task leaves its result; read only after the semaphore says it is there.
private final class ResultBox<T>: @unchecked Sendable {
    var result: Result<T, any Error>?
}

/// Runs tasks' jobs on one serial dispatch queue.
private final class QueueExecutor: TaskExecutor {
    static let shared = QueueExecutor()
    private let queue = DispatchQueue(label: "read-model postgres")

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        queue.async { job.runSynchronously(on: executor) }
    }
}
