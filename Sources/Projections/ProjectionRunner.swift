import Codec
import Journal
import Matching

/// Where a projection run stands, for a progress line.
public struct ProjectionProgress: Sendable {
    public var lastSequence: UInt64
    public var commands: Int
    public var events: Int
    public var rows: Int
    public var batches: Int
}

/// What a projection run did. (A class: as a struct, a release build of the CLI read back the
/// `lastSequence` and `checkpoint` of the run's first assignment, not its last — a miscompile
/// that a print inside `run` made go away.)
public final class ProjectionSummary: @unchecked Sendable {
    /// The sequence the database held before the run (0: it was new).
    public let resumedFrom: UInt64
    public internal(set) var lastSequence: UInt64
    public internal(set) var commands = 0
    public internal(set) var events = 0
    public internal(set) var rows = 0
    public internal(set) var batches = 0
    public internal(set) var checkpoint: ProjectionCheckpoint?

    init(resumedFrom: UInt64, lastSequence: UInt64) {
        self.resumedFrom = resumedFrom
        self.lastSequence = lastSequence
    }
}

/// Feeds a read model from a journal: a new database from the journal's first record, an
/// existing one from the record after its checkpoint, one transaction per batch of commands.
///
/// Resuming replays the journal up to the checkpoint through a projector whose rows are
/// dropped (the engine, the open orders, the balances and the current klines are rebuilt as
/// they were), then checks that this is the journal the database was built from: the chain
/// hash after the checkpoint's block, the state digest at its last checkpoint record and the
/// number of ledger entries must all be the database's.
public final class ProjectionRunner {
    public let journal: String
    public let store: any ReadModelStore
    /// Commands per transaction (at most; a run that reaches the end of the journal writes what
    /// it has).
    public let batchCommandsMax: Int
    public let storage: any Storage
    /// Where the node's snapshots are: a read model that started from a snapshot resumes from it.
    public let snapshots: String?
    /// Whether a new read model starts from the newest snapshot (else from sequence 1).
    public let fromSnapshot: Bool
    public private(set) var projector: Projector
    private let marketData: MarketData?

    public init(journal: String, store: any ReadModelStore, batchCommandsMax: Int = 20_000,
                snapshots: String? = nil, fromSnapshot: Bool = false, marketData: MarketData? = nil,
                storage: any Storage = PosixStorage.shared) {
        precondition(!fromSnapshot || snapshots != nil, "starting from a snapshot needs the snapshots' directory")
        precondition(batchCommandsMax > 0, "a batch holds at least one command")
        self.journal = journal
        self.store = store
        self.batchCommandsMax = batchCommandsMax
        self.snapshots = snapshots
        self.fromSnapshot = fromSnapshot
        self.storage = storage
        self.marketData = marketData
        projector = Projector(marketData: marketData)
    }

    /// Projects what the journal holds; with `follow`, goes on as a writer appends. `shouldStop`
    /// is asked after each batch and while waiting (at least every `pollNs`): a stop ends the
    /// run after the batch in hand is written (with `finishesBeforeStopping`, once everything
    /// written so far is projected).
    /// - Parameter progress: called after each batch written.
    public func run(follow: Bool = false, pollNs: Int64 = 50_000_000, finishesBeforeStopping: Bool = false,
                    shouldStop: () -> Bool = { false },
                    progress: (ProjectionProgress) -> Void = { _ in }) throws(ReadModelError) -> ProjectionSummary {
        let checkpoint = try store.prepare()
        let reader: JournalReader
        do {
            reader = try JournalReader(directory: journal, storage: storage)
        } catch {
            throw ReadModelError("journal \(journal): \(error)")
        }
        let summary = ProjectionSummary(resumedFrom: checkpoint?.lastSequence ?? 0, lastSequence: 0)
        if let checkpoint, checkpoint.baseSequence > 0 {
            try start(fromSnapshotAt: checkpoint.baseSequence, reader)
        } else if checkpoint == nil, fromSnapshot {
            try start(fromSnapshotAt: nil, reader)
        } else if let first = reader.firstSequence, first > 1 {
            throw ReadModelError("journal \(journal) starts at sequence \(first): a read model is built from sequence 1, or from a snapshot (--from-snapshot)")
        }
        if let checkpoint { try catchUp(to: checkpoint, reader) }
        summary.lastSequence = projector.replayer.lastSequence
        summary.checkpoint = checkpoint

        let pipeline = BatchPipeline(store: store)
        defer { pipeline.close() }
        func report() {
            let written = pipeline.progress
            guard let checkpoint = written.checkpoint else { return }
            summary.rows = written.rows
            summary.batches = written.batches
            summary.lastSequence = checkpoint.lastSequence
            summary.checkpoint = checkpoint
            progress(ProjectionProgress(lastSequence: summary.lastSequence, commands: summary.commands,
                                        events: summary.events, rows: summary.rows, batches: summary.batches))
        }
        var indexed = false
        while true {
            let record = try applyNext(reader)
            if record && projector.batchCommands < batchCommandsMax { continue }
            if projector.batchCommands > 0 || projector.hasOpeningRows {
                summary.commands += projector.batchCommands
                summary.events += projector.batchEvents
                try pipeline.submit(try projector.takeBatch(chain: reader.chainOfCurrentBlock))
                report()
                // A stop asked in the middle of a long rebuild: after the batch in hand.
                if record && !finishesBeforeStopping && shouldStop() {
                    try pipeline.drain()
                    report()
                    return summary
                }
            }
            if record { continue }
            // At the end of what is written so far: everything derived reaches the database
            // before the projector waits, stops, or indexes.
            try pipeline.drain()
            report()
            if !indexed {
                try store.createIndexes()
                indexed = true
            }
            guard follow else { return summary }
            while !shouldStop() {
                do {
                    if try reader.waitForData(timeoutNs: pollNs) { break }
                } catch {
                    throw ReadModelError("journal \(journal): \(error)")
                }
            }
            if shouldStop() { return summary }
        }
    }

    /// Restores the engine from the snapshot at `sequence` (nil: the newest one the journal
    /// goes on from), checks its state digest, and positions the reader after it.
    private func start(fromSnapshotAt sequence: UInt64?, _ reader: JournalReader) throws(ReadModelError) {
        guard let snapshots else {
            throw ReadModelError("the read model starts from the snapshot at sequence \(sequence ?? 0): say where the snapshots are (--from-snapshot)")
        }
        projector = try Projector(snapshotIn: snapshots, at: sequence, journal: reader, storage: storage,
                                  marketData: marketData)
    }

    /// Applies the journal's next record; false at its end (so far).
    private func applyNext(_ reader: JournalReader) throws(ReadModelError) -> Bool {
        do {
            guard let record = try reader.nextView() else { return false }
            try projector.apply(record)
            return true
        } catch {
            // A JournalError (damage, I/O) or a NodeError (an undecodable record, a checkpoint
            // whose digest differs): either names where.
            throw ReadModelError("journal \(journal): \(error)")
        }
    }

    /// Replays the journal up to the checkpoint, dropping the rows, and checks that it is the
    /// journal the database was built from.
    private func catchUp(to checkpoint: ProjectionCheckpoint, _ reader: JournalReader) throws(ReadModelError) {
        let target = checkpoint.lastSequence
        while projector.replayer.lastSequence < target, try applyNext(reader) {
            if projector.batchCommands >= batchCommandsMax { _ = try projector.takeBatch(chain: .zero) }
        }
        let other = "the database was not built from this journal"
        guard projector.replayer.lastSequence == target else {
            throw ReadModelError("\(other): it holds sequences up to \(target), the journal ends at \(projector.replayer.lastSequence)")
        }
        guard reader.chainOfCurrentBlock == checkpoint.chain else {
            throw ReadModelError("\(other): the chain hash at sequence \(target) is \(reader.chainOfCurrentBlock.hex) in the journal, \(checkpoint.chain.hex) in the database")
        }
        let last = projector.replayer.lastCheckpoint
        guard (last?.sequence ?? 0) == checkpoint.checkpointSequence, (last?.digest.hex ?? "") == checkpoint.checkpointDigest else {
            throw ReadModelError("\(other): the state digest at checkpoint \(checkpoint.checkpointSequence) differs")
        }
        let rebuilt = try projector.takeBatch(chain: reader.chainOfCurrentBlock)
        guard rebuilt.checkpoint.ledgerEntries == checkpoint.ledgerEntries else {
            throw ReadModelError("\(other): it holds \(checkpoint.ledgerEntries) ledger entries, the journal gives \(rebuilt.checkpoint.ledgerEntries)")
        }
    }
}
