import ArgumentParser
import Journal
#if canImport(Glibc)
import Glibc
#endif

@main
struct Exchange: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exchange",
        abstract: "The exchange core: a node, a simulator, snapshots, the journal and the matching engine's replay.",
        subcommands: [NodeCommand.self, SimCommand.self, SnapshotCommand.self, JournalCommand.self, StateCommand.self])

    /// What `--from-snapshot` means without a FILE (the argument parser needs a value).
    static let newestSnapshot = ":newest:"

    /// `--from-snapshot` takes an optional FILE: when no value follows it, the newest is meant.
    static func main() {
        var arguments = Array(CommandLine.arguments.dropFirst())
        var i = 0
        while i < arguments.count {
            if arguments[i] == "--from-snapshot" && (i + 1 == arguments.count || arguments[i + 1].hasPrefix("-")) {
                arguments.insert(newestSnapshot, at: i + 1)
            }
            i += 1
        }
        main(arguments)
    }
}

struct JournalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "journal",
        abstract: "Work with a journal directory.",
        subcommands: [Import.self, Export.self, Replay.self, Verify.self, Info.self, Generate.self, Retire.self])
}

/// Options every journal subcommand shares.
struct JournalOptionsGroup: ParsableArguments {
    @Option(name: .long, help: "The journal directory.")
    var journal: String

    @Flag(name: .long, help: "Print one JSON object as the last line of output.")
    var json = false

    /// The journal directory, which must exist (tools that read never create one).
    func existingJournal() throws -> String {
        guard JournalDirectory.exists(journal) else { throw fail("no journal directory at \(journal)") }
        return journal
    }
}

/// Ends the command with a one-line message on standard error and a non-zero exit.
func fail(_ message: String) -> ExitCode {
    let line = Array("exchange: \(message)\n".utf8)
    _ = line.withUnsafeBytes { Glibc.write(2, $0.baseAddress, $0.count) }
    return ExitCode.failure
}

/// Runs the journal work of a command; a journal error becomes the one-line failure.
func runJournal<T>(_ body: () throws(JournalError) -> T) throws -> T {
    do {
        return try body()
    } catch {
        throw fail(error.description)
    }
}
