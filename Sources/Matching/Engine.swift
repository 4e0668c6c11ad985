/// An asset: its name and the decimals of its smallest unit.
public struct AssetInfo: Equatable, Sendable {
    public var name: String
    public var scale: Int
}

/// A symbol with its rules in integer units. Prices are counted in `10^-priceDecimals` of the
/// quote asset per whole base unit, quantities in `10^-qtyDecimals` of the base asset, where
/// the decimals are those of `tick_size` and `step_size`; so a trade of `qty` at `price` moves
/// `qty × baseMultiplier` base units and `price × qty × quoteMultiplier` quote units, exactly.
public struct SymbolInfo: Equatable, Sendable {
    // No name here (see `MatchingEngine.symbolNames`): a plain value, copied without
    // reference counting on the hot path.
    public var base: Int
    public var quote: Int
    public var priceDecimals: Int
    public var qtyDecimals: Int
    public var tick: Int64
    public var step: Int64
    public var minQty: Int64
    public var maxQty: Int64
    /// In quote units.
    public var minNotional: Int64
    public var makerFeePpm: Int64
    public var takerFeePpm: Int64
    public var baseMultiplier: Int64
    public var quoteMultiplier: Int64
    public var halted = false
}

/// The matching state machine: `(state, command) -> (state', events)`, deterministic, with no
/// I/O and no clock (SEMANTICS.md). One instance per node; not thread-safe.
public struct MatchingEngine {
    public private(set) var assets: [AssetInfo] = []
    /// Deposits less withdrawals, per asset: what conservation says every account holds.
    var assetTotals: [Int64] = []
    public internal(set) var symbols: [SymbolInfo] = []
    /// The symbols' names, by symbol id.
    public private(set) var symbolNames: [String] = []
    var books: [OrderBook] = []
    var ledger = Ledger()
    private var assetByName: [String: Int] = [:]
    private var symbolByName: [String: Int] = [:]
    /// Resting orders by id: (symbol, slot).
    private var ordersById = OrderIndex()
    /// Resting orders by (account, client id). Looked up, never iterated.
    private var ordersByClientId: [ClientKey: OrderId] = [:]
    public internal(set) var nextOrderId: OrderId = 1
    public internal(set) var nextTradeId: UInt64 = 1
    /// API keys by name (ApiKeys.swift). Looked up; iterated only sorted.
    var apiKeys: [String: ApiKeySpec] = [:]

    struct ClientKey: Hashable {
        var account: AccountId
        var clientId: String
    }

    /// The symbol the last command named (a look-up cache; not state).
    private var lastSymbol: Int?
    /// The book of the symbol the current command named (`selectBook`), unretained: the hot
    /// path reaches it without the `books` array's uniqueness check on every call (`books[s]`
    /// keeps it alive). Not state: valid within the command that selected it.
    private var hotBook: Unmanaged<BookStorage>?
    /// Held by this engine value and by every copy of it: uniquely referenced exactly when no
    /// copy of this value exists. Then nothing this engine holds is shared (its storage objects
    /// are referenced only by engine values, and a copy shares them only while it lives, or
    /// until one side copies what it writes), so a command skips the uniqueness checks of the
    /// ledger, the order index and its book: one check per command instead of four. While a
    /// copy lives (a snapshot being written), every command makes what it writes unique, part by
    /// part, as an array would; a book is copied only when a command first writes to it.
    private var copyWitness = CopyWitness()
    /// Whether the current command runs while a copy of this engine exists (`apply`). Not state.
    private var copyExists = false

    public init() {}

    /// Applies one command, appending its events to `events`.
    /// It takes the command (`consuming`) and drops it once the handler has read its payload
    /// in place: nothing is copied on the way, and the command is destroyed once. A caller that
    /// keeps the command pays one copy. (Borrowing it costs callers more; see the README.)
    public mutating func apply(_ command: consuming Command, into events: inout EventBuffer) {
        // While a copy of the engine exists (it shares the storage), what any command may change
        // is made unique here, once; a symbol's book, once the command's symbol is known
        // (`selectBook`). Without a copy, all of it is unique already (`copyWitness`). The event
        // buffer is made unique here too, whatever the engine: a caller may keep a view of it.
        events.makeUnique()
        copyExists = !isKnownUniquelyReferenced(&copyWitness)
        if copyExists {
            ledger.makeUnique()
            ordersById.makeUnique()
        }
        switch consume command {
        case let .addAsset(name, scale): addAsset(name, scale, &events)
        case let .addSymbol(spec): addSymbol(spec, &events)
        case let .openAccount(account):
            if ledger.open(account) {
                events.append(.ok)
            } else {
                events.append(.rejected(account: account, reason: .duplicate))
            }
        case let .deposit(account, asset, amount): transfer(account, asset, amount, deposit: true, &events)
        case let .withdraw(account, asset, amount): transfer(account, asset, amount, deposit: false, &events)
        case let .place(order): place(order, &events)
        case let .cancel(account, symbol, reference): cancel(account, symbol, reference, &events)
        case let .cancelAll(account, symbol): cancelAll(account, symbol, &events)
        case let .amend(account, symbol, reference, qty): amend(account, symbol, reference, qty, &events)
        case let .halt(symbol): setHalted(symbol, true, &events)
        case let .resume(symbol): setHalted(symbol, false, &events)
        case let .addApiKey(spec): addApiKey(spec, &events)
        case let .revokeApiKey(account, apiKey): revokeApiKey(account, apiKey, &events)
        case .checkpoint, .term:
            // The digest and the epoch are the replayer's and the node's business: to the state
            // they are no-ops.
            events.append(.ok)
        case let .invalid(invalid):
            events.append(.rejected(account: invalid.account, reason: .invalidCommand))
        }
    }

    // MARK: - Resting-order indexes

    func ordersByClientIdContains(_ account: AccountId, _ clientId: String) -> Bool {
        ordersByClientId[ClientKey(account: account, clientId: clientId)] != nil
    }

    /// Rests an order in symbol `s`'s book and indexes it.
    mutating func restOrder(_ s: Int, _ order: RestingOrder, clientId: String?) {
        let slot = withBook(s) { $0.rest(order, clientId: clientId) }
        ordersById.insert(order.id, symbol: s, slot: slot)
        if let clientId {
            ordersByClientId[ClientKey(account: order.account, clientId: clientId)] = order.id
        }
    }

    mutating func removeResting(_ s: Int, _ slot: Int) {
        let order = withBook(s) { $0.order(slot) }
        ordersById.remove(order.id)
        if order.hasClientId, let clientId = withBook(s, { $0.clientId(slot) }) {
            ordersByClientId[ClientKey(account: order.account, clientId: clientId)] = nil
        }
        withBook(s) { $0.remove(slot) }
    }

    /// The slot of a resting order of `account` on symbol `s`; nil when it is not resting, or
    /// is another account's or symbol's.
    mutating func restingSlot(_ s: Int, _ account: AccountId, _ reference: OrderReference) -> Int? {
        let id: OrderId
        switch reference {
        case let .id(orderId): id = orderId
        case let .clientId(clientId):
            guard let found = ordersByClientId[ClientKey(account: account, clientId: clientId)] else { return nil }
            id = found
        }
        guard let (symbol, slot) = ordersById[id], symbol == s,
              withBook(s, { $0.order(slot).account }) == account else { return nil }
        return slot
    }

    func restingSlotIfIndexed(_ id: OrderId) -> (Int, Int)? {
        ordersById[id].map { ($0.symbol, $0.slot) }
    }

    var restingCount: Int { ordersById.count }

    /// Makes room for `count` more resting orders on each symbol's book, and as many new order
    /// ids, before they arrive: an array that grows copies itself, a stall proportional to the
    /// book (tens of milliseconds at a million orders) on whichever command makes it grow, and
    /// memory written for the first time stalls on page faults. The slots and index blocks are
    /// made (so written) here, as pools are made up front in LMAX-style engines. A node that
    /// knows the depth it expects calls this at start; it changes no state (the digest stays
    /// the same). Every book, the index and the ledger are made unique here: an engine copied
    /// from another one shares nothing with it afterwards, and its commands run without the
    /// uniqueness checks (`copyWitness`) even while the other one lives.
    public mutating func reserveCapacity(restingOrdersPerSymbol count: Int) {
        precondition(count >= 0, "a negative capacity")
        for s in books.indices { books[s].reserveCapacity(moreOrders: count) }
        ordersById.reserveCapacity(moreIds: count)
        ledger.makeUnique()
        copyWitness = CopyWitness()
    }

    // MARK: - Queries

    public func symbolIndex(_ name: String) -> Int? { symbolByName[name] }

    /// `symbolIndex`, remembering the answer: most commands name the symbol the command
    /// before named, and comparing two names is cheaper than hashing one. The symbol's book is
    /// selected (`selectBook`): the command that names it may change it.
    @inline(__always)
    mutating func resolveSymbol(_ name: String) -> Int? {
        // Inline: the same symbol as the command before (nearly always). Out of line: the rest.
        if let last = lastSymbol, symbolNames[last] == name {
            selectBook(last)
            return last
        }
        return resolveNewSymbol(name)
    }

    @inline(never)
    private mutating func resolveNewSymbol(_ name: String) -> Int? {
        guard let s = symbolByName[name] else { return nil }
        lastSymbol = s
        selectBook(s)
        return s
    }

    /// Makes symbol `s`'s book unique (a copy only while a copy of the engine exists: without
    /// one it is unique already), and the one `withBook` hands to the hot path.
    @inline(__always)
    mutating func selectBook(_ s: Int) {
        if copyExists { unshareBook(s) }
        hotBook = Unmanaged.passUnretained(books[s].storageForCommand)
    }

    @inline(never)
    private mutating func unshareBook(_ s: Int) { books[s].makeUnique() }

    /// Runs `body` on the book of symbol `s`, which `selectBook(s)` selected (unique) for this command.
    @inline(__always)
    func withBook<R>(_ s: Int, _ body: (BookStorage) -> R) -> R {
        assert(hotBook?.takeUnretainedValue() === books[s].storageForCommand, "symbol \(s)'s book is not selected")
        return hotBook.unsafelyUnwrapped._withUnsafeGuaranteedRef(body)
    }
    public func assetIndex(_ name: String) -> Int? { assetByName[name] }

    /// What remains of a resting order (nil when it is not resting on that symbol).
    public func remaining(of reference: OrderReference, symbol: String, account: AccountId? = nil) -> Int64? {
        guard let s = symbolByName[symbol], case let .id(id) = reference, let (symbolIndex, slot) = ordersById[id],
              symbolIndex == s else { return nil }
        let order = books[s].order(slot)
        if let account, order.account != account { return nil }
        return order.remaining
    }

    /// Whether an account is open.
    public func hasAccount(_ account: AccountId) -> Bool { ledger.index(of: account) != nil }

    /// (free, locked) of an account in an asset, in the asset's units; nil for an unknown one.
    public func balance(account: AccountId, asset: String) -> (free: Int64, locked: Int64)? {
        guard let a = ledger.index(of: account), let s = assetByName[asset] else { return nil }
        return (ledger.free(a, s), ledger.locked(a, s))
    }

    /// The L2 book of a symbol, best first: (price, total qty) per level, in symbol units.
    public func depth(symbol: String, levels: Int = .max) -> (bids: [(Int64, Int64)], asks: [(Int64, Int64)])? {
        guard let s = symbolByName[symbol] else { return nil }
        let bids = books[s].levelsBestFirst(.buy).prefix(levels).map { ($0.price, $0.qty) }
        let asks = books[s].levelsBestFirst(.sell).prefix(levels).map { ($0.price, $0.qty) }
        return (Array(bids), Array(asks))
    }

    /// Sum over all accounts of free + locked, per asset (conservation checks).
    public func totals() -> [Int64] {
        var sums = [Int64](repeating: 0, count: assets.count)
        for a in ledger.accountIds.indices {
            for s in assets.indices { sums[s] += ledger.free(a, s) + ledger.locked(a, s) }
        }
        return sums
    }

    // MARK: - Admin and transfers

    private mutating func addAsset(_ name: String, _ scale: Int, _ events: inout EventBuffer) {
        guard assetByName[name] == nil else {
            return events.append(.rejected(account: nil, reason: .duplicate))
        }
        guard Self.assetProblem(name, scale) == nil else {
            return events.append(.rejected(account: nil, reason: .invalidCommand))
        }
        assetByName[name] = assets.count
        assets.append(AssetInfo(name: name, scale: scale))
        assetTotals.append(0)
        ledger.addAsset()
        events.append(.ok)
    }

    /// Why `add_asset` of `name` with `scale` is an invalid command, if it is.
    static func assetProblem(_ name: String, _ scale: Int) -> String? {
        if !(0...18).contains(scale) { return "scale: not an integer in 0…18" }
        if name.isEmpty { return "asset: empty" }
        return nil
    }

    private mutating func addSymbol(_ spec: SymbolSpec, _ events: inout EventBuffer) {
        func reject(_ reason: RejectReason) {
            events.append(.rejected(account: nil, reason: reason))
        }
        guard let base = assetByName[spec.base], let quote = assetByName[spec.quote] else {
            return reject(.unknownAsset)
        }
        guard symbolByName[spec.name] == nil else { return reject(.duplicate) }
        guard case let .success(info) = symbolInfo(spec, base: base, quote: quote) else {
            return reject(.invalidCommand)
        }
        symbolByName[spec.name] = symbols.count
        symbolNames.append(spec.name)
        symbols.append(info)
        books.append(OrderBook(tick: info.tick))
        events.append(.ok)
    }

    /// A symbol's units and limits, or the first reason its spec is an invalid command.
    func symbolInfo(_ spec: SymbolSpec, base: Int, quote: Int) -> Result<SymbolInfo, SpecProblem> {
        func problem(_ detail: String) -> Result<SymbolInfo, SpecProblem> { .failure(SpecProblem(detail: detail)) }
        let pd = spec.tickSize.significantDecimals, qd = spec.stepSize.significantDecimals
        let baseScale = assets[base].scale, quoteScale = assets[quote].scale
        if spec.name.isEmpty { return problem("symbol: empty") }
        if spec.tickSize.mantissa <= 0 { return problem("tick_size: not above 0") }
        if spec.stepSize.mantissa <= 0 { return problem("step_size: not above 0") }
        if qd > baseScale { return problem("step_size: more decimals than the base asset's scale (\(baseScale))") }
        if pd + qd > quoteScale {
            return problem("tick_size, step_size: their decimals add up to more than the quote asset's scale (\(quoteScale))")
        }
        guard let tick = spec.tickSize.units(atScale: pd), let step = spec.stepSize.units(atScale: qd) else {
            return problem("tick_size, step_size: out of range")
        }
        guard let minQty = spec.minQty.units(atScale: qd), minQty >= 0 else {
            return problem("min_qty: negative, or finer than step_size's decimals")
        }
        guard let maxQty = spec.maxQty.units(atScale: qd), maxQty >= minQty else {
            return problem("max_qty: below min_qty, or finer than step_size's decimals")
        }
        guard let minNotional = spec.minNotional.units(atScale: quoteScale), minNotional >= 0 else {
            return problem("min_notional: negative, or finer than the quote asset's scale")
        }
        if !(0...1_000_000).contains(spec.makerFeePpm) { return problem("maker_fee_ppm: not an integer in 0…1000000") }
        if !(0...1_000_000).contains(spec.takerFeePpm) { return problem("taker_fee_ppm: not an integer in 0…1000000") }
        guard let baseMultiplier = Self.power10(baseScale - qd), let quoteMultiplier = Self.power10(quoteScale - pd - qd)
        else { return problem("tick_size, step_size: out of range") }
        return .success(SymbolInfo(
            base: base, quote: quote, priceDecimals: pd, qtyDecimals: qd,
            tick: tick, step: step, minQty: minQty, maxQty: maxQty, minNotional: minNotional,
            makerFeePpm: spec.makerFeePpm, takerFeePpm: spec.takerFeePpm,
            baseMultiplier: baseMultiplier, quoteMultiplier: quoteMultiplier))
    }

    /// Why a symbol's spec was refused (`SymbolInfo`'s failure).
    struct SpecProblem: Error { var detail: String }

    static func power10(_ exponent: Int) -> Int64? {
        guard (0...18).contains(exponent) else { return nil }
        var value: Int64 = 1
        for _ in 0..<exponent { value *= 10 }
        return value
    }

    private mutating func transfer(_ account: AccountId, _ asset: String, _ amount: ExactDecimal, deposit: Bool,
                                   _ events: inout EventBuffer) {
        func reject(_ reason: RejectReason) {
            events.append(.rejected(account: account, reason: reason))
        }
        guard let a = ledger.index(of: account) else { return reject(.unknownAccount) }
        guard let s = assetByName[asset] else { return reject(.unknownAsset) }
        guard transferProblem(s, amount, deposit: deposit) == nil else { return reject(.invalidCommand) }
        let units = amount.units(atScale: assets[s].scale)!
        if deposit {
            assetTotals[s] += units
            ledger.receive(a, s, units)
        } else {
            guard ledger.free(a, s) >= units else { return reject(.insufficientBalance) }
            ledger.debitFree(a, s, units)
            assetTotals[s] -= units
        }
        events.append(.ok)
    }

    /// Why `command` was rejected as `INVALID_COMMAND` (the `detail` of its event), asked of
    /// the state it was applied to (a rejected command changes nothing); nil for a command that
    /// is not an invalid one.
    public func invalidDetail(of command: Command) -> String? {
        switch command {
        case let .invalid(invalid): return invalid.detail
        case let .addApiKey(spec): return spec.problem
        case let .addAsset(name, scale): return Self.assetProblem(name, scale)
        case let .addSymbol(spec):
            guard let base = assetByName[spec.base], let quote = assetByName[spec.quote],
                  case let .failure(problem) = symbolInfo(spec, base: base, quote: quote) else { return nil }
            return problem.detail
        case let .deposit(_, asset, amount), let .withdraw(_, asset, amount):
            guard let s = assetByName[asset] else { return nil }
            let deposit = command.name == "deposit"
            // Only the total's bound depends on the state: when nothing else is wrong, it was that.
            return transferProblem(s, amount, deposit: deposit) ?? (deposit ? Self.depositTotalProblem : nil)
        default: return nil
        }
    }

    static let depositTotalProblem = "amount: the asset's total over all accounts would pass 2^63-1 units"

    /// Why a deposit or withdrawal of `amount` of asset `s` is an invalid command, if it is.
    /// The sum of an asset over all accounts must fit in 64 bits, so that no balance can
    /// overflow whatever trades move it: a deposit past that is refused.
    func transferProblem(_ s: Int, _ amount: ExactDecimal, deposit: Bool) -> String? {
        if amount.mantissa <= 0 { return "amount: not above 0" }
        guard let units = amount.units(atScale: assets[s].scale) else {
            return "amount: finer than the asset's scale (\(assets[s].scale) decimals), or out of range"
        }
        if deposit && assetTotals[s].addingReportingOverflow(units).overflow {
            return Self.depositTotalProblem
        }
        return nil
    }

    private mutating func setHalted(_ name: String, _ halted: Bool, _ events: inout EventBuffer) {
        guard let s = symbolByName[name] else {
            return events.append(.rejected(account: nil, reason: .unknownSymbol))
        }
        symbols[s].halted = halted
        events.append(.ok)
    }
}

/// See `MatchingEngine.copyWitness`.
final class CopyWitness {}

/// An order resting on a book, as a read model shows it.
public struct RestingOrderInfo: Equatable, Sendable {
    public var id: OrderId
    public var account: AccountId
    public var symbol: Int
    public var side: Side
    public var price: Int64
    public var remaining: Int64
    public var filled: Int64
    public var clientId: String?
}

extension MatchingEngine {
    /// The open accounts, in the order they were opened (account 0 first).
    public var accountIds: [AccountId] { ledger.accountIds }

    /// Every resting order, by symbol, bids then asks, each side in priority order.
    public func restingOrders() -> [RestingOrderInfo] {
        var out: [RestingOrderInfo] = []
        for (s, book) in books.enumerated() {
            for side in [Side.buy, .sell] {
                for level in book.levelsBestFirst(side) {
                    var slot = level.head
                    while slot >= 0 {
                        let o = book.order(slot)
                        out.append(RestingOrderInfo(id: o.id, account: o.account, symbol: s, side: side, price: o.price,
                                                    remaining: o.remaining, filled: o.filled, clientId: book.clientId(slot)))
                        slot = o.next
                    }
                }
            }
        }
        return out
    }
}
