/// Account id → ledger index: open addressing with linear probing and a multiplicative hash.
/// Only ever looked up (never iterated), so its layout decides nothing; it avoids the
/// per-look-up SipHash of `Dictionary`, which every order and cancel pays.
struct AccountTable {
    private var keys: [AccountId]
    /// -1 for an empty slot.
    private var values: [Int32]
    private var shift: UInt64
    private(set) var count = 0

    init(capacity: Int = 64) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        keys = [AccountId](repeating: 0, count: size)
        values = [Int32](repeating: -1, count: size)
        shift = UInt64(64 - size.trailingZeroBitCount)
    }

    @inline(__always)
    private func home(_ key: AccountId) -> Int {
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> shift)
    }

    @inline(__always)
    subscript(key: AccountId) -> Int? {
        var i = home(key)
        let mask = keys.count - 1
        while values[i] >= 0 {
            if keys[i] == key { return Int(values[i]) }
            i = (i + 1) & mask
        }
        return nil
    }

    /// Adds a key that is not there yet.
    mutating func insert(_ key: AccountId, _ value: Int) {
        precondition(value >= 0 && value < Int(Int32.max), "account index out of range")
        if (count + 1) * 2 > keys.count { grow() }
        var i = home(key)
        let mask = keys.count - 1
        while values[i] >= 0 {
            precondition(keys[i] != key, "account \(key) is already in the table")
            i = (i + 1) & mask
        }
        keys[i] = key
        values[i] = Int32(value)
        count += 1
    }

    private mutating func grow() {
        var bigger = AccountTable(capacity: keys.count)
        for i in keys.indices where values[i] >= 0 { bigger.insert(keys[i], Int(values[i])) }
        self = bigger
    }
}
