import ArgumentParser
import Codec
import Foundation
import Journal
import Matching
import Node
import Simulation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

// MARK: - Signals

/// Set by the signal handlers: bit 0 stop (SIGINT, SIGTERM), bit 1 snapshot (SIGUSR1).
let signalFlags = Atomic<Int>(0)

/// Installs the handlers, without SA_RESTART so that a blocking read returns EINTR.
func installSignalHandlers() {
    func handle(_ signal: Int32, _ handler: @convention(c) (Int32) -> Void) {
        var action = sigaction()
        action.__sigaction_handler.sa_handler = handler
        sigemptyset(&action.sa_mask)
        action.sa_flags = 0
        sigaction(signal, &action, nil)
    }
    // A parent may have started us with these blocked (the mask is inherited); threads
    // created after this inherit the unblocked mask.
    var set = sigset_t()
    sigemptyset(&set)
    for s in [SIGINT, SIGTERM, SIGUSR1] { sigaddset(&set, s) }
    pthread_sigmask(SIG_UNBLOCK, &set, nil)
    handle(SIGINT) { _ in signalFlags.bitwiseOr(1, ordering: .relaxed) }
    handle(SIGTERM) { _ in signalFlags.bitwiseOr(1, ordering: .relaxed) }
    handle(SIGUSR1) { _ in signalFlags.bitwiseOr(2, ordering: .relaxed) }
    signal(SIGPIPE, SIG_IGN)
}

/// Writes all of `bytes` to a file descriptor; false when it is closed.
@discardableResult
func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
    var done = 0
    while done < bytes.count {
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + done, $0.count - done) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { return false }
        done += n
    }
    return true
}

func printError(_ line: String) { writeAll(2, Array((line + "\n").utf8)) }

// MARK: - exchange node

/// Writes each acknowledged command's events to standard output as INTERCHANGE event lines,
/// flushed whenever the engine has caught up: a line on stdout is an acknowledgement.
final class StdoutSink: NodeSink, @unchecked Sendable {
    private var buffer: [UInt8] = []
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
        if !buffer.isEmpty && !broken { broken = !writeAll(1, buffer) }
        buffer.removeAll(keepingCapacity: true)
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
    @Option(help: "Durability: always, none or interval:MS.") var fsync: String = "always"
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
        guard let durability = Durability(parsing: fsync) else {
            throw fail("--fsync must be always, none or interval:MS, not \(fsync)")
        }
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
        let sink = StdoutSink()
        let node: Node
        do { node = try Node(options: options, sink: sink) } catch { throw fail(error.description) }
        // For `exchange snapshot create`, which signals a running node.
        let pidFile = nodePidFile(data)
        let fd = open(pidFile, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        if fd >= 0 {
            writeAll(fd, Array("\(getpid())\n".utf8))
            close(fd)
        }
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
            var reader = LineReader(fd: 0)
            func signalled() -> Bool {
                if signalFlags.bitwiseAnd(~2, ordering: .relaxed).oldValue & 2 != 0 { node.requestSnapshot() }
                return signalFlags.load(ordering: .relaxed) & 1 != 0
            }
            // The lines already read are submitted together (one lock, one group commit for
            // all of them); a line that is the last one available goes alone, at once.
            var batch: [Command] = []
            var firstTag: UInt64 = 0
            func submitBatch() -> Bool {
                defer { batch.removeAll(keepingCapacity: true) }
                guard !batch.isEmpty else { return true }
                return node.submit(batch: batch, firstTag: firstTag, waitingForRoom: true) == .queued
            }
            reading: while let line = reader.next(interrupted: signalled) {
                if signalled() || sink.broken { break }
                lines += 1
                if !line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) {
                    if let parsed = CommandJSON.decode(String(decoding: line, as: UTF8.self)) {
                        // Tags are line numbers; blank and skipped lines leave gaps.
                        if batch.isEmpty { firstTag = UInt64(lines) }
                        if UInt64(lines) == firstTag + UInt64(batch.count) {
                            batch.append(parsed.command)
                        } else {
                            guard submitBatch() else { break reading }
                            firstTag = UInt64(lines)
                            batch.append(parsed.command)
                        }
                    } else {
                        printError("exchange: stdin line \(lines): not JSON; skipped (nothing journaled)")
                        skipped += 1
                    }
                }
                if batch.count >= 1_024 || !reader.hasBufferedLine {
                    guard submitBatch() else { break reading }
                }
            }
            _ = submitBatch()        } else {
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

/// Lines of a file descriptor, without the newline (a last line without one counts too).
struct LineReader {
    let fd: Int32
    private var buffer = [UInt8](repeating: 0, count: 1 << 16)
    private var start = 0, end = 0
    private var atEOF = false

    init(fd: Int32) { self.fd = fd }

    /// Whether a whole line is already read (the next `next` returns it without reading).
    var hasBufferedLine: Bool { buffer[start..<end].contains(0x0A) }

    /// The next line; nil at the end, or when a signal interrupted the read and
    /// `interrupted()` says to stop.
    mutating func next(interrupted: () -> Bool) -> ArraySlice<UInt8>? {
        while true {
            if let newline = buffer[start..<end].firstIndex(of: 0x0A) {
                defer { start = newline + 1 }
                return buffer[start..<newline]
            }
            if atEOF {
                guard start < end else { return nil }
                defer { start = end }
                return buffer[start..<end]
            }
            if start > 0 {
                buffer.replaceSubrange(0..<(end - start), with: buffer[start..<end])
                end -= start
                start = 0
            }
            if end == buffer.count { buffer.append(contentsOf: repeatElement(0, count: buffer.count)) }
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress! + end, $0.count - end) }
            if n < 0 && errno == EINTR {
                if interrupted() { return nil }
                continue
            }
            if n <= 0 { atEOF = true } else { end += n }
        }
    }
}

// MARK: - exchange snapshot

struct SnapshotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshot",
        abstract: "Create, list and verify snapshots of a data directory.",
        subcommands: [SnapshotCreate.self, SnapshotList.self, SnapshotVerify.self])
}

struct DataOptions: ParsableArguments {
    @Option(help: "The data directory (DIR/journal, DIR/snapshots).") var data: String
    @Flag(help: "Print one JSON object as the last line of output.") var json = false
}

func snapshotJSON(_ file: SnapshotFile, _ header: SnapshotHeader?, error: String? = nil) -> String {
    var o = JSONLine()
    o.add("file", file.name)
    o.add("seq", header?.sequence ?? file.sequence)
    if let header {
        o.add("ts", header.timestampNs)
        o.add("created_ns", header.createdNs)
        o.add("state_digest", header.stateDigest.hex)
        o.add("raw_bytes", header.rawBytes)
        o.add("stored_bytes", header.storedBytes)
    }
    o.add("ok", error == nil)
    if let error { o.add("error", error) }
    return o.text
}

struct SnapshotCreate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create",
        abstract: "Take a snapshot now: asks the running node (SIGUSR1), or rebuilds the state itself when none runs.")

    @OptionGroup var common: DataOptions
    @Option(name: .customLong("keep-snapshots"), help: "Snapshots kept, newest first (0: all; offline only).")
    var keepSnapshots: Int = 3
    @Option(help: "Seconds to wait for a running node's snapshot.") var timeout: Double = 60

    func run() throws {
        let data = DataDirectory(common.data)
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

struct SnapshotList: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "The snapshots, newest first, with what their headers say.")

    @OptionGroup var common: DataOptions

    func run() throws {
        let data = DataDirectory(common.data)
        let files = try runJournal { () throws(JournalError) in try SnapshotStore.list(data.snapshots) }
        for file in files {
            let header = try? SnapshotStore.header(file.path)
            if common.json {
                print(snapshotJSON(file, header, error: header == nil ? "unreadable header" : nil))
            } else if let header {
                print("\(file.name)  seq \(header.sequence)  ts \(header.timestampNs)  \(header.storedBytes) bytes  digest \(header.stateDigest.hex)")
            } else {
                print("\(file.name)  unreadable header")
            }
        }
        if common.json { print("{\"snapshots\":\(files.count)}") }
    }
}

struct SnapshotVerify: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check every snapshot: header CRC, body SHA-256, decompression, state digest, and that it restores.")

    @OptionGroup var common: DataOptions

    func run() throws {
        let data = DataDirectory(common.data)
        let files = try runJournal { () throws(JournalError) in try SnapshotStore.list(data.snapshots) }
        var bad = 0
        for file in files {
            var problem: String?
            var header: SnapshotHeader?
            do {
                let (h, body) = try SnapshotStore.read(file.path)
                header = h
                let engine = try MatchingEngine(canonicalState: body)
                if engine.canonicalState() != body { problem = "restores to a different state" }
            } catch {
                problem = "\(error)"
            }
            if problem != nil { bad += 1 }
            if common.json {
                print(snapshotJSON(file, header, error: problem))
            } else {
                print("\(file.name): \(problem.map { "BAD: \($0)" } ?? "ok (seq \(header!.sequence), digest \(header!.stateDigest.hex))")")
            }
        }
        if common.json { print("{\"ok\":\(bad == 0),\"snapshots\":\(files.count),\"bad\":\(bad)}") }
        if bad > 0 { throw fail("\(bad) of \(files.count) snapshots failed verification") }
    }
}

// MARK: - exchange sim

struct SimCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sim",
        abstract: "A deterministic market simulation through a real node into a real journal.",
        discussion: """
        Seeded agents (market makers, momentum and noise takers, cancel storms, clients sending \
        invalid commands, deposits and withdrawals) submit batches through the sequencer and \
        the journal to the engine, on a logical clock. The same seed, options and count give \
        the same journal (chain head) and state digest on every run and machine.
        """)

    @Option(help: "Seed of the agents.") var seed: UInt64 = 1
    @Option(help: "Commands the agents send (after the market's setup).") var commands: Int = 100_000
    @Option(help: "The journal directory (new or empty).") var journal: String?
    @Option(help: "A data directory instead (DIR/journal).") var data: String?
    @Option(help: "Symbols (1...26).") var symbols: Int = 3
    @Option(help: "Accounts.") var accounts: Int = 50
    @Option(help: "Agent mix: makers=40,momentum=15,noise=15,storms=10,invalid=10,transfers=10.") var mix: String?
    @Option(help: "Commands per batch (the agents see a batch's events before the next).") var batch: Int = 256
    @Option(help: "Durability: always, none or interval:MS.") var fsync: String = "none"
    @Flag(help: "Print one JSON object as the last line of output.") var json = false

    func run() throws {
        guard (journal == nil) != (data == nil) else { throw fail("give exactly one of --journal DIR and --data DIR") }
        guard let durability = Durability(parsing: fsync) else { throw fail("--fsync must be always, none or interval:MS") }
        var options = SimulationOptions()
        options.seed = seed
        options.commands = commands
        options.symbols = symbols
        options.accounts = accounts
        options.batch = batch
        if let mix {
            guard let parsed = AgentMix(parsing: mix) else { throw fail("--mix: expected kind=weight,… with kinds makers, momentum, noise, storms, invalid, transfers") }
            options.mix = parsed
        }
        let directory = data.map { DataDirectory($0) } ?? DataDirectory(journal: journal!, snapshots: journal! + ".snapshots")
        if !json { print("sim: seed \(seed), \(commands) commands, \(symbols) symbols, \(accounts) accounts, mix \(options.mix)") }
        let progress = json ? nil : Progress(label: "sim", total: UInt64(commands))
        let report: SimulationReport
        do {
            report = try Simulation(options: options).run(data: directory, durability: durability) { progress?.show(UInt64($0)) }
        } catch {
            progress?.done()
            throw fail(error.description)
        }
        progress?.done()
        let rate = report.seconds > 0 ? Double(report.commands + report.setupCommands) / report.seconds : 0
        if json {
            var o = JSONLine()
            o.add("seed", report.seed)
            o.add("commands", report.commands)
            o.add("setup_commands", report.setupCommands)
            o.add("last_seq", report.lastSequence)
            o.add("state_digest", report.stateDigest.hex)
            o.add("chain_head", report.chainHead.hex)
            o.add("trades", report.trades)
            o.add("events", report.events)
            o.add("rejected", report.rejected)
            o.add("seconds", report.seconds)
            o.add("commands_per_second", rate, decimals: 0)
            print(o.text)
        } else {
            print("\(report.commands) commands (+\(report.setupCommands) setup) to seq \(report.lastSequence): \(report.trades) trades, \(report.events) events, \(report.rejected) rejected, in \(format(report.seconds, decimals: 3)) s (\(format(rate, decimals: 0)) commands/s)")
            print("seed \(report.seed), state digest \(report.stateDigest.hex), chain head \(report.chainHead.hex)")
        }
    }
}
