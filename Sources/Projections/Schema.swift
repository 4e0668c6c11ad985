import Journal

/// A value bound to or read from a statement: the read model stores integers and text only
/// (amounts are integers in units; see SCHEMA.md).
public enum SQLValue: Equatable, Sendable {
    case int(Int64)
    case text(String)
    case null

    public var int: Int64? { if case let .int(v) = self { return v } else { return nil } }
    public var text: String? { if case let .text(v) = self { return v } else { return nil } }
}

/// The SQL both backends run.
public enum SQLDialect: Sendable {
    case sqlite, postgres
}

/// The read model's tables, written once for both backends (Projections/SCHEMA.md describes
/// them for users). Each table lists its columns in the order its rows bind them.
public struct Table: Sendable {
    public enum ColumnType: Sendable { case bigint, text, int }
    public struct Column: Sendable {
        public var name: String
        public var type: ColumnType
        public var nullable: Bool
    }
    public var name: String
    public var columns: [Column]
    public var primaryKey: [String]
    /// Index name and its columns.
    public var indexes: [(String, [String])]

    /// Rows written in a batch replace the row of the same key (orders, balances, klines,
    /// assets and symbols as they stand); otherwise a key is written once (trades, ledger).
    public var upserts: Bool

    public func createStatements(_ dialect: SQLDialect) -> [String] {
        var parts = columns.map { column -> String in
            var type: String
            switch column.type {
            case .bigint: type = "BIGINT"
            case .int: type = "INTEGER"
            case .text: type = "TEXT"
            }
            // A one-column integer key in SQLite is the rowid itself only when declared INTEGER.
            if dialect == .sqlite, primaryKey == [column.name], column.type != .text { type = "INTEGER" }
            return "\(column.name) \(type)\(column.nullable ? "" : " NOT NULL")"
        }
        parts.append("PRIMARY KEY (\(primaryKey.joined(separator: ", ")))")
        return ["CREATE TABLE IF NOT EXISTS \(name) (\(parts.joined(separator: ", ")))"]
    }

    /// The table's secondary indexes. A projector creates them when it first reaches the end of
    /// the journal: a new read model is loaded without them and indexed once, by sorting, which
    /// is several times faster than keeping them up to date row by row.
    public var indexStatements: [String] {
        indexes.map { index, columns in
            "CREATE INDEX IF NOT EXISTS \(index) ON \(name) (\(columns.joined(separator: ", ")))"
        }
    }

    /// The statement that moves every row of `source` (a table of the same columns) into this
    /// one, as `insertStatement` would write them.
    public func insertStatement(selectingFrom source: String) -> String {
        let names = columns.map(\.name).joined(separator: ", ")
        var sql = "INSERT INTO \(name) (\(names)) SELECT \(names) FROM \(source)"
        if upserts { sql += " " + conflictClause }
        return sql
    }

    private var conflictClause: String {
        let updates = columns.map(\.name).filter { !primaryKey.contains($0) }.map { "\($0) = excluded.\($0)" }
        return "ON CONFLICT (\(primaryKey.joined(separator: ", "))) DO UPDATE SET \(updates.joined(separator: ", "))"
    }

    /// The statement that writes `rows` rows, with placeholders numbered from 1 (`$1` in
    /// PostgreSQL, `?1` in SQLite).
    public func insertStatement(_ dialect: SQLDialect, rows: Int = 1) -> String {
        let names = columns.map(\.name)
        var values: [String] = []
        var n = 0
        for _ in 0..<rows {
            values.append("(" + names.map { _ in n += 1; return dialect == .postgres ? "$\(n)" : "?\(n)" }
                .joined(separator: ", ") + ")")
        }
        var sql = "INSERT INTO \(name) (\(names.joined(separator: ", "))) VALUES \(values.joined(separator: ", "))"
        if upserts { sql += " " + conflictClause }
        return sql
    }
}

public enum Schema {
    /// Raised when the tables change shape; a database of another version is refused.
    public static let version: Int64 = 1

    private static func col(_ name: String, _ type: Table.ColumnType, nullable: Bool = false) -> Table.Column {
        Table.Column(name: name, type: type, nullable: nullable)
    }

    public static let checkpoint = Table(
        name: "projection_checkpoint",
        columns: [col("id", .int), col("schema_version", .bigint), col("last_seq", .bigint),
                  col("last_ts_ns", .bigint), col("chain", .text), col("checkpoint_seq", .bigint),
                  col("checkpoint_digest", .text), col("ledger_entries", .bigint), col("base_seq", .bigint)],
        primaryKey: ["id"], indexes: [], upserts: true)

    public static let assets = Table(
        name: "assets", columns: [col("asset", .text), col("scale", .int)],
        primaryKey: ["asset"], indexes: [], upserts: true)

    public static let symbols = Table(
        name: "symbols",
        columns: [col("symbol", .text), col("base", .text), col("quote", .text), col("price_decimals", .int),
                  col("qty_decimals", .int)],
        primaryKey: ["symbol"], indexes: [], upserts: true)

    public static let orders = Table(
        name: "orders",
        columns: [col("order_id", .bigint), col("account", .bigint), col("symbol", .text),
                  col("client_id", .text, nullable: true), col("side", .text), col("type", .text), col("tif", .text),
                  col("stp", .text), col("price", .bigint, nullable: true), col("orig_qty", .bigint, nullable: true),
                  col("orig_quote_qty", .bigint, nullable: true), col("executed_qty", .bigint),
                  col("cumulative_quote_qty", .bigint), col("status", .text), col("created_seq", .bigint),
                  col("created_ns", .bigint), col("updated_seq", .bigint), col("updated_ns", .bigint)],
        primaryKey: ["order_id"],
        indexes: [("orders_by_account", ["account", "order_id"])],
        upserts: true)

    public static let trades = Table(
        name: "trades",
        columns: [col("trade_id", .bigint), col("symbol", .text), col("seq", .bigint), col("ts_ns", .bigint),
                  col("price", .bigint), col("qty", .bigint), col("quote_qty", .bigint), col("taker_side", .text),
                  col("maker_order_id", .bigint), col("taker_order_id", .bigint), col("maker_account", .bigint),
                  col("taker_account", .bigint), col("maker_fee", .bigint), col("maker_fee_asset", .text),
                  col("taker_fee", .bigint), col("taker_fee_asset", .text)],
        primaryKey: ["trade_id"],
        indexes: [("trades_by_maker", ["maker_account", "trade_id"]), ("trades_by_taker", ["taker_account", "trade_id"]),
                  ("trades_by_symbol", ["symbol", "trade_id"])],
        upserts: false)

    public static let balances = Table(
        name: "balances",
        columns: [col("account", .bigint), col("asset", .text), col("free", .bigint), col("locked", .bigint)],
        primaryKey: ["account", "asset"], indexes: [], upserts: true)

    public static let ledger = Table(
        name: "ledger",
        columns: [col("entry_id", .bigint), col("seq", .bigint), col("ts_ns", .bigint), col("account", .bigint),
                  col("asset", .text), col("free_delta", .bigint), col("locked_delta", .bigint), col("cause", .text),
                  col("order_id", .bigint, nullable: true), col("trade_id", .bigint, nullable: true)],
        primaryKey: ["entry_id"],
        indexes: [("ledger_by_account", ["account", "entry_id"])],
        upserts: false)

    public static let klines = Table(
        name: "klines",
        columns: [col("symbol", .text), col("kline_interval", .text), col("open_time_ms", .bigint),
                  col("close_time_ms", .bigint), col("open", .bigint), col("high", .bigint), col("low", .bigint),
                  col("close", .bigint), col("volume", .bigint), col("quote_volume", .bigint), col("trades", .bigint),
                  col("taker_buy_volume", .bigint), col("taker_buy_quote_volume", .bigint)],
        primaryKey: ["symbol", "kline_interval", "open_time_ms"], indexes: [], upserts: true)

    public static let tables = [checkpoint, assets, symbols, orders, trades, balances, ledger, klines]
}

// MARK: - Rows, bound in their table's column order

/// Where a row's values go, one column after another: a statement's parameters, COPY's text,
/// or an array.
public protocol RowBinder {
    mutating func int(_ value: Int64)
    mutating func text(_ value: String)
    mutating func null()
}

/// A row of one of the read model's tables. `bind` gives its values in the order of the
/// table's columns: the one place that order is written for each table.
public protocol TableRow: Sendable {
    static var table: Table { get }
    func bind<B: RowBinder>(to binder: inout B)
}

extension RowBinder {
    @inline(__always) mutating func int(_ value: UInt64) { int(Int64(value)) }
    @inline(__always) mutating func int(_ value: Int) { int(Int64(value)) }
    @inline(__always) mutating func int(_ value: Int64?) { if let value { int(value) } else { null() } }
    @inline(__always) mutating func int(_ value: UInt64?) { if let value { int(Int64(value)) } else { null() } }
    @inline(__always) mutating func text(_ value: String?) { if let value { text(value) } else { null() } }
}

/// Collects a row's values (queries' arguments, tests).
public struct ValuesBinder: RowBinder {
    public var values: [SQLValue] = []
    public init() {}
    public mutating func int(_ value: Int64) { values.append(.int(value)) }
    public mutating func text(_ value: String) { values.append(.text(value)) }
    public mutating func null() { values.append(.null) }
}

extension TableRow {
    /// The row's values in its table's column order.
    public var values: [SQLValue] {
        var binder = ValuesBinder()
        bind(to: &binder)
        return binder.values
    }
}

/// What a backend does with each table of a batch: `rows` are all of one table.
public protocol BatchWriter {
    mutating func write<R: TableRow>(_ rows: [R]) throws
}

extension ProjectionBatch {
    /// Hands each table's rows to `writer`, the checkpoint last.
    public func write<W: BatchWriter>(to writer: inout W) throws {
        try writer.write(assets)
        try writer.write(symbols)
        try writer.write(orders)
        try writer.write(trades)
        try writer.write(balances)
        try writer.write(ledger)
        try writer.write(klines)
        try writer.write([checkpoint])
    }
}

extension ProjectionCheckpoint: TableRow {
    public static var table: Table { Schema.checkpoint }

    public func bind<B: RowBinder>(to b: inout B) {
        b.int(Int64(1)); b.int(Schema.version); b.int(lastSequence); b.int(lastTimestampNs); b.text(chain.hex)
        b.int(checkpointSequence); b.text(checkpointDigest); b.int(ledgerEntries); b.int(baseSequence)
    }
    /// The checkpoint of a `projection_checkpoint` row (nil when it is not one this version wrote).
    public init(row: [SQLValue]) throws(ReadModelError) {
        guard row.count == 9, let version = row[1].int else { throw ReadModelError("the checkpoint row is malformed") }
        guard version == Schema.version else {
            throw ReadModelError("the database has read-model schema \(version), this program writes \(Schema.version)")
        }
        guard let last = row[2].int, let ts = row[3].int, let chainHex = row[4].text,
              let chain = Digest32(hex: chainHex), let cpSeq = row[5].int, let digest = row[6].text,
              let entries = row[7].int, let base = row[8].int else { throw ReadModelError("the checkpoint row is malformed") }
        self.init(lastSequence: UInt64(last), lastTimestampNs: ts, chain: chain, checkpointSequence: UInt64(cpSeq),
                  checkpointDigest: digest, ledgerEntries: UInt64(entries), baseSequence: UInt64(base))
    }
}

extension AssetRow: TableRow {
    public static var table: Table { Schema.assets }
    public func bind<B: RowBinder>(to b: inout B) { b.text(asset); b.int(scale) }
}

extension SymbolRow: TableRow {
    public static var table: Table { Schema.symbols }
    public func bind<B: RowBinder>(to b: inout B) {
        b.text(symbol); b.text(base); b.text(quote); b.int(priceDecimals); b.int(qtyDecimals)
    }
}

extension OrderRow: TableRow {
    public static var table: Table { Schema.orders }
    public func bind<B: RowBinder>(to b: inout B) {
        b.int(orderId); b.int(account); b.text(symbol); b.text(clientId); b.text(side); b.text(type)
        b.text(timeInForce); b.text(stp); b.int(price); b.int(origQty); b.int(origQuoteQty); b.int(executedQty)
        b.int(cumulativeQuoteQty); b.text(status.rawValue); b.int(createdSeq); b.int(createdNs); b.int(updatedSeq)
        b.int(updatedNs)
    }
}

extension TradeRow: TableRow {
    public static var table: Table { Schema.trades }
    public func bind<B: RowBinder>(to b: inout B) {
        b.int(tradeId); b.text(symbol); b.int(seq); b.int(timestampNs); b.int(price); b.int(qty); b.int(quoteQty)
        b.text(takerSide); b.int(makerOrderId); b.int(takerOrderId); b.int(makerAccount); b.int(takerAccount)
        b.int(makerFee); b.text(makerFeeAsset); b.int(takerFee); b.text(takerFeeAsset)
    }
}

extension BalanceRow: TableRow {
    public static var table: Table { Schema.balances }
    public func bind<B: RowBinder>(to b: inout B) { b.int(account); b.text(asset); b.int(free); b.int(locked) }
}

extension LedgerRow: TableRow {
    public static var table: Table { Schema.ledger }
    public func bind<B: RowBinder>(to b: inout B) {
        b.int(entryId); b.int(seq); b.int(timestampNs); b.int(account); b.text(asset); b.int(freeDelta)
        b.int(lockedDelta); b.text(cause.rawValue); b.int(orderId); b.int(tradeId)
    }
}

extension KlineRow: TableRow {
    public static var table: Table { Schema.klines }
    public func bind<B: RowBinder>(to b: inout B) {
        b.text(symbol); b.text(interval.rawValue); b.int(openTimeMs); b.int(closeTimeMs); b.int(open); b.int(high)
        b.int(low); b.int(close); b.int(volume); b.int(quoteVolume); b.int(trades); b.int(takerBuyVolume)
        b.int(takerBuyQuoteVolume)
    }
}
