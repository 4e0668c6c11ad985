import ArgumentParser
import Journal
import Projections

@main
struct Exchange: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exchange",
        abstract: "The exchange core: a node, a simulator, snapshots, the journal and the matching engine's replay.",
        version: "exchange \(Exchange.version) (journal format \(SegmentHeader.formatVersion), command records 3, interchange v1, read-model schema \(Schema.version))",
        subcommands: [NodeCommand.self, ReplicaCommand.self, PromoteCommand.self, StatusCommand.self, SimCommand.self, SimulateFaultsCommand.self, SimulateReplicationCommand.self, SnapshotCommand.self, JournalCommand.self,
                      StateCommand.self, ProjectCommand.self, QueryCommand.self, AdminCommand.self, DemoCommand.self])

    /// The release of this program (the formats it reads and writes are versioned on their own).
    static let version = "0.9.0"
}

struct JournalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "journal",
        abstract: "Work with a journal directory.",
        subcommands: [Import.self, Export.self, Replay.self, Verify.self, Info.self, Generate.self, Retire.self])
}

/// Options every journal subcommand shares.
