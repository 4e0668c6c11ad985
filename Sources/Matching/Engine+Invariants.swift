extension MatchingEngine {
    /// Checks the whole state; nil when it is sound, else the first violation. For tests, after
    /// every command (O(state)): books sorted and never crossed, level totals and FIFO links
    /// consistent, the order index complete, every locked balance equal to what the account's
    /// resting orders hold, no balance negative.
    public func checkInvariants() -> String? {
        var expectedLocked = ledger.accountIds.map { _ in [Int128](repeating: 0, count: assets.count) }
        var resting = 0
        for (s, book) in books.enumerated() {
            let info = symbols[s]
            var perAccount = [Int32](repeating: 0, count: ledger.accountIds.count)
            if let bid = book.bestPrice(.buy), let ask = book.bestPrice(.sell), bid >= ask {
                return "\(symbolNames[s]): crossed book, bid \(bid) ≥ ask \(ask)"
            }
            for side in [Side.buy, .sell] {
                let levels = book.levelsBestFirst(side)
                for (i, level) in levels.enumerated() {
                    if i > 0 && !OrderBook.isBetter(levels[i - 1].price, than: level.price, for: side) {
                        return "\(symbolNames[s]) \(side): levels out of order at \(level.price)"
                    }
                    var slot = level.head, previous = -1
                    var total: Int128 = 0
                    while slot >= 0 {
                        let order = book.order(slot)
                        if order.prev != previous { return "order \(order.id): broken back link" }
                        if order.price != level.price || order.side != side || order.remaining <= 0 || !book.levelHolds(slot) {
                            return "order \(order.id): does not belong in level \(level.price)"
                        }
                        guard let indexed = restingSlotIfIndexed(order.id), indexed == (s, slot) else {
                            return "order \(order.id): missing from the order index"
                        }
                        total += Int128(order.remaining)
                        resting += 1
                        perAccount[order.ledgerIndex] += 1
                        if order.side == .buy {
                            expectedLocked[order.ledgerIndex][info.quote] += Self.notional(order.price, order.remaining, info)
                        } else {
                            expectedLocked[order.ledgerIndex][info.base] += Int128(order.remaining) * Int128(info.baseMultiplier)
                        }
                        previous = slot
                        slot = order.next
                    }
                    if previous != level.tail { return "\(symbolNames[s]) level \(level.price): wrong tail" }
                    if total != Int128(level.qty) { return "\(symbolNames[s]) level \(level.price): qty \(level.qty), orders hold \(total)" }
                }
            }
            let counts = book.restingPerAccount  // a copy of the book's buffer: taken once
            for (a, count) in perAccount.enumerated() {
                let counted = a < counts.count ? counts[a] : 0
                if counted != count {
                    return "\(symbolNames[s]): account \(ledger.accountIds[a]) rests \(count) orders, the book counts \(counted)"
                }
            }
            if counts.count > perAccount.count, counts[perAccount.count...].contains(where: { $0 != 0 }) {
                return "\(symbolNames[s]): orders counted for accounts that do not exist"
            }
        }
        if resting != restingCount { return "order index holds \(restingCount) orders, books \(resting)" }
        if totals() != assetTotals { return "balances sum to \(totals()), deposits less withdrawals are \(assetTotals)" }
        for a in ledger.accountIds.indices {
            for s in assets.indices {
                if ledger.free(a, s) < 0 || ledger.locked(a, s) < 0 {
                    return "account \(ledger.accountIds[a]) \(assets[s].name): negative balance"
                }
                if Int128(ledger.locked(a, s)) != expectedLocked[a][s] {
                    return "account \(ledger.accountIds[a]) \(assets[s].name): locked \(ledger.locked(a, s)), orders hold \(expectedLocked[a][s])"
                }
            }
        }
        return nil
    }
}
