import Testing
@testable import Matching
import Workloads

@Suite struct AccountTableTests {
    @Test func findsEveryKeyAndNothingElseAcrossGrowth() {
        var table = AccountTable(capacity: 1)
        var random = SplitMix64(seed: 3)
        var keys: [AccountId] = [0, 1, UInt64.max, 1 << 63]
        for _ in 0..<5_000 { keys.append(random.next()) }
        keys += (2..<2_000).map { AccountId($0) }   // dense ids, the usual case
        var seen = Set<AccountId>()
        keys = keys.filter { seen.insert($0).inserted }
        for (i, key) in keys.enumerated() {
            #expect(table[key] == nil)
            table.insert(key, i)
        }
        #expect(table.count == keys.count)
        for (i, key) in keys.enumerated() { #expect(table[key] == i) }
        for _ in 0..<1_000 {
            let probe = random.next()
            if !seen.contains(probe) { #expect(table[probe] == nil) }
        }
    }
}
