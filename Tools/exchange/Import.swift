import ArgumentParser
import Codec
import Journal
#if canImport(Glibc)
import Glibc
import _Posix
#endif

struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Append the commands of a JSON Lines file to a journal (created if new).",
        discussion: """
        Every line is read and checked before anything is appended: a line that is not a JSON \
        object, or a command too large for a journal record, stops the import with its line \
        number and nothing is appended. A JSON object that is no valid command is journaled as \
        written (the engine rejects it with INVALID_COMMAND and a detail). Blank lines are \
        skipped; a trailing CR is not part of a line. A command without "ts" is stamped with the \
        previous command's time plus 1 µs (from 0). If appending fails part way (a full disk, \
        say), the error names the last line in the journal and --from-line continues after it.
        """)

    @Argument(help: "The commands, one JSON object a line.")
    var file: String

    @OptionGroup var common: JournalOptionsGroup

    @Option(name: .customLong("from-line"), help: "Import from this line of the file on (1 = the first).")
    var fromLine: Int = 1

    @Option(help: fsyncHelp) var fsync: Durability = .always

    @Option(name: .customLong("segment-kib"),
            help: "Size of the segment files of a new journal, in KiB (default 65536; an existing journal keeps its own).")
    var segmentKib: Int?

    func validate() throws {
        guard fromLine >= 1 else { throw ValidationError("--from-line must be 1 or more") }
        if let segmentKib, !(1...(1 << 22)).contains(segmentKib) {
            throw ValidationError("--segment-kib must be 1…4194304")
        }
    }

    func run() throws {
        let commands = try readCommands()
        let directory = common.journal
        switch JournalDirectory.contents(directory) {
        case .other:
            throw fail("\(directory) is not empty and holds no journal: nothing was imported")
        case .missing, .empty:
            if commands.isEmpty { return report(first: 0, last: 0, count: 0, seconds: 0) }
        case .journal:
            break
        }
        let started = monotonicNs()
        // New segments of an existing journal are the size its segments are, unless told.
        let segmentBytes = segmentKib.map { $0 << 10 }
            ?? JournalDirectory.lastSegmentHeader(directory).map { Int($0.segmentBytes) }
            ?? JournalOptions().segmentBytes
        let options = JournalOptions(segmentBytes: segmentBytes, durability: fsync, recordKind: .commands)
        let progress = common.json ? nil : Progress(label: "import", total: UInt64(commands.count))
        let (first, last) = try append(commands, to: directory, options: options, progress: progress)
        progress?.done()
        report(first: first, last: last, count: commands.count, seconds: Double(monotonicNs() - started) / 1e9)
    }

    /// A command ready to append: its record and time, and the line it came from.
    struct Prepared {
        var record: [UInt8]
        var timestampNs: Int64?
        var line: Int
    }

    /// Reads and checks the whole file (from `--from-line`) before anything is appended.
    func readCommands() throws -> [Prepared] {
        let text = try readFile(file)
        var reader = CommandJSON.Reader()
        var commands: [Prepared] = []
        let limit = JournalOptions().recordBytesMax
        var number = 0
        for line in text.split(separator: 0x0A, omittingEmptySubsequences: false) {
            number += 1
            guard number >= fromLine else { continue }
            // nil: not a command; .some(nil): a blank line.
            let parsed = line.withUnsafeBytes { raw -> CommandJSON.Line?? in
                CommandJSON.isBlank(raw) ? .some(nil) : reader.decode(raw).map { .some($0) }
            }
            guard let parsed else { throw fail("\(file):\(number): not a JSON object; nothing was imported") }
            guard let parsed else { continue }
            var record: [UInt8] = []
            CommandCodec.encode(parsed.command, into: &record)
            guard record.count <= limit else {
                throw fail("\(file):\(number): the command takes \(record.count) bytes, over the journal's record limit of \(limit); nothing was imported")
            }
            commands.append(Prepared(record: record, timestampNs: parsed.timestampNs, line: number))
        }
        return commands
    }

    /// Appends the commands; a failure part way says which line is the last one appended.
    func append(_ commands: [Prepared], to directory: String, options: JournalOptions,
                progress: Progress?) throws -> (UInt64, UInt64) {
        let writer = try runJournal { () throws(JournalError) in try JournalWriter(directory: directory, options: options) }
        // The time of the journal's last command, if it has any.
        var previousNs: Int64? = writer.lastSequence > 0
            ? try runJournal { () throws(JournalError) in try JournalInfo.read(directory: directory) }.lastTimestampNs
            : nil
        let first = writer.lastSequence + 1
        do throws(JournalError) {
            for (i, command) in commands.enumerated() {
                if i & 0xFFFF == 0 { progress?.show(UInt64(i)) }
                // Without a ts: the previous command's time plus 1 µs (never past the largest).
                let ts = command.timestampNs ?? previousNs.map { $0 > Int64.max - 1_000 ? Int64.max : $0 + 1_000 } ?? 0
                previousNs = ts
                _ = try writer.append(command.record, timestampNs: ts)
            }
            try writer.flush()
            try writer.close()
            return (commands.isEmpty ? 0 : first, writer.lastSequence)
        } catch {
            try? writer.close()
            progress?.done()
            // What the journal holds now is the truth, whatever the writer managed to write.
            let last = (try? JournalInfo.read(directory: directory).lastSequence) ?? first - 1
            let appended = last >= first ? Int(last - first + 1) : 0
            let resume = appended < commands.count ? commands[appended].line : commands.last!.line + 1
            let done = appended == 0 ? "nothing of this file was appended"
                : "lines \(commands[0].line)…\(commands[appended - 1].line) are in the journal as sequences \(first)…\(last)"
            throw fail("\(error.description); \(done); --from-line \(resume) goes on from there")
        }
    }

    func report(first: UInt64, last: UInt64, count: Int, seconds: Double) {
        let rate = seconds > 0 ? Double(count) / seconds : 0
        if common.json {
            var o = JSONLine()
            o.add("first_seq", first)
            o.add("last_seq", last)
            o.add("commands", count)
            o.add("seconds", seconds, decimals: 3)
            print(o.text)
        } else if count == 0 {
            print("imported 0 commands")
        } else {
            print("imported \(count) commands: sequences \(first)...\(last) in \(format(seconds, decimals: 3)) s (\(format(rate, decimals: 0)) commands/s)")
        }
    }
}
