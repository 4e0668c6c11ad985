extension MatchingEngine {
    /// What a validated order carries into matching.
    struct Taker {
        var id: OrderId
        var account: AccountId
        var accountIndex: Int
        var side: Side
        /// Nil for a market order.
        var limit: Int64?
        var remaining: Int64
        var filled: Int64 = 0
        /// A market order by quote: what is left to spend, in quote units.
        var quoteBudget: Int64?
        var stp: SelfTradePrevention
        var expiredInMatch = false
        var lastPrice: Int64 = 0
        /// Quote units paid or base units delivered so far (against the lock).
        var spent: Int64 = 0
    }

    mutating func place(_ order: borrowing PlaceOrder, _ events: inout EventBuffer) {
        // The closure captures the account, not the order (capturing a borrowed order would
        // copy it, strings and all).
        let account = order.account
        func reject(_ reason: RejectReason) {
            events.append(.rejected(account: account, reason: reason))
        }
        guard let s = resolveSymbol(order.symbol) else { return reject(.unknownSymbol) }
        let info = symbols[s]
        guard !info.halted else { return reject(.symbolHalted) }
        guard let a = ledger.index(of: order.account) else { return reject(.unknownAccount) }
        var price: Int64?
        if order.type != .market {
            guard let p = order.price?.units(atScale: info.priceDecimals), p > 0, Self.isMultiple(p, of: info.tick) else {
                return reject(.invalidPrice)
            }
            price = p
        }
        var qty: Int64?
        var quoteBudget: Int64?
        if let q = order.qty {
            guard let units = q.units(atScale: info.qtyDecimals), units > 0, Self.isMultiple(units, of: info.step),
                  units >= info.minQty, units <= info.maxQty else { return reject(.invalidQty) }
            qty = units
        } else {
            guard let units = order.quoteQty?.units(atScale: assets[info.quote].scale), units > 0 else {
                return reject(.invalidQty)
            }
            quoteBudget = units
        }
        // A limit order's notional: checked against the minimum, and what a buy locks.
        var limitNotional: Int128 = 0
        if let price, let qty {
            limitNotional = Self.notional(price, qty, info)
            if limitNotional < Int128(info.minNotional) { return reject(.minNotional) }
        }
        if let clientId = order.clientId,
           ordersByClientIdContains(order.account, clientId) { return reject(.duplicateClientId) }
        if order.type == .limitMaker, let price, let best = books[s].bestPrice(order.side.opposite),
           Self.crosses(best, limit: price, takerSide: order.side) {
            return reject(.wouldTake)
        }
        var taker = Taker(id: nextOrderId, account: order.account, accountIndex: a, side: order.side,
                          limit: price, remaining: qty ?? 0, quoteBudget: quoteBudget, stp: order.stp)
        // What the order locks: a limit order its whole size at its price; a market order what
        // the walk of the book says it would trade.
        let lockAmount: Int128
        let walked = price == nil || order.timeInForce == .fok ? walk(s, taker) : nil
        if price != nil {
            lockAmount = order.side == .buy ? limitNotional : Int128(qty!) * Int128(info.baseMultiplier)
        } else {
            lockAmount = order.side == .buy ? walked!.cost : Int128(walked!.qty) * Int128(info.baseMultiplier)
        }
        let lockAsset = order.side == .buy ? info.quote : info.base
        guard lockAmount <= Int128(ledger.free(a, lockAsset)) else { return reject(.insufficientBalance) }

        nextOrderId += 1
        events.append(.accepted(orderId: taker.id, account: order.account, symbol: s,
                                side: order.side, type: order.type, timeInForce: order.timeInForce,
                                price: price, qty: qty, quoteQty: quoteBudget))
        if order.timeInForce == .fok && price != nil && walked!.qty < qty! {
            return events.append(.done(orderId: taker.id, symbol: s, status: .expired, filled: 0, remaining: qty!))
        }
        if quoteBudget != nil { taker.remaining = walked!.qty }
        ledger.lock(a, lockAsset, Int64(lockAmount))
        match(s, &taker, &events)
        finish(s, taker, timeInForce: order.timeInForce, clientId: order.clientId, locked: Int64(lockAmount), &events)
    }

    /// What a taker would trade against the book now, in priority order up to its limit, its
    /// size or its quote budget (where the last level fills the largest multiple of the step
    /// that fits), honouring self-trade prevention: own orders count with `NONE`, are skipped
    /// with `EXPIRE_MAKER`, and end the walk with `EXPIRE_TAKER` or `EXPIRE_BOTH`.
    mutating func walk(_ s: Int, _ taker: Taker) -> (qty: Int64, cost: Int128) {
        let info = symbols[s]
        var qty: Int64 = 0
        var cost: Int128 = 0
        var budget = taker.quoteBudget.map { Int128($0) }
        let wanted = taker.quoteBudget == nil ? taker.remaining : Int64.max
        let side = taker.side.opposite
        for i in 0..<withBook(s, { $0.levelCount(side) }) {
            let level = withBook(s) { $0.level(side, fromBest: i) }
            if let limit = taker.limit, !Self.crosses(level.price, limit: limit, takerSide: taker.side) { break }
            var slot = level.head
            while slot >= 0 {
                let maker = withBook(s) { $0.order(slot) }
                slot = maker.next
                if maker.account == taker.account && taker.stp != .none {
                    if taker.stp.expiresTaker { return (qty, cost) }
                    continue
                }
                var take = min(maker.remaining, wanted - qty)
                if let left = budget {
                    take = min(take, Self.affordable(left, at: maker.price, info))
                    if take == 0 { return (qty, cost) }
                    budget = left - Self.notional(maker.price, take, info)
                }
                qty += take
                cost += Self.notional(maker.price, take, info)
                if qty == wanted { return (qty, cost) }
            }
        }
        return (qty, cost)
    }

    /// The largest multiple of the step that `budget` quote units buy at `price` (at most the
    /// largest such multiple a quantity can hold).
    static func affordable(_ budget: Int128, at price: Int64, _ info: SymbolInfo) -> Int64 {
        let steps = budget / notional(price, info.step, info)
        return Int64(min(steps, Int128(Int64.max / info.step))) * info.step
    }

    /// Whether `value` is a whole number of `unit`s. Ticks and steps are nearly always 1 in
    /// their own units (a tick of 0.01 counts prices in hundredths): then no division, which
    /// costs tens of cycles.
    @inline(__always)
    static func isMultiple(_ value: Int64, of unit: Int64) -> Bool { unit == 1 || value % unit == 0 }

    /// price × qty in quote units, in 128 bits (it can pass 64 before a balance check).
    @inline(__always)
    static func notional(_ price: Int64, _ qty: Int64, _ info: SymbolInfo) -> Int128 {
        // In 64 bits when it fits (two multiplications with overflow flags), else in 128.
        let (pq, o1) = price.multipliedReportingOverflow(by: qty)
        let (value, o2) = pq.multipliedReportingOverflow(by: info.quoteMultiplier)
        if !o1 && !o2 { return Int128(value) }
        return Int128(price) * Int128(qty) * Int128(info.quoteMultiplier)
    }

    @inline(__always)
    static func crosses(_ makerPrice: Int64, limit: Int64, takerSide: Side) -> Bool {
        takerSide == .buy ? makerPrice <= limit : makerPrice >= limit
    }

    /// Trades `taker` against the best opposite levels, oldest order first within a level,
    /// applying self-trade prevention when it meets its own account's orders. It goes on to the
    /// next resting order while it has something left to trade with it: a quantity above zero,
    /// or (by quote) a budget that buys at least one step at that order's price; an own order
    /// reached that way is handled by `stp`, whatever the order type.
    mutating func match(_ s: Int, _ taker: inout Taker, _ events: inout EventBuffer) {
        let opposite = taker.side.opposite
        let info = symbols[s]
        while taker.remaining > 0 || taker.quoteBudget != nil, let level = withBook(s, { $0.best(opposite) }) {
            if let limit = taker.limit, !Self.crosses(level.price, limit: limit, takerSide: taker.side) { break }
            let slot = level.head
            let maker = withBook(s) { $0.order(slot) }
            var qty = min(taker.remaining, maker.remaining)
            if let budget = taker.quoteBudget {
                // A market order by quote carries the walk's size; its budget decides.
                qty = min(maker.remaining, Self.affordable(Int128(budget), at: maker.price, info))
                if qty == 0 { break }
            }
            if maker.account == taker.account && taker.stp != .none {
                if taker.stp.expiresMaker { cancelResting(s, slot, .stp, &events) }
                if taker.stp.expiresTaker {
                    taker.expiredInMatch = true
                    break
                }
                continue
            }
            let quoteUnits = Int64(Self.notional(maker.price, qty, info))
            let trade = settle(s, price: maker.price, qty: qty, quoteUnits: quoteUnits, taker: taker, maker: maker)
            events.append(.trade(trade))
            taker.remaining -= qty
            taker.filled += qty
            taker.lastPrice = maker.price
            taker.spent += taker.side == .buy ? quoteUnits : qty * info.baseMultiplier
            if let budget = taker.quoteBudget { taker.quoteBudget = budget - quoteUnits }
            if qty == maker.remaining {
                removeResting(s, slot)
            } else {
                withBook(s) { $0.fill(slot, qty) }
            }
        }
    }

    /// Moves the assets of one trade (`quoteUnits` is its notional), with fees into account 0.
    mutating func settle(_ s: Int, price: Int64, qty: Int64, quoteUnits: Int64, taker: Taker,
                         maker: RestingOrder) -> Trade {
        let info = symbols[s]
        let baseUnits = qty * info.baseMultiplier
        let takerBuys = taker.side == .buy
        let buyer = takerBuys ? taker.accountIndex : maker.ledgerIndex
        let seller = takerBuys ? maker.ledgerIndex : taker.accountIndex
        let buyerPpm = takerBuys ? info.takerFeePpm : info.makerFeePpm
        let sellerPpm = takerBuys ? info.makerFeePpm : info.takerFeePpm
        let buyerFee = Self.fee(baseUnits, buyerPpm)
        let sellerFee = Self.fee(quoteUnits, sellerPpm)

        // The taker locked its limit price; what it saved goes back to free.
        var saved: Int64 = 0
        if takerBuys, let limit = taker.limit, price < limit { saved = Int64(Self.notional(limit - price, qty, info)) }
        ledger.settle(buyer: buyer, seller: seller, base: info.base, quote: info.quote, baseUnits: baseUnits,
                      quoteUnits: quoteUnits, buyerFee: buyerFee, sellerFee: sellerFee, buyerSaved: saved)

        let trade = Trade(tradeId: nextTradeId, symbol: s, price: price, qty: qty, takerSide: taker.side,
                          makerOrderId: maker.id, takerOrderId: taker.id, makerAccount: maker.account,
                          takerAccount: taker.account,
                          makerFee: takerBuys ? sellerFee : buyerFee,
                          takerFee: takerBuys ? buyerFee : sellerFee)
        nextTradeId += 1
        return trade
    }

    /// floor(amount × ppm / 1,000,000).
    @inline(__always)
    static func fee(_ amount: Int64, _ ppm: Int64) -> Int64 {
        if ppm == 0 { return 0 }
        let (product, overflow) = amount.multipliedReportingOverflow(by: ppm)
        if !overflow { return product / 1_000_000 }
        return Int64(Int128(amount) * Int128(ppm) / 1_000_000)
    }

    /// After matching: rest a GTC remainder, expire any other, or report the fill; and give
    /// back whatever the order still holds locked unless it rests.
    mutating func finish(_ s: Int, _ taker: Taker, timeInForce: TimeInForce, clientId: String?, locked: Int64,
                         _ events: inout EventBuffer) {
        let info = symbols[s]
        let rests = taker.limit != nil && timeInForce == .gtc && taker.remaining > 0 && !taker.expiredInMatch
        if rests {
            restOrder(s, RestingOrder(id: taker.id, account: taker.account, accountIndex: taker.accountIndex,
                                      side: taker.side, price: taker.limit!, remaining: taker.remaining,
                                      filled: taker.filled),
                      clientId: clientId)
            return events.append(.booked(orderId: taker.id, symbol: s, remaining: taker.remaining))
        }
        var spentAtLimit = taker.spent
        if let limit = taker.limit, taker.side == .buy {
            // Price improvements went back to free during the trades.
            spentAtLimit = Int64(Self.notional(limit, taker.filled, info))
        }
        let lockAsset = taker.side == .buy ? info.quote : info.base
        if locked > spentAtLimit { ledger.unlock(taker.accountIndex, lockAsset, locked - spentAtLimit) }
        let status: DoneStatus
        var remaining = taker.remaining
        if taker.expiredInMatch {
            status = .expiredInMatch
        } else if let budget = taker.quoteBudget {
            // By quote: filled when what is left buys less than one step at the last price.
            let stepCost = Self.notional(taker.lastPrice, info.step, info)
            status = taker.filled > 0 && Int128(budget) < stepCost ? .filled : .expired
        } else {
            status = taker.remaining == 0 ? .filled : .expired
        }
        if taker.quoteBudget != nil { remaining = 0 }  // a market order by quote reports 0
        events.append(.done(orderId: taker.id, symbol: s, status: status, filled: taker.filled, remaining: remaining))
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
        guard let (s, slot) = referencedOrder(account, symbol, reference, &events) else { return }
        cancelResting(s, slot, .user, &events)
    }

    /// The resting order a cancel or an amend names, after the reference checks in their
    /// order (UNKNOWN_SYMBOL, UNKNOWN_ACCOUNT, UNKNOWN_ORDER); nil once the rejection is emitted.
    mutating func referencedOrder(_ account: AccountId, _ symbol: String,
                                  _ reference: OrderReference, _ events: inout EventBuffer) -> (Int, Int)? {
        let s = resolveSymbol(symbol)
        // An order found resting for `account` proves the account exists (accounts are never
        // closed): its look-up is needed only to name why a reference fails.
        if let s, let slot = restingSlot(s, account, reference) { return (s, slot) }
        let reason: RejectReason
        if s == nil {
            reason = .unknownSymbol
        } else if ledger.index(of: account) == nil {
            reason = .unknownAccount
        } else {
            reason = .unknownOrder
        }
        events.append(.rejected(account: account, reason: reason))
        return nil
    }

    mutating func cancelAll(_ account: AccountId, _ symbol: String, _ events: inout EventBuffer) {
        func reject(_ reason: RejectReason) {
            events.append(.rejected(account: account, reason: reason))
        }
        guard let s = resolveSymbol(symbol) else { return reject(.unknownSymbol) }
        guard let a = ledger.index(of: account) else { return reject(.unknownAccount) }
        // Oldest first: order ids grow with time.
        let mine = books[s].restingSlots(ofAccountAt: a)
        if mine.isEmpty { return events.append(.ok) }
        for (_, slot) in mine.sorted(by: { $0.id < $1.id }) { cancelResting(s, slot, .user, &events) }
    }

    mutating func cancelResting(_ s: Int, _ slot: Int, _ reason: CancelReason, _ events: inout EventBuffer) {
        let order = withBook(s) { $0.order(slot) }
        releaseLock(s, side: order.side, price: order.price, qty: order.remaining, accountIndex: order.ledgerIndex)
        removeResting(s, slot)
        events.append(.cancelled(orderId: order.id, symbol: s, remaining: order.remaining, reason: reason))
    }

    mutating func amend(_ account: AccountId, _ symbol: String, _ reference: OrderReference,
                        _ qty: ExactDecimal, _ events: inout EventBuffer) {
        guard let (s, slot) = referencedOrder(account, symbol, reference, &events) else { return }
        let info = symbols[s]
        let order = withBook(s) { $0.order(slot) }
        // Only a reduction keeps priority: strictly below what remains, above zero, on the step.
        guard let newRemaining = qty.units(atScale: info.qtyDecimals), newRemaining > 0,
              newRemaining < order.remaining, Self.isMultiple(newRemaining, of: info.step) else {
            return events.append(.rejected(account: account, reason: .invalidAmend))
        }
        let reduction = order.remaining - newRemaining
        releaseLock(s, side: order.side, price: order.price, qty: reduction, accountIndex: order.ledgerIndex)
        withBook(s) { $0.reduce(slot, by: reduction) }
        events.append(.amended(orderId: order.id, symbol: s, remaining: newRemaining))
    }
}
