import ArgumentParser
import Codec
import Foundation
import Journal
import Matching

/// What a replay of a journal through the engine gives.
struct ReplayOutcome {
    var engine = MatchingEngine()
    var lastSequence: UInt64 = 0
    var commands = 0
    var events = 0
    var trades = 0
    var seconds = 0.0
    var digest: String { SHA256Hasher.hash(engine.canonicalState()).hex }
}

/// Replays a journal from its start through the engine, up to `toSeq` or the last record at or
/// before `untilNs`, handing each event line to `eventLine`.
func replayJournal(_ directory: String, toSeq: UInt64? = nil, untilNs: Int64? = nil,
                   eventLine: ((String) -> Void)? = nil) throws -> ReplayOutcome {
    var outcome = ReplayOutcome()
    var buffer = EventBuffer()
    let start = monotonicSeconds()
    let reader = try runJournal { () throws(JournalError) in try JournalReader(directory: directory) }
    if let first = reader.firstSequence, first != 1 {
        throw fail("the journal starts at sequence \(first): a replay needs it from 1")
    }
    var failure: String?
    while let record = try runJournal({ () throws(JournalError) in try reader.nextView() }) {
        if let toSeq, record.sequence > toSeq { break }
        if let untilNs, record.timestampNs > untilNs { break }
        let command: Command
        do {
            command = try CommandCodec.decode(record.bytes)
        } catch {
            failure = "sequence \(record.sequence): undecodable command record: \(error)"
            break
        }
        buffer.removeAll()
        outcome.engine.apply(command, into: &buffer)
        outcome.commands += 1
        outcome.events += buffer.events.count
        for event in buffer.events {
            if case .trade = event { outcome.trades += 1 }
            eventLine?(EventJSON.render(event, of: command, seq: record.sequence, engine: outcome.engine))
        }
        outcome.lastSequence = record.sequence
    }
    if let failure { throw fail(failure) }
    outcome.seconds = monotonicSeconds() - start
    return outcome
}

/// Buffered lines to a file.
final class LineFile {
    private let file: UnsafeMutablePointer<FILE>

    init(path: String) throws {
        guard let file = fopen(path, "w") else { throw fail("cannot write \(path): \(String(cString: strerror(errno)))") }
        self.file = file
    }

    func write(_ line: String) {
        fputs(line, file)
        fputc(0x0A, file)
    }

    func close() throws {
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
        let (first, last) = try runJournal { () throws(JournalError) in
            let writer = try JournalWriter(directory: directory)
            var first: UInt64 = 0
            var bytes: [UInt8] = []
            for line in lines {
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
        if common.json {
            print("{\"first_seq\":\(first),\"last_seq\":\(last),\"commands\":\(lines.count)}")
        } else {
            print("imported \(lines.count) commands: sequences \(first)...\(last)")
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
        while let record = try runJournal({ () throws(JournalError) in try reader.nextView() }) {
            if let toSeq, record.sequence > toSeq { break }
            do {
                let command = try CommandCodec.decode(record.bytes)
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
        abstract: "Replay the journal through the matching engine; write its events as JSON Lines.")

    @OptionGroup var common: JournalOptionsGroup

    @Option(name: .customLong("to-seq")) var toSeq: UInt64?
    @Option(help: "Stop after the last command at or before this time (ns since the epoch).") var until: Int64?
    @Option(help: "Write the events here (JSON Lines).") var events: String?

    func run() throws {
        let directory = try common.existingJournal()
        let file = try events.map { try LineFile(path: $0) }
        let outcome = try replayJournal(directory, toSeq: toSeq, untilNs: until, eventLine: file.map { f in { f.write($0) } })
        try file?.close()
        let rate = outcome.seconds > 0 ? Double(outcome.commands) / outcome.seconds : 0
        if common.json {
            print("{\"last_seq\":\(outcome.lastSequence),\"state_digest\":\"\(outcome.digest)\",\"commands\":\(outcome.commands),\"events\":\(outcome.events),\"trades\":\(outcome.trades),\"commands_per_second\":\(format(rate, decimals: 0))}")
        } else {
            print("replayed \(outcome.commands) commands (to seq \(outcome.lastSequence)): \(outcome.events) events, \(outcome.trades) trades, \(format(rate, decimals: 0)) commands/s")
            print("state digest \(outcome.digest)")
        }
    }
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
        let engine = try replayJournal(directory, toSeq: toSeq).engine
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
