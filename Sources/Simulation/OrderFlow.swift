import Matching
import Workloads

/// A seeded order flow, for tests and benchmarks that need commands without agents.
public struct OrderFlow: Sendable {
    private var random: SplitMix64
    /// Orders placed so far: about the newest order id.
    private var placed: UInt64 = 0

    public init(seed: UInt64) { random = SplitMix64(seed: seed) }

    /// One symbol (BTCUSDT, tick 0.01, step 0.00001, fees 0.1% / 0.2%) and eight funded accounts.
    public static func setup() -> [Command] {
        var commands: [Command] = [
            .addAsset(name: "BTC", scale: 8), .addAsset(name: "USDT", scale: 8),
            .addSymbol(SymbolSpec(name: "BTCUSDT", base: "BTC", quote: "USDT", tickSize: dec(1, 2), stepSize: dec(1, 5),
                                  minQty: dec(1, 5), maxQty: dec(9000, 0), minNotional: dec(1, 0),
                                  makerFeePpm: 1_000, takerFeePpm: 2_000)),
        ]
        for a in 1...8 {
            commands.append(.openAccount(AccountId(a)))
            commands.append(.deposit(account: AccountId(a), asset: "BTC", amount: dec(100, 0)))
            commands.append(.deposit(account: AccountId(a), asset: "USDT", amount: dec(10_000_000, 0)))
        }
        return commands
    }

    /// The setup, then `count` commands of a flow seeded with `seed`.
    public static func commands(seed: UInt64, count: Int) -> [Command] {
        var flow = OrderFlow(seed: seed)
        var commands = setup()
        commands.reserveCapacity(commands.count + count)
        for _ in 0..<count { commands.append(flow.next()) }
        return commands
    }

    /// The next command: 45% limits within a dollar of 30000, 35% cancels of recent ids (most
    /// of them resting), 10% market orders, 5% withdrawals, 5% deposits.
    public mutating func next() -> Command {
        let account = AccountId(1 + random.next() % 8)
        let side: Side = random.next() % 2 == 0 ? .buy : .sell
        switch random.next() % 20 {
        case 0..<7:
            let id = placed > 32 ? placed - random.next() % 32 : 1 + random.next() % max(1, placed)
            return .cancel(account: account, symbol: "BTCUSDT", order: .id(id))
        case 7, 8:
            placed += 1
            return .place(PlaceOrder(account: account, symbol: "BTCUSDT", side: side, type: .market,
                                     qty: dec(1 + Int(random.next() % 500), 5)))
        case 9:
            return .withdraw(account: account, asset: side == .buy ? "USDT" : "BTC",
                             amount: dec(Int(random.next() % 100), side == .buy ? 2 : 6))
        case 10:
            return .deposit(account: account, asset: side == .buy ? "USDT" : "BTC",
                            amount: dec(1 + Int(random.next() % 100), side == .buy ? 0 : 3))
        default:
            placed += 1
            let cents = 3_000_000 + Int(random.next() % 200) - 100
            return .place(PlaceOrder(account: account, symbol: "BTCUSDT", side: side,
                                     price: dec(cents, 2), qty: dec(1 + Int(random.next() % 900), 5)))
        }
    }
}

/// Copies of commands, each handed to an engine once and owned by it, as the node hands over
/// the commands it moves out of its queue and a replay the commands it decodes. For benchmarks
/// of the engine: the copies are made before the measurement, not during it.
public final class OwnedCommands {
    public let count: Int
    @usableFromInline let storage: UnsafeMutablePointer<Command>
    @usableFromInline var taken = 0

    public init(_ commands: [Command]) {
        count = commands.count
        storage = .allocate(capacity: count)
        storage.initialize(from: commands, count: count)
    }

    /// Command `i`, moved out (each once, in order).
    @inlinable
    public func take(_ i: Int) -> Command {
        precondition(i == taken, "commands are taken once, in order")
        taken += 1
        return (storage + i).move()
    }

    /// Applies every command not taken yet to `engine`, in order, each dropped once applied
    /// (a throughput measurement: no per-command timing); `events` holds each one's events.
    @inlinable
    public func applyAll(to engine: inout MatchingEngine, events: inout EventBuffer) {
        for i in taken..<count {
            events.removeAll()
            engine.apply(take(i), into: &events)
        }
    }

    deinit {
        (storage + taken).deinitialize(count: count - taken)
        storage.deallocate()
    }
}
