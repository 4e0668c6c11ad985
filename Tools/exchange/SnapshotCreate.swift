import ArgumentParser
import Codec
import Foundation
import Journal
import Matching
import Node
#if canImport(Glibc)
import Glibc
import _Posix
#endif

struct SnapshotCreate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create",
        abstract: "Take a snapshot now: asks the running node (SIGUSR1), or rebuilds the state itself when none runs.")

    @OptionGroup var common: DataOptions
    @Option(name: .customLong("keep-snapshots"), help: "Snapshots kept, newest first (0: all; offline only).")
    var keepSnapshots: Int = 3
    @Option(help: "Seconds to wait for a running node's snapshot.") var timeout: Double = 60

    func run() throws {
        let data = try common.existingData()
        guard JournalDirectory.exists(data.journal) else { throw fail("no journal at \(data.journal)") }
        let before = (try? SnapshotStore.list(data.snapshots).first?.sequence) ?? 0
        var header: SnapshotHeader
        var file: SnapshotFile
        if let pid = runningNode(common.data) {
            guard kill(pid, SIGUSR1) == 0 else { throw fail("cannot signal node \(pid)") }
            let deadline = monotonicNs() + Int64(timeout * 1e9)
            while true {
                if let newest = try? SnapshotStore.list(data.snapshots).first, newest.sequence > before,
                   let read = try? SnapshotStore.read(newest.path) {
                    header = read.header
                    file = newest
                    break
                }
                // The node writes none when nothing changed since its last one.
                guard monotonicNs() < deadline else {
                    throw fail("node \(pid) wrote no new snapshot within \(timeout) s (none is written when nothing changed)")
                }
                usleep(20_000)
            }
        } else {
            let recovery = try replayJournal(data.journal, RebuildOptions(snapshots: data.snapshots), quiet: common.json)
            let r = recovery.replayer
            guard r.lastSequence > 0 else { throw fail("the journal is empty: nothing to snapshot") }
            if r.lastSequence == recovery.snapshotHeader?.sequence {
                header = recovery.snapshotHeader!
                file = recovery.snapshot!
            } else {
                header = try runJournal { () throws(JournalError) in
                    try SnapshotStore.write(r.engine.canonicalState(), sequence: r.lastSequence, timestampNs: r.lastTimestampNs,
                                            createdNs: wallClockNs(), to: data.snapshots,
                                            keep: keepSnapshots)
                }
                file = SnapshotFile(path: data.snapshots + "/" + SnapshotStore.fileName(sequence: r.lastSequence),
                                    name: SnapshotStore.fileName(sequence: r.lastSequence), sequence: r.lastSequence)
            }
        }
        if common.json {
            print(snapshotJSON(file, header))
        } else {
            print("snapshot \(file.name): seq \(header.sequence), state digest \(header.stateDigest.hex), \(header.storedBytes) bytes (\(header.rawBytes) raw)")
        }
    }
}
