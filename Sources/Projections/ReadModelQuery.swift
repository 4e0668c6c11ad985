import Matching

/// The questions `exchange query` asks a read model, answered the same way from SQLite and
/// PostgreSQL: one SQL text per question, and one rendering of its rows (amounts as decimal
/// strings in their symbol's or asset's units).
public enum ReadModelQuery: Sendable {
    /// An account's orders, newest `limit` (all statuses, or only those still open).
    case orders(account: UInt64, symbol: String?, openOnly: Bool, limit: Int)
    /// Trades of an account (either side) or of a symbol, newest `limit`.
    case trades(account: UInt64?, symbol: String?, limit: Int)
    case klines(symbol: String, interval: KlineInterval, limit: Int)
    case balances(account: UInt64)
    /// An account's balance movements, newest `limit`.
    case ledger(account: UInt64, limit: Int)

    /// A cell of the answer: JSON renders numbers bare and strings quoted.
    public enum Cell: Equatable, Sendable {
        case number(String), string(String), null

        public var text: String {
            switch self {
            case let .number(s), let .string(s): return s
            case .null: return ""
            }
        }
    }

    public struct Answer: Equatable, Sendable {
        public var columns: [String]
        /// Oldest first.
        public var rows: [[Cell]]

        /// Aligned columns under a header line.
        public var table: String {
            var widths = columns.map(\.count)
            for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.text.count) } }
            func line(_ cells: [String]) -> String {
                var out = ""
                for (i, cell) in cells.enumerated() {
                    let padding = String(repeating: " ", count: widths[i] - cell.count)
                    if i > 0 { out += "  " }
                    out += i == cells.count - 1 ? cell : cell + padding
                }
                return out
            }
            return ([line(columns)] + rows.map { line($0.map(\.text)) }).joined(separator: "\n")
        }

        /// One JSON object per row.
        public var jsonLines: [String] {
            rows.map { row in
                "{" + zip(columns, row).map { name, cell in
                    let value: String
                    switch cell {
                    case let .number(s): value = s
                    case let .string(s): value = Self.quote(s)
                    case .null: value = "null"
                    }
                    return "\"\(name)\":\(value)"
                }.joined(separator: ",") + "}"
            }
        }

        static func quote(_ s: String) -> String {
            var out = "\""
            for scalar in s.unicodeScalars {
                switch scalar {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                case "\r": out += "\\r"
                case "\t": out += "\\t"
                case _ where scalar.value < 0x20: out += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count) + String(scalar.value, radix: 16)
                default: out.unicodeScalars.append(scalar)
                }
            }
            return out + "\""
        }
    }

    /// Runs the query on `store`.
    public func run(on store: any ReadModelStore) throws(ReadModelError) -> Answer {
        let units = try Units(store)
        switch self {
        case let .orders(account, symbol, openOnly, limit):
            var sql = "SELECT \(Schema.orders.columns.map(\.name).joined(separator: ", ")) FROM orders WHERE account = ?1"
            var arguments: [SQLValue] = [.int(Int64(account))]
            if let symbol {
                sql += " AND symbol = ?2"
                arguments.append(.text(symbol))
            }
            if openOnly { sql += " AND status IN ('NEW', 'PARTIALLY_FILLED')" }
            sql += " ORDER BY order_id DESC LIMIT \(limit)"
            return Answer(columns: Self.orderColumns, rows: try store.query(sql, arguments).reversed().map(units.order))
        case let .trades(account, symbol, limit):
            let columns = Schema.trades.columns.map(\.name).joined(separator: ", ")
            var arguments: [SQLValue] = []
            var bySymbol = ""
            if let symbol {
                arguments.append(.text(symbol))
                bySymbol = "symbol = ?1"
            }
            var sql: String
            if let account {
                // Each side through its own index, newest first, then merged: one OR over both
                // columns would read every trade of the account.
                arguments.append(.int(Int64(account)))
                let a = "?\(arguments.count)"
                let also = bySymbol.isEmpty ? "" : " AND " + bySymbol
                sql = "SELECT \(columns) FROM (SELECT \(columns) FROM trades WHERE maker_account = \(a)\(also)"
                    + " ORDER BY trade_id DESC LIMIT \(limit)) AS m UNION"
                    + " SELECT \(columns) FROM (SELECT \(columns) FROM trades WHERE taker_account = \(a)\(also)"
                    + " ORDER BY trade_id DESC LIMIT \(limit)) AS t ORDER BY trade_id DESC LIMIT \(limit)"
            } else {
                sql = "SELECT \(columns) FROM trades" + (bySymbol.isEmpty ? "" : " WHERE " + bySymbol)
                    + " ORDER BY trade_id DESC LIMIT \(limit)"
            }
            return Answer(columns: Self.tradeColumns, rows: try store.query(sql, arguments).reversed().map(units.trade))
        case let .klines(symbol, interval, limit):
            let sql = "SELECT \(Schema.klines.columns.map(\.name).joined(separator: ", ")) FROM klines"
                + " WHERE symbol = ?1 AND kline_interval = ?2 ORDER BY open_time_ms DESC LIMIT \(limit)"
            let rows = try store.query(sql, [.text(symbol), .text(interval.rawValue)])
            return Answer(columns: Self.klineColumns, rows: rows.reversed().map(units.kline))
        case let .balances(account):
            let sql = "SELECT account, asset, free, locked FROM balances WHERE account = ?1 ORDER BY asset"
            return Answer(columns: ["asset", "free", "locked"],
                          rows: try store.query(sql, [.int(Int64(account))]).map(units.balance))
        case let .ledger(account, limit):
            let sql = "SELECT \(Schema.ledger.columns.map(\.name).joined(separator: ", ")) FROM ledger"
                + " WHERE account = ?1 ORDER BY entry_id DESC LIMIT \(limit)"
            return Answer(columns: Self.ledgerColumns,
                          rows: try store.query(sql, [.int(Int64(account))]).reversed().map(units.ledgerEntry))
        }
    }

    static let orderColumns = ["order_id", "account", "symbol", "client_id", "side", "type", "tif", "stp", "price",
                               "qty", "quote_qty", "executed_qty", "cumulative_quote_qty", "avg_price", "status",
                               "created_seq", "created_ns", "updated_seq", "updated_ns"]
    static let tradeColumns = ["trade_id", "symbol", "seq", "ts_ns", "price", "qty", "quote_qty", "taker_side",
                               "maker_order_id", "taker_order_id", "maker_account", "taker_account", "maker_fee",
                               "maker_fee_asset", "taker_fee", "taker_fee_asset"]
    static let klineColumns = ["open_time_ms", "open", "high", "low", "close", "volume", "close_time_ms",
                               "quote_volume", "trades", "taker_buy_volume", "taker_buy_quote_volume"]
    static let ledgerColumns = ["entry_id", "seq", "ts_ns", "asset", "free_delta", "locked_delta", "cause",
                                "order_id", "trade_id"]
}

/// The scales a read model's amounts are counted in, read from its `assets` and `symbols`.
struct Units {
    var assetScales: [String: Int] = [:]
    var symbols: [String: (priceDecimals: Int, qtyDecimals: Int, quoteScale: Int)] = [:]

    init(_ store: any ReadModelStore) throws(ReadModelError) {
        for row in try store.query("SELECT asset, scale FROM assets", []) {
            if let name = row[0].text, let scale = row[1].int { assetScales[name] = Int(scale) }
        }
        for row in try store.query("SELECT symbol, quote, price_decimals, qty_decimals FROM symbols", []) {
            if let name = row[0].text, let quote = row[1].text, let pd = row[2].int, let qd = row[3].int {
                symbols[name] = (Int(pd), Int(qd), assetScales[quote] ?? 0)
            }
        }
    }

    typealias Cell = ReadModelQuery.Cell

    static func number(_ v: SQLValue) -> Cell { v.int.map { .number(String($0)) } ?? .null }
    static func string(_ v: SQLValue) -> Cell { v.text.map { .string($0) } ?? .null }
    /// A price: all its decimals, as INTERCHANGE writes prices.
    static func price(_ v: SQLValue, _ scale: Int) -> Cell {
        v.int.map { .string(ExactDecimal.format(units: $0, scale: scale)) } ?? .null
    }
    /// A quantity or an amount: without trailing zeros.
    static func amount(_ v: SQLValue, _ scale: Int) -> Cell {
        v.int.map { .string(Self.trimmed($0, scale)) } ?? .null
    }

    static func trimmed(_ units: Int64, _ scale: Int) -> String {
        var text = ExactDecimal.format(units: units, scale: scale)
        if scale > 0 {
            while text.hasSuffix("0") { text.removeLast() }
            if text.hasSuffix(".") { text.removeLast() }
        }
        return text
    }

    func order(_ r: [SQLValue]) -> [Cell] {
        let s = symbols[r[2].text ?? ""] ?? (0, 0, 0)
        var avg = Cell.null
        if let executed = r[11].int, executed > 0, let quote = r[12].int {
            avg = .string(Self.average(quote: quote, qty: executed, quoteScale: s.quoteScale, qtyDecimals: s.qtyDecimals,
                                       decimals: s.priceDecimals + 8))
        }
        return [Self.number(r[0]), Self.number(r[1]), Self.string(r[2]), Self.string(r[3]), Self.string(r[4]),
                Self.string(r[5]), Self.string(r[6]), Self.string(r[7]), Self.price(r[8], s.priceDecimals),
                Self.amount(r[9], s.qtyDecimals), Self.amount(r[10], s.quoteScale), Self.amount(r[11], s.qtyDecimals),
                Self.amount(r[12], s.quoteScale), avg, Self.string(r[13]), Self.number(r[14]), Self.number(r[15]),
                Self.number(r[16]), Self.number(r[17])]
    }

    func trade(_ r: [SQLValue]) -> [Cell] {
        let s = symbols[r[1].text ?? ""] ?? (0, 0, 0)
        let makerFeeScale = assetScales[r[13].text ?? ""] ?? 0
        let takerFeeScale = assetScales[r[15].text ?? ""] ?? 0
        return [Self.number(r[0]), Self.string(r[1]), Self.number(r[2]), Self.number(r[3]),
                Self.price(r[4], s.priceDecimals), Self.amount(r[5], s.qtyDecimals), Self.amount(r[6], s.quoteScale),
                Self.string(r[7]), Self.number(r[8]), Self.number(r[9]), Self.number(r[10]), Self.number(r[11]),
                Self.amount(r[12], makerFeeScale), Self.string(r[13]), Self.amount(r[14], takerFeeScale),
                Self.string(r[15])]
    }

    func kline(_ r: [SQLValue]) -> [Cell] {
        let s = symbols[r[0].text ?? ""] ?? (0, 0, 0)
        return [Self.number(r[2]), Self.price(r[4], s.priceDecimals), Self.price(r[5], s.priceDecimals),
                Self.price(r[6], s.priceDecimals), Self.price(r[7], s.priceDecimals), Self.amount(r[8], s.qtyDecimals),
                Self.number(r[3]), Self.amount(r[9], s.quoteScale), Self.number(r[10]),
                Self.amount(r[11], s.qtyDecimals), Self.amount(r[12], s.quoteScale)]
    }

    func balance(_ r: [SQLValue]) -> [Cell] {
        let scale = assetScales[r[1].text ?? ""] ?? 0
        return [Self.string(r[1]), Self.amount(r[2], scale), Self.amount(r[3], scale)]
    }

    func ledgerEntry(_ r: [SQLValue]) -> [Cell] {
        let scale = assetScales[r[4].text ?? ""] ?? 0
        return [Self.number(r[0]), Self.number(r[1]), Self.number(r[2]), Self.string(r[4]), Self.amount(r[5], scale),
                Self.amount(r[6], scale), Self.string(r[7]), Self.number(r[8]), Self.number(r[9])]
    }

    /// quote / qty as a price, rounded down to `decimals` and written without trailing zeros.
    /// The quote's scale is at least the quantity's (SEMANTICS.md, Units), so the division is
    /// (quote units) / (qty units × 10^(quoteScale − qtyDecimals)), done digit by digit.
    static func average(quote: Int64, qty: Int64, quoteScale: Int, qtyDecimals: Int, decimals: Int) -> String {
        var denominator = Int128(qty)
        for _ in 0..<max(0, quoteScale - qtyDecimals) { denominator *= 10 }
        var remainder = Int128(quote)
        let whole = remainder / denominator
        remainder %= denominator
        var digits = ""
        for _ in 0..<decimals {
            remainder *= 10
            digits.append(String(remainder / denominator))
            remainder %= denominator
        }
        while digits.hasSuffix("0") { digits.removeLast() }
        return digits.isEmpty ? String(whole) : "\(whole).\(digits)"
    }
}
