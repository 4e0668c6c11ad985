import Codec
import Journal
import Matching
import Node
import Workloads

/// What one seed of the replication simulation did.
public struct ReplicationSimulationReport: Sendable {
    public var seed: UInt64
    public var steps: Int
    public var submitted = 0
    public var acknowledged = 0
    public var failovers = 0
    public var replicaCrashes = 0
    public var resets = 0
    public var corruptions = 0
    public var partitions = 0
    public var commandsCut: UInt64 = 0
    public var lastSequence: UInt64 = 0
    public var stateDigest = Digest32.zero
}

/// A check of the replication simulation that failed: the seed and step reproduce it.
public struct ReplicationSimulationFailure: Error, CustomStringConvertible, Sendable {
    public var seed: UInt64
    public var step: Int
    public var message: String
    public var description: String { "seed \(seed), step \(step): \(message)" }
}

/// A primary and its replicas as node cores stepped by one thread, on simulated storage and a
/// simulated network, driven by a seed (the replication counterpart of `FaultSimulator`).
///
/// The network carries what the replication protocol carries: the primary's journal as stored
/// (`StoredBlockCursor`, pieces offered to the replica's node as the client does) and the
/// replicas' durable sequences back (the primary's quorum, `ackReplicas` 1). It delays pieces
/// and reports, resets connections (a replica then starts again from where it is), cuts links
/// for a while (partitions) and flips bits in transit (caught by the block CRC on arrival, the
/// connection reset). Nodes crash (process crashes: what was written stays, what was in memory
/// goes), one at a time; when the primary is gone long enough, the replica whose journal goes
/// furthest is promoted, as an election would; a crashed node comes back as a replica of the
/// primary of the moment, cutting what that primary's chain does not hold.
///
/// Checked: every command the primary of its time acknowledged is, at the end, at the same
/// sequence in the last primary's journal; every node ends on one chain head and state digest;
/// each node's journal is the last primary's, byte for byte.
public final class ReplicationSimulator {
    final class Recorder: NodeSink {
        var acknowledged: [(sequence: UInt64, command: Command)] = []
        func acknowledged(tag: UInt64, sequence: UInt64, timestampNs: Int64, command: Command, events: EventList,
                          engine: MatchingEngine) {
            if tag != 0 { acknowledged.append((sequence, command)) }
        }
        func failed(tag: UInt64, error: NodeError) {}
    }

    /// A connection from a replica to the primary: the primary's reading position and what is
    /// in flight either way, each with the step it arrives at.
    struct Link {
        var cursor: StoredBlockCursor
        var toReplica: [(at: Int, piece: ReplicaPiece, end: (UInt64, Digest32)?)] = []
        var toPrimary: [(at: Int, durable: UInt64)] = []
    }

    final class Member {
        let name: String
        let data: DataDirectory
        var core: NodeCore?
        let sink = Recorder()
        var link: Link?
        var downUntil = 0
        var partitionedUntil = 0
        var reported: UInt64 = 0
        /// After the last piece the replica's node queued: where a new connection starts (as
        /// `ReplicationClient` does; the node's journal may not have written them yet).
        var position: (sequence: UInt64, chain: Digest32) = (0, .zero)
        init(name: String) {
            self.name = name
            data = DataDirectory("/" + name)
        }
    }

    public let seed: UInt64
    public let steps: Int
    private var random: SplitMix64
    private let time = ManualTime(now: 1_000_000_000, wallOffsetNs: 1_767_225_600_000_000_000)
    private let storage: SimulatedStorage
    private let members: [Member]
    private var primary: Int? = 0
    private var primaryDownSince = 0
    private var step = 0
    private var report: ReplicationSimulationReport
    private var acknowledged: [UInt64: Command] = [:]
    private var commands: [Command]
    private var nextCommand = 0
    private var nextTag: UInt64 = 1
    /// Steps with no primary before one is elected (the lease).
    private let leaseSteps = 40

    /// Told what happens (crashes, elections, rejoins), a line at a time.
    public var trace: ((String) -> Void)?

    public init(seed: UInt64, steps: Int = 3_000, replicas: Int = 2) {
        self.seed = seed
        self.steps = steps
        random = SplitMix64(seed: seed)
        storage = SimulatedStorage(seed: seed, time: time)
        members = (0...replicas).map { Member(name: "n\($0)") }
        report = ReplicationSimulationReport(seed: seed, steps: steps)
        commands = OrderFlow.commands(seed: seed, count: steps * 4)
    }

    private func options(_ member: Member, follower: Bool) -> NodeOptions {
        var o = NodeOptions(data: member.data)
        o.storage = storage
        o.time = time
        o.journal = JournalOptions(segmentBytes: 16 << 10, blockBytesMax: 1 << 10, recordBytesMax: 4_096, durability: .always)
        o.checkpointEvery = 200
        o.queueCapacity = 64
        o.clock = .logical(startNs: 1_767_225_600_000_000_000, stepNs: 1_000)
        o.follower = follower
        o.ackReplicas = 1
        o.quorumStopGraceNs = 0
        return o
    }

    private func fail(_ message: String) -> ReplicationSimulationFailure {
        ReplicationSimulationFailure(seed: seed, step: step, message: message)
    }

    private func chance(_ perMille: UInt64) -> Bool { random.next() % 1_000 < perMille }

    public func run() throws(ReplicationSimulationFailure) -> ReplicationSimulationReport {
        do {
            members[0].core = try NodeCore(options: options(members[0], follower: false), sink: members[0].sink, snapshotThread: false)
            for member in members.dropFirst() {
                member.core = try NodeCore(options: options(member, follower: true), sink: member.sink, snapshotThread: false)
            }
        } catch {
            throw fail("start: \(error)")
        }
        for member in members.dropFirst() { connect(member) }
        while step < steps {
            step += 1
            try act(faults: step < steps - steps / 5)
        }
        // Healing: no faults, every node up, until every replica has the primary's end.
        for member in members where member.core == nil { try restart(member) }
        if primary == nil { try elect() }
        for member in members { member.partitionedUntil = 0 }
        var quiet = 0
        while quiet < 3 {
            step += 1
            let before = members.map { $0.core?.journalHead.sequence ?? 0 }
            try act(faults: false, submitting: false)
            let after = members.map { $0.core?.journalHead.sequence ?? 0 }
            quiet = before == after && Set(after).count == 1 ? quiet + 1 : 0
            guard step < steps * 3 else { throw fail("the nodes did not converge: \(after)") }
        }
        return try finish()
    }

    /// One step: maybe submit, step every node, move the network, maybe inject a fault.
    private func act(faults: Bool, submitting: Bool = true) throws(ReplicationSimulationFailure) {
        time.advance(byNs: 1_000_000)
        if submitting, let p = primary, let core = members[p].core, chance(300), nextCommand < commands.count {
            let n = min(1 + Int(random.next() % 8), commands.count - nextCommand)
            if core.submit(batch: Array(commands[nextCommand..<(nextCommand + n)]), firstTag: nextTag) == .queued {
                nextCommand += n
                nextTag += UInt64(n)
                report.submitted += n
            }
        }
        for member in members {
            guard let core = member.core else { continue }
            _ = core.sequencerStep()
            _ = core.engineStep()
            if let failed = core.failed {
                for m in members { trace?("\(m.name) segments: \(((try? storage.list(m.data.journal)) ?? []).filter { $0.hasSuffix(".seg") }.sorted())") }
                throw fail("\(member.name) failed: \(failed)")
            }
            try collect(member)
        }
        for member in members where member.link != nil { try network(member) }
        if faults { try inject() }
        if primary == nil && step - primaryDownSince >= leaseSteps { try elect() }
        for member in members where member.core == nil && step >= member.downUntil && primary != nil {
            // Back once a primary leads again (and not while it is the only one up).
            try restart(member)
        }
    }

    /// What the primary acknowledged to its clients, kept for the final check.
    private func collect(_ member: Member) throws(ReplicationSimulationFailure) {
        for (sequence, command) in member.sink.acknowledged {
            if let earlier = acknowledged[sequence], earlier != command {
                throw fail("sequence \(sequence) acknowledged as \(earlier.name), then by \(member.name) as \(command.name)")
            }
            acknowledged[sequence] = command
            report.acknowledged += 1
        }
        member.sink.acknowledged.removeAll()
    }

    private func connect(_ member: Member) {
        guard let p = primary, member.core != nil else { return }
        let cursor = StoredBlockCursor(directory: members[p].data.journal, storage: storage)
        do {
            try cursor.start(after: member.position.sequence, chain: member.position.chain)
        } catch {
            member.link = nil
            return
        }
        member.link = Link(cursor: cursor)
    }

    private func reset(_ member: Member) {
        member.link = nil
        report.resets += 1
    }

    /// Moves a replica's link: pieces read from the primary's journal go in flight with a
    /// delay, arrive in order (one connection is one ordered stream), are checked (a flipped
    /// bit resets the connection) and offered; durable reports go back.
    private func network(_ member: Member) throws(ReplicationSimulationFailure) {
        guard var link = member.link, let p = primary, let core = member.core, let primaryCore = members[p].core else { return }
        defer { if member.link != nil { member.link = link } }
        if step < member.partitionedUntil { return }
        // The primary's side: read what its journal has.
        var reads = 0
        while reads < 4 {
            let piece: StoredPiece?
            do { piece = try link.cursor.next() } catch { throw fail("reading \(members[p].name)'s journal: \(error)") }
            guard let piece else { break }
            let delay = Int(random.next() % 5)
            let at = max(step + delay, link.toReplica.last?.at ?? 0)
            switch piece {
            case let .segment(_, bytes): link.toReplica.append((at, .segment(bytes), nil))
            case let .block(h, bytes):
                var copy = Array(bytes)
                if chance(3) {
                    copy[Int(random.next() % UInt64(copy.count))] ^= 0x20
                    report.corruptions += 1
                }
                link.toReplica.append((at, .block(copy), (h.lastSequence, h.chain)))
            }
            reads += 1
        }
        // The replica's side: what has arrived, in order.
        let checker = StoredBlockChecker()
        while let first = link.toReplica.first, first.at <= step {
            if case let .block(bytes) = first.piece, case .failure = bytes.withUnsafeBytes({ checker.check($0) }) {
                // A damaged block: the connection closes; the replica asks again from where it is.
                member.link = nil
                report.resets += 1
                connect(member)
                if let fresh = member.link { link = fresh }
                return
            }
            switch core.offer(first.piece) {
            case .queued:
                if let end = first.end { member.position = end }
                link.toReplica.removeFirst()
            case .full: return
            case .stopped, .notFollower: return
            }
        }
        // Reports back.
        let durable = core.cursors.durable
        if durable > member.reported {
            member.reported = durable
            link.toPrimary.append((step + Int(random.next() % 4), durable))
        }
        while let first = link.toPrimary.first, first.at <= step {
            link.toPrimary.removeFirst()
            primaryCore.replicasDurable(through: first.durable)
        }
    }

    /// At most one node down at a time (three nodes with a quorum of one replica survive one
    /// failure, not two).
    private func inject() throws(ReplicationSimulationFailure) {
        let down = members.filter { $0.core == nil }.count
        if down == 0 && chance(4) {
            let victim = members[Int(random.next() % UInt64(members.count))]
            crash(victim)
            return
        }
        for member in members where member.link != nil {
            if chance(5) {
                reset(member)
                connect(member)
            } else if chance(3) {
                member.partitionedUntil = step + 5 + Int(random.next() % 60)
                report.partitions += 1
            }
        }
        for member in members where member.link == nil && member.core != nil && primary != nil
            && members.firstIndex(where: { $0 === member }) != primary && chance(200) {
            connect(member)
        }
    }

    private func crash(_ member: Member) {
        trace?("step \(step): \(member.name) crashes at seq \(member.core?.journalHead.sequence ?? 0)")
        member.core?.abandon()
        member.core = nil
        member.link = nil
        member.reported = 0
        member.downUntil = step + 20 + Int(random.next() % 200)
        if let p = primary, members[p] === member {
            primary = nil
            primaryDownSince = step
            for other in members { other.link = nil }
        } else {
            report.replicaCrashes += 1
        }
    }

    /// The replica whose journal goes furthest becomes the primary; the others follow it.
    private func elect() throws(ReplicationSimulationFailure) {
        let candidates = members.indices.filter { members[$0].core != nil }
        guard let best = candidates.max(by: { a, b in
            let (x, y) = (members[a].core!.journalHead.sequence, members[b].core!.journalHead.sequence)
            return x != y ? x < y : members[a].name > members[b].name
        }) else { return }
        let core = members[best].core!
        guard core.promote(leader: members[best].name) else { throw fail("\(members[best].name) could not be promoted") }
        var rounds = 0
        while core.promotion == nil {
            _ = core.sequencerStep()
            _ = core.engineStep()
            rounds += 1
            if let failed = core.failed { throw fail("\(members[best].name) failed in its promotion: \(failed)") }
            guard rounds < 100_000 else { throw fail("\(members[best].name)'s promotion did not complete") }
        }
        primary = best
        trace?("step \(step): \(members[best].name) elected after seq \(core.promotion!.after), epoch \(core.promotion!.epoch)")
        members[best].link = nil
        report.failovers += 1
        for member in members where member !== members[best] && member.core != nil {
            try rejoinRunning(member)
        }
    }

    /// A running replica of the old primary: restarted (its journal may hold records the new
    /// primary lacks: they are cut as at any rejoin).
    private func rejoinRunning(_ member: Member) throws(ReplicationSimulationFailure) {
        member.core?.abandon()
        member.core = nil
        try restart(member)
    }

    /// A node comes back as a replica of the primary: it offers points of its chain, cuts what
    /// follows the newest the primary holds, and starts following.
    private func restart(_ member: Member) throws(ReplicationSimulationFailure) {
        guard let p = primary, members[p] !== member else { return }
        do {
            if storage.isDirectory(member.data.journal) {
                var journalOptions = options(member, follower: true).journal
                journalOptions.recordKind = .commands
                let writer = try JournalWriter(directory: member.data.journal, options: journalOptions, clock: time, storage: storage)
                let points = writer.recentPoints()
                let last = writer.lastSequence
                try writer.close()
                let cursor = StoredBlockCursor(directory: members[p].data.journal, storage: storage)
                var from: UInt64?
                for point in points {
                    if (try? cursor.start(after: point.sequence, chain: point.chain)) != nil {
                        from = point.sequence
                        break
                    }
                }
                guard let from else { throw fail("\(member.name) has no point on \(members[p].name)'s chain") }
                trace?("step \(step): \(member.name) rejoins \(members[p].name) from seq \(from) (its journal ends at \(last))")
                if from < last {
                    let cutting = try JournalWriter(directory: member.data.journal, options: journalOptions, clock: time, storage: storage)
                    report.commandsCut += try cutting.cut(after: from)
                }
            }
            member.core = try NodeCore(options: options(member, follower: true), sink: member.sink, snapshotThread: false)
            member.position = member.core!.journalHead
        } catch let error as ReplicationSimulationFailure {
            throw error
        } catch {
            throw fail("restarting \(member.name): \(error)")
        }
        member.reported = 0
        connect(member)
    }

    private func finish() throws(ReplicationSimulationFailure) -> ReplicationSimulationReport {
        guard let p = primary, let core = members[p].core else { throw fail("no primary at the end") }
        let head = core.journalHead
        for member in members {
            guard let other = member.core else { throw fail("\(member.name) is down at the end") }
            guard other.journalHead == head else {
                throw fail("\(member.name) ends at \(other.journalHead.sequence) \(other.journalHead.chain), the primary at \(head.sequence) \(head.chain)")
            }
        }
        // Every acknowledged command is where it was acknowledged, in the last primary's journal.
        do {
            let reader = try JournalReader(directory: members[p].data.journal, storage: storage)
            var decoder = CommandDecoder()
            var found = 0
            while let record = try reader.nextView() {
                guard let expected = acknowledged[record.sequence] else { continue }
                let command = try decoder.decode(record.bytes)
                guard command == expected else {
                    throw fail("sequence \(record.sequence) holds \(command.name), acknowledged as \(expected.name)")
                }
                found += 1
            }
            guard found == acknowledged.count else {
                throw fail("\(acknowledged.count - found) acknowledged commands are missing from the last primary's journal")
            }
        } catch let error as ReplicationSimulationFailure {
            throw error
        } catch {
            throw fail("reading the last primary's journal: \(error)")
        }
        // One state: stopped cleanly, each node's state digest.
        var digests: Set<Digest32> = []
        for member in members {
            let core = member.core!
            core.beginStop()
            var rounds = 0
            while core.sequencerStep() != .finished || core.engineStep() != .finished {
                rounds += 1
                guard rounds < 1_000_000 else { throw fail("\(member.name) did not stop") }
            }
            digests.insert(core.state.digest)
        }
        guard digests.count == 1 else { throw fail("the nodes end with \(digests.count) different states") }
        report.lastSequence = head.sequence
        report.stateDigest = digests.first!
        return report
    }
}
