import Codec
import Matching
import Workloads

/// Seeded trading agents: market makers, momentum and noise takers, cancel storms, clients that
/// send invalid commands, deposits and withdrawals, all watching one view of the market that
/// they update from the events of their own commands. The same seed and the same events give
/// the same commands. `Simulation` runs them through a node; `FaultSimulator` through a node
/// core on faulty storage.
public final class Agents {
    public let options: SimulationOptions
    private var random: SplitMix64

    private struct Market {
        var name: String
        var base: String
        var mid: Int64   // in ticks of 0.01
        var lastMid: Int64
    }
    private var markets: [Market] = []
    /// Resting orders the agents know of, and where each is in that array (looked up, never
    /// iterated).
    private var resting: [(account: AccountId, symbol: Int, id: OrderId, remaining: Int64)] = []
    private var restingIndex: [OrderId: Int] = [:]
    /// What the events said so far.
    public private(set) var trades = 0, events = 0, rejected = 0
    private var clientSerial = 0

    public init(options: SimulationOptions) {
        self.options = options
        random = SplitMix64(seed: options.seed)
    }

    private static let letters = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ")

    /// The market's assets, symbols and funded accounts: the first commands of a run.
    public func setupCommands() -> [Command] {
        var commands: [Command] = [.addAsset(name: "USDT", scale: 8)]
        for i in 0..<options.symbols {
            let base = "C" + String(Self.letters[i])
            markets.append(Market(name: base + "USDT", base: base, mid: 10_000 + Int64(i) * 2_500, lastMid: 0))
            commands.append(.addAsset(name: base, scale: 8))
            commands.append(.addSymbol(SymbolSpec(
                name: base + "USDT", base: base, quote: "USDT", tickSize: dec(1, 2), stepSize: dec(1, 3),
                minQty: dec(1, 3), maxQty: dec(1_000, 0), minNotional: dec(1, 0),
                makerFeePpm: 100, takerFeePpm: 250)))
        }
        for a in 1...options.accounts {
            commands.append(.openAccount(AccountId(a)))
            commands.append(.deposit(account: AccountId(a), asset: "USDT", amount: dec(1_000_000, 0)))
            for m in markets { commands.append(.deposit(account: AccountId(a), asset: m.base, amount: dec(1_000, 0))) }
        }
        return commands
    }

    /// The agents' next `n` commands, from what they learned of the market so far.
    public func nextBatch(_ n: Int) -> [Command] {
        for i in markets.indices {
            markets[i].lastMid = markets[i].mid
            markets[i].mid = max(100, markets[i].mid + Int64(below(5)) - 2)
        }
        var commands: [Command] = []
        let weights = options.mix.weights
        let total = weights.reduce(0, +)
        while commands.count < n {
            var pick = below(total)
            var kind = 0
            while pick >= weights[kind] { pick -= weights[kind]; kind += 1 }
            switch kind {
            case 0: maker(&commands)
            case 1: momentum(&commands)
            case 2: noise(&commands)
            case 3: storm(&commands, room: n - commands.count)
            case 4: invalid(&commands)
            default: transfer(&commands)
            }
        }
        if commands.count > n { commands.removeLast(commands.count - n) }
        return commands
    }

    private func below(_ n: Int) -> Int { Int(random.next() % UInt64(n)) }
    private func account() -> AccountId { AccountId(1 + below(options.accounts)) }
    private func qty(_ maxSteps: Int) -> ExactDecimal { dec(1 + below(maxSteps), 3) }

    private func clientId() -> String? {
        guard below(4) == 0 else { return nil }
        clientSerial += 1
        return "s\(clientSerial)"
    }

    private func maker(_ out: inout [Command]) {
        let s = below(markets.count)
        let m = markets[s]
        let a = account()
        // Cancel or amend a known resting order of this symbol now and then.
        if !resting.isEmpty, below(3) == 0 {
            let i = below(resting.count)
            let r = resting[i]
            if below(4) == 0 {
                out.append(.amend(account: r.account, symbol: markets[r.symbol].name, order: .id(r.id), qty: qty(5)))
            } else {
                out.append(.cancel(account: r.account, symbol: markets[r.symbol].name, order: .id(r.id)))
            }
            return
        }
        let spread = Int64(1 + below(10))
        let type: OrderType = below(5) == 0 ? .limitMaker : .limit
        out.append(.place(PlaceOrder(account: a, symbol: m.name, clientId: clientId(), side: .buy, type: type,
                                     price: dec(Int(m.mid - spread), 2), qty: qty(2_000))))
        out.append(.place(PlaceOrder(account: a, symbol: m.name, clientId: clientId(), side: .sell, type: type,
                                     price: dec(Int(m.mid + spread), 2), qty: qty(2_000))))
    }

    private func momentum(_ out: inout [Command]) {
        let m = markets[below(markets.count)]
        guard m.mid != m.lastMid else { return noise(&out) }
        let side: Side = m.mid > m.lastMid ? .buy : .sell
        if below(2) == 0 {
            out.append(.place(PlaceOrder(account: account(), symbol: m.name, side: side, type: .market, qty: qty(500))))
        } else {
            let price = side == .buy ? m.mid + 5 : m.mid - 5
            out.append(.place(PlaceOrder(account: account(), symbol: m.name, side: side, timeInForce: .ioc,
                                         price: dec(Int(price), 2), qty: qty(1_000))))
        }
    }

    private func noise(_ out: inout [Command]) {
        let m = markets[below(markets.count)]
        let side: Side = below(2) == 0 ? .buy : .sell
        let stp = SelfTradePrevention(rawValue: UInt8(below(4)))!
        switch below(4) {
        case 0:
            out.append(.place(PlaceOrder(account: account(), symbol: m.name, side: side, type: .market,
                                         quoteQty: dec(1_000 + below(100_000), 2), stp: stp)))
        case 1:
            out.append(.place(PlaceOrder(account: account(), symbol: m.name, side: side, type: .market,
                                         qty: qty(300), stp: stp)))
        default:
            let tif: TimeInForce = below(2) == 0 ? .ioc : .fok
            let offset = Int64(below(8))
            let price = side == .buy ? m.mid + offset : m.mid - offset
            out.append(.place(PlaceOrder(account: account(), symbol: m.name, clientId: clientId(), side: side,
                                         timeInForce: tif, price: dec(Int(price), 2), qty: qty(800), stp: stp)))
        }
    }

    private func storm(_ out: inout [Command], room: Int) {
        let m = markets[below(markets.count)]
        let a = account()
        let burst = min(2 + below(10), max(1, room - 1))
        for _ in 0..<burst {
            let side: Side = below(2) == 0 ? .buy : .sell
            let offset = Int64(20 + below(30))
            let price = side == .buy ? m.mid - offset : m.mid + offset
            out.append(.place(PlaceOrder(account: a, symbol: m.name, side: side, price: dec(Int(price), 2), qty: qty(100))))
        }
        out.append(.cancelAll(account: a, symbol: m.name))
    }

    /// A line as a client would send it, decoded as a node decodes it.
    private func clientLine(_ text: String) -> Command {
        CommandJSON.decode(text)!.command
    }

    private func invalid(_ out: inout [Command]) {
        let m = markets[below(markets.count)]
        let a = account()
        switch below(7) {
        case 0:
            out.append(clientLine("{\"cmd\":\"place\",\"account\":\(a),\"symbol\":\"\(m.name)\",\"side\":\"HOLD\"}"))
        case 1:
            out.append(clientLine("{\"cmd\":\"teleport\"}"))
        case 2:
            out.append(.place(PlaceOrder(account: a, symbol: "NOPE", side: .buy, price: dec(100, 2), qty: qty(5))))
        case 3:
            // Off the tick.
            out.append(.place(PlaceOrder(account: a, symbol: m.name, side: .sell, price: dec(Int(m.mid) * 10 + 3, 3), qty: qty(5))))
        case 4:
            // More than any account holds.
            out.append(.place(PlaceOrder(account: a, symbol: m.name, side: .buy, price: dec(Int(m.mid), 2), qty: dec(999_999, 3))))
        case 5:
            out.append(.cancel(account: a, symbol: m.name, order: .id(OrderId(1 + below(1_000_000)))))
        default:
            out.append(.place(PlaceOrder(account: AccountId(1_000_000 + below(100)), symbol: m.name, side: .buy,
                                         price: dec(Int(m.mid), 2), qty: qty(5))))
        }
    }

    private func transfer(_ out: inout [Command]) {
        let a = account()
        let asset = below(2) == 0 ? "USDT" : markets[below(markets.count)].base
        let amount = dec(1 + below(5_000), 2)
        out.append(below(2) == 0 ? .deposit(account: a, asset: asset, amount: amount)
                                 : .withdraw(account: a, asset: asset, amount: amount))
    }

    /// Takes in what a command did: orders that now rest, fills and cancels, counters.
    public func learn(_ commandEvents: [Event], of command: Command) {
        events += commandEvents.count
        for event in commandEvents {
            switch event {
            case let .booked(id, s, remaining):
                if case let .place(order) = command { remember(order.account, s, id, remaining) }
            case let .trade(t):
                trades += 1
                reduce(t.makerOrderId, by: t.qty)
            case let .cancelled(id, _, _, _): forget(id)
            case let .amended(id, _, remaining):
                if let i = restingIndex[id] { resting[i].remaining = remaining }
            case .rejected: rejected += 1
            default: break
            }
        }
    }

    private func remember(_ account: AccountId, _ symbol: Int, _ id: OrderId, _ remaining: Int64) {
        restingIndex[id] = resting.count
        resting.append((account, symbol, id, remaining))
    }

    private func reduce(_ id: OrderId, by qty: Int64) {
        guard let i = restingIndex[id] else { return }
        resting[i].remaining -= qty
        if resting[i].remaining <= 0 { forget(id) }
    }

    /// Removes an order from the agents' view (the last one takes its place: the array's order
    /// follows from the events alone, so choices made from it stay deterministic).
    private func forget(_ id: OrderId) {
        guard let i = restingIndex.removeValue(forKey: id) else { return }
        let last = resting.removeLast()
        if i < resting.count {
            resting[i] = last
            restingIndex[last.id] = i
        }
    }
}
