/// Accounts and their balances: per account and asset, `free` and `locked`, in the asset's
/// smallest units, side by side in one flat array (account-major: account, asset, then free
/// and locked), so that a lock or an unlock writes one array, on one cache line. Account 0
/// exists from the start and receives fees.
struct Ledger {
    private(set) var accountIds: [AccountId] = []
    private var indexById = AccountTable()
    /// free, locked of (account 0, asset 0), (account 0, asset 1), …
    private var units: [Int64] = []
    private(set) var assetCount = 0

    init() { _ = open(0) }

    func index(of account: AccountId) -> Int? { indexById[account] }

    @inline(__always) private func at(_ account: Int, _ asset: Int) -> Int { (account * assetCount + asset) << 1 }
    @inline(__always) func free(_ account: Int, _ asset: Int) -> Int64 { units[at(account, asset)] }
    @inline(__always) func locked(_ account: Int, _ asset: Int) -> Int64 { units[at(account, asset) + 1] }

    /// Opens an account; false when it exists.
    mutating func open(_ account: AccountId) -> Bool {
        guard indexById[account] == nil else { return false }
        indexById.insert(account, accountIds.count)
        accountIds.append(account)
        units.append(contentsOf: repeatElement(0, count: 2 * assetCount))
        return true
    }

    /// Adds a zero balance of a new asset to every account (rare: an admin command).
    mutating func addAsset() {
        var widened: [Int64] = []
        widened.reserveCapacity(accountIds.count * 2 * (assetCount + 1))
        for a in accountIds.indices {
            widened.append(contentsOf: units[(2 * a * assetCount)..<(2 * (a + 1) * assetCount)])
            widened.append(contentsOf: [0, 0])
        }
        units = widened
        assetCount += 1
    }

    mutating func debitFree(_ account: Int, _ asset: Int, _ amount: Int64) {
        let i = at(account, asset)
        precondition(units[i] >= amount, "free balance would go negative")
        units[i] -= amount
    }

    mutating func lock(_ account: Int, _ asset: Int, _ amount: Int64) {
        let i = at(account, asset)
        precondition(units[i] >= amount, "locking more than is free")
        units[i] -= amount
        units[i + 1] += amount
    }

    mutating func unlock(_ account: Int, _ asset: Int, _ amount: Int64) {
        let i = at(account, asset)
        precondition(units[i + 1] >= amount, "unlocking more than is locked")
        units[i + 1] -= amount
        units[i] += amount
    }

    /// Moves the assets of one trade: the buyer pays `quoteUnits` from locked (and gets
    /// `buyerSaved` of its lock back to free, a price improvement) and receives `baseUnits`
    /// less its fee; the seller pays `baseUnits` from locked and receives `quoteUnits` less its
    /// fee; account 0 receives both fees. Seven moves with their checks (never paying more
    /// than is locked), in one access to the balances: one uniqueness check, not seven.
    mutating func settle(buyer: Int, seller: Int, base: Int, quote: Int, baseUnits: Int64, quoteUnits: Int64,
                         buyerFee: Int64, sellerFee: Int64, buyerSaved: Int64) {
        let buyerQuote = at(buyer, quote), buyerBase = at(buyer, base)
        let sellerQuote = at(seller, quote), sellerBase = at(seller, base)
        let feeBase = at(0, base), feeQuote = at(0, quote)
        units.withUnsafeMutableBufferPointer { u in
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
    }

    /// Adds to `free` what a deposit or a trade brings. It never overflows: the engine keeps
    /// every asset's total over all accounts within 64 bits (deposits past it are refused).
    mutating func receive(_ account: Int, _ asset: Int, _ amount: Int64) {
        units[at(account, asset)] += amount
    }
}
