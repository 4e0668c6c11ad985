import ArgumentParser
import Codec
import Foundation
import Journal
import Node
#if canImport(Glibc)
import Glibc
import _Posix
#endif

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


/// Writes all of `bytes` to a file descriptor; false when it is closed.
@discardableResult
func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
    bytes.withUnsafeBytes { writeAll(fd, $0) }
}



func printError(_ line: String) { writeAll(2, Array((line + "\n").utf8)) }

struct DataOptions: ParsableArguments {
    @Option(help: "The data directory (DIR/journal, DIR/snapshots).") var data: String
    @Flag(help: "Print one JSON object as the last line of output.") var json = false

    /// The data directory, which must exist and be one (tools that read never create one).
    func existingData() throws -> DataDirectory {
        switch DataDirectory.contents(data) {
        case .data: return DataDirectory(data)
        case .missing: throw fail("no data directory at \(data)")
        case .empty, .other: throw fail("\(data) is not a data directory (journal/, snapshots/)")
        }
    }
}

extension Durability: ExpressibleByArgument {
    public init?(argument: String) { self.init(parsing: argument) }
    public static var defaultCompletionKind: CompletionKind { .list(["always", "none", "interval:"]) }
}

/// The `--fsync` help every command that writes a journal shows.
let fsyncHelp = ArgumentHelp(
    "When appended commands reach the disk: always (synced before they are acknowledged), none (page cache), or interval:MS.",
    valueName: "always|none|interval:MS")

/// A time given on the command line: nanoseconds since the Unix epoch, or ISO-8601.
struct TimeArgument: ExpressibleByArgument {
    static let accepted = "nanoseconds since the Unix epoch, or ISO-8601 such as 2026-01-01T00:00:00Z"
    var ns: Int64

    init?(argument: String) {
        guard let ns = parseTime(argument) else { return nil }
        self.ns = ns
    }
}

/// The whole of a file's bytes, or the failure saying why not ("no such file", "is a
/// directory", …).
func readFile(_ path: String) throws -> [UInt8] {
    do { return try readWholeFile(path) } catch { throw fail(error.description) }
}

/// Writes a whole file (created or replaced); false when it cannot.
func writeAll(path: String, _ bytes: [UInt8]) -> Bool {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    return writeAll(fd, bytes)
}
