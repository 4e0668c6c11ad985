/// Accounts and their balances: per account and asset, `free` and `locked`, in the asset's
/// smallest units, side by side in one flat array (account-major: account, asset, then free
/// and locked), so that a lock or an unlock writes one array, on one cache line. Account 0
/// exists from the start and receives fees.
struct Ledger {
    private(set) var accountIds: [AccountId] = []
    private var indexById = AccountTable()
    /// free, locked of (account 0, asset 0), (account 0, asset 1), … (shared between copies of
    /// the ledger until one changes; see `makeUnique()`).
    private var storage = LedgerStorage()
    private(set) var assetCount = 0

    init() { _ = open(0) }

    /// Inline: every order looks its account up (out of line, the call copied the ledger's
    /// fields to the stack first).
    @inline(__always)
    func index(of account: AccountId) -> Int? { indexById[account] }

    @inline(__always) private func at(_ account: Int, _ asset: Int) -> Int { (account * assetCount + asset) << 1 }
    @inline(__always) func free(_ account: Int, _ asset: Int) -> Int64 { storage.units[checked(at(account, asset))] }
    @inline(__always) func locked(_ account: Int, _ asset: Int) -> Int64 { storage.units[checked(at(account, asset)) + 1] }

    /// An index of a balance that exists (the ledger's readers name accounts and assets by
    /// index; a wrong one stops here rather than reading past the buffer).
    @inline(__always)
    private func checked(_ i: Int) -> Int {
        precondition(i >= 0 && i + 1 < storage.units.count, "no such account or asset")
        return i
    }

    /// Copies the balances first if another ledger shares them. The hot changes (`lock`,
    /// `unlock`, `settle`) do not check this themselves: the engine calls this at the start of
    /// a command while a copy of it exists (`MatchingEngine.copyWitness`; without one nothing is
    /// shared), as LMAX's single writer owns its state, and debug builds assert it.
    @inline(__always)
    mutating func makeUnique() {
        if !isKnownUniquelyReferenced(&storage) { storage = LedgerStorage(copying: storage) }
    }

    @inline(__always)
    private mutating func assertUnique() {
        assert(isKnownUniquelyReferenced(&storage), "a shared ledger changed without makeUnique()")
    }

    /// Opens an account; false when it exists.
    mutating func open(_ account: AccountId) -> Bool {
        guard indexById[account] == nil else { return false }
        makeUnique()
        indexById.insert(account, accountIds.count)
        accountIds.append(account)
        for _ in 0..<(2 * assetCount) { storage.units.append(0) }
        return true
    }

    /// Adds a zero balance of a new asset to every account (rare: an admin command).
    mutating func addAsset() {
        let widened = LedgerStorage()
        widened.units.reserve(accountIds.count * 2 * (assetCount + 1))
        for a in accountIds.indices {
            for i in (2 * a * assetCount)..<(2 * (a + 1) * assetCount) { widened.units.append(storage.units[i]) }
            widened.units.append(0)
            widened.units.append(0)
        }
        storage = widened
        assetCount += 1
    }

    mutating func debitFree(_ account: Int, _ asset: Int, _ amount: Int64) {
        makeUnique()
        let i = checked(at(account, asset))
        precondition(storage.units[i] >= amount, "free balance would go negative")
        storage.units[i] -= amount
    }

    @inline(__always)
    mutating func lock(_ account: Int, _ asset: Int, _ amount: Int64) {
        assertUnique()
        let i = checked(at(account, asset))
        let units = storage.units
        precondition(units[i] >= amount, "locking more than is free")
        units[i] -= amount
        units[i + 1] += amount
    }

    @inline(__always)
    mutating func unlock(_ account: Int, _ asset: Int, _ amount: Int64) {
        assertUnique()
        let i = checked(at(account, asset))
        let units = storage.units
        precondition(units[i + 1] >= amount, "unlocking more than is locked")
        units[i + 1] -= amount
        units[i] += amount
    }

    /// Moves the assets of one trade: the buyer pays `quoteUnits` from locked (and gets
    /// `buyerSaved` of its lock back to free, a price improvement) and receives `baseUnits`
    /// less its fee; the seller pays `baseUnits` from locked and receives `quoteUnits` less its
    /// fee; account 0 receives both fees. Seven moves with their checks (never paying more
    /// than is locked).
    mutating func settle(buyer: Int, seller: Int, base: Int, quote: Int, baseUnits: Int64, quoteUnits: Int64,
                         buyerFee: Int64, sellerFee: Int64, buyerSaved: Int64) {
        assertUnique()
        let buyerQuote = checked(at(buyer, quote)), buyerBase = checked(at(buyer, base))
        let sellerQuote = checked(at(seller, quote)), sellerBase = checked(at(seller, base))
        let feeBase = checked(at(0, base)), feeQuote = checked(at(0, quote))
        let u = storage.units
        precondition(u[buyerQuote + 1] >= quoteUnits + buyerSaved, "spending more than is locked")
        u[buyerQuote + 1] -= quoteUnits + buyerSaved
        u[buyerQuote] += buyerSaved
        precondition(u[sellerBase + 1] >= baseUnits, "spending more than is locked")
        u[sellerBase + 1] -= baseUnits
        u[buyerBase] += baseUnits - buyerFee
        u[sellerQuote] += quoteUnits - sellerFee
        u[feeBase] += buyerFee
        u[feeQuote] += sellerFee
    }

    /// Adds to `free` what a deposit or a trade brings. It never overflows: the engine keeps
    /// every asset's total over all accounts within 64 bits (deposits past it are refused).
    mutating func receive(_ account: Int, _ asset: Int, _ amount: Int64) {
        makeUnique()
        storage.units[checked(at(account, asset))] += amount
    }
}

/// The ledger's balances, in one plain buffer.
final class LedgerStorage {
    @exclusivity(unchecked) var units = PodBuffer<Int64>()

    init() {}
    init(copying other: LedgerStorage) { units = other.units.copy() }
    deinit { units.free() }
}
