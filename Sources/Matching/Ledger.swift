/// Accounts and their balances: per account and asset, `free` and `locked`, in the asset's
/// smallest units, in two flat arrays (account-major). Account 0 exists from the start and
/// receives fees.
struct Ledger {
    private(set) var accountIds: [AccountId] = []
    private var indexById = AccountTable()
    private var freeUnits: [Int64] = []
    private var lockedUnits: [Int64] = []
    private(set) var assetCount = 0

    init() { _ = open(0) }

    func index(of account: AccountId) -> Int? { indexById[account] }

    @inline(__always) func free(_ account: Int, _ asset: Int) -> Int64 { freeUnits[account * assetCount + asset] }
    @inline(__always) func locked(_ account: Int, _ asset: Int) -> Int64 { lockedUnits[account * assetCount + asset] }

    /// Opens an account; false when it exists.
    mutating func open(_ account: AccountId) -> Bool {
        guard indexById[account] == nil else { return false }
        indexById.insert(account, accountIds.count)
        accountIds.append(account)
        freeUnits.append(contentsOf: repeatElement(0, count: assetCount))
        lockedUnits.append(contentsOf: repeatElement(0, count: assetCount))
        return true
    }

    /// Adds a zero balance of a new asset to every account (rare: an admin command).
    mutating func addAsset() {
        func widened(_ units: [Int64]) -> [Int64] {
            var out: [Int64] = []
            out.reserveCapacity(accountIds.count * (assetCount + 1))
            for a in accountIds.indices {
                out.append(contentsOf: units[(a * assetCount)..<((a + 1) * assetCount)])
                out.append(0)
            }
            return out
        }
        freeUnits = widened(freeUnits)
        lockedUnits = widened(lockedUnits)
        assetCount += 1
    }

    mutating func debitFree(_ account: Int, _ asset: Int, _ amount: Int64) {
        let i = account * assetCount + asset
        precondition(freeUnits[i] >= amount, "free balance would go negative")
        freeUnits[i] -= amount
    }

    mutating func lock(_ account: Int, _ asset: Int, _ amount: Int64) {
        let i = account * assetCount + asset
        precondition(freeUnits[i] >= amount, "locking more than is free")
        freeUnits[i] -= amount
        lockedUnits[i] += amount
    }

    mutating func unlock(_ account: Int, _ asset: Int, _ amount: Int64) {
        let i = account * assetCount + asset
        precondition(lockedUnits[i] >= amount, "unlocking more than is locked")
        lockedUnits[i] -= amount
        freeUnits[i] += amount
    }

    /// Takes from `locked` what leaves the account (paid in a trade).
    mutating func spendLocked(_ account: Int, _ asset: Int, _ amount: Int64) {
        let i = account * assetCount + asset
        precondition(lockedUnits[i] >= amount, "spending more than is locked")
        lockedUnits[i] -= amount
    }

    /// Adds to `free` what a deposit or a trade brings. It never overflows: the engine keeps
    /// every asset's total over all accounts within 64 bits (deposits past it are refused).
    mutating func receive(_ account: Int, _ asset: Int, _ amount: Int64) {
        freeUnits[account * assetCount + asset] += amount
    }
}
