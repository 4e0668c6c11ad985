import Journal
import Matching

/// What stops a node, a recovery or a replay. Each case says where.
public enum NodeError: Error, Equatable, Sendable, CustomStringConvertible {
    case journal(JournalError)
    /// A record that is no command of any known version.
    case undecodable(sequence: UInt64, reason: String)
    /// The state digest at `verifiedSequence` differs from what the checkpoint at `sequence`
    /// says the node had: this replay diverged from the one that wrote the journal.
    case checkpointMismatch(sequence: UInt64, verifiedSequence: UInt64, journaled: String, computed: String)
    /// The journal does not reach back to where the state must start.
    case journalGap(String)
    /// A snapshot that was asked for by name and cannot be used.
    case snapshot(path: String, reason: String)
    case invalidOptions(String)
    /// Replication stopped this node: a replica's stream that does not continue its journal,
    /// or commands a primary could not get acknowledged by its replicas.
    case replication(String)

    public var description: String {
        switch self {
        case let .journal(e): return e.description
        case let .undecodable(sequence, reason): return "sequence \(sequence): undecodable command record: \(reason)"
        case let .checkpointMismatch(sequence, verified, journaled, computed):
            return "checkpoint mismatch at sequence \(sequence): the state digest after sequence \(verified) is \(computed), the journal says \(journaled)"
        case let .journalGap(message): return message
        case let .snapshot(path, reason): return "snapshot \(path): \(reason)"
        case let .invalidOptions(message): return "invalid options: \(message)"
        case let .replication(message): return "replication: \(message)"
        }
    }
}

/// The engine fed from journal records: decodes, applies, counts, and checks checkpoints
/// (Journal/FORMAT.md, "Checkpoints"): at every checkpoint record it computes the state digest;
/// a checkpoint that names the sequence of the checkpoint before must carry that digest.
public struct Replayer {
    public var engine: MatchingEngine
    /// The last sequence applied (the snapshot's when none was applied yet).
    public private(set) var lastSequence: UInt64
    public private(set) var lastTimestampNs: Int64 = 0
    public private(set) var commands = 0
    public private(set) var events = 0
    /// Trades made by this replay (the engine numbers them, so they are not counted one by one).
    public var trades: Int { Int(engine.nextTradeId - firstTradeId) }
    /// Checkpoint records applied (a journal's first names no digest to check).
    public private(set) var checkpoints = 0
    /// The highest epoch of the term records applied (0: none since the start or snapshot).
    public private(set) var epoch: UInt64 = 0
    /// Checkpoints whose digest matched, and those that named a sequence this replay did not
    /// compute (it started after it, from a snapshot).
    public private(set) var checkpointsVerified = 0
    public private(set) var checkpointsUnverified = 0
    /// The digest computed at the last checkpoint record: (sequence, digest).
    public private(set) var lastCheckpoint: (sequence: UInt64, digest: Digest32)?
    public var buffer = EventBuffer(capacity: 256)
    private var decoder = CommandDecoder()

    /// The engine's trade counter when this replay started (trades are counted from it).
    private let firstTradeId: UInt64

    public init(engine: MatchingEngine = MatchingEngine(), after sequence: UInt64 = 0) {
        self.engine = engine
        self.lastSequence = sequence
        self.firstTradeId = engine.nextTradeId
    }

    /// The digest of the state now.
    public var digest: Digest32 { SHA256Hasher.hash(engine.canonicalState()) }

    /// Decodes and applies one record; its events are in `buffer` until the next call.
    @discardableResult
    public mutating func apply(_ record: JournalRecord) throws(NodeError) -> Command {
        let command: Command
        do {
            command = try decoder.decode(record.bytes)
        } catch {
            throw NodeError.undecodable(sequence: record.sequence, reason: error.reason)
        }
        try apply(command, sequence: record.sequence, timestampNs: record.timestampNs)
        return command
    }

    /// Applies one command journaled at `sequence`.
    /// It takes the command, as the engine does (a caller that keeps it pays one copy).
    public mutating func apply(_ command: consuming Command, sequence: UInt64, timestampNs: Int64) throws(NodeError) {
        var verify: Checkpoint?
        switch command {
        case let .checkpoint(c): verify = c
        case let .term(e, _): epoch = max(epoch, e)
        default: break
        }
        buffer.removeAll()
        engine.apply(command, into: &buffer)
        commands += 1
        events += buffer.count
        lastSequence = sequence
        lastTimestampNs = timestampNs
        if let verify { try checkpoint(verify, at: sequence) }
    }

    private mutating func checkpoint(_ c: Checkpoint, at sequence: UInt64) throws(NodeError) {
        checkpoints += 1
        if c.verifiedSequence > 0 {
            if let last = lastCheckpoint, last.sequence == c.verifiedSequence {
                let journaled = c.stateDigest.withUnsafeBytes { Digest32(loading: $0.baseAddress!) }
                guard journaled == last.digest else {
                    throw NodeError.checkpointMismatch(sequence: sequence, verifiedSequence: c.verifiedSequence,
                                                       journaled: journaled.hex, computed: last.digest.hex)
                }
                checkpointsVerified += 1
            } else {
                checkpointsUnverified += 1
            }
        }
        lastCheckpoint = (sequence, digest)
    }
}
