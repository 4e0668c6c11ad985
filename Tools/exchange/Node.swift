import ArgumentParser
import Codec
import Foundation
import Gateway
import Journal
import Matching
import Node
import Projections
#if canImport(Glibc)
import Glibc
import _Posix
#endif

// MARK: - exchange node

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
    @Flag(name: .customLong("accept-data-loss"),
          help: "Start even if the journal's last blocks hold acknowledged commands that are damaged or missing (its DURABLE mark is ahead of its valid blocks): they are cut off, and the loss reported. Without it the node refuses, naming the block.")
    var acceptDataLoss = false
    @Flag(help: "Take commands from standard input, acknowledge on standard output.") var stdin = false
    @Flag(help: "Print one JSON object as the last line (on stderr with --stdin).") var json = false
    @Option(help: "Keep a read model (a SQLite file or a postgres:// URL) up to date from the journal as the node writes it.")
    var project: String?
    @Option(help: "Serve the Binance Spot API v3 on HOST:PORT (port 0: any free port; the line 'gateway: Binance API on http://…' says which).")
    var listen: String?
    @Option(name: .customLong("request-weight"), help: "The Binance API's request weight limit per client IP: COUNT/SECONDS.")
    var requestWeight: String = "6000/60"
    @Option(name: .customLong("order-limits"), help: "The Binance API's new-order limits per account: COUNT/SECONDS,….")
    var orderLimits: String = "100/10,200000/86400"
    @Option(name: .customLong("admin-listen"), help: "Serve the admin API on HOST:PORT (keep it on loopback), with a new token in DIR/admin.token.")
    var adminListen: String?

    func run() throws {
        let durability = fsync
        var options = NodeOptions(data: DataDirectory(data))
        options.journal.durability = durability
        options.journal.acceptDataLoss = acceptDataLoss
        options.snapshotEveryCommands = snapshotEvery
        options.snapshotEveryNs = Int64(snapshotInterval * 1e9)
        options.keepSnapshots = keepSnapshots
        options.checkpointEvery = checkpointEvery
        options.retainJournalFromSnapshots = retainJournal
        ProcessSignals.install()
        // Human output goes to stderr when stdout carries acknowledgements.
        let toStderr = stdin
        let say: (String) -> Void = { line in
            if toStderr { printError(line) } else { print(line) }
        }
        if case .other = DataDirectory.contents(data) {
            throw fail("\(data) is not empty and is not a data directory (journal/, snapshots/): not starting a node there")
        }
        let sink = EventLinesSink(fd: 1)
        let listenAt = try listen.map { text in
            guard let address = Gateway.Address(text) else { throw fail("--listen \(text): not HOST:PORT") }
            return address
        }
        let adminAt = try adminListen.map { text in
            guard let address = Gateway.Address(text) else { throw fail("--admin-listen \(text): not HOST:PORT") }
            return address
        }
        var limits = RateLimitOptions()
        guard let weight = RateLimitOptions.Limit(requestWeight) else { throw fail("--request-weight \(requestWeight): not COUNT/SECONDS") }
        limits.requestWeight = weight
        limits.orders = try orderLimits.split(separator: ",").map { text in
            guard let limit = RateLimitOptions.Limit(String(text)) else { throw fail("--order-limits \(orderLimits): not COUNT/SECONDS,…") }
            return limit
        }
        let view = listenAt != nil || adminAt != nil ? GatewayView() : nil
        let node: Node
        do {
            node = try Node(options: options, sink: view.map { FanOutSink([sink, $0]) } ?? sink)
        } catch { throw fail(error.description) }
        // For `exchange snapshot create`, which signals a running node.
        let pidFile = nodePidFile(data)
        _ = writeAll(path: pidFile, Array("\(getpid())\n".utf8))
        defer { unlink(pidFile) }
        let tail = node.journalRecovery
        if tail.droppedAnything {
            say("recovered the journal: dropped a torn tail of \(tail.bytesDropped) bytes (\(tail.recordsDropped) records) at \(tail.tornSegment ?? "?") offset \(tail.tornOffset ?? 0)")
        }
        if tail.acknowledgedRecordsLost > 0 {
            say("recovered the journal: ACCEPTED THE LOSS of \(tail.acknowledgedRecordsLost) synced (possibly acknowledged) records, damaged or missing; the journal now ends at seq \(tail.lastSequence)")
        }
        say("recovered: \(node.recovery.summary)")
        var projector: LiveProjector?
        if let project {
            let store = try DatabaseOption.open(project)
            projector = LiveProjector(journal: DataDirectory(data).journal, store: store)
            projector!.start()
        }
        var gateway: Gateway?
        if let view {
            do {
                let directory = DataDirectory(data)
                try view.catchUp(journal: directory.journal, snapshots: directory.snapshots,
                                 to: node.recovery.replayer.lastSequence)
                view.start()
                let started = try Gateway(node: node, view: view, data: data)
                gateway = started
                if let listenAt {
                    let port = try started.listen(listenAt, limits: limits)
                    say("gateway: Binance API on http://\(listenAt.host.contains(":") ? "[\(listenAt.host)]" : listenAt.host):\(port)")
                }
                if let adminAt {
                    let port = try started.listenAdmin(adminAt)
                    say("gateway: admin API on http://\(adminAt.host.contains(":") ? "[\(adminAt.host)]" : adminAt.host):\(port) (token in \(AdminAPI.tokenPath(data: data)))")
                }
            } catch {
                gateway?.stopListening()
                view.stop()
                try? node.stop()
                throw fail(error.description)
            }
        }
        say("node on \(data) (fsync \(durability)), pid \(getpid()): \(stdin ? "reading commands from stdin" : "waiting for SIGINT/SIGTERM; SIGUSR1 takes a snapshot")")
        // The line that says the node is up (its pid file written) leaves at once, even into a
        // pipe: supervisors and tests wait for it.
        fflush(nil)
        let started = monotonicNs()
        var skipped = 0
        if stdin {
            func signalled() -> Bool {
                if ProcessSignals.takeSnapshotRequest() { node.requestSnapshot() }
                return ProcessSignals.stopRequested
            }
            (_, skipped) = feedCommandLines(from: 0, into: node, sink: sink, stop: signalled) { line, why in
                printError("exchange: stdin line \(line): \(why); skipped (nothing journaled)")
            }
        } else {
            var reported = monotonicNs()
            while !ProcessSignals.stopRequested && node.failed == nil {
                if ProcessSignals.takeSnapshotRequest() { node.requestSnapshot() }
                usleep(50_000)
                if let projector, monotonicNs() - reported > 10_000_000_000 {
                    reported = monotonicNs()
                    let lag = projector.lag(behind: node.appliedSequence)
                    if lag > 0 { say("projector: at seq \(projector.projectedSequence), \(lag) commands behind") }
                }
            }
        }
        // Requests in flight are answered before the node stops; then nothing more arrives.
        gateway?.stopListening()
        let stopped = Result { () throws(NodeError) in try node.stop() }
        view?.stop()
        do { try stopped.get() } catch { throw fail(error.description) }
        // The read model gets everything the node journaled before the node reports.
        let lagAtStop = projector.map { $0.lag(behind: node.appliedSequence) } ?? 0
        let drainStarted = monotonicNs()
        let projected = projector.map { $0.stop() }
        let drainSeconds = Double(monotonicNs() - drainStarted) / 1e9
        if case let .failure(error)? = projected {
            printError("exchange: the read model \(project ?? "") stopped: \(error) (the node went on; run exchange project to catch it up)")
        }
        let state = node.state
        let snapshots = node.snapshotFailures
        if snapshots.count > 0, let last = snapshots.last {
            printError("exchange: \(snapshots.count) snapshot writes failed (the journal holds every command); the last: \(last)")
        }
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
            o.add("snapshot_failures", snapshots.count)
            if let projector {
                o.add("projected_seq", projector.projectedSequence)
                o.add("projector_lag_at_stop", lagAtStop)
                o.add("projector_drain_seconds", drainSeconds)
                o.add("projector_ok", projector.failure == nil)
            }
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
