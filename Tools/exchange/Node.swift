import ArgumentParser
import Codec
import Foundation
import Journal
import Matching
import Node
import Simulation
import Synchronization
import _JournalTesting
#if canImport(Glibc)
import Glibc
#endif

// MARK: - exchange node

/// Writes each acknowledged command's events to standard output as INTERCHANGE event lines,
/// flushed whenever the engine has caught up: a line on stdout is an acknowledgement.
final class StdoutSink: NodeSink, @unchecked Sendable {
    private var buffer = ByteOutput(capacity: 1 << 17)
    private(set) var acknowledged = 0
    private(set) var broken = false

    func acknowledged(tag: UInt64, sequence: UInt64, timestampNs: Int64, command: Command, events: EventList,
                      engine: MatchingEngine) {
        for event in events {
            EventJSON.render(event, of: command, seq: sequence, engine: engine, into: &buffer)
            buffer.append(0x0A)
        }
        acknowledged += 1
        if buffer.count >= 1 << 16 { flush() }
    }

    func failed(tag: UInt64, error: NodeError) {
        // Nothing to write: the node stops, and `stop()` reports the failure in one line.
    }

    func caughtUp(to sequence: UInt64) { flush() }

    private func flush() {
        if buffer.count > 0 && !broken { broken = !buffer.withBytes { writeAll(1, $0) } }
        buffer.removeAll()
    }
}

struct NodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node",
        abstract: "Run a node on a data directory (DIR/journal, DIR/snapshots); recovers on start.",
        discussion: """
        With --stdin it reads INTERCHANGE commands (JSON Lines) from standard input and writes \
        each command's events to standard output once the command is durable: a line on \
        stdout is an acknowledgement. SIGINT/SIGTERM stop it cleanly (everything queued is \
        applied, the journal synced and closed); SIGUSR1 takes a snapshot.
        """)

    @Option(help: "The data directory.") var data: String
    @Option(help: fsyncHelp) var fsync: Durability = .always
    @Option(name: .customLong("snapshot-every"), help: "Take a snapshot every N commands (0: never).")
    var snapshotEvery: UInt64 = 1_000_000
    @Option(name: .customLong("snapshot-interval"), help: "Take a snapshot every S seconds with new commands (0: never).")
    var snapshotInterval: Double = 0
    @Option(name: .customLong("keep-snapshots"), help: "Snapshots kept, newest first (0: all).")
    var keepSnapshots: Int = 3
    @Option(name: .customLong("checkpoint-every"), help: "Journal a state-digest checkpoint every N commands (0: never).")
    var checkpointEvery: UInt64 = 1_000_000
    @Flag(name: .customLong("retain-journal"), help: "Delete journal segments wholly below the oldest kept snapshot.")
    var retainJournal = false
    @Flag(help: "Take commands from standard input, acknowledge on standard output.") var stdin = false
    @Flag(help: "Print one JSON object as the last line (on stderr with --stdin).") var json = false

    func run() throws {
        let durability = fsync
        var options = NodeOptions(data: DataDirectory(data))
        options.journal.durability = durability
        options.snapshotEveryCommands = snapshotEvery
        options.snapshotEveryNs = Int64(snapshotInterval * 1e9)
        options.keepSnapshots = keepSnapshots
        options.checkpointEvery = checkpointEvery
        options.retainJournalFromSnapshots = retainJournal
        installSignalHandlers()
        // Human output goes to stderr when stdout carries acknowledgements.
        let toStderr = stdin
        let say: (String) -> Void = { line in
            if toStderr { printError(line) } else { print(line) }
        }
        if case .other = DataDirectory.contents(data) {
            throw fail("\(data) is not empty and is not a data directory (journal/, snapshots/): not starting a node there")
        }
        let sink = StdoutSink()
        let node: Node
        do { node = try Node(options: options, sink: sink) } catch { throw fail(error.description) }
        // For `exchange snapshot create`, which signals a running node.
        let pidFile = nodePidFile(data)
        _ = writeAll(path: pidFile, Array("\(getpid())\n".utf8))
        defer { unlink(pidFile) }
        let tail = node.journalRecovery
        if tail.droppedAnything {
            say("recovered the journal: dropped a torn tail of \(tail.bytesDropped) bytes (\(tail.recordsDropped) records) at \(tail.tornSegment ?? "?") offset \(tail.tornOffset ?? 0)")
        }
        say("recovered: \(node.recovery.summary)")
        say("node on \(data) (fsync \(durability)), pid \(getpid()): \(stdin ? "reading commands from stdin" : "waiting for SIGINT/SIGTERM; SIGUSR1 takes a snapshot")")
        let started = monotonicNs()
        var lines = 0, skipped = 0
        if stdin {
            (lines, skipped) = readCommands(into: node, sink: sink)
        } else {
            while signalFlags.load(ordering: .relaxed) & 1 == 0 && node.failed == nil {
                if signalFlags.bitwiseAnd(~2, ordering: .relaxed).oldValue & 2 != 0 { node.requestSnapshot() }
                usleep(50_000)
            }
        }
        do { try node.stop() } catch { throw fail(error.description) }
        let state = node.state
        let seconds = Double(monotonicNs() - started) / 1e9
        let acknowledged = sink.acknowledged
        let digest = state.digest.hex
        if json {
            var o = JSONLine()
            o.add("last_seq", state.lastSequence)
            o.add("state_digest", digest)
            o.add("acknowledged", acknowledged)
            o.add("skipped_lines", skipped)
            o.add("seconds", seconds)
            say(o.text)
        } else {
            say("stopped at seq \(state.lastSequence): \(acknowledged) commands acknowledged in \(format(seconds, decimals: 3)) s; state digest \(digest)")
        }
    }
}

/// Reads INTERCHANGE commands from standard input and submits them, in batches of what is
/// already read; a line that is not a JSON object, or too large for a journal record, is
/// reported on standard error and skipped (nothing is journaled for it). Returns the lines read
/// and skipped.
func readCommands(into node: Node, sink: StdoutSink) -> (lines: Int, skipped: Int) {
    let recordBytesMax = JournalOptions().recordBytesMax
    var reader = LineReader(fd: 0, lineBytesMax: recordBytesMax)
    defer { reader.deallocate() }
    var decoder = CommandJSON.Reader()
    func signalled() -> Bool {
        if signalFlags.bitwiseAnd(~2, ordering: .relaxed).oldValue & 2 != 0 { node.requestSnapshot() }
        return signalFlags.load(ordering: .relaxed) & 1 != 0
    }
    func skip(_ line: Int, _ why: String) {
        printError("exchange: stdin line \(line): \(why); skipped (nothing journaled)")
    }
    // The lines already read are submitted together (one lock, one group commit for all of
    // them), moved into the queue; a line that is the last one available goes alone, at once.
    // Tags are line numbers: blank and skipped lines leave gaps, so a batch ends at one.
    var batch: [Command] = []
    batch.reserveCapacity(1_024)
    var firstTag: UInt64 = 0
    func submitBatch() -> Bool {
        guard !batch.isEmpty else { return true }
        return node.submit(taking: &batch, firstTag: firstTag, waitingForRoom: true) == .queued
    }
    var lines = 0, skipped = 0
    reading: while let item = reader.next(interrupted: signalled) {
        if signalled() || sink.broken { break }
        lines += 1
        switch item {
        case let .tooLong(bytes):
            skip(lines, "a line of \(bytes) bytes, longer than a journal record may be (\(recordBytesMax))")
            skipped += 1
        case let .line(line) where CommandJSON.isBlank(line):
            break
        case let .line(line):
            guard let parsed = decoder.decode(line) else {
                skip(lines, "not a JSON object")
                skipped += 1
                break
            }
            // A record is at most about twice its line (an invalid command keeps its text and
            // repeats its cmd and client id): only a line near the limit is measured.
            if line.count * 2 + 64 > recordBytesMax {
                var record: [UInt8] = []
                CommandCodec.encode(parsed.command, into: &record)
                if record.count > recordBytesMax {
                    skip(lines, "its record would take \(record.count) bytes, over the journal's limit of \(recordBytesMax)")
                    skipped += 1
                    break
                }
            }
            if !batch.isEmpty && UInt64(lines) != firstTag + UInt64(batch.count) {
                guard submitBatch() else { break reading }
            }
            if batch.isEmpty { firstTag = UInt64(lines) }
            batch.append(parsed.command)
        }
        if batch.count >= 1_024 || !reader.hasBufferedLine {
            guard submitBatch() else { break reading }
        }
    }
    _ = submitBatch()
    return (lines, skipped)
}

/// The process id of a node running on `data`: its pid file names a live process whose command
/// line is an `exchange node` on that directory (a stale file whose pid was reused by another
/// program must not be signalled).
func runningNode(_ data: String) -> Int32? {
    guard let text = try? String(contentsOfFile: nodePidFile(data), encoding: .utf8),
          let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0, kill(pid, 0) == 0,
          let raw = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return nil }
    let arguments = raw.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
    guard arguments.contains("node"), let i = arguments.firstIndex(of: "--data"), i + 1 < arguments.count else { return nil }
    // The same directory, however it was written.
    func canonical(_ path: String) -> String { URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path }
    var theirs = arguments[i + 1]
    if !theirs.hasPrefix("/"), let cwd = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/cwd") {
        theirs = cwd + "/" + theirs
    }
    return canonical(theirs) == canonical(data) ? pid : nil
}

/// Where a running node writes its process id.
func nodePidFile(_ data: String) -> String { data.hasSuffix("/") ? data + "node.pid" : data + "/node.pid" }
