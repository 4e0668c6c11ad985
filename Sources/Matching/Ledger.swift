/// Accounts and their balances: per account and asset, `free` and `locked`, in the asset's
/// smallest units. Account 0 exists from the start and receives fees.
struct Ledger {
    private(set) var accountIds: [AccountId] = []
    private var indexById: [AccountId: Int] = [:]
    private(set) var free: [[Int64]] = []
    private(set) var locked: [[Int64]] = []
    private(set) var assetCount = 0

    init() { _ = open(0) }

    func index(of account: AccountId) -> Int? { indexById[account] }

    /// Opens an account; false when it exists.
    mutating func open(_ account: AccountId) -> Bool {
        guard indexById[account] == nil else { return false }
        indexById[account] = accountIds.count
        accountIds.append(account)
        free.append([Int64](repeating: 0, count: assetCount))
        locked.append([Int64](repeating: 0, count: assetCount))
        return true
    }

    mutating func addAsset() {
        assetCount += 1
        for i in free.indices {
            free[i].append(0)
            locked[i].append(0)
        }
    }

    /// Adds to `free`; false (and no change) when the balance would overflow.
    mutating func credit(_ account: Int, _ asset: Int, _ amount: Int64) -> Bool {
        let (sum, overflow) = free[account][asset].addingReportingOverflow(amount)
        if overflow { return false }
        free[account][asset] = sum
        return true
    }

    mutating func debitFree(_ account: Int, _ asset: Int, _ amount: Int64) {
        precondition(free[account][asset] >= amount, "free balance would go negative")
        free[account][asset] -= amount
    }

    mutating func lock(_ account: Int, _ asset: Int, _ amount: Int64) {
        precondition(free[account][asset] >= amount, "locking more than is free")
        free[account][asset] -= amount
        locked[account][asset] += amount
    }

    mutating func unlock(_ account: Int, _ asset: Int, _ amount: Int64) {
        precondition(locked[account][asset] >= amount, "unlocking more than is locked")
        locked[account][asset] -= amount
        free[account][asset] += amount
    }

    /// Takes from `locked` what leaves the account (paid in a trade).
    mutating func spendLocked(_ account: Int, _ asset: Int, _ amount: Int64) {
        precondition(locked[account][asset] >= amount, "spending more than is locked")
        locked[account][asset] -= amount
    }

    /// Adds what arrives in a trade (a received amount never overflows a sum that was
    /// deposited: totals are conserved).
    mutating func receive(_ account: Int, _ asset: Int, _ amount: Int64) {
        free[account][asset] += amount
    }
}
