import Foundation
import Node
import _Posix

/// A node's membership of a cluster whose leader etcd elects (`--etcd URL --cluster NAME`).
///
/// Keys, under `/exchange/CLUSTER/`: `members/NAME` (each member's replication address, API
/// and journal end, bound to its lease) and `leader` (the leader's, bound to the leader's
/// lease). Every tick a member renews its lease and publishes where its journal ends; then:
/// - another member leads: follow it (the replication client's target);
/// - nobody leads, for three ticks in a row: the member whose journal is furthest (ties: the
///   smaller name) creates the leader key (a transaction: only one can) and is promoted, with
///   the key's create revision as its epoch (etcd's revisions only grow, so epochs do);
/// - it leads but its lease lapsed (it was stopped, cut off) or the key is not its own: it is
///   deposed, and stops (`onDeposed`): whatever it wrote after is cut when it rejoins.
public final class ClusterMember: @unchecked Sendable {
    public struct Options: Sendable {
        public var etcd: String
        public var cluster: String
        public var name: String
        /// Where replicas reach this member (its `--replication-listen`, with the real port).
        public var replication: String
        /// Where it serves the API (empty: nowhere).
        public var api: String
        public var leaseSeconds = 2
        public var tickNs: Int64 = 100_000_000
        public init(etcd: String, cluster: String, name: String, replication: String, api: String) {
            self.etcd = etcd; self.cluster = cluster; self.name = name; self.replication = replication; self.api = api
        }
    }

    public let options: Options
    private let etcd: EtcdClient
    private let node: Node
    private let client: ReplicationClient
    private let monitor = Monitor()
    private let wake = Monitor.Condition()
    private var stopped = false
    private var thread: WorkerThread?
    private var lease: UInt64 = 0
    private var leads = false
    private var following = ""
    private var quietTicks = 0
    public var onEvent: (@Sendable (String) -> Void)?
    /// Elected: the node was promoted with this epoch.
    public var onElected: (@Sendable (UInt64) -> Void)?
    /// Lost the leadership: the node must stop taking commands.
    public var onDeposed: (@Sendable (String) -> Void)?

    private var prefix: String { "/exchange/\(options.cluster)/" }
    private var leaderKey: String { prefix + "leader" }

    public init(options: Options, node: Node, client: ReplicationClient) {
        self.options = options
        self.node = node
        self.client = client
        etcd = EtcdClient(endpoint: options.etcd)
    }

    /// The leader etcd names now (nil: none, or etcd unreachable).
    public static func leader(etcd: String, cluster: String) -> (name: String, replication: String, epoch: UInt64)? {
        guard let entry = try? EtcdClient(endpoint: etcd).get("/exchange/\(cluster)/leader") else { return nil }
        let fields = Self.fields(entry.value)
        return (fields["name"] ?? "", fields["replication"] ?? "", entry.createRevision)
    }

    public func start() {
        thread = WorkerThread { [self] in run() }
    }

    /// Stops taking part; a leader gives its lease back so that another is elected at once.
    public func stop() {
        monitor.locked {
            stopped = true
            wake.broadcast()
        }
        thread?.join()
        thread = nil
        if lease != 0 { try? etcd.revoke(lease) }
    }

    public var isLeader: Bool { monitor.locked { leads } }

    private func run() {
        var lastError = ""
        while !monitor.locked({ stopped }) {
            do {
                try tick()
                lastError = ""
            } catch {
                let text = "\(error)"
                if text != lastError { onEvent?("etcd: \(text)") }
                lastError = text
                if monitor.locked({ leads }) {
                    // A leader that cannot renew its lease must assume it lapsed.
                    deposed("cannot reach etcd to renew the leadership: \(text)")
                    return
                }
            }
            monitor.locked {
                if !stopped { monitor.wait(on: wake, timeoutNs: options.tickNs) }
            }
        }
    }

    private func deposed(_ why: String) {
        monitor.locked {
            leads = false
            stopped = true
        }
        onDeposed?(why)
    }

    private func tick() throws {
        let renewed = lease != 0 ? try etcd.keepAlive(lease) : false
        if !renewed {
            if monitor.locked({ leads }) {
                deposed("its leadership lease lapsed")
                return
            }
            lease = try etcd.grant(ttlSeconds: options.leaseSeconds)
        }
        let head = node.journalHead
        try etcd.put(prefix + "members/" + options.name,
                     Self.encode(["name": options.name, "replication": options.replication, "api": options.api,
                                  "seq": String(head.sequence)]), lease: lease)
        let leader = try etcd.get(leaderKey)
        let fields = leader.map { Self.fields($0.value) } ?? [:]
        if monitor.locked({ leads }) {
            if fields["name"] != options.name { deposed("the leader key is gone or another's") }
            return
        }
        if let leader, let name = fields["name"], name != options.name, let address = fields["replication"] {
            quietTicks = 0
            if following != address, let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]) {
                following = address
                client.follow(host: String(address[..<colon]), port: port)
                onEvent?("following the leader \(name) at \(address) (epoch \(leader.createRevision))")
            }
            return
        }
        // No leader (or our own key from before a restart, waiting to lapse).
        guard leader == nil else { return }
        quietTicks += 1
        guard quietTicks >= 3, node.failed == nil else { return }
        let members = try etcd.list(prefix: prefix + "members/").map { Self.fields($0.value) }
        let mine = head.sequence
        let furthest = members.allSatisfy { m in
            guard let name = m["name"], name != options.name else { return true }
            let seq = UInt64(m["seq"] ?? "") ?? 0
            return seq < mine || (seq == mine && name > options.name)
        }
        guard furthest else { return }
        let (won, entry) = try etcd.create(leaderKey, Self.encode(["name": options.name, "replication": options.replication,
                                                                   "api": options.api]), lease: lease)
        guard won, let entry else { return }
        client.stop()
        guard node.promote(epoch: entry.createRevision, leader: options.name) else {
            deposed("elected, but the node could not be promoted")
            return
        }
        let deadline = monotonicNs() + 10_000_000_000
        while node.promotion == nil && node.failed == nil && monotonicNs() < deadline { usleep(1_000) }
        monitor.locked { leads = node.promotion != nil }
        guard let done = node.promotion else {
            deposed("elected, but the promotion did not complete")
            return
        }
        onEvent?("elected leader of \(options.cluster) with epoch \(done.epoch), after seq \(done.after)")
        onElected?(done.epoch)
    }

    static func encode(_ fields: [String: String]) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    static func fields(_ text: String) -> [String: String] {
        ((try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: String]) ?? [:]
    }
}
