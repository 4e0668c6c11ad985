import ArgumentParser
import Codec
import Foundation
import Journal
import Matching
import Node
#if canImport(Glibc)
import Glibc
#endif

struct Replay: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Replay the journal through the matching engine; write its events as JSON Lines.",
        discussion: """
        From the journal's start; with --from-snapshot from the newest valid snapshot of \
        --snapshots DIR (by default the snapshots directory beside the journal), or with \
        --snapshot FILE from that one. --since/--until select commands by the time the \
        sequencer stamped them: events are written for the commands in that window, and with \
        --from-snapshot the state before --since comes from the newest snapshot before it.
        """)

    @OptionGroup var common: JournalOptionsGroup

    @Option(name: .customLong("to-seq"), help: "Stop after this sequence.") var toSeq: UInt64?
    @Option(help: "Write events from the first command stamped at or after this time (\(TimeArgument.accepted)).")
    var since: TimeArgument?
    @Option(help: "Stop after the last command stamped at or before this time (\(TimeArgument.accepted)).")
    var until: TimeArgument?
    @Option(help: "Write the events here (JSON Lines).") var events: String?
    @Flag(name: .customLong("from-snapshot"), help: "Start from the newest valid snapshot (before --since, if given).")
    var fromSnapshot = false
    @Option(help: ArgumentHelp("Start from this snapshot file.", valueName: "FILE")) var snapshot: String?
    @Option(help: "The snapshot directory (default: ../snapshots beside the journal).") var snapshots: String?

    func validate() throws {
        if snapshots != nil && !fromSnapshot { throw ValidationError("--snapshots needs --from-snapshot") }
        if fromSnapshot && snapshot != nil { throw ValidationError("give --from-snapshot or --snapshot FILE, not both") }
    }

    func run() throws {
        let directory = try common.existingJournal()
        var options = RebuildOptions(toSeq: toSeq)
        options.untilNs = until?.ns
        if fromSnapshot {
            options.snapshots = snapshots ?? defaultSnapshots(forJournal: directory)
        } else if let snapshot {
            options.snapshotFile = snapshot
        }
        let file = try events.map { try EventFile(path: $0) }
        let outcome = try replayJournal(directory, options, sinceNs: since?.ns, quiet: common.json,
                                        events: file)
        try file?.close()
        let r = outcome.replayer
        let rate = outcome.seconds > 0 ? Double(r.commands) / outcome.seconds : 0
        let digest = r.digest.hex
        if common.json {
            var o = JSONLine()
            o.add("last_seq", r.lastSequence)
            o.add("state_digest", digest)
            o.add("commands", r.commands)
            o.add("events", r.events)
            o.add("trades", r.trades)
            o.add("commands_per_second", rate, decimals: 0)
            o.add("seconds", outcome.seconds)
            if let header = outcome.snapshotHeader { o.add("snapshot_seq", header.sequence) } else { o.addNull("snapshot_seq") }
            o.add("checkpoints", r.checkpoints)
            o.add("checkpoints_verified", r.checkpointsVerified)
            print(o.text)
        } else {
            print("replay: \(outcome.summary)")
            print("\(r.commands) commands, \(r.events) events, \(r.trades) trades in \(format(outcome.seconds, decimals: 3)) s (\(format(rate, decimals: 0)) commands/s); \(r.checkpointsVerified) checkpoints verified")
            print("last seq \(r.lastSequence), state digest \(digest)")
        }
    }
}
