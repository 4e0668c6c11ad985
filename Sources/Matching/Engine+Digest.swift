extension MatchingEngine {
    /// The canonical serialization of the whole state that the state digest hashes
    /// (Journal/FORMAT.md, "State digest"): counters, assets and symbols in id order, accounts
    /// in account-id order with every balance, then each symbol's bids and asks best level
    /// first and each level's orders in time priority, then the API keys (if any) by name. Little-endian; strings are a u32 byte
    /// length and UTF-8. It depends on nothing but the state: no hashing order, no clock.
    public func canonicalState() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256 + 64 * restingCount)
        func u8(_ v: UInt8) { out.append(v) }
        func u32(_ v: Int) { withUnsafeBytes(of: UInt32(v).littleEndian) { out.append(contentsOf: $0) } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func i64(_ v: Int64) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func string(_ s: String) { u32(s.utf8.count); out.append(contentsOf: s.utf8) }

        out.append(contentsOf: Array("XSTATE01".utf8))
        u64(nextOrderId)
        u64(nextTradeId)
        u32(assets.count)
        for asset in assets { string(asset.name); u8(UInt8(asset.scale)) }
        u32(symbols.count)
        for (s, name) in zip(symbols, symbolNames) {
            string(name); u32(s.base); u32(s.quote); u8(UInt8(s.priceDecimals)); u8(UInt8(s.qtyDecimals))
            for v in [s.tick, s.step, s.minQty, s.maxQty, s.minNotional, s.makerFeePpm, s.takerFeePpm] { i64(v) }
            u8(s.halted ? 1 : 0)
        }
        let order = ledger.accountIds.indices.sorted { ledger.accountIds[$0] < ledger.accountIds[$1] }
        u32(order.count)
        for a in order {
            u64(ledger.accountIds[a])
            for asset in assets.indices { i64(ledger.free(a, asset)); i64(ledger.locked(a, asset)) }
        }
        for book in books {
            for side in [Side.buy, .sell] {
                let levels = book.levelsBestFirst(side)
                u32(levels.count)
                for level in levels {
                    i64(level.price)
                    var count = 0
                    var slot = level.head
                    while slot >= 0 { count += 1; slot = book.order(slot).next }
                    u32(count)
                    slot = level.head
                    while slot >= 0 {
                        let o = book.order(slot)
                        u64(o.id); u64(o.account); i64(o.remaining); i64(o.filled)
                        if let clientId = book.clientId(slot) { u8(1); string(clientId) } else { u8(0) }
                        slot = o.next
                    }
                }
            }
        }
        // API keys, only when there are any (so a state without keys keeps the digest it had
        // before keys existed), by name.
        if !apiKeys.isEmpty {
            out.append(contentsOf: Array("XAPIKEYS".utf8))
            u32(apiKeys.count)
            for key in apiKeysByName {
                string(key.apiKey); u64(key.account); u8(key.permissions.rawValue); string(key.ipWhitelist)
                u8(key.kind.rawValue); u32(key.material.count); out.append(contentsOf: key.material)
            }
        }
        return out
    }
}
