import ArgumentParser
import Codec
import Foundation
import Journal
import Matching
import Node

/// Replays a journal through the engine: from its start, or from a snapshot (`rebuild`
/// chooses and checks it), up to `toSeq` / `untilNs`; hands the event lines of the commands
/// stamped at or after `sinceNs` to `events`. Shows progress on a terminal unless `quiet`.
func replayJournal(_ directory: String, _ options: RebuildOptions = RebuildOptions(), sinceNs: Int64? = nil,
                   quiet: Bool = true, events: EventFile? = nil) throws -> StateRecovery {
    var options = options
    var sinceSeq: UInt64?
    if let sinceNs {
        // Seek by the blocks' times, then find the first command at or after `since`: the state
        // before it may come from a snapshot, the events from it on are printed.
        sinceSeq = try runJournal { () throws(JournalError) -> UInt64? in
            let reader = try JournalReader(directory: directory)
            try reader.seek(toTimestamp: sinceNs)
            while let record = try reader.nextView() {
                if record.timestampNs >= sinceNs { return record.sequence }
            }
            return nil
        } ?? UInt64.max
        options.snapshotBelow = sinceSeq
    }
    let progress = quiet ? nil : Progress(label: "replay", total: 0)
    do {
        let recovery = try Recovery.rebuild(journal: directory, options, progress: { reached, last in
            progress?.total = last
            progress?.show(reached)
        }) { replayer, command, record in
            guard let events, record.sequence >= (sinceSeq ?? 0) else { return }
            for event in replayer.buffer.events { events.write(event, of: command, seq: record.sequence, engine: replayer.engine) }
        }
        progress?.done()
        return recovery
    } catch {
        progress?.done()
        throw fail(error.description)
    }
}

/// A one-line progress bar on standard error, only when it is a terminal.
final class Progress {
    let label: String
    /// What 100% is (0: nothing to show yet).
    var total: UInt64
    let started = monotonicNs()
    private let visible = isatty(2) == 1

    init(label: String, total: UInt64) {
        self.label = label
        self.total = total
    }

    func show(_ at: UInt64) {
        guard visible, total > 0 else { return }
        let fraction = min(1, Double(at) / Double(total))
        let width = 30
        let filled = Int(fraction * Double(width))
        let seconds = Double(monotonicNs() - started) / 1e9
        let rate = seconds > 0 ? Double(at) / seconds : 0
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        printPartial("\r\(label) [\(bar)] \(Int(fraction * 100))%  seq \(at)/\(total)  \(format(rate, decimals: 0))/s ")
    }

    func done() {
        guard visible, total > 0 else { return }
        printPartial("\r" + String(repeating: " ", count: 90) + "\r")
    }

    private func printPartial(_ text: String) { writeAll(2, Array(text.utf8)) }
}

/// Parses a time option: nanoseconds since the epoch, or ISO-8601 (`2026-11-26T10:00:00Z`,
/// fractions of a second and `±HH:MM` offsets allowed).
func parseTime(_ text: String) -> Int64? {
    if let ns = Int64(text) { return ns }
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    var date = formatter.date(from: text)
    if date == nil {
        formatter.formatOptions = [.withInternetDateTime]
        date = formatter.date(from: text)
    }
    guard let date else { return nil }
    // Whole seconds exactly, then the fraction (a Double holds microseconds at best).
    let seconds = date.timeIntervalSince1970.rounded(.down)
    let fraction = date.timeIntervalSince1970 - seconds
    return Int64(seconds) * 1_000_000_000 + Int64((fraction * 1e6).rounded()) * 1_000
}

/// Event lines to a file, rendered straight into a buffer that is written 64 KiB at a time.
final class EventFile {
    private let file: UnsafeMutablePointer<FILE>
    private var buffer: [UInt8] = []

    init(path: String) throws {
        guard let file = fopen(path, "w") else { throw fail("cannot write \(path): \(String(cString: strerror(errno)))") }
        self.file = file
        buffer.reserveCapacity(1 << 17)
    }

    func write(_ event: Event, of command: Command, seq: UInt64, engine: MatchingEngine) {
        EventJSON.render(event, of: command, seq: seq, engine: engine, into: &buffer)
        buffer.append(0x0A)
        if buffer.count >= 1 << 16 { drain() }
    }

    private func drain() {
        _ = buffer.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
        buffer.removeAll(keepingCapacity: true)
    }

    func close() throws {
        drain()
        guard fclose(file) == 0 else { throw fail("writing events failed: \(String(cString: strerror(errno)))") }
    }
}

struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Append the commands of a JSON Lines file to a journal (created if new).")

    @Argument(help: "The commands, one JSON object a line.")
    var file: String

    @OptionGroup var common: JournalOptionsGroup

    func run() throws {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
            throw fail("cannot read \(file) as UTF-8")
        }
        // Every line is checked before anything is appended: a line that is not JSON stops
        // the import and nothing of the file goes in. Blank lines are skipped.
        var lines: [CommandJSON.Line] = []
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if line.allSatisfy({ $0 == " " || $0 == "\t" || $0 == "\r" }) { continue }
            guard let parsed = CommandJSON.decode(String(line)) else {
                throw fail("\(file):\(number + 1): not JSON; nothing was imported")
            }
            lines.append(parsed)
        }
        let directory = common.journal
        // The time of the journal's last command, if it has any.
        var previousNs: Int64? = FileManager.default.fileExists(atPath: directory)
            ? try runJournal { () throws(JournalError) in try JournalInfo.read(directory: directory) }.lastTimestampNs
            : nil
        let started = monotonicNs()
        let progress = common.json ? nil : Progress(label: "import", total: UInt64(lines.count))
        let (first, last) = try runJournal { () throws(JournalError) in
            let writer = try JournalWriter(directory: directory)
            var first: UInt64 = 0
            var bytes: [UInt8] = []
            for (i, line) in lines.enumerated() {
                if i & 0xFFFF == 0 { progress?.show(UInt64(i)) }
                // Without a ts: the previous command's time plus 1 µs, starting at 0.
                let ts = line.timestampNs ?? previousNs.map { $0 + 1_000 } ?? 0
                previousNs = ts
                bytes.removeAll(keepingCapacity: true)
                CommandCodec.encode(line.command, into: &bytes)
                let seq = try writer.append(bytes, timestampNs: ts)
                if first == 0 { first = seq }
            }
            try writer.flush()
            let last = writer.lastSequence
            try writer.close()
            return (first, last)
        }
        progress?.done()
        let seconds = Double(monotonicNs() - started) / 1e9
        let rate = seconds > 0 ? Double(lines.count) / seconds : 0
        if common.json {
            print("{\"first_seq\":\(first),\"last_seq\":\(last),\"commands\":\(lines.count),\"seconds\":\(format(seconds, decimals: 3))}")
        } else {
            print("imported \(lines.count) commands: sequences \(first)...\(last) in \(format(seconds, decimals: 3)) s (\(format(rate, decimals: 0)) commands/s)")
        }
    }
}

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the journal's commands as JSON Lines, each with its seq and ts.")

    @OptionGroup var common: JournalOptionsGroup

    @Option(name: .customLong("from-seq")) var fromSeq: UInt64?
    @Option(name: .customLong("to-seq")) var toSeq: UInt64?

    func run() throws {
        let directory = try common.existingJournal()
        let reader = try runJournal { () throws(JournalError) in try JournalReader(directory: directory) }
        if let fromSeq { try runJournal { () throws(JournalError) in try reader.seek(to: fromSeq) } }
        var count = 0
        var failure: String?
        var decoder = CommandDecoder()
        while let record = try runJournal({ () throws(JournalError) in try reader.nextView() }) {
            if let toSeq, record.sequence > toSeq { break }
            do {
                let command = try decoder.decode(record.bytes)
                print(CommandJSON.encode(command, seq: record.sequence, timestampNs: record.timestampNs))
                count += 1
            } catch {
                failure = "sequence \(record.sequence): undecodable command record: \(error)"
                break
            }
        }
        if let failure { throw fail(failure) }
        if common.json { print("{\"commands\":\(count)}") }
    }
}

struct Replay: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Replay the journal through the matching engine; write its events as JSON Lines.",
        discussion: """
        From the journal's start, or with --from-snapshot from the newest valid snapshot (of \
        --snapshots DIR, by default the snapshots directory beside the journal; or the FILE \
        given). --since/--until take nanoseconds since the epoch or ISO-8601 times: events are \
        written for the commands stamped in that window, and the state before --since comes \
        from the newest snapshot before it when --from-snapshot is given.
        """)

    @OptionGroup var common: JournalOptionsGroup

    @Option(name: .customLong("to-seq")) var toSeq: UInt64?
    @Option(help: "Write events from the first command stamped at or after this time.") var since: String?
    @Option(help: "Stop after the last command stamped at or before this time.") var until: String?
    @Option(help: "Write the events here (JSON Lines).") var events: String?
    @Option(name: .customLong("from-snapshot"),
            help: ArgumentHelp("Start from a snapshot: FILE, or without FILE the newest valid one.", valueName: "FILE"))
    var fromSnapshot: String?
    @Option(help: "The snapshot directory (default: ../snapshots beside the journal).") var snapshots: String?

    func run() throws {
        let directory = try common.existingJournal()
        var options = RebuildOptions(toSeq: toSeq)
        if let until {
            guard let ns = parseTime(until) else { throw fail("--until: not a time: \(until)") }
            options.untilNs = ns
        }
        var sinceNs: Int64?
        if let since {
            guard let ns = parseTime(since) else { throw fail("--since: not a time: \(since)") }
            sinceNs = ns
        }
        if fromSnapshot == Exchange.newestSnapshot {
            options.snapshots = snapshots ?? defaultSnapshots(forJournal: directory)
        } else if let file = fromSnapshot {
            options.snapshotFile = file
        }
        let file = try events.map { try EventFile(path: $0) }
        let outcome = try replayJournal(directory, options, sinceNs: sinceNs, quiet: common.json,
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
            o.add("checkpoints_verified", r.checkpointsVerified)
            print(o.text)
        } else {
            print("replay: \(outcome.summary)")
            print("\(r.commands) commands, \(r.events) events, \(r.trades) trades in \(format(outcome.seconds, decimals: 3)) s (\(format(rate, decimals: 0)) commands/s); \(r.checkpointsVerified) checkpoints verified")
            print("last seq \(r.lastSequence), state digest \(digest)")
        }
    }
}

/// `DIR/snapshots` for a journal at `DIR/journal`.
func defaultSnapshots(forJournal journal: String) -> String {
    var parts = journal.split(separator: "/", omittingEmptySubsequences: false)
    while parts.count > 1 && parts.last == "" { parts.removeLast() }
    parts.removeLast()
    let parent = parts.joined(separator: "/")
    return (parent.isEmpty ? (journal.hasPrefix("/") ? "" : ".") : parent) + "/snapshots"
}

struct StateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "state", abstract: "The L2 book of a symbol, or an account's balances, after replay.")

    @OptionGroup var common: JournalOptionsGroup
    @Option(name: .customLong("to-seq")) var toSeq: UInt64?
    @Option var book: String?
    @Option var levels: Int = 10
    @Option var account: UInt64?

    func run() throws {
        guard (book == nil) != (account == nil) else { throw fail("give exactly one of --book SYMBOL and --account ID") }
        let directory = try common.existingJournal()
        let engine = try replayJournal(directory, RebuildOptions(toSeq: toSeq)).replayer.engine
        if let book {
            guard let s = engine.symbolIndex(book), let depth = engine.depth(symbol: book, levels: max(0, levels)) else {
                throw fail("unknown symbol \(book)")
            }
            let info = engine.symbols[s]
            func side(_ levels: [(Int64, Int64)]) -> String {
                "[" + levels.map { "[\"\(ExactDecimal.format(units: $0.0, scale: info.priceDecimals))\",\"\(EventJSON.trimmed($0.1, info.qtyDecimals))\"]" }
                    .joined(separator: ",") + "]"
            }
            let line = "{\"symbol\":\"\(book)\",\"bids\":\(side(depth.bids)),\"asks\":\(side(depth.asks))}"
            print(line)
        } else if let account {
            guard engine.hasAccount(account) else { throw fail("unknown account \(account)") }
            var parts: [String] = []
            for asset in engine.assets {
                let b = engine.balance(account: account, asset: asset.name)!
                parts.append("\"\(asset.name)\":{\"free\":\"\(EventJSON.trimmed(b.free, asset.scale))\",\"locked\":\"\(EventJSON.trimmed(b.locked, asset.scale))\"}")
            }
            print("{\"account\":\(account),\"balances\":{\(parts.joined(separator: ","))}}")
        }
    }
}
