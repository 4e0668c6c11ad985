import ArgumentParser
import Codec
import Foundation
import Gateway
import Journal
import Matching
import Node
import Projections
import Replication
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
        applied, the journal synced and closed); SIGUSR1 takes a snapshot. With \
        --replication-listen, replicas (exchange replica) follow its journal.
        """)

    @OptionGroup var flags: NodeFlags
    @Flag(help: "Take commands from standard input, acknowledge on standard output.") var stdin = false

    func run() throws {
        try runNode(flags, stdin: stdin, primary: nil, name: flags.memberName)
    }
}

struct ReplicaCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replica",
        abstract: "Run a replica: follow a primary's journal (--primary, its --replication-listen), write it, apply it, serve reads.",
        discussion: """
        The replica's journal is its primary's, byte for byte; its state is the same at every \
        sequence. It serves the read-only API on --listen (orders get -1001 naming the \
        primary) and reports its progress to the primary (for --ack-replicas). `exchange \
        promote` makes it the primary, taking orders on the same --listen. It reconnects after \
        any break. A replica with --listen needs its primary's DIR/node.key copied into its \
        own data directory.
        """)

    @OptionGroup var flags: NodeFlags
    @Option(help: "The primary's replication address, HOST:PORT.") var primary: String

    func run() throws {
        try runNode(flags, stdin: false, primary: primary, name: flags.memberName)
    }
}

/// What `node` and `replica` share.
struct NodeFlags: ParsableArguments {
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
    @Option(name: .customLong("replication-listen"),
            help: "Stream the journal to replicas on HOST:PORT (a replica: once promoted). The line 'replication: listening on …' says which port.")
    var replicationListen: String?
    @Option(name: .customLong("ack-replicas"),
            help: "Acknowledge a command only once it is durable here and on K replicas (0: replicas follow asynchronously).")
    var ackReplicas: Int = 0
    @Option(help: "Elect the leader of --cluster on this etcd (its client URL, http://HOST:PORT): the node starts as a replica and follows, or leads, whoever etcd names.")
    var etcd: String?
    @Option(help: "The cluster's name in etcd (with --etcd).") var cluster: String = "main"
    @Option(help: "This node's name in its cluster and to its primary (default: the host name and the data directory).")
    var name: String?

    var memberName: String { name ?? (ProcessInfo.processInfo.hostName + ":" + data) }
}

/// Runs a node (a replica when `primary` is given) until SIGINT/SIGTERM.
func runNode(_ flags: NodeFlags, stdin: Bool, primary: String?, name: String) throws {
    let data = flags.data
    let durability = flags.fsync
    var options = NodeOptions(data: DataDirectory(data))
    options.journal.durability = durability
    options.journal.acceptDataLoss = flags.acceptDataLoss
    options.snapshotEveryCommands = flags.snapshotEvery
    options.snapshotEveryNs = Int64(flags.snapshotInterval * 1e9)
    options.keepSnapshots = flags.keepSnapshots
    options.checkpointEvery = flags.checkpointEvery
    options.retainJournalFromSnapshots = flags.retainJournal
    guard flags.ackReplicas >= 0 else { throw fail("--ack-replicas \(flags.ackReplicas): not a count") }
    if flags.ackReplicas > 0 && flags.replicationListen == nil {
        throw fail("--ack-replicas needs --replication-listen (where the replicas connect)")
    }
    options.ackReplicas = flags.ackReplicas
    if flags.etcd != nil && (flags.replicationListen == nil || primary != nil || stdin) {
        throw fail("--etcd needs --replication-listen (where the others follow this node when it leads), and no --primary or --stdin (etcd says who leads)")
    }
    ProcessSignals.install()
    // Human output goes to stderr when stdout carries acknowledgements.
    let toStderr = stdin
    let say: (String) -> Void = { line in
        if toStderr { printError(line) } else { print(line) }
    }
    if case .other = DataDirectory.contents(data) {
        throw fail("\(data) is not empty and is not a data directory (journal/, snapshots/): not starting a node there")
    }
    func address(_ text: String?, _ option: String) throws -> Gateway.Address? {
        try text.map { text in
            guard let address = Gateway.Address(text) else { throw fail("--\(option) \(text): not HOST:PORT") }
            return address
        }
    }
    let listenAt = try address(flags.listen, "listen")
    let adminAt = try address(flags.adminListen, "admin-listen")
    let replicationAt = try address(flags.replicationListen, "replication-listen")
    let primaryAt = try address(primary, "primary")
    var limits = RateLimitOptions()
    guard let weight = RateLimitOptions.Limit(flags.requestWeight) else { throw fail("--request-weight \(flags.requestWeight): not COUNT/SECONDS") }
    limits.requestWeight = weight
    limits.orders = try flags.orderLimits.split(separator: ",").map { text in
        guard let limit = RateLimitOptions.Limit(String(text)) else { throw fail("--order-limits \(flags.orderLimits): not COUNT/SECONDS,…") }
        return limit
    }
    // Replication: a server for replicas of this node, a client of its primary, or both (a
    // replica that streams once promoted).
    let server = replicationAt.map { _ in ReplicationServer(journal: DataDirectory(data).journal, ackReplicas: flags.ackReplicas) }
    let client = flags.etcd != nil ? ReplicationClient(host: "", port: 0, name: name)
        : primaryAt.map { ReplicationClient(host: $0.host, port: $0.port, name: name) }
    var observers: [any ReplicationObserver] = []
    if let client { observers.append(client) }
    if let server { observers.append(server) }
    if !observers.isEmpty { options.replication = observers.count == 1 ? observers[0] : ReplicationObservers(observers) }
    options.follower = client != nil
    if let primaryAt {
        try rejoin(data: data, primary: primaryAt, name: name, options: options.journal, say: say)
    } else if let etcd = flags.etcd, let leader = ClusterMember.leader(etcd: etcd, cluster: flags.cluster),
              leader.name != name, let at = Gateway.Address(leader.replication) {
        try rejoin(data: data, primary: at, name: name, options: options.journal, say: say)
    }

    let sink = EventLinesSink(fd: 1)
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
    if let project = flags.project {
        let store = try DatabaseOption.open(project)
        projector = LiveProjector(journal: DataDirectory(data).journal, store: store)
        projector!.start()
    }
    func hostPort(_ address: Gateway.Address, _ port: Int) -> String {
        "\(address.host.contains(":") ? "[\(address.host)]" : address.host):\(port)"
    }
    var gateway: Gateway?
    var replicationPort: Int?
    var member: ClusterMember?
    let stopAll = {
        gateway?.stopListening()
        client?.stop()
        server?.stop()
        view?.stop()
        try? node.stop()
    }
    do {
        if let server, let replicationAt {
            // Lines from the replication threads go to stderr: stdout carries event lines.
            server.onEvent = { line in printError("replication: " + line) }
            let port = try server.listen(host: replicationAt.host, port: replicationAt.port, node: node)
            replicationPort = port
            say("replication: listening on \(hostPort(replicationAt, port))\(flags.ackReplicas > 0 ? ", acknowledging on \(flags.ackReplicas) replica(s)" : "")")
        }
        if let view {
            let directory = DataDirectory(data)
            try view.catchUp(journal: directory.journal, snapshots: directory.snapshots, to: node.recovery.replayer.lastSequence)
            view.start()
            let made = Result { () throws(GatewayError) in
                try Gateway(node: node, view: view, data: data, createsNodeKey: client == nil)
            }
            if case let .failure(error) = made, client != nil {
                throw fail(flags.etcd != nil
                    ? "\(error): every member of a cluster needs the same node key; put a copy of one (32 random bytes, mode 0600) at \(data)/node.key"
                    : "\(error): a replica needs its primary's node key; copy the primary's DIR/node.key to \(data)/node.key")
            }
            let started = try made.get()
            gateway = started
            if let listenAt {
                let port = try started.listen(listenAt, limits: limits)
                say("gateway: Binance API on http://\(hostPort(listenAt, port))")
                server?.leader = "http://\(hostPort(listenAt, port))"
            }
            if let adminAt {
                let streamingPort = replicationPort
                var promotion: (@Sendable () -> (Bool, String))?
                if let client, flags.etcd == nil {
                    promotion = { promote(node, client: client, gateway: started, name: name) }
                }
                let status: @Sendable () -> String = { nodeStatus(node, server: server, client: client, replicationPort: streamingPort) }
                let control = AdminControl(status: status, promote: promotion)
                let port = try started.listenAdmin(adminAt, control: control)
                say("gateway: admin API on http://\(hostPort(adminAt, port)) (token in \(AdminAPI.tokenPath(data: data)))")
            }
        }
        if let client {
            client.onLeader = { [gateway] url in gateway?.setLeader(url) }
            client.onEvent = { line in printError("replica: " + line) }
            client.onDiverged = { why in ReplicaDivergence.shared.set(why) }
            client.start(node: node)
            if let primaryAt { say("replica of \(primaryAt.host):\(primaryAt.port) from seq \(node.journalHead.sequence)") }
        }
        if let etcd = flags.etcd, let client, let server, let replicationAt, let replicationPort {
            let advertised = "\(replicationAt.host):\(replicationPort)"
            let started = ClusterMember(options: .init(etcd: etcd, cluster: flags.cluster, name: name, replication: advertised,
                                                       api: server.leader), node: node, client: client)
            started.onEvent = { line in printError("cluster: " + line) }
            started.onElected = { [gateway] _ in gateway?.setLeader("") }
            started.onDeposed = { why in ReplicaDivergence.shared.set("deposed: " + why) }
            started.start()
            member = started
            say("cluster \(flags.cluster) on \(etcd) as \(name), from seq \(node.journalHead.sequence)")
        }
    } catch let error as ExitCode {
        stopAll()
        throw error
    } catch {
        stopAll()
        throw fail("\(error)")
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
        while !ProcessSignals.stopRequested && node.failed == nil && ReplicaDivergence.shared.reason == nil {
            if ProcessSignals.takeSnapshotRequest() { node.requestSnapshot() }
            usleep(50_000)
            if let projector, monotonicNs() - reported > 10_000_000_000 {
                reported = monotonicNs()
                let lag = projector.lag(behind: node.appliedSequence)
                if lag > 0 { say("projector: at seq \(projector.projectedSequence), \(lag) commands behind") }
            }
        }
    }
    // The node takes nothing more and finishes what is queued, answering the requests in
    // flight (a quorum it waits for gets its grace, then they fail); then the listeners close.
    member?.stop()
    node.beginStop()
    gateway?.stopListening()
    client?.stop()
    let stopped = Result { () throws(NodeError) in try node.stop() }
    server?.stop()
    view?.stop()
    if let why = ReplicaDivergence.shared.reason, why.hasPrefix("deposed: ") {
        var message = "this node lost the leadership of its cluster (\(why.dropFirst("deposed: ".count))) and stopped; restart it to rejoin as a replica (what it took since is cut)"
        if case let .failure(error) = stopped { message += "; " + error.description }
        throw fail(message)
    }
    do { try stopped.get() } catch { throw fail(error.description) }
    if let why = ReplicaDivergence.shared.reason {
        throw fail("this replica's journal is not on its primary's chain (\(why)); restart it to cut the records the primary does not have")
    }
    // The read model gets everything the node journaled before the node reports.
    let lagAtStop = projector.map { $0.lag(behind: node.appliedSequence) } ?? 0
    let drainStarted = monotonicNs()
    let projected = projector.map { $0.stop() }
    let drainSeconds = Double(monotonicNs() - drainStarted) / 1e9
    if case let .failure(error)? = projected {
        printError("exchange: the read model \(flags.project ?? "") stopped: \(error) (the node went on; run exchange project to catch it up)")
    }
    let state = node.state
    let snapshots = node.snapshotFailures
    if snapshots.count > 0, let last = snapshots.last {
        printError("exchange: \(snapshots.count) snapshot writes failed (the journal holds every command); the last: \(last)")
    }
    let seconds = Double(monotonicNs() - started) / 1e9
    let acknowledged = sink.acknowledged
    let digest = state.digest.hex
    if flags.json {
        var o = JSONLine()
        o.add("last_seq", state.lastSequence)
        o.add("state_digest", digest)
        o.add("chain_head", node.journalHead.chain.hex)
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

/// Set from the replication thread when the primary refuses this replica's journal.
final class ReplicaDivergence: @unchecked Sendable {
    static let shared = ReplicaDivergence()
    private let monitor = Monitor()
    private var why: String?
    func set(_ reason: String) { monitor.locked { if why == nil { why = reason } } }
    var reason: String? { monitor.locked { why } }
}

/// Before a replica's node starts: asks the primary where their histories part and cuts the
/// records after that point (kept in `DIR/cut-after-SEQ.jsonl`, never applied), saying how
/// many. A primary that cannot be reached is asked again by the connection; one that refuses
/// the journal stops the start.
func rejoin(data: String, primary: Gateway.Address, name: String, options: JournalOptions,
            say: (String) -> Void) throws {
    let journal = DataDirectory(data).journal
    guard FileManager.default.fileExists(atPath: journal) else { return }
    var writerOptions = options
    writerOptions.recordKind = .commands
    let open = { () throws -> JournalWriter in
        do { return try JournalWriter(directory: journal, options: writerOptions) } catch { throw fail("\(error)") }
    }
    let writer = try open()
    let points = writer.recentPoints().map { ChainPoint(sequence: $0.sequence, chain: $0.chain) }
    let last = writer.lastSequence
    try? writer.close()
    guard last > 0 else { return }
    let answer: ReplicaRejoin.Answer? = ReplicaRejoin.ask(host: primary.host, port: primary.port, points: points, name: name)
    switch answer {
    case nil:
        say("replica: the primary at \(primary.host):\(primary.port) did not answer; starting at seq \(last)")
    case let .refused(why)?:
        throw fail("the primary at \(primary.host):\(primary.port) refuses this replica's journal: \(why)")
    case let .from(from)? where from < last:
        // The records after `from` are kept, as JSON lines, before they are cut.
        let kept = (data.hasSuffix("/") ? data : data + "/") + "cut-after-\(from).jsonl"
        var lines = ""
        do {
            let reader = try JournalReader(directory: journal)
            try reader.seek(to: from + 1)
            var decoder = CommandDecoder()
            while let record = try reader.nextView() {
                lines += CommandJSON.encode(try decoder.decode(record.bytes), seq: record.sequence, timestampNs: record.timestampNs) + "\n"
            }
        } catch {
            throw fail("reading the records to cut after seq \(from): \(error)")
        }
        guard writeAll(path: kept, Array(lines.utf8)) else { throw fail("cannot write \(kept)") }
        let cutting = try open()
        let cut: UInt64
        do { cut = try cutting.cut(after: from) } catch { throw fail("cutting the journal after seq \(from): \(error)") }
        say("replica: cut \(cut) commands after seq \(from): the primary's chain does not hold them (they are kept in \(kept))")
    case .from?:
        break
    }
}

/// The node's status for `exchange status`: role, sequences, and its replication (the
/// replicas it streams to, or the primary it follows), with lag in commands and microseconds.
func nodeStatus(_ node: Node, server: ReplicationServer?, client: ReplicationClient?, replicationPort: Int?) -> String {
    let role = node.role
    let cursors = node.cursors
    let head = node.journalHead
    var o = JSONLine()
    o.add("role", role.isFollower ? (role.promoting ? "promoting" : "replica") : "primary")
    o.add("last_seq", head.sequence)
    o.add("chain_head", head.chain.hex)
    o.add("durable_seq", cursors.durable)
    o.add("applied_seq", cursors.applied)
    o.add("epoch", node.currentEpoch)
    if let failed = node.failed { o.add("failed", failed.description) }
    if let server, !role.isFollower {
        let replicas = server.replicas.map { r in
            var item = JSONLine()
            item.add("name", r.name)
            item.add("address", r.address)
            item.add("sent_seq", r.sent)
            item.add("durable_seq", r.durable)
            item.add("applied_seq", r.applied)
            item.add("lag_seq", r.lagSequences)
            item.add("lag_us", r.lagMicroseconds)
            return item.text
        }
        o.addRaw("replicas", "[" + replicas.joined(separator: ",") + "]")
    }
    if let replicationPort { o.add("replication_port", replicationPort) }
    if let client, role.isFollower {
        let s = client.current
        var p = JSONLine()
        p.add("connected", s.connected)
        p.add("leader", s.leader)
        p.add("written_seq", s.primaryWritten)
        p.add("received_seq", s.received)
        p.add("lag_seq", s.lagSequences)
        p.add("lag_us", s.lagMicroseconds(nowNs: wallClockNs()))
        if let error = s.lastError { p.add("last_error", error) }
        o.addRaw("primary", p.text)
    }
    return o.text
}

/// Promotes a replica: stops following, makes the node take submissions once every record
/// received is queued, and says at which sequence it took over.
func promote(_ node: Node, client: ReplicationClient, gateway: Gateway?, name: String) -> (Bool, String) {
    client.stop()
    guard node.promote(leader: name) else {
        return (false, #"{"error":"this node is no replica (any more)"}"#)
    }
    // The sequencer completes the promotion at its next step.
    let deadline = monotonicNs() + 10_000_000_000
    while node.promotion == nil && node.failed == nil && monotonicNs() < deadline { usleep(1_000) }
    var o = JSONLine()
    if let failed = node.failed {
        o.add("error", failed.description)
        return (false, o.text)
    }
    guard let done = node.promotion else { return (false, #"{"error":"the promotion did not complete"}"#) }
    gateway?.setLeader("")
    o.add("promoted", true)
    o.add("last_seq", done.after)
    o.add("epoch", done.epoch)
    return (true, o.text)
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
