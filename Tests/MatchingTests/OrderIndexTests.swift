import Testing
@testable import Matching
import Workloads

/// The order index against a dictionary, across blocks: a block emptied of its orders goes
/// back to the spare list and serves newer ids, and every look-up stays right.
struct OrderIndexTests {
    @Test func blocksAreClaimedReleasedAndReusedWithEveryLookUpRight() {
        let seed: UInt64 = 41
        var random = SplitMix64(seed: seed)
        var index = OrderIndex()
        var expected: [OrderId: (symbol: Int, slot: Int)] = [:]
        var live: [OrderId] = []
        let size = OrderIndex.blockSize
        var nextId: OrderId = 1
        // Ids run through 12 blocks; most orders leave soon, so old blocks empty and are reused.
        for step in 0..<(12 * size) {
            let id = nextId
            nextId += 1
            let place = (Int(random.next() % 3), Int(random.next() % 100_000))
            index.insert(id, symbol: place.0, slot: place.1)
            expected[id] = place
            live.append(id)
            // Remove one or two random live orders, keeping about 1,000 resting.
            while live.count > 1_000 || (live.count > 1 && random.next() % 4 == 0) {
                let gone = live.remove(at: Int(random.next() % UInt64(live.count)))
                index.remove(gone)
                expected[gone] = nil
            }
            if step % 997 == 0 {
                for probe in 1..<nextId where step % 2 == 0 || probe % 7 == 0 {
                    let found = index[probe]
                    let wanted = expected[probe]
                    #expect(found?.symbol == wanted?.symbol && found?.slot == wanted?.slot,
                            "seed \(seed), step \(step): id \(probe) is \(String(describing: found)), expected \(String(describing: wanted))")
                }
            }
        }
        #expect(index.count == live.count)
        for id in live { #expect(index[id]?.slot == expected[id]?.slot) }
        #expect(index[nextId] == nil && index[0] == nil)
    }
}
