import Codec
import Journal
import Matching

/// Turns journal records into read-model rows. It applies each command to its own engine (the
/// journal holds commands; the events are derived again, as every replay derives them) and
/// from the command and its events derives the rows of `ReadModel.swift`: orders as they stand,
/// trades, the ledger of every balance movement with its cause, balances and klines.
///
/// The ledger is derived from the events by SEMANTICS.md's rules (what a limit order locks,
/// what a trade moves, what a fee takes, what a cancel releases), and the balances from the
/// ledger alone; `takeBatch` checks every balance the batch moved against the engine's, so a
/// rule the projector got wrong stops it before a row is written.
///
/// Not thread-safe: one projector per thread, fed in sequence order.
public final class Projector {
    public private(set) var replayer: Replayer
    /// The live market data derived from the same events, when asked for.
    public let marketData: MarketData?

    /// Orders still resting, and those the current batch touched.
    private var orders: [OrderId: TrackedOrder] = [:]
    private var touchedOrders: [OrderId] = []
    /// (account, asset index) → (free, locked), from the ledger.
    private var balances: [BalanceKey: Balance] = [:]
    private var touchedBalances: [BalanceKey] = []
    private var klines = KlineBook()
    private var touchedKlines: [Int] = []
    private var klineTouched: [Bool] = []
    private var ledgerEntries: UInt64
    private var batch: ProjectionBatch

    private struct BalanceKey: Hashable {
        var account: AccountId
        var asset: Int
    }
    private struct Balance {
        var free: Int64 = 0
        var locked: Int64 = 0
        var touched = false
    }
    private struct TrackedOrder {
        var row: OrderRow
        var symbol: Int
        var side: Side
        var remaining: Int64
        /// What the order still holds locked (quote units for a buy, base units for a sell).
        var lockLeft: Int64
        var touched: Bool
    }

    /// - Parameters:
    ///   - replayer: the engine to apply the commands to, at the state after `replayer.lastSequence`
    ///     (a fresh one for a journal read from its start).
    ///   - ledgerEntries: ledger entries already written (a resumed read model's checkpoint).
    ///   - marketData: also derive the live market data.
    public init(replayer: Replayer = Replayer(), ledgerEntries: UInt64 = 0, marketData: MarketData? = nil) {
        self.replayer = replayer
        self.ledgerEntries = ledgerEntries
        self.marketData = marketData
        baseSequence = replayer.lastSequence
        batch = ProjectionBatch(checkpoint: ProjectionCheckpoint(
            lastSequence: replayer.lastSequence, lastTimestampNs: replayer.lastTimestampNs, chain: .zero,
            checkpointSequence: 0, checkpointDigest: "", ledgerEntries: ledgerEntries, baseSequence: baseSequence))
    }

    /// The sequence of the state the projector started from (0: the journal's start).
    public let baseSequence: UInt64

    /// Whether the first batch of a projector started from a snapshot is still to be taken
    /// (it has rows even without a command).
    public private(set) var hasOpeningRows = false

    /// A projector that starts from a snapshot's state (the engine restored from it, at
    /// `sequence`): its first batch holds the assets and symbols, every balance as an `opening`
    /// ledger entry, and the orders resting then. A snapshot keeps no history, so those orders
    /// show the snapshot's sequence and time as their creation, `LIMIT` `GTC` `NONE` as their
    /// type, time in force and self-trade prevention, and their fills before it at their price.
    public convenience init(snapshot engine: MatchingEngine, sequence: UInt64, timestampNs: Int64,
                            marketData: MarketData? = nil) {
        self.init(replayer: Replayer(engine: engine, after: sequence), marketData: marketData)
        let c = Context(seq: sequence, ts: timestampNs)
        for asset in engine.assets { batch.assets.append(AssetRow(asset: asset.name, scale: asset.scale)) }
        for (s, info) in engine.symbols.enumerated() {
            batch.symbols.append(SymbolRow(symbol: engine.symbolNames[s], base: engine.assets[info.base].name,
                                           quote: engine.assets[info.quote].name, priceDecimals: info.priceDecimals,
                                           qtyDecimals: info.qtyDecimals))
        }
        for account in engine.accountIds {
            for (a, asset) in engine.assets.enumerated() {
                let b = engine.balance(account: account, asset: asset.name)!
                if b.free != 0 || b.locked != 0 {
                    move(account, a, free: b.free, locked: b.locked, .opening, orderId: nil, tradeId: nil, c)
                }
            }
        }
        for o in engine.restingOrders() {
            let info = engine.symbols[o.symbol]
            let row = OrderRow(
                orderId: o.id, account: o.account, symbol: engine.symbolNames[o.symbol], clientId: o.clientId,
                side: o.side.description, type: OrderType.limit.description, timeInForce: TimeInForce.gtc.description,
                stp: SelfTradePrevention.none.description, price: o.price, origQty: o.filled + o.remaining,
                origQuoteQty: nil, executedQty: o.filled, cumulativeQuoteQty: Self.notional(o.price, o.filled, info),
                status: o.filled > 0 ? .partiallyFilled : .new, createdSeq: sequence, createdNs: timestampNs,
                updatedSeq: sequence, updatedNs: timestampNs)
            let lock = o.side == .buy ? Self.notional(o.price, o.remaining, info) : o.remaining * info.baseMultiplier
            orders[o.id] = TrackedOrder(row: row, symbol: o.symbol, side: o.side, remaining: o.remaining, lockLeft: lock,
                                        touched: false)
            touch(o.id)
        }
        marketData?.start(from: engine)
        hasOpeningRows = true
    }

    /// A projector that starts from a snapshot in `snapshots`: the one at `sequence`, or (nil)
    /// the newest the journal goes on from. Its state digest is checked, and `reader` is
    /// positioned after it.
    public convenience init(snapshotIn snapshots: String, at sequence: UInt64?, journal reader: JournalReader,
                            storage: any Storage = PosixStorage.shared, marketData: MarketData? = nil)
        throws(ReadModelError) {
        let first = reader.firstSequence ?? 1
        let engine: MatchingEngine
        let header: SnapshotHeader
        do {
            let files = try SnapshotStore.list(snapshots, storage: storage)
                .filter { sequence == nil ? $0.sequence + 1 >= first : $0.sequence == sequence }
                .sorted { $0.sequence > $1.sequence }
            guard let file = files.first else {
                throw ReadModelError(sequence.map { "the read model starts from the snapshot at sequence \($0), which is not in \(snapshots) any more: build it again" }
                                     ?? "no snapshot in \(snapshots) that the journal goes on from (it starts at \(first))")
            }
            let body: [UInt8]
            (header, body) = try SnapshotStore.read(file.path, storage: storage)
            engine = try MatchingEngine(canonicalState: body)
            guard SHA256Hasher.hash(engine.canonicalState()) == header.stateDigest else {
                throw ReadModelError("snapshot \(file.path): its state does not have the digest it names")
            }
            try reader.seek(to: header.sequence + 1)
        } catch let error as ReadModelError {
            throw error
        } catch {
            throw ReadModelError("snapshots \(snapshots): \(error)")
        }
        self.init(snapshot: engine, sequence: header.sequence, timestampNs: header.timestampNs, marketData: marketData)
    }

    /// Commands applied since the batch began.
    public private(set) var batchCommands = 0
    /// Engine events derived since the batch began.
    public private(set) var batchEvents = 0

    /// Decodes and applies one journal record and derives its rows into the current batch.
    public func apply(_ record: JournalRecord) throws(NodeError) {
        let command = try replayer.apply(record)
        project(command, sequence: record.sequence, timestampNs: record.timestampNs)
    }

    /// Applies one command journaled at `sequence` and derives its rows.
    public func apply(_ command: Command, sequence: UInt64, timestampNs: Int64) throws(NodeError) {
        try replayer.apply(command, sequence: sequence, timestampNs: timestampNs)
        project(command, sequence: sequence, timestampNs: timestampNs)
    }

    private func project(_ command: Command, sequence: UInt64, timestampNs: Int64) {
        let events = replayer.buffer.events
        batchCommands += 1
        batchEvents += events.count
        var context = Context(seq: sequence, ts: timestampNs)
        for (i, event) in events.enumerated() {
            switch event {
            case let .accepted(orderId, account, symbol, side, type, tif, price, qty, quoteQty):
                accept(orderId, account, symbol, side, type, tif, price, qty, quoteQty, command,
                       lock: lockOnArrival(orderId, side, type, tif, price, qty, symbol, events, after: i), &context)
            case let .trade(trade): self.trade(trade, &context)
            case let .booked(orderId, _, remaining): booked(orderId, remaining, &context)
            case let .done(orderId, _, status, _, _): done(orderId, status, &context)
            case let .cancelled(orderId, _, _, reason): cancelled(orderId, reason, &context)
            case let .amended(orderId, _, remaining): amended(orderId, remaining, &context)
            case .ok: accepted(command, &context)
            case .rejected: break
            }
        }
        marketData?.apply(events, timestampNs: timestampNs, engine: replayer.engine)
    }

    /// What a command's rows share.
    private struct Context {
        var seq: UInt64
        var ts: Int64
    }

    // MARK: - Orders

    /// What an order locks when it is accepted. A limit order locks its size at its limit (a
    /// `FOK` that expires before trading locks nothing); a market order locks what the engine's
    /// walk of the book found it would trade, which is what its trades then take.
    private func lockOnArrival(_ orderId: OrderId, _ side: Side, _ type: OrderType, _ tif: TimeInForce,
                               _ price: Int64?, _ qty: Int64?, _ symbol: Int, _ events: EventList,
                               after index: Int) -> Int64 {
        let info = replayer.engine.symbols[symbol]
        if let price, let qty {
            if tif == .fok, index + 1 < events.count, case let .done(id, _, .expired, 0, _) = events[index + 1],
               id == orderId {
                return 0
            }
            return side == .buy ? Self.notional(price, qty, info) : qty * info.baseMultiplier
        }
        var lock: Int64 = 0
        for event in events[(index + 1)...] {
            guard case let .trade(t) = event, t.takerOrderId == orderId else { continue }
            lock += side == .buy ? Self.notional(t.price, t.qty, info) : t.qty * info.baseMultiplier
        }
        return lock
    }

    private func accept(_ orderId: OrderId, _ account: AccountId, _ symbol: Int, _ side: Side, _ type: OrderType,
                        _ tif: TimeInForce, _ price: Int64?, _ qty: Int64?, _ quoteQty: Int64?, _ command: Command,
                        lock: Int64, _ c: inout Context) {
        var stp = SelfTradePrevention.none
        if case let .place(order) = command { stp = order.stp }
        let row = OrderRow(
            orderId: orderId, account: account, symbol: replayer.engine.symbolNames[symbol],
            clientId: command.clientId, side: side.description, type: type.description,
            timeInForce: tif.description, stp: stp.description, price: price, origQty: qty,
            origQuoteQty: quoteQty, executedQty: 0, cumulativeQuoteQty: 0, status: .new,
            createdSeq: c.seq, createdNs: c.ts, updatedSeq: c.seq, updatedNs: c.ts)
        orders[orderId] = TrackedOrder(row: row, symbol: symbol, side: side, remaining: qty ?? 0, lockLeft: lock,
                                       touched: false)
        touch(orderId)
        if lock > 0 {
            let info = replayer.engine.symbols[symbol]
            move(account, side == .buy ? info.quote : info.base, free: -lock, locked: lock, .lock, orderId: orderId,
                 tradeId: nil, c)
        }
    }

    private func trade(_ t: Trade, _ c: inout Context) {
        let info = replayer.engine.symbols[t.symbol]
        let quoteUnits = Self.notional(t.price, t.qty, info)
        let baseUnits = t.qty * info.baseMultiplier
        let takerBuys = t.takerSide == .buy
        let buyerOrder = takerBuys ? t.takerOrderId : t.makerOrderId
        let sellerOrder = takerBuys ? t.makerOrderId : t.takerOrderId
        let buyer = takerBuys ? t.takerAccount : t.makerAccount
        let seller = takerBuys ? t.makerAccount : t.takerAccount
        let buyerFee = takerBuys ? t.takerFee : t.makerFee
        let sellerFee = takerBuys ? t.makerFee : t.takerFee
        let id = t.tradeId

        // The buyer pays from what it locked; a limit buyer that trades below its limit gets
        // the difference back.
        var saved: Int64 = 0
        if let limit = orders[buyerOrder]?.row.price, limit > t.price {
            saved = Self.notional(limit - t.price, t.qty, info)
        }
        move(buyer, info.quote, free: 0, locked: -quoteUnits, .trade, orderId: buyerOrder, tradeId: id, c)
        if saved > 0 { move(buyer, info.quote, free: saved, locked: -saved, .release, orderId: buyerOrder, tradeId: id, c) }
        move(buyer, info.base, free: baseUnits, locked: 0, .trade, orderId: buyerOrder, tradeId: id, c)
        if buyerFee > 0 {
            move(buyer, info.base, free: -buyerFee, locked: 0, .fee, orderId: buyerOrder, tradeId: id, c)
            move(0, info.base, free: buyerFee, locked: 0, .fee, orderId: buyerOrder, tradeId: id, c)
        }
        move(seller, info.base, free: 0, locked: -baseUnits, .trade, orderId: sellerOrder, tradeId: id, c)
        move(seller, info.quote, free: quoteUnits, locked: 0, .trade, orderId: sellerOrder, tradeId: id, c)
        if sellerFee > 0 {
            move(seller, info.quote, free: -sellerFee, locked: 0, .fee, orderId: sellerOrder, tradeId: id, c)
            move(0, info.quote, free: sellerFee, locked: 0, .fee, orderId: sellerOrder, tradeId: id, c)
        }
        fill(buyerOrder, qty: t.qty, quote: quoteUnits, lockUsed: quoteUnits + saved, isMaker: !takerBuys, c)
        fill(sellerOrder, qty: t.qty, quote: quoteUnits, lockUsed: baseUnits, isMaker: takerBuys, c)

        let assets = replayer.engine.assets
        let symbolName = replayer.engine.symbolNames[t.symbol]
        batch.trades.append(TradeRow(
            tradeId: id, symbol: symbolName, seq: c.seq, timestampNs: c.ts, price: t.price, qty: t.qty,
            quoteQty: quoteUnits, takerSide: t.takerSide.description, makerOrderId: t.makerOrderId,
            takerOrderId: t.takerOrderId, makerAccount: t.makerAccount, takerAccount: t.takerAccount,
            makerFee: t.makerFee, makerFeeAsset: assets[takerBuys ? info.quote : info.base].name,
            takerFee: t.takerFee, takerFeeAsset: assets[takerBuys ? info.base : info.quote].name))
        addToKlines(t, symbol: symbolName, quoteUnits: quoteUnits, c)
    }

    /// One side of a trade on its order: a maker that has nothing left is filled (the engine
    /// takes it off the book without an event of its own).
    private func fill(_ orderId: OrderId, qty: Int64, quote: Int64, lockUsed: Int64, isMaker: Bool, _ c: Context) {
        guard var order = orders[orderId] else { preconditionFailure("a trade on order \(orderId), never accepted") }
        order.row.executedQty += qty
        order.row.cumulativeQuoteQty += quote
        order.lockLeft -= lockUsed
        order.remaining -= qty
        if isMaker { order.row.status = order.remaining == 0 ? .filled : .partiallyFilled }
        update(&order, c)
        orders[orderId] = order
    }

    private func booked(_ orderId: OrderId, _ remaining: Int64, _ c: inout Context) {
        guard var order = orders[orderId] else { return }
        order.remaining = remaining
        order.row.status = order.row.executedQty > 0 ? .partiallyFilled : .new
        update(&order, c)
        orders[orderId] = order
    }

    private func done(_ orderId: OrderId, _ status: DoneStatus, _ c: inout Context) {
        switch status {
        case .filled: leaveBook(orderId, .filled, c)
        case .expired: leaveBook(orderId, .expired, c)
        case .expiredInMatch: leaveBook(orderId, .expiredInMatch, c)
        }
    }

    private func cancelled(_ orderId: OrderId, _ reason: CancelReason, _ c: inout Context) {
        // Binance reports a maker that self-trade prevention removed as EXPIRED_IN_MATCH.
        leaveBook(orderId, reason == .stp ? .expiredInMatch : .canceled, c)
    }

    /// An order that is done (filled, expired, cancelled): what it still holds locked goes back.
    private func leaveBook(_ orderId: OrderId, _ status: OrderStatus, _ c: Context) {
        guard var order = orders[orderId] else { return }
        order.row.status = status
        order.remaining = 0
        releaseLeft(&order, c)
        update(&order, c)
        orders[orderId] = order
    }

    private func amended(_ orderId: OrderId, _ remaining: Int64, _ c: inout Context) {
        guard var order = orders[orderId] else { return }
        let info = replayer.engine.symbols[order.symbol]
        let reduction = order.remaining - remaining
        let released = order.side == .buy ? Self.notional(order.row.price!, reduction, info)
                                          : reduction * info.baseMultiplier
        move(order.row.account, order.side == .buy ? info.quote : info.base, free: released, locked: -released,
             .release, orderId: orderId, tradeId: nil, c)
        order.lockLeft -= released
        order.remaining = remaining
        if let qty = order.row.origQty { order.row.origQty = qty - reduction }
        update(&order, c)
        orders[orderId] = order
    }

    /// Gives back what an order that leaves the book (or never rested) still holds locked.
    private func releaseLeft(_ order: inout TrackedOrder, _ c: Context) {
        guard order.lockLeft > 0 else { return }
        let info = replayer.engine.symbols[order.symbol]
        move(order.row.account, order.side == .buy ? info.quote : info.base, free: order.lockLeft,
             locked: -order.lockLeft, .release, orderId: order.row.orderId, tradeId: nil, c)
        order.lockLeft = 0
    }

    private func update(_ order: inout TrackedOrder, _ c: Context) {
        order.row.updatedSeq = c.seq
        order.row.updatedNs = c.ts
        if !order.touched {
            order.touched = true
            touchedOrders.append(order.row.orderId)
        }
    }

    private func touch(_ orderId: OrderId) {
        guard var order = orders[orderId], !order.touched else { return }
        order.touched = true
        orders[orderId] = order
        touchedOrders.append(orderId)
    }

    // MARK: - Deposits, withdrawals, assets, symbols

    private func accepted(_ command: Command, _ c: inout Context) {
        let engine = replayer.engine
        switch command {
        case let .deposit(account, asset, amount), let .withdraw(account, asset, amount):
            guard let a = engine.assetIndex(asset), let units = amount.units(atScale: engine.assets[a].scale) else {
                preconditionFailure("an accepted \(command.name) of an amount the engine could not read")
            }
            let isDeposit = if case .deposit = command { true } else { false }
            move(account, a, free: isDeposit ? units : -units, locked: 0, isDeposit ? .deposit : .withdrawal,
                 orderId: nil, tradeId: nil, c)
        case .addAsset:
            let asset = engine.assets[engine.assets.count - 1]
            batch.assets.append(AssetRow(asset: asset.name, scale: asset.scale))
            // Every symbol's klines keep their slots; new symbols add theirs.
        case .addSymbol:
            let s = engine.symbols.count - 1
            let info = engine.symbols[s]
            batch.symbols.append(SymbolRow(symbol: engine.symbolNames[s], base: engine.assets[info.base].name,
                                           quote: engine.assets[info.quote].name, priceDecimals: info.priceDecimals,
                                           qtyDecimals: info.qtyDecimals))
        default: break
        }
    }

    // MARK: - Ledger and balances

    private func move(_ account: AccountId, _ asset: Int, free: Int64, locked: Int64, _ cause: LedgerCause,
                      orderId: OrderId?, tradeId: UInt64?, _ c: Context) {
        ledgerEntries += 1
        batch.ledger.append(LedgerRow(
            entryId: ledgerEntries, seq: c.seq, timestampNs: c.ts, account: account,
            asset: replayer.engine.assets[asset].name, freeDelta: free, lockedDelta: locked, cause: cause,
            orderId: orderId, tradeId: tradeId))
        let key = BalanceKey(account: account, asset: asset)
        var balance = balances[key] ?? Balance()
        balance.free += free
        balance.locked += locked
        if !balance.touched {
            balance.touched = true
            touchedBalances.append(key)
        }
        balances[key] = balance
    }

    // MARK: - Klines

    private func addToKlines(_ t: Trade, symbol: String, quoteUnits: Int64, _ c: Context) {
        klines.add(t, symbol: symbol, quoteUnits: quoteUnits, timestampNs: c.ts) { slot, finished in
            // A new period: the one before is final; written now if this batch changed it.
            if let finished, klineTouched.count > slot, klineTouched[slot] { batch.klines.append(finished) }
            if klineTouched.count <= slot { klineTouched += Array(repeating: false, count: slot + 1 - klineTouched.count) }
            if !klineTouched[slot] {
                klineTouched[slot] = true
                touchedKlines.append(slot)
            }
        }
    }

    // MARK: - Batches

    /// The rows since the last batch, with the checkpoint after them, and a new batch begun.
    /// - Parameter chain: the journal's chain hash after the block holding the last record.
    /// - Throws: when a balance the batch moved differs from the engine's (a projector bug:
    ///   nothing of the batch may be written).
    public func takeBatch(chain: Digest32) throws(ReadModelError) -> ProjectionBatch {
        let engine = replayer.engine
        for key in touchedBalances {
            var balance = balances[key]!
            let asset = engine.assets[key.asset].name
            let actual = engine.balance(account: key.account, asset: asset)
            guard let actual, actual.free == balance.free, actual.locked == balance.locked else {
                throw ReadModelError(
                    "the projector's ledger disagrees with the engine at sequence \(replayer.lastSequence): "
                        + "account \(key.account) \(asset) is free \(balance.free), locked \(balance.locked) by the ledger, "
                        + "\(actual.map { "free \($0.free), locked \($0.locked)" } ?? "missing") in the engine")
            }
            balance.touched = false
            balances[key] = balance
            batch.balances.append(BalanceRow(account: key.account, asset: asset, free: balance.free,
                                              locked: balance.locked))
        }
        touchedBalances.removeAll(keepingCapacity: true)
        for id in touchedOrders {
            guard var order = orders[id] else { continue }
            batch.orders.append(order.row)
            if order.row.status.isOpen {
                order.touched = false
                orders[id] = order
            } else {
                orders[id] = nil
            }
        }
        touchedOrders.removeAll(keepingCapacity: true)
        for slot in touchedKlines {
            batch.klines.append(klines.current[slot]!)
            klineTouched[slot] = false
        }
        touchedKlines.removeAll(keepingCapacity: true)

        let last = replayer.lastCheckpoint
        batch.checkpoint = ProjectionCheckpoint(
            lastSequence: replayer.lastSequence, lastTimestampNs: replayer.lastTimestampNs, chain: chain,
            checkpointSequence: last?.sequence ?? 0, checkpointDigest: last?.digest.hex ?? "",
            ledgerEntries: ledgerEntries, baseSequence: baseSequence)
        let taken = batch
        batch = ProjectionBatch(checkpoint: taken.checkpoint)
        hasOpeningRows = false
        batchCommands = 0
        batchEvents = 0
        return taken
    }

    // MARK: - Arithmetic

    /// price × qty in quote units (the engine checked that it fits when it accepted the order).
    static func notional(_ price: Int64, _ qty: Int64, _ info: SymbolInfo) -> Int64 {
        Int64(Int128(price) * Int128(qty) * Int128(info.quoteMultiplier))
    }
}
