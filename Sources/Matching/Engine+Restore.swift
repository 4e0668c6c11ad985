/// A canonical state that cannot be restored: cut short, out of range, or not a sound state.
public struct StateRestoreError: Error, Equatable, Sendable, CustomStringConvertible {
    public var offset: Int
    public var reason: String
    public var description: String { "state at byte \(offset): \(reason)" }
}

extension MatchingEngine {
    /// Rebuilds the engine from `canonicalState()` bytes (a snapshot's body). Everything the
    /// engine keeps is in them or follows from them: which side an order rests on, account
    /// indexes, the client-id index, asset totals and each symbol's multipliers. The result's
    /// `canonicalState()` is byte for byte the input; a state that breaks an invariant (a
    /// crossed book, locks that do not match the resting orders, …) is refused.
    public init(canonicalState bytes: [UInt8]) throws(StateRestoreError) {
        self.init()
        var r = StateBytes(bytes: bytes)
        guard Array(try r.bytes(8)) == Array("XSTATE01".utf8) else { throw r.error("not an XSTATE01 state") }
        let nextOrderId = try r.u64()
        let nextTradeId = try r.u64()
        var events = EventBuffer()
        func applied(_ command: Command) -> Bool {
            events.removeAll()
            apply(command, into: &events)
            return events.events.first == .ok
        }
        for _ in 0..<(try r.count(max: 1 << 16)) {
            let name = try r.string()
            let scale = Int(try r.u8())
            guard applied(.addAsset(name: name, scale: scale)) else { throw r.error("asset \(name) refused") }
        }
        var halted: [String] = []
        for _ in 0..<(try r.count(max: 1 << 20)) {
            let name = try r.string()
            let base = try r.u32(), quote = try r.u32()
            let pd = Int(try r.u8()), qd = Int(try r.u8())
            var v: [Int64] = []
            for _ in 0..<7 { v.append(try r.i64()) }
            let isHalted = try r.u8()
            guard base < assets.count, quote < assets.count, pd <= 18, qd <= 18, isHalted <= 1 else {
                throw r.error("symbol \(name) out of range")
            }
            let spec = SymbolSpec(
                name: name, base: assets[base].name, quote: assets[quote].name,
                tickSize: ExactDecimal(mantissa: v[0], scale: pd), stepSize: ExactDecimal(mantissa: v[1], scale: qd),
                minQty: ExactDecimal(mantissa: v[2], scale: qd), maxQty: ExactDecimal(mantissa: v[3], scale: qd),
                minNotional: ExactDecimal(mantissa: v[4], scale: assets[quote].scale),
                makerFeePpm: v[5], takerFeePpm: v[6])
            guard applied(.addSymbol(spec)), let s = symbolIndex(name),
                  symbols[s].priceDecimals == pd, symbols[s].qtyDecimals == qd else {
                throw r.error("symbol \(name) refused")
            }
            if isHalted == 1 { halted.append(name) }
        }
        var previous: AccountId?
        for _ in 0..<(try r.count(max: 1 << 32)) {
            let id = try r.u64()
            guard previous.map({ $0 < id }) ?? (id == 0) else {
                throw r.error(previous == nil ? "account 0 is missing" : "accounts out of order at \(id)")
            }
            previous = id
            if id != 0 { _ = ledger.open(id) }
            let a = ledger.index(of: id)!
            for asset in assets.indices {
                let free = try r.i64(), locked = try r.i64()
                guard free >= 0, locked >= 0 else { throw r.error("account \(id): negative balance") }
                let (total, o1) = assetTotals[asset].addingReportingOverflow(free)
                let (sum, o2) = total.addingReportingOverflow(locked)
                guard !o1, !o2 else { throw r.error("asset \(assets[asset].name): total over 64 bits") }
                assetTotals[asset] = sum
                ledger.receive(a, asset, free + locked)
                ledger.lock(a, asset, locked)
            }
        }
        guard previous != nil else { throw r.error("account 0 is missing") }
        var lastOrderId: OrderId = 0
        for s in symbols.indices {
            for side in [Side.buy, .sell] {
                // Levels come best first; they are rested worst first so that each new level
                // goes at the end of the side's array (best last), never shifting it.
                var levels: [(price: Int64, first: Int, count: Int)] = []
                var orders: [(order: RestingOrder, clientId: String?)] = []
                for _ in 0..<(try r.count(max: 1 << 32)) {
                    let price = try r.i64()
                    if let previous = levels.last?.price, !OrderBook.isBetter(previous, than: price, for: side) {
                        throw r.error("\(symbolNames[s]) \(side): levels out of order at \(price)")
                    }
                    let count = try r.count(max: 1 << 32)
                    guard count > 0, price > 0, price % symbols[s].tick == 0 else {
                        throw r.error("\(symbolNames[s]): bad level \(price)")
                    }
                    levels.append((price, orders.count, count))
                    let info = symbols[s]
                    var levelQty: Int64 = 0
                    for _ in 0..<count {
                        let id = try r.u64(), account = try r.u64()
                        let remaining = try r.i64(), filled = try r.i64()
                        let hasClientId = try r.u8()
                        guard hasClientId <= 1 else { throw r.error("order \(id): client id flag \(hasClientId)") }
                        let clientId: String? = hasClientId == 1 ? try r.string() : nil
                        guard id > 0, id < nextOrderId, remaining > 0, filled >= 0, remaining % info.step == 0,
                              let a = ledger.index(of: account) else {
                            throw r.error("order \(id): out of range")
                        }
                        // What it holds locked, and its level's total, must fit in 64 bits.
                        let (sum, o1) = levelQty.addingReportingOverflow(remaining)
                        let (base, o2) = remaining.multipliedReportingOverflow(by: info.baseMultiplier)
                        let (pq, o3) = Int128(price).multipliedReportingOverflow(by: Int128(remaining))
                        let (quote, o4) = pq.multipliedReportingOverflow(by: Int128(info.quoteMultiplier))
                        guard !o1, !o2, !o3, !o4, quote <= Int128(Int64.max) else {
                            throw r.error("order \(id): amounts past 64 bits")
                        }
                        levelQty = sum
                        _ = base
                        orders.append((RestingOrder(id: id, account: account, accountIndex: a, side: side,
                                                    price: price, remaining: remaining, filled: filled),
                                       clientId))
                    }
                }
                selectBook(s)
                for level in levels.reversed() {
                    for (order, clientId) in orders[level.first..<(level.first + level.count)] {
                        guard restingSlotIfIndexed(order.id) == nil else { throw r.error("order \(order.id) repeated") }
                        if let clientId, ordersByClientIdContains(order.account, clientId) {
                            throw r.error("order \(order.id): client id \(clientId) repeated")
                        }
                        restOrder(s, order, clientId: clientId)
                        lastOrderId = max(lastOrderId, order.id)
                    }
                }
            }
        }
        if !r.atEnd, r.remaining >= 8, Array(try r.bytes(8)) == Array("XAPIKEYS".utf8) {
            var previous: String?
            for _ in 0..<(try r.count(max: 1 << 24)) {
                let name = try r.string()
                let account = try r.u64()
                let permissions = ApiPermissions(rawValue: try r.u8())
                let ip = try r.string()
                guard let kind = ApiKeySpec.Kind(rawValue: try r.u8()) else { throw r.error("API key \(name): bad kind") }
                let material = Array(try r.bytes(try r.count(max: 1 << 10)))
                guard previous.map({ $0 < name }) ?? true else { throw r.error("API keys out of order at \(name)") }
                previous = name
                var events = EventBuffer()
                addApiKey(ApiKeySpec(account: account, apiKey: name, permissions: permissions, ipWhitelist: ip,
                                     kind: kind, material: material), &events)
                guard events.events.first == .ok else { throw r.error("API key \(name) refused") }
            }
        }
        guard r.atEnd else { throw r.error("\(bytes.count - r.offset) bytes after the state") }
        guard nextOrderId > lastOrderId, nextTradeId >= 1 else { throw r.error("counters behind the orders") }
        self.nextOrderId = nextOrderId
        self.nextTradeId = nextTradeId
        for name in halted { _ = applied(.halt(symbol: name)) }
        if let violation = checkInvariants() { throw StateRestoreError(offset: bytes.count, reason: violation) }
    }
}

/// A cursor over canonical-state bytes (little-endian), every read bounds-checked.
private struct StateBytes {
    let bytes: [UInt8]
    var offset = 0

    var atEnd: Bool { offset == bytes.count }
    var remaining: Int { bytes.count - offset }

    func error(_ reason: String) -> StateRestoreError { StateRestoreError(offset: offset, reason: reason) }

    mutating func bytes(_ n: Int) throws(StateRestoreError) -> ArraySlice<UInt8> {
        guard n >= 0, bytes.count - offset >= n else { throw error("cut short") }
        defer { offset += n }
        return bytes[offset..<(offset + n)]
    }

    mutating func u8() throws(StateRestoreError) -> UInt8 { try bytes(1).first! }

    mutating func u32() throws(StateRestoreError) -> Int {
        var v: UInt32 = 0
        for (i, b) in try bytes(4).enumerated() { v |= UInt32(b) << (8 * UInt32(i)) }
        return Int(v)
    }

    mutating func u64() throws(StateRestoreError) -> UInt64 {
        var v: UInt64 = 0
        for (i, b) in try bytes(8).enumerated() { v |= UInt64(b) << (8 * UInt64(i)) }
        return v
    }

    mutating func i64() throws(StateRestoreError) -> Int64 { Int64(bitPattern: try u64()) }

    /// A u32 count, refused above `max` or above what the remaining bytes could hold.
    mutating func count(max: Int) throws(StateRestoreError) -> Int {
        let n = try u32()
        guard n <= max, n <= bytes.count - offset else { throw error("count \(n) out of range") }
        return n
    }

    mutating func string() throws(StateRestoreError) -> String {
        let n = try count(max: 1 << 16)
        guard let s = String(validating: try bytes(n), as: UTF8.self) else { throw error("string is not UTF-8") }
        return s
    }
}
