import Codec
import Foundation
import Journal
import Matching
import Node
import Testing
import Workloads

@Suite struct SnapshotAndRecoveryTests {
    @Test func aSnapshotFileReadsBackAndEveryDamageIsFound() throws {
        let scratch = Scratch("snapfile")
        let report = try simulate(into: scratch.data, seed: 3, commands: 3_000)
        let state = try Recovery.rebuild(journal: scratch.data.journal, RebuildOptions()).replayer
        let body = state.engine.canonicalState()
        let header = try SnapshotStore.write(body, sequence: state.lastSequence, timestampNs: state.lastTimestampNs,
                                             createdNs: 1, to: scratch.data.snapshots)
        #expect(header.compressed && header.storedBytes < header.rawBytes)
        #expect(header.stateDigest == report.stateDigest)
        let path = scratch.data.snapshots + "/" + SnapshotStore.fileName(sequence: state.lastSequence)
        let (read, readBody) = try SnapshotStore.read(path)
        #expect(read == header && readBody == body)
        // Flip one byte at a time in the header and at spread positions of the body.
        let original = try Data(contentsOf: URL(fileURLWithPath: path))
        var positions = Array(0..<SnapshotHeader.size).filter { !(120..<124).contains($0) }
        positions += stride(from: SnapshotHeader.size, to: original.count, by: max(1, original.count / 97)).map { $0 }
        for position in positions {
            var damaged = original
            damaged[position] ^= 0x10
            try damaged.write(to: URL(fileURLWithPath: path))
            #expect(throws: JournalError.self, "a flipped byte at \(position) went unnoticed") { try SnapshotStore.read(path) }
        }
        // Cut short.
        try original.prefix(original.count - 1).write(to: URL(fileURLWithPath: path))
        #expect(throws: JournalError.self) { try SnapshotStore.read(path) }
    }

    @Test func onlyTheNewestKSnapshotsAreKept() throws {
        let scratch = Scratch("keep")
        for seq in 1...6 as ClosedRange<UInt64> {
            try SnapshotStore.write(MatchingEngine().canonicalState(), sequence: seq, timestampNs: 0, createdNs: 0,
                                    to: scratch.data.snapshots, keep: 3)
        }
        #expect(try SnapshotStore.list(scratch.data.snapshots).map(\.sequence) == [6, 5, 4])
    }

    /// Snapshot at random points + the journal after it = the whole journal replayed.
    @Test func aSnapshotPlusTheTailGivesTheDigestOfAFullReplay() throws {
        let scratch = Scratch("tail")
        let report = try simulate(into: scratch.data, seed: 21, commands: 8_000)
        let full = try fullReplayDigest(scratch.data.journal)
        #expect(full.digest == report.stateDigest && full.last == report.lastSequence)
        var r = SplitMix64(seed: 99)
        for _ in 0..<5 {
            let point = 1 + r.next() % full.last
            let snapshots = scratch.path + "/snaps-\(point)"
            let prefix = try Recovery.rebuild(journal: scratch.data.journal, RebuildOptions(toSeq: point)).replayer
            #expect(prefix.lastSequence == point)
            try SnapshotStore.write(prefix.engine.canonicalState(), sequence: point, timestampNs: prefix.lastTimestampNs,
                                    createdNs: 0, to: snapshots)
            let recovered = try Recovery.rebuild(journal: scratch.data.journal, RebuildOptions(snapshots: snapshots))
            #expect(recovered.snapshotHeader?.sequence == point, "snapshot at \(point) not used")
            #expect(recovered.replayed == Int(full.last - point))
            #expect(recovered.replayer.digest == full.digest, "snapshot at \(point): digest differs from a full replay")
        }
    }

    @Test func aCorruptNewestSnapshotFallsBackToTheOneBefore() throws {
        let scratch = Scratch("fallback")
        _ = try simulate(into: scratch.data, seed: 5, commands: 4_000)
        let full = try fullReplayDigest(scratch.data.journal)
        for point: UInt64 in [1_000, 2_500] {
            let prefix = try Recovery.rebuild(journal: scratch.data.journal, RebuildOptions(toSeq: point)).replayer
            try SnapshotStore.write(prefix.engine.canonicalState(), sequence: point, timestampNs: 0, createdNs: 0,
                                    to: scratch.data.snapshots)
        }
        let newest = scratch.data.snapshots + "/" + SnapshotStore.fileName(sequence: 2_500)
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: newest))
        try handle.seek(toOffset: 200)
        try handle.write(contentsOf: Data([0xFF, 0x00, 0xFF]))
        try handle.close()
        let recovered = try Recovery.rebuild(journal: scratch.data.journal, RebuildOptions(snapshots: scratch.data.snapshots))
        #expect(recovered.snapshotHeader?.sequence == 1_000)
        #expect(recovered.refused.map(\.name) == [SnapshotStore.fileName(sequence: 2_500)])
        #expect(recovered.refused.first?.reason.contains("SHA-256") == true)
        #expect(recovered.replayer.digest == full.digest)
        // Asked for by name, the corrupt one is an error, not a fallback.
        #expect(throws: NodeError.self) {
            try Recovery.rebuild(journal: scratch.data.journal, RebuildOptions(snapshotFile: newest))
        }
        // With every snapshot corrupt, recovery starts from the journal's first command.
        let older = scratch.data.snapshots + "/" + SnapshotStore.fileName(sequence: 1_000)
        try Data("not a snapshot".utf8).write(to: URL(fileURLWithPath: older))
        let fromStart = try Recovery.rebuild(journal: scratch.data.journal, RebuildOptions(snapshots: scratch.data.snapshots))
        #expect(fromStart.snapshot == nil && fromStart.refused.count == 2)
        #expect(fromStart.replayer.digest == full.digest)
    }

    /// A journal whose checkpoint carries another digest: the replay stops there, naming it.
    @Test func aCheckpointMismatchIsAHardErrorNamingTheSequence() throws {
        let scratch = Scratch("checkpoint")
        let commands = marketCommands(seed: 8, count: 400)
        func write(_ journal: String, wrongDigest: Bool) throws -> (first: UInt64, second: UInt64) {
            let writer = try JournalWriter(directory: journal, options: JournalOptions(durability: .none))
            var engine = MatchingEngine()
            var events = EventBuffer()
            var bytes: [UInt8] = []
            func append(_ c: Command) throws -> UInt64 {
                bytes.removeAll()
                CommandCodec.encode(c, into: &bytes)
                events.removeAll()
                engine.apply(c, into: &events)
                return try writer.append(bytes, timestampNs: 0)
            }
            for c in commands[..<200] { _ = try append(c) }
            let first = try append(.checkpoint(.first))
            var digest = SHA256Hasher.hash(engine.canonicalState()).bytes
            if wrongDigest { digest[7] ^= 1 }
            for c in commands[200...] { _ = try append(c) }
            let second = try append(.checkpoint(Checkpoint(verifiedSequence: first, stateDigest: digest)))
            try writer.close()
            return (first, second)
        }
        let good = try write(scratch.path + "/good", wrongDigest: false)
        let replay = try Recovery.rebuild(journal: scratch.path + "/good", RebuildOptions()).replayer
        #expect(replay.checkpointsVerified == 1)
        let bad = try write(scratch.path + "/bad", wrongDigest: true)
        #expect(good == bad)
        let error = #expect(throws: NodeError.self) {
            try Recovery.rebuild(journal: scratch.path + "/bad", RebuildOptions())
        }
        if case let .checkpointMismatch(sequence, verified, _, _)? = error {
            #expect(sequence == bad.second && verified == bad.first)
        } else {
            Issue.record("expected a checkpoint mismatch, got \(String(describing: error))")
        }
        // The CLI says it in one line and exits non-zero.
        let cli = try exchange(["journal", "replay", "--journal", scratch.path + "/bad", "--json"])
        #expect(cli.status != 0)
        #expect(cli.stderr.contains("checkpoint mismatch at sequence \(bad.second)"))
    }
}
