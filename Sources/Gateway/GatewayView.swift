import Codec
import Journal
import Matching
import Node
import Projections
import _Posix

/// What the gateway answers from: orders, trades, balances, klines, books and API keys, derived
/// from the acknowledged commands by a `Projector` on a thread of its own, so the engine thread
/// only hands each acknowledged command over (a queue under a lock of its own, never the one
/// the view holds while it works).
///
/// The view applies every command to its own engine copy, in sequence order, exactly as any
/// replay does; the events it derives are those the node's engine emitted (the engine is
/// deterministic), which is what a response to an order shows. It starts by replaying the
/// journal the node recovered from, so orders closed before a restart are still found.
///
/// HTTP handlers read under the view's lock; a request that submitted a command waits (without
/// a thread) until the view has applied it: its answer then reads what the command did.
public final class GatewayView: NodeSink, @unchecked Sendable {
    /// What a submitted command came to.
    public enum Outcome: Sendable {
        case applied(Applied)
        /// The node's queue is full (try again), or it is stopping, or its journal failed.
        case busy, stopped, failed(String)
        /// The node is a replica; its primary's API is at `leader` when known.
        case notLeader(leader: String?)
    }

    /// A command as the view applied it, with what a response needs.
    public struct Applied: Sendable {
        public var sequence: UInt64
        public var timestampNs: Int64
        public var events: [Event]
        /// The rows of the orders the command touched, as they stand after it.
        public var orders: [OrderRow]
        /// The command's trades.
        public var trades: [TradeRow]
        /// The events as INTERCHANGE lines, when the submitter asked for them.
        public var eventLines: [String]
        /// Whether `orders` and `trades` were taken (they are when someone waits for the
        /// command or a user data stream is open).
        public var hasRows: Bool
    }

    /// Orders kept per account once closed (the newest); open orders are always kept.
    public let closedOrdersPerAccount: Int
    /// Trades kept per account (the newest).
    public let tradesPerAccount: Int
    /// Klines kept per symbol and interval (the newest; a day of minutes for the 24-hour ticker).
    public let klinesPerSeries = 1_500

    /// Guards the hand-over: the queue, the failures and the waiting requests. Held for a few
    /// instructions at a time, so that the engine thread never waits for the view's work.
    private let handOver = Monitor()
    private let arrived = Monitor.Condition()
    /// Guards the state the view derives: held while a batch is applied, and by readers.
    private let monitor = Monitor()
    // Guarded by `handOver`.
    private var queue: [(tag: UInt64, sequence: UInt64, timestampNs: Int64, command: Command)] = []
    private var failures: [(tag: UInt64, message: String)] = []
    private var pending: [UInt64: (wantsLines: Bool, resume: @Sendable (Outcome) -> Void)] = [:]
    private var stopping = false
    private var thread: WorkerThread?
    /// Why the view stopped applying (its ledger disagreed with its engine, say): every request
    /// gets an error from then on.
    public private(set) var broken: String?

    // The state, guarded by `monitor`; written by the view thread only.
    private var projector: Projector
    public let marketData = MarketData()
    private var orders: [OrderId: OrderRow] = [:]
    private var ordersByAccount: [AccountId: [OrderId]] = [:]
    private var openByAccount: [AccountId: Set<OrderId>] = [:]
    private var byClientId: [ClientKey: OrderId] = [:]
    private var tradesByAccount: [AccountId: [TradeRow]] = [:]
    private var balances: [AccountId: [String: (free: Int64, locked: Int64)]] = [:]
    private var klines: [KlineKey: [KlineRow]] = [:]
    /// Makes the WebSocket streams' messages of each command applied (under the lock).
    var streams: StreamMessages?
    /// The API keys, as the engine holds them (the gateway checks signatures with them).
    private var keys: [String: ApiKeySpec] = [:]

    private struct ClientKey: Hashable {
        var account: AccountId
        var clientId: String
    }
    private struct KlineKey: Hashable {
        var symbol: String
        var interval: KlineInterval
    }

    public init(closedOrdersPerAccount: Int = 10_000, tradesPerAccount: Int = 10_000) {
        self.closedOrdersPerAccount = closedOrdersPerAccount
        self.tradesPerAccount = tradesPerAccount
        projector = Projector(marketData: marketData)
    }

    /// Replays `journal` from its start (or from the newest snapshot in `snapshots` when the
    /// journal no longer starts at 1) up to `sequence`, the state the node recovered; before
    /// `start`, while nothing is acknowledged yet.
    public func catchUp(journal: String, snapshots: String, to sequence: UInt64) throws(GatewayError) {
        precondition(thread == nil, "the view catches up before it starts")
        do {
            let reader = try JournalReader(directory: journal)
            if let first = reader.firstSequence, first > 1 {
                projector = try Projector(snapshotIn: snapshots, at: nil, journal: reader, marketData: marketData)
            }
            while projector.replayer.lastSequence < sequence, let record = try reader.nextView() {
                try projector.apply(record)
                if projector.batchCommands >= 4_096 { try publish() }
            }
            try publish()
        } catch {
            throw GatewayError("the gateway's view of \(journal): \(error)")
        }
        guard projector.replayer.lastSequence == sequence else {
            throw GatewayError("the gateway's view reached sequence \(projector.replayer.lastSequence) of the journal, the node recovered \(sequence)")
        }
        for key in projector.replayer.engine.apiKeysByName { keys[key.apiKey] = key }
    }

    /// Starts the thread that applies acknowledged commands.
    public func start() {
        thread = WorkerThread { [self] in run() }
    }

    /// Applies what is queued, then stops the thread (after the node has stopped: nothing more
    /// will be acknowledged). Requests still waiting are answered `stopped`.
    public func stop() {
        handOver.locked {
            stopping = true
            arrived.broadcast()
        }
        thread?.join()
        thread = nil
        let left = handOver.locked { () -> [UInt64: (wantsLines: Bool, resume: @Sendable (Outcome) -> Void)] in
            let left = pending
            pending = [:]
            return left
        }
        for (_, waiter) in left { waiter.resume(.stopped) }
    }

    // MARK: - NodeSink (the engine thread)

    public func acknowledged(tag: UInt64, sequence: UInt64, timestampNs: Int64, command: Command, events: EventList,
                             engine: MatchingEngine) {
        handOver.lock()
        queue.append((tag, sequence, timestampNs, command))
        if queue.count == 1 { arrived.signal() }
        handOver.unlock()
    }

    public func failed(tag: UInt64, error: NodeError) {
        handOver.lock()
        failures.append((tag, error.description))
        arrived.signal()
        handOver.unlock()
    }

    // MARK: - Submitting

    /// Registers a request waiting for the command tagged `tag`, before it is submitted.
    public func expect(_ tag: UInt64, wantsLines: Bool = false, _ resume: @escaping @Sendable (Outcome) -> Void) {
        handOver.lock()
        pending[tag] = (wantsLines, resume)
        handOver.unlock()
    }

    /// Answers a request whose command was never queued.
    public func cancel(_ tag: UInt64, _ outcome: Outcome) {
        handOver.lock()
        let waiter = pending.removeValue(forKey: tag)
        handOver.unlock()
        waiter?.resume(outcome)
    }

    // MARK: - The view thread

    private func run() {
        var batch: [(tag: UInt64, sequence: UInt64, timestampNs: Int64, command: Command)] = []
        var failed: [(tag: UInt64, message: String)] = []
        while true {
            handOver.lock()
            while queue.isEmpty && failures.isEmpty && !stopping { handOver.wait(on: arrived) }
            if queue.isEmpty && failures.isEmpty && stopping {
                handOver.unlock()
                return
            }
            swap(&batch, &queue)
            swap(&failed, &failures)
            var waiters: [(wantsLines: Bool, resume: @Sendable (Outcome) -> Void)?] = []
            waiters.reserveCapacity(batch.count)
            for item in batch { waiters.append(pending.removeValue(forKey: item.tag)) }
            var answers: [(@Sendable (Outcome) -> Void, Outcome)] = []
            for failure in failed {
                if let waiter = pending.removeValue(forKey: failure.tag) { answers.append((waiter.resume, .failed(failure.message))) }
            }
            handOver.unlock()
            // In chunks, so that readers wait at most a chunk's work.
            for start in stride(from: 0, to: batch.count, by: 1_024) {
                monitor.lock()
                let userData = streams?.hub.hasUserListeners ?? false
                for i in start..<min(batch.count, start + 1_024) {
                    let waiter = waiters[i]
                    let outcome = applyLocked(batch[i], wantsLines: waiter?.wantsLines ?? false,
                                              wantsRows: waiter != nil || userData)
                    if let waiter { answers.append((waiter.resume, outcome)) }
                }
                if unpublished > 0, broken == nil {
                    do { try publish() } catch { broken = "the gateway's view stopped: \(error)" }
                }
                monitor.unlock()
            }
            batch.removeAll(keepingCapacity: true)
            failed.removeAll(keepingCapacity: true)
            for (resume, outcome) in answers { resume(outcome) }
        }
    }

    /// Commands applied whose rows are not filed yet.
    private var unpublished = 0

    /// Applies one command. Its rows are filed at once when someone waits for it or a user data
    /// stream is open (its answer shows them); otherwise with the next ones, a batch at a time
    /// (taking them command by command would cost more than applying the command).
    private func applyLocked(_ item: (tag: UInt64, sequence: UInt64, timestampNs: Int64, command: Command),
                             wantsLines: Bool, wantsRows: Bool) -> Outcome {
        if let broken { return .failed(broken) }
        do {
            if wantsRows && unpublished > 0 { try publish() }
            try projector.apply(item.command, sequence: item.sequence, timestampNs: item.timestampNs)
            let events = Array(projector.replayer.buffer.events)
            var lines: [String] = []
            if wantsLines {
                lines = events.map {
                    EventJSON.render($0, of: item.command, seq: item.sequence, engine: projector.replayer.engine)
                }
            }
            var touched: [OrderRow] = [], trades: [TradeRow] = []
            if wantsRows {
                (touched, trades) = try publish()
            } else {
                unpublished += 1
                if unpublished >= 4_096 { try publish() }
            }
            let applied = Applied(sequence: item.sequence, timestampNs: item.timestampNs, events: events,
                                  orders: touched, trades: trades, eventLines: lines, hasRows: wantsRows)
            streams?.applied(item.command, applied, Reading(view: self))
            if events == [.ok] {
                switch item.command {
                case let .addApiKey(spec): keys[spec.apiKey] = spec
                case let .revokeApiKey(_, name): keys[name] = nil
                default: break
                }
            }
            return .applied(applied)
        } catch {
            broken = "the gateway's view stopped at sequence \(item.sequence): \(error)"
            return .failed(broken!)
        }
    }

    /// Takes the projector's rows for what it applied last and files them.
    @discardableResult
    private func publish() throws(ReadModelError) -> ([OrderRow], [TradeRow]) {
        unpublished = 0
        let batch = try projector.takeBatch(chain: .zero)
        for row in batch.orders { file(row) }
        for row in batch.trades {
            for account in row.makerAccount == row.takerAccount ? [row.makerAccount] : [row.makerAccount, row.takerAccount] {
                tradesByAccount[account, default: []].append(row)
                if tradesByAccount[account]!.count > tradesPerAccount + tradesPerAccount / 4 {
                    tradesByAccount[account]!.removeFirst(tradesByAccount[account]!.count - tradesPerAccount)
                }
            }
        }
        for row in batch.balances { balances[row.account, default: [:]][row.asset] = (row.free, row.locked) }
        for row in batch.klines {
            let key = KlineKey(symbol: row.symbol, interval: row.interval)
            var series = klines[key] ?? []
            if let last = series.last, last.openTimeMs == row.openTimeMs {
                series[series.count - 1] = row
            } else {
                series.append(row)
                if series.count > klinesPerSeries + klinesPerSeries / 4 { series.removeFirst(series.count - klinesPerSeries) }
            }
            klines[key] = series
        }
        return (batch.orders, batch.trades)
    }

    private func file(_ row: OrderRow) {
        let id = row.orderId
        if orders[id] == nil { ordersByAccount[row.account, default: []].append(id) }
        orders[id] = row
        if let clientId = row.clientId { byClientId[ClientKey(account: row.account, clientId: clientId)] = id }
        if row.status.isOpen {
            openByAccount[row.account, default: []].insert(id)
        } else {
            openByAccount[row.account]?.remove(id)
            trimClosed(row.account)
        }
    }

    /// Drops the account's oldest closed orders beyond `closedOrdersPerAccount`.
    private func trimClosed(_ account: AccountId) {
        guard var ids = ordersByAccount[account], ids.count > closedOrdersPerAccount + (openByAccount[account]?.count ?? 0) + 1_024
        else { return }
        let open = openByAccount[account] ?? []
        var closed = ids.count - open.count
        var kept: [OrderId] = []
        kept.reserveCapacity(ids.count)
        for id in ids {
            if closed > closedOrdersPerAccount, !open.contains(id) {
                if let row = orders.removeValue(forKey: id), let clientId = row.clientId,
                   byClientId[ClientKey(account: account, clientId: clientId)] == id {
                    byClientId[ClientKey(account: account, clientId: clientId)] = nil
                }
                closed -= 1
            } else {
                kept.append(id)
            }
        }
        ids = kept
        ordersByAccount[account] = ids
    }

    // MARK: - Reading (any thread)

    /// Runs `body` with the view under its lock (keep it short).
    public func read<T, E: Error>(_ body: (Reading) throws(E) -> T) throws(E) -> T {
        monitor.lock()
        defer { monitor.unlock() }
        return try body(Reading(view: self))
    }

    /// The view as handlers read it, valid only inside `read`.
    public struct Reading {
        fileprivate let view: GatewayView

        public var engine: MatchingEngine { view.projector.replayer.engine }
        public var lastSequence: UInt64 { view.projector.replayer.lastSequence }
        public var lastTimestampNs: Int64 { view.projector.replayer.lastTimestampNs }
        public var marketData: MarketData { view.marketData }
        public var broken: String? { view.broken }

        public func order(_ id: OrderId) -> OrderRow? { view.orders[id] }
        public func order(account: AccountId, clientId: String) -> OrderRow? {
            view.byClientId[ClientKey(account: account, clientId: clientId)].flatMap { view.orders[$0] }
        }
        /// The account's orders kept, oldest first.
        public func orders(account: AccountId) -> [OrderRow] {
            (view.ordersByAccount[account] ?? []).compactMap { view.orders[$0] }
        }
        /// The account's open orders, oldest first.
        public func openOrders(account: AccountId) -> [OrderRow] {
            (view.openByAccount[account] ?? []).sorted().compactMap { view.orders[$0] }
        }
        public func trades(account: AccountId) -> [TradeRow] { view.tradesByAccount[account] ?? [] }
        public func balance(account: AccountId, asset: String) -> (free: Int64, locked: Int64) {
            view.balances[account]?[asset] ?? (0, 0)
        }
        public func klines(symbol: String, interval: KlineInterval) -> [KlineRow] {
            view.klines[KlineKey(symbol: symbol, interval: interval)] ?? []
        }
        public func apiKey(_ name: String) -> ApiKeySpec? { view.keys[name] }
        public var apiKeys: [ApiKeySpec] { view.keys.values.sorted { $0.apiKey < $1.apiKey } }
    }
}

/// Submits commands to the node for the gateway's requests and waits, without holding a
/// thread, until the view has applied each.
final class Submitter: @unchecked Sendable {
    let node: Node
    let view: GatewayView
    private let monitor = Monitor()
    /// The gateway's tags have the top bit set: a node fed from stdin as well tags its lines
    /// with their numbers.
    private var nextTag: UInt64 = 1 << 63
    private var leader: String?

    /// Where a replica's primary serves the API (told by the primary), for the error a client
    /// gets when it sends an order to a replica.
    var leaderHint: String? {
        get { monitor.locked { leader } }
        set { monitor.locked { leader = newValue } }
    }

    init(node: Node, view: GatewayView) {
        self.node = node
        self.view = view
    }

    func submit(_ command: Command, wantsLines: Bool = false) async -> GatewayView.Outcome {
        monitor.lock()
        let tag = nextTag
        nextTag += 1
        monitor.unlock()
        return await withCheckedContinuation { (continuation: CheckedContinuation<GatewayView.Outcome, Never>) in
            view.expect(tag, wantsLines: wantsLines) { continuation.resume(returning: $0) }
            switch node.submit(command, tag: tag) {
            case .queued: break
            case .busy: view.cancel(tag, .busy)
            case .stopped: view.cancel(tag, .stopped)
            case .notLeader: view.cancel(tag, .notLeader(leader: leaderHint))
            }
        }
    }
}
