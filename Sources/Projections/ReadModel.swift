import Journal

// The rows of the read model (Projections/SCHEMA.md). Amounts are integers in units, as the
// engine counts them: prices and quantities in the symbol's units (10^-price_decimals,
// 10^-qty_decimals), balances, quote amounts and fees in the asset's units (10^-scale). Times
// are the commands' timestamps: nanoseconds since the Unix epoch (klines use milliseconds, as
// Binance does).

public struct AssetRow: Equatable, Sendable {
    public var asset: String
    public var scale: Int
}

public struct SymbolRow: Equatable, Sendable {
    public var symbol: String
    public var base: String
    public var quote: String
    public var priceDecimals: Int
    public var qtyDecimals: Int
}

/// Binance's order statuses, as the read model reports them.
public enum OrderStatus: String, Sendable, CaseIterable {
    case new = "NEW"
    case partiallyFilled = "PARTIALLY_FILLED"
    case filled = "FILLED"
    case canceled = "CANCELED"
    case expired = "EXPIRED"
    case expiredInMatch = "EXPIRED_IN_MATCH"

    /// Whether the order still rests on the book.
    public var isOpen: Bool { self == .new || self == .partiallyFilled }
}

/// Every order the engine accepted, as it stands after the last command that touched it.
public struct OrderRow: Equatable, Sendable {
    public var orderId: UInt64
    public var account: UInt64
    public var symbol: String
    public var clientId: String?
    public var side: String
    public var type: String
    public var timeInForce: String
    public var stp: String
    /// Nil for a market order.
    public var price: Int64?
    /// Nil for a market order by quote.
    public var origQty: Int64?
    /// A market order by quote only (quote units).
    public var origQuoteQty: Int64?
    public var executedQty: Int64
    /// What the fills were worth, in quote units (average price = this / executed).
    public var cumulativeQuoteQty: Int64
    public var status: OrderStatus
    public var createdSeq: UInt64
    public var createdNs: Int64
    public var updatedSeq: UInt64
    public var updatedNs: Int64
}

/// One trade, with both sides.
public struct TradeRow: Equatable, Sendable {
    public var tradeId: UInt64
    public var symbol: String
    public var seq: UInt64
    public var timestampNs: Int64
    public var price: Int64
    public var qty: Int64
    /// price × qty in quote units.
    public var quoteQty: Int64
    public var takerSide: String
    public var makerOrderId: UInt64
    public var takerOrderId: UInt64
    public var makerAccount: UInt64
    public var takerAccount: UInt64
    /// In the asset the maker receives (quote for a selling maker, base for a buying one).
    public var makerFee: Int64
    public var makerFeeAsset: String
    public var takerFee: Int64
    public var takerFeeAsset: String
}

public struct BalanceRow: Equatable, Sendable {
    public var account: UInt64
    public var asset: String
    public var free: Int64
    public var locked: Int64
}

/// Why a balance moved.
public enum LedgerCause: String, Sendable, CaseIterable {
    case deposit, withdrawal, trade, fee, lock, release
    /// The balance a read model started from a snapshot holds at that snapshot.
    case opening
}

/// One movement of one balance: `freeDelta` and `lockedDelta` in the asset's units. `entryId`
/// numbers the movements from 1 in journal order, so a rebuilt ledger numbers them the same.
public struct LedgerRow: Equatable, Sendable {
    public var entryId: UInt64
    public var seq: UInt64
    public var timestampNs: Int64
    public var account: UInt64
    public var asset: String
    public var freeDelta: Int64
    public var lockedDelta: Int64
    public var cause: LedgerCause
    public var orderId: UInt64?
    public var tradeId: UInt64?
}

/// The kline intervals the read model keeps, as Binance names them.
public enum KlineInterval: String, Sendable, CaseIterable {
    case oneMinute = "1m", oneHour = "1h", oneDay = "1d"

    public var milliseconds: Int64 {
        switch self {
        case .oneMinute: return 60_000
        case .oneHour: return 3_600_000
        case .oneDay: return 86_400_000
        }
    }
}

/// One candle: OHLC in price units, volumes in quantity units, quote volumes in quote units,
/// as Binance's kline fields (open time and close time in milliseconds).
public struct KlineRow: Equatable, Sendable {
    public var symbol: String
    public var interval: KlineInterval
    public var openTimeMs: Int64
    public var open: Int64
    public var high: Int64
    public var low: Int64
    public var close: Int64
    public var volume: Int64
    public var quoteVolume: Int64
    public var trades: Int64
    public var takerBuyVolume: Int64
    public var takerBuyQuoteVolume: Int64

    public var closeTimeMs: Int64 { openTimeMs + interval.milliseconds - 1 }
}

/// Where a read model stands: written in the same transaction as the rows it covers.
///
/// `chain` is the journal's chain hash after the block that holds `lastSequence`: the same
/// journal has the same blocks, so a database resumed on another journal is found out there.
/// `checkpointSequence` and `checkpointDigest` are the state digest the projector computed at
/// the journal's last checkpoint record at or before `lastSequence` (0 and empty before one).
public struct ProjectionCheckpoint: Equatable, Sendable {
    public var lastSequence: UInt64
    public var lastTimestampNs: Int64
    public var chain: Digest32
    public var checkpointSequence: UInt64
    public var checkpointDigest: String
    /// Ledger entries written so far (the next entry is numbered one more).
    public var ledgerEntries: UInt64
    /// The snapshot the read model started from (0: the journal's first record).
    public var baseSequence: UInt64

    public init(lastSequence: UInt64, lastTimestampNs: Int64, chain: Digest32, checkpointSequence: UInt64,
                checkpointDigest: String, ledgerEntries: UInt64, baseSequence: UInt64) {
        self.lastSequence = lastSequence; self.lastTimestampNs = lastTimestampNs; self.chain = chain
        self.checkpointSequence = checkpointSequence; self.checkpointDigest = checkpointDigest
        self.ledgerEntries = ledgerEntries; self.baseSequence = baseSequence
    }
}

/// The rows of a run of commands, written in one transaction with the checkpoint after them.
/// Orders, balances and klines hold each key once, as it stands at the end of the batch (they
/// are upserted); trades and ledger entries are new rows.
public struct ProjectionBatch: Sendable {
    public var assets: [AssetRow] = []
    public var symbols: [SymbolRow] = []
    public var orders: [OrderRow] = []
    public var trades: [TradeRow] = []
    public var ledger: [LedgerRow] = []
    public var balances: [BalanceRow] = []
    public var klines: [KlineRow] = []
    public var checkpoint: ProjectionCheckpoint

    public init(checkpoint: ProjectionCheckpoint) { self.checkpoint = checkpoint }

    /// Rows in the batch (what a progress line counts).
    public var rowCount: Int {
        assets.count + symbols.count + orders.count + trades.count + ledger.count + balances.count + klines.count
    }
}

/// A database the projector writes: SQLite or PostgreSQL, the same schema (SCHEMA.md).
public protocol ReadModelStore: AnyObject {
    /// Creates the schema when the database is new; returns the checkpoint it holds (nil: new).
    func prepare() throws(ReadModelError) -> ProjectionCheckpoint?
    /// Creates the secondary indexes that are missing (`Table.indexStatements`).
    func createIndexes() throws(ReadModelError)
    /// Writes the batch and its checkpoint in one transaction: all of it or none.
    func write(_ batch: ProjectionBatch) throws(ReadModelError)
    /// Runs a query (placeholders `?1`, `?2`, … numbered as `arguments`) and returns its rows.
    func query(_ sql: String, _ arguments: [SQLValue]) throws(ReadModelError) -> [[SQLValue]]
    func close()
}

/// What stops a projection or a query, in one line.
public struct ReadModelError: Error, Equatable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
