import Codec
import Journal
import Matching
import Node
import Workloads
import _Posix

/// How often each kind of agent acts (relative weights).
public struct AgentMix: Equatable, Sendable, CustomStringConvertible {
    /// Market makers: quote both sides around the mid, re-quote, amend, cancel stale quotes.
    public var makers = 40
    /// Momentum takers: buy after the mid rose, sell after it fell (market and IOC).
    public var momentum = 15
    /// Noise takers: random market orders by qty or quote, IOC, FOK, with STP modes.
    public var noise = 15
    /// Cancel storms: a burst of orders, then `cancel_all`.
    public var storms = 10
    /// Clients that send invalid commands (bad JSON fields, unknown symbols, off-tick prices, …).
    public var invalid = 10
    /// Deposits and withdrawals.
    public var transfers = 10

    public init() {}

    static let names = ["makers", "momentum", "noise", "storms", "invalid", "transfers"]
    var weights: [Int] { [makers, momentum, noise, storms, invalid, transfers] }

    /// Parses `makers=40,noise=10,…` (kinds not named keep their default).
    public init?(parsing text: String) {
        self.init()
        for part in text.split(separator: ",") {
            let pair = part.split(separator: "=")
            guard pair.count == 2, let weight = Int(pair[1]), weight >= 0 else { return nil }
            switch pair[0] {
            case "makers": makers = weight
            case "momentum": momentum = weight
            case "noise": noise = weight
            case "storms": storms = weight
            case "invalid": invalid = weight
            case "transfers": transfers = weight
            default: return nil
            }
        }
        guard weights.reduce(0, +) > 0 else { return nil }
    }

    public var description: String {
        zip(Self.names, weights).map { "\($0)=\($1)" }.joined(separator: ",")
    }
}

public struct SimulationOptions: Sendable {
    public var seed: UInt64 = 1
    /// Commands the agents send (the market's setup comes before them).
    public var commands = 100_000
    public var symbols = 3
    public var accounts = 50
    public var mix = AgentMix()
    /// Commands submitted together; the agents see the results before the next batch.
    public var batch = 256
    /// The journal's segment files (the journal's content, and so its chain head, is the same
    /// whatever their size).
    public var segmentBytes = JournalOptions().segmentBytes

    public init() {}
}

/// What a simulation did.
public struct SimulationReport: Sendable {
    public var seed: UInt64
    public var commands: Int
    public var setupCommands: Int
    public var lastSequence: UInt64
    public var stateDigest: Digest32
    public var chainHead: Digest32
    /// The node's checkpoint records among the journal's (`lastSequence` is commands, setup
    /// commands and checkpoints together).
    public var checkpoints: Int { Int(lastSequence) - commands - setupCommands }
    public var trades: Int
    /// Every event of the journal, as its replay counts them: the agents' commands' events and
    /// one `ok` per checkpoint.
    public var events: Int
    public var rejected: Int
    public var seconds: Double
}

/// A deterministic market: seeded agents submit batches through a real node (sequencer,
/// journal, engine) on a logical clock, and see each batch's events before the next. The same
/// options give the same journal (the same chain head) and the same state digest on every run.
public final class Simulation: @unchecked Sendable {
    public let options: SimulationOptions
    private let agents: Agents

    public init(options: SimulationOptions) {
        self.options = options
        agents = Agents(options: options)
    }

    /// Runs the simulation into `data` (a new or empty directory), with `durability` for the
    /// journal. `progress` hears the commands done so far now and then.
    public func run(data: DataDirectory, durability: Durability = .none,
                    progress: ((Int) -> Void)? = nil) throws(NodeError) -> SimulationReport {
        guard options.symbols >= 1, options.symbols <= 26, options.accounts >= 2, options.batch >= 1,
              options.commands >= 0 else {
            throw .invalidOptions("symbols 1...26, accounts ≥ 2, batch ≥ 1, commands ≥ 0")
        }
        if let segments = try? JournalDirectory.segments(data.journal), !segments.isEmpty {
            throw .invalidOptions("\(data.journal) already holds a journal: a simulation starts from an empty directory")
        }
        var nodeOptions = NodeOptions(data: data)
        nodeOptions.journal.durability = durability
        nodeOptions.journal.segmentBytes = options.segmentBytes
        // 1 ms per sequence from 2026-01-01T00:00:00Z: the journal's times are the same on every run.
        nodeOptions.clock = .logical(startNs: 1_767_225_600_000_000_000, stepNs: 1_000_000)
        nodeOptions.checkpointEvery = 10_000
        nodeOptions.blockPerSubmission = true
        let started = monotonicNs()
        let driver = AgentDriver(agents: agents)
        let node = try Node(options: nodeOptions, sink: driver)
        driver.node = node
        func submit(_ all: [Command]) throws(NodeError) { try driver.submit(all) }
        do {
            let setup = agents.setupCommands()
            try submit(setup)
            var done = 0
            while done < options.commands {
                let n = min(options.batch, options.commands - done)
                try submit(agents.nextBatch(n))
                done += n
                if done % 65_536 < n { progress?(done) }
            }
            try node.stop()
            let state = node.state
            let head = try JournalVerifier.verify(directory: data.journal).chainHead
            let checkpoints = Int(state.lastSequence) - options.commands - setup.count
            return SimulationReport(
                seed: options.seed, commands: options.commands, setupCommands: setup.count,
                lastSequence: state.lastSequence, stateDigest: state.digest, chainHead: head,
                trades: agents.trades, events: agents.events + checkpoints, rejected: agents.rejected,
                seconds: Double(monotonicNs() - started) / 1e9)
        } catch let error as NodeError {
            try? node.stop()
            throw error
        } catch let error as JournalError {
            try? node.stop()
            throw .journal(error)
        } catch {
            try? node.stop()
            throw .invalidOptions("simulation failed: \(error)")
        }
    }

}

/// Drives seeded agents through a node: submits their commands in parts the node's queue can
/// take (each part one block) and lets them learn each part's events before the next. The
/// node's sink (or one of its sinks): it keeps the events of the commands it submitted, tagged
/// below `AgentDriver.tagLimit`.
public final class AgentDriver: NodeSink, @unchecked Sendable {
    public let agents: Agents
    /// Set once the node is made (the node needs its sink first).
    public var node: Node?
    /// Tags at and above it are other submitters' (a gateway's).
    public static let tagLimit: UInt64 = 1 << 62
    private let monitor = Monitor()
    private var acknowledgements: [[Event]] = []
    private var failure: NodeError?
    private var tag: UInt64 = 0

    public init(agents: Agents) { self.agents = agents }

    /// Submits `all`, waiting for each part's acknowledgements.
    public func submit(_ all: [Command]) throws(NodeError) {
        guard let node else { throw .invalidOptions("the agents have no node") }
        for start in stride(from: 0, to: all.count, by: node.submissionMax) {
            let commands = Array(all[start..<min(all.count, start + node.submissionMax)])
            monitor.locked { acknowledgements.removeAll(keepingCapacity: true) }
            switch node.submit(batch: commands, firstTag: tag, waitingForRoom: true) {
            case .queued:
                tag += UInt64(commands.count)
                let (acks, failed) = monitor.whenReady({ acknowledgements.count == commands.count || failure != nil }) {
                    (acknowledgements, failure)
                }
                if let failed { throw failed }
                for (command, events) in zip(commands, acks) { agents.learn(events, of: command) }
            case .busy, .stopped, .notLeader: throw node.failed ?? .invalidOptions("the node stopped")
            }
        }
    }

    public func acknowledged(tag: UInt64, sequence: UInt64, timestampNs: Int64, command: Command, events: EventList,
                             engine: MatchingEngine) {
        guard tag < Self.tagLimit else { return }
        monitor.locked {
            acknowledgements.append(Array(events))
            monitor.broadcast()
        }
    }

    public func failed(tag: UInt64, error: NodeError) {
        guard tag < Self.tagLimit else { return }
        monitor.locked {
            if failure == nil { failure = error }
            monitor.broadcast()
        }
    }
}

/// `mantissa × 10^-scale`, for the agents' and the order flow's literals.
func dec(_ mantissa: Int, _ scale: Int) -> ExactDecimal { ExactDecimal(mantissa: Int64(mantissa), scale: scale) }
