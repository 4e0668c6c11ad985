extension MatchingEngine {
    /// What a validated order carries into matching.
    struct Taker {
        var id: OrderId
        var account: AccountId
        var accountIndex: Int
        var side: Side
        var limit: Int64
        var remaining: Int64
        var filled: Int64 = 0
    }

    mutating func place(_ order: PlaceOrder, _ events: inout EventBuffer) {
        func reject(_ reason: RejectReason) {
            events.append(.rejected(command: "place", account: order.account, clientId: order.clientId, reason: reason))
        }
        guard let s = symbolIndex(order.symbol) else { return reject(.unknownSymbol) }
        guard !symbols[s].halted else { return reject(.symbolHalted) }
        guard let a = ledger.index(of: order.account) else { return reject(.unknownAccount) }
        let info = symbols[s]
        guard let price = order.price.units(atScale: info.priceDecimals), price > 0,
              price % info.tick == 0 else { return reject(.invalidPrice) }
        guard let qty = order.qty.units(atScale: info.qtyDecimals), qty > 0, qty % info.step == 0,
              qty >= info.minQty, qty <= info.maxQty else { return reject(.invalidQty) }
        let notional = Self.notional(price, qty, info)
        guard notional >= Int128(info.minNotional) else { return reject(.minNotional) }
        if let clientId = order.clientId,
           ordersByClientIdContains(order.account, clientId) { return reject(.duplicateClientId) }
        if order.type == .limitMaker, let best = books[s][order.side.opposite].best,
           Self.crosses(best.price, limit: price, takerSide: order.side) {
            return reject(.wouldTake)
        }
        let (lockAsset, lockAmount) = order.side == .buy
            ? (info.quote, notional) : (info.base, Int128(qty) * Int128(info.baseMultiplier))
        guard lockAmount <= Int128(ledger.free[a][lockAsset]) else { return reject(.insufficientBalance) }

        var taker = Taker(id: nextOrderId, account: order.account, accountIndex: a, side: order.side,
                          limit: price, remaining: qty)
        nextOrderId += 1
        events.append(.accepted(orderId: taker.id, account: order.account, symbol: s, clientId: order.clientId,
                                side: order.side, type: order.type, timeInForce: order.timeInForce,
                                price: price, qty: qty))
        if order.timeInForce == .fok && fillableQty(s, taker) < qty {
            return events.append(.done(orderId: taker.id, status: .expired, filled: 0, remaining: qty))
        }
        ledger.lock(a, lockAsset, Int64(lockAmount))
        match(s, &taker, &events)
        finish(s, taker, clientId: order.clientId, timeInForce: order.timeInForce, &events)
    }

    /// price × qty in quote units, in 128 bits (it can pass 64 before a balance check).
    static func notional(_ price: Int64, _ qty: Int64, _ info: SymbolInfo) -> Int128 {
        Int128(price) * Int128(qty) * Int128(info.quoteMultiplier)
    }

    @inline(__always)
    static func crosses(_ makerPrice: Int64, limit: Int64, takerSide: Side) -> Bool {
        takerSide == .buy ? makerPrice <= limit : makerPrice >= limit
    }

    /// How much of `taker` the opposite side could fill up to its limit (FOK's walk).
    func fillableQty(_ s: Int, _ taker: Taker) -> Int64 {
        var total: Int64 = 0
        for level in books[s][taker.side.opposite].levels.reversed() {
            guard Self.crosses(level.price, limit: taker.limit, takerSide: taker.side) else { break }
            total += level.qty
            if total >= taker.remaining { break }
        }
        return total
    }

    /// Trades `taker` against the best opposite levels, oldest order first within a level.
    mutating func match(_ s: Int, _ taker: inout Taker, _ events: inout EventBuffer) {
        let opposite = taker.side.opposite
        while taker.remaining > 0, let level = books[s][opposite].best,
              Self.crosses(level.price, limit: taker.limit, takerSide: taker.side) {
            let slot = level.head
            let maker = books[s].order(slot)
            let qty = min(taker.remaining, maker.remaining)
            let trade = settle(s, price: maker.price, qty: qty, taker: taker, maker: maker)
            events.append(.trade(trade))
            taker.remaining -= qty
            taker.filled += qty
            if qty == maker.remaining {
                removeResting(s, slot)
            } else {
                books[s].fill(slot, qty)
            }
        }
    }

    /// Moves the assets of one trade, with fees into account 0.
    mutating func settle(_ s: Int, price: Int64, qty: Int64, taker: Taker, maker: RestingOrder) -> Trade {
        let info = symbols[s]
        let baseUnits = qty * info.baseMultiplier
        let quoteUnits = Int64(Self.notional(price, qty, info))
        let takerBuys = taker.side == .buy
        let buyer = takerBuys ? taker.accountIndex : maker.accountIndex
        let seller = takerBuys ? maker.accountIndex : taker.accountIndex
        let buyerPpm = takerBuys ? info.takerFeePpm : info.makerFeePpm
        let sellerPpm = takerBuys ? info.makerFeePpm : info.takerFeePpm
        let buyerFee = Self.fee(baseUnits, buyerPpm)
        let sellerFee = Self.fee(quoteUnits, sellerPpm)

        ledger.spendLocked(buyer, info.quote, quoteUnits)
        if takerBuys && price < taker.limit {
            // The taker locked its limit price; what it saved goes back to free.
            ledger.unlock(buyer, info.quote, Int64(Self.notional(taker.limit - price, qty, info)))
        }
        ledger.spendLocked(seller, info.base, baseUnits)
        ledger.receive(buyer, info.base, baseUnits - buyerFee)
        ledger.receive(seller, info.quote, quoteUnits - sellerFee)
        ledger.receive(0, info.base, buyerFee)
        ledger.receive(0, info.quote, sellerFee)

        let trade = Trade(tradeId: nextTradeId, symbol: s, price: price, qty: qty, takerSide: taker.side,
                          makerOrderId: maker.id, takerOrderId: taker.id, makerAccount: maker.account,
                          takerAccount: taker.account,
                          makerFee: takerBuys ? sellerFee : buyerFee,
                          takerFee: takerBuys ? buyerFee : sellerFee)
        nextTradeId += 1
        return trade
    }

    /// floor(amount × ppm / 1,000,000).
    static func fee(_ amount: Int64, _ ppm: Int64) -> Int64 {
        Int64(Int128(amount) * Int128(ppm) / 1_000_000)
    }

    /// After matching: rest a GTC remainder, expire any other, or report the fill.
    mutating func finish(_ s: Int, _ taker: Taker, clientId: String?, timeInForce: TimeInForce,
                         _ events: inout EventBuffer) {
        if taker.remaining == 0 {
            return events.append(.done(orderId: taker.id, status: .filled, filled: taker.filled, remaining: 0))
        }
        if timeInForce == .gtc {
            let slot = books[s].rest(RestingOrder(
                id: taker.id, account: taker.account, accountIndex: taker.accountIndex, clientId: clientId,
                side: taker.side, price: taker.limit, remaining: taker.remaining, filled: taker.filled,
                next: -1, prev: -1))
            registerResting(s, slot)
            return events.append(.booked(orderId: taker.id, remaining: taker.remaining))
        }
        releaseLock(s, side: taker.side, price: taker.limit, qty: taker.remaining, accountIndex: taker.accountIndex)
        let status: DoneStatus = .expired
        events.append(.done(orderId: taker.id, status: status, filled: taker.filled, remaining: taker.remaining))
    }

    /// Frees what an order's unfilled `qty` holds locked.
    mutating func releaseLock(_ s: Int, side: Side, price: Int64, qty: Int64, accountIndex: Int) {
        let info = symbols[s]
        if side == .buy {
            ledger.unlock(accountIndex, info.quote, Int64(Self.notional(price, qty, info)))
        } else {
            ledger.unlock(accountIndex, info.base, qty * info.baseMultiplier)
        }
    }

    // MARK: - Cancels

    mutating func cancel(_ account: AccountId, _ symbol: String, _ reference: OrderReference,
                         _ events: inout EventBuffer) {
        func reject(_ reason: RejectReason) {
            var clientId: String?
            if case let .clientId(c) = reference { clientId = c }
            events.append(.rejected(command: "cancel", account: account, clientId: clientId, reason: reason))
        }
        guard let s = symbolIndex(symbol) else { return reject(.unknownSymbol) }
        guard ledger.index(of: account) != nil else { return reject(.unknownAccount) }
        guard let slot = restingSlot(s, account, reference) else { return reject(.unknownOrder) }
        cancelResting(s, slot, .user, &events)
    }

    mutating func cancelAll(_ account: AccountId, _ symbol: String, _ events: inout EventBuffer) {
        func reject(_ reason: RejectReason) {
            events.append(.rejected(command: "cancel_all", account: account, clientId: nil, reason: reason))
        }
        guard let s = symbolIndex(symbol) else { return reject(.unknownSymbol) }
        guard ledger.index(of: account) != nil else { return reject(.unknownAccount) }
        // Oldest first: order ids grow with time.
        var mine: [(id: OrderId, slot: Int)] = []
        for side in [Side.buy, Side.sell] {
            for level in books[s][side].levels {
                var slot = level.head
                while slot >= 0 {
                    let order = books[s].order(slot)
                    if order.account == account { mine.append((order.id, slot)) }
                    slot = order.next
                }
            }
        }
        if mine.isEmpty { return events.append(.ok(command: "cancel_all")) }
        for (_, slot) in mine.sorted(by: { $0.id < $1.id }) { cancelResting(s, slot, .user, &events) }
    }

    mutating func cancelResting(_ s: Int, _ slot: Int, _ reason: CancelReason, _ events: inout EventBuffer) {
        let order = books[s].order(slot)
        releaseLock(s, side: order.side, price: order.price, qty: order.remaining, accountIndex: order.accountIndex)
        removeResting(s, slot)
        events.append(.cancelled(orderId: order.id, remaining: order.remaining, reason: reason))
    }
}
