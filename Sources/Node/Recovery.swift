import Codec
import Journal
import Matching
import _Posix

/// Where a node keeps its files: `DIR/journal/` (every `--journal` tool works on it) and
/// `DIR/snapshots/`.
public struct DataDirectory: Sendable {
    public let journal: String
    public let snapshots: String

    public init(_ path: String) {
        let base = path.hasSuffix("/") ? path : path + "/"
        journal = base + "journal"
        snapshots = base + "snapshots"
    }

    /// A journal directory and a snapshot directory anywhere.
    public init(journal: String, snapshots: String) {
        self.journal = journal
        self.snapshots = snapshots
    }

    /// The entries a data directory may hold: the journal, the snapshots, a running node's
    /// pid file, the gateway's node key and admin token, and a simulation's summary.
    public static let entries: Set<String> = ["journal", "snapshots", "node.pid", "node.key", "admin.token", simulationMarker]
    /// Written by `exchange sim` into a data directory it made (its options and outcome).
    public static let simulationMarker = "simulation.json"

    /// What a path holds, as a tool that would run a node there must know first.
    public enum Contents: Equatable, Sendable {
        case missing, empty
        /// A data directory (only `entries`, and a journal directory that holds a journal or
        /// nothing); `simulation` when `exchange sim` made it.
        case data(simulation: Bool)
        /// A file, or a directory with anything else in it: never written into.
        case other
    }

    public static func contents(_ path: String) -> Contents {
        guard let names = JournalDirectory.entries(path) else {
            return JournalDirectory.contents(path) == .missing ? .missing : .other
        }
        if names.isEmpty { return .empty }
        guard names.allSatisfy(entries.contains) else { return .other }
        switch JournalDirectory.contents(DataDirectory(path).journal) {
        case .missing, .empty, .journal: return .data(simulation: names.contains(simulationMarker))
        case .other: return .other
        }
    }
}

/// Where a rebuild starts from and where it stops.
public struct RebuildOptions: Sendable {
    /// The snapshot directory to look in (nil: start from the journal's first command).
    public var snapshots: String?
    /// One snapshot file to start from (an error if it cannot be used).
    public var snapshotFile: String?
    /// Stop after this sequence.
    public var toSeq: UInt64?
    /// Stop before the first command stamped after this time.
    public var untilNs: Int64?
    /// Only snapshots below this sequence (a replay that must show the events from there).
    public var snapshotBelow: UInt64?
    /// Where the journal and the snapshots are.
    public var storage: any Storage

    public init(snapshots: String? = nil, snapshotFile: String? = nil, toSeq: UInt64? = nil,
                untilNs: Int64? = nil, snapshotBelow: UInt64? = nil, storage: any Storage = PosixStorage.shared) {
        self.snapshots = snapshots; self.snapshotFile = snapshotFile; self.toSeq = toSeq
        self.untilNs = untilNs; self.snapshotBelow = snapshotBelow; self.storage = storage
    }
}

/// How a state was rebuilt: which snapshot (and which were refused, and why), how much journal
/// was replayed, the digest reached and the time it took.
public struct StateRecovery {
    public var replayer: Replayer
    public var snapshot: SnapshotFile?
    public var snapshotHeader: SnapshotHeader?
    /// Snapshots tried and refused, newest first: (file name, reason).
    public var refused: [(name: String, reason: String)] = []
    /// Snapshots a node set aside before it started (`SnapshotStore.setAside`): past the end of
    /// its journal, they held records the journal lost.
    public var setAside: [String] = []
    /// Commands replayed from the journal after the snapshot.
    public var replayed: Int { replayer.commands }
    public var seconds = 0.0

    public var lastSequence: UInt64 { replayer.lastSequence }

    /// One line for operators.
    public var summary: String {
        var parts: [String] = []
        if let snapshot, let header = snapshotHeader {
            parts.append("snapshot \(snapshot.name) (seq \(header.sequence))")
        } else {
            parts.append("no snapshot")
        }
        for name in setAside { parts.append("set aside \(name) (past the journal's end: records it holds were lost)") }
        for r in refused { parts.append("refused \(r.name): \(r.reason)") }
        parts.append("replayed \(replayed) commands to seq \(lastSequence)")
        parts.append("\(Double(Int(seconds * 1000)) / 1000) s")
        return parts.joined(separator: "; ")
    }
}

public enum Recovery {
    /// Rebuilds the state: the newest valid snapshot that fits the options (an older one when
    /// the newest is corrupt, the journal's start when none is valid) and the journal after
    /// it, up to `toSeq`, `untilNs` or the end. `progress` is called now and then with the
    /// sequence reached and the journal's last; `onRecord` after each command is applied.
    public static func rebuild(journal: String, _ options: RebuildOptions,
                               progress: ((_ reached: UInt64, _ last: UInt64) -> Void)? = nil,
                               onRecord: ((inout Replayer, Command, JournalRecord) throws(NodeError) -> Void)? = nil)
        throws(NodeError) -> StateRecovery {
        let snapshotFile = options.snapshotFile, toSeq = options.toSeq, storage = options.storage
        let started = monotonicNs()
        let info: JournalInfo
        do { info = try JournalInfo.read(directory: journal, storage: storage) } catch { throw .journal(error) }
        let firstInJournal: UInt64
        do { firstInJournal = try JournalDirectory.segments(journal, storage: storage).first?.firstSequence ?? 1 } catch { throw .journal(error) }
        // A journal whose records were all retired (its one segment empty) still says where it
        // ends: before its first segment's first sequence.
        let lastInJournal = info.records > 0 ? info.lastSequence : firstInJournal - 1

        var candidates: [SnapshotFile] = []
        if let snapshotFile {
            let name = String(snapshotFile.split(separator: "/").last ?? "")
            candidates = [SnapshotFile(path: snapshotFile, name: name, sequence: 0)]
        } else if let snapshots = options.snapshots {
            do { candidates = try SnapshotStore.list(snapshots, storage: storage) } catch { throw .journal(error) }
        }
        var recovery = StateRecovery(replayer: Replayer())
        for file in candidates {
            if snapshotFile == nil, let toSeq, file.sequence > toSeq { continue }
            if snapshotFile == nil, let below = options.snapshotBelow, file.sequence >= below { continue }
            do {
                // The header alone decides whether the file fits; only then is the body read
                // and checked (hashing and decompressing a snapshot that cannot be used is waste).
                let header = try SnapshotStore.header(file.path, storage: storage)
                guard header.sequence <= lastInJournal else {
                    throw NodeError.snapshot(path: file.path, reason: "it is at sequence \(header.sequence), past the journal's end (\(lastInJournal))")
                }
                if snapshotFile == nil, header.sequence != file.sequence {
                    throw NodeError.snapshot(path: file.path, reason: "its header says sequence \(header.sequence)")
                }
                if let toSeq, header.sequence > toSeq {
                    throw NodeError.snapshot(path: file.path, reason: "it is at sequence \(header.sequence), past --to-seq \(toSeq)")
                }
                if let untilNs = options.untilNs, header.timestampNs > untilNs {
                    throw NodeError.snapshot(path: file.path, reason: "it is at time \(header.timestampNs), past --until")
                }
                if let below = options.snapshotBelow, header.sequence >= below {
                    throw NodeError.snapshot(path: file.path, reason: "it is at sequence \(header.sequence), not before \(below)")
                }
                guard header.sequence + 1 >= firstInJournal else {
                    throw NodeError.snapshot(path: file.path, reason: "the journal starts at \(firstInJournal), after it")
                }
                let (checked, body) = try SnapshotStore.read(file.path, storage: storage)
                guard checked == header else {
                    throw NodeError.snapshot(path: file.path, reason: "it changed while being read")
                }
                let engine = try MatchingEngine(canonicalState: body)
                recovery.replayer = Replayer(engine: engine, after: header.sequence)
                recovery.snapshot = file
                recovery.snapshotHeader = header
                break
            } catch {
                // A failed read says nothing about the file: stop rather than fall back.
                if let e = error as? JournalError, e.isEnvironmentFailure { throw .journal(e) }
                let reason: String
                switch error {
                case let JournalError.badSnapshot(_, offset, why): reason = "byte offset \(offset): \(why)"
                case let e as JournalError: reason = e.description
                case let NodeError.snapshot(_, r): reason = r
                case let e as StateRestoreError: reason = e.description
                default: reason = "\(error)"
                }
                if snapshotFile != nil { throw NodeError.snapshot(path: file.path, reason: reason) }
                recovery.refused.append((file.name, reason))
            }
        }
        let start = recovery.lastSequence + 1
        if recovery.snapshot == nil && firstInJournal > 1 {
            let refused = recovery.refused.map { "\($0.name): \($0.reason)" }.joined(separator: "; ")
            throw NodeError.journalGap("the journal starts at sequence \(firstInJournal) and no valid snapshot covers what is before it"
                                       + (refused.isEmpty ? "" : " (refused: \(refused))"))
        }
        if lastInJournal >= start && toSeq.map({ $0 >= start }) ?? true {
            do {
                let reader = try JournalReader(directory: journal, storage: storage)
                if start > firstInJournal { try reader.seek(to: start) }
                while let record = try reader.nextView() {
                    if let toSeq, record.sequence > toSeq { break }
                    if let untilNs = options.untilNs, record.timestampNs > untilNs { break }
                    let command = try recovery.replayer.apply(record)
                    try onRecord?(&recovery.replayer, command, record)
                    if record.sequence & 0xFFFF == 0 { progress?(record.sequence, lastInJournal) }
                }
            } catch let e as JournalError {
                throw .journal(e)
            } catch let e as NodeError {
                throw e
            } catch {
                throw .journalGap("\(error)")
            }
        }
        recovery.seconds = Double(monotonicNs() - started) / 1e9
        return recovery
    }
}
