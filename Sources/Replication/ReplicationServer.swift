import Journal
import NIOCore
import NIOPosix
import Node
import _Posix

/// A replica as its primary sees it (for `exchange status`).
public struct ReplicaStatus: Sendable, Equatable {
    public var name: String
    public var address: String
    /// Durable and applied on the replica, as it last reported.
    public var durable: UInt64
    public var applied: UInt64
    /// What the primary has sent it.
    public var sent: UInt64
    /// Commands written here and not yet applied there, and for how long the oldest of them
    /// has been written (0 when it is caught up).
    public var lagSequences: UInt64
    public var lagMicroseconds: Int64
}

/// The primary's end of replication: listens for replicas, checks that each one's journal is
/// a prefix of this one (its last sequence and chain hash), streams the journal to it as
/// stored from there, following the node as it writes, and gathers the replicas' progress for
/// the quorum (`NodeOptions.ackReplicas`).
///
/// One thread per replica reads the journal (`StoredBlockCursor`) and writes frames; SwiftNIO
/// carries them. A replica that cannot keep up slows only its own thread (the channel's
/// writability), never the node.
public final class ReplicationServer: ReplicationObserver, @unchecked Sendable {
    private let journal: String
    private let group: MultiThreadedEventLoopGroup
    private var channel: Channel?
    private let monitor = Monitor()
    private let wrote = Monitor.Condition()
    private var sessions: [ObjectIdentifier: Session] = [:]
    /// The sender threads started and not yet joined (a finished one is joined when the next
    /// replica connects, the rest at stop), by an id of their own.
    private var threads: [Int: WorkerThread] = [:]
    private var finishedThreads: [Int] = []
    private var nextThread = 0
    private var written: UInt64 = 0
    /// When the node wrote what (monotonic), for the replicas' lag in time: a ring of the
    /// newest writes.
    private var writes: [(sequence: UInt64, atNs: Int64)] = []
    private var writesHead = 0
    private static let writesKept = 4_096
    private var stopped = false
    /// The node whose journal is streamed, set once it runs (the node needs this observer first).
    private var node: Node?
    private let ackReplicas: Int
    /// Where this primary takes orders, told to replicas (for their clients' errors).
    public var leader = ""
    /// Called when a replica is taken or refused, as a line for the operator.
    public var onEvent: (@Sendable (String) -> Void)?

    /// - Parameters:
    ///   - journal: the node's journal directory.
    ///   - ackReplicas: the quorum the node waits for (`NodeOptions.ackReplicas`).
    public init(journal: String, ackReplicas: Int) {
        self.journal = journal
        self.ackReplicas = ackReplicas
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    }

    /// Starts taking replicas for `node` on `host:port`; returns the port.
    public func listen(host: String, port: Int, node: Node) throws -> Int {
        monitor.locked {
            self.node = node
            written = node.journalHead.sequence
        }
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 16)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.writeBufferWaterMark, value: .init(low: 1 << 20, high: 4 << 20))
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(ReplicationFrameDecoder()))
                    try channel.pipeline.syncOperations.addHandler(PrimaryHandler(server: self))
                }
            }
        let channel = try bootstrap.bind(host: host, port: port).wait()
        self.channel = channel
        return channel.localAddress?.port ?? port
    }

    /// Stops listening and closes every replica's connection.
    public func stop() {
        let (all, started): ([Session], [WorkerThread]) = monitor.locked {
            stopped = true
            wrote.broadcast()
            return (Array(sessions.values), Array(threads.values))
        }
        try? channel?.close().wait()
        for session in all { session.channel.close(promise: nil) }
        for thread in started { thread.join() }
        try? group.syncShutdownGracefully()
    }

    /// The replicas connected now, by name.
    public var replicas: [ReplicaStatus] {
        monitor.locked {
            let now = monotonicNs()
            return sessions.values.map {
                ReplicaStatus(name: $0.name, address: $0.address, durable: $0.durable, applied: $0.applied, sent: $0.sent,
                              lagSequences: written > $0.applied ? written - $0.applied : 0,
                              lagMicroseconds: lagNs(applied: $0.applied, now: now) / 1_000)
            }.sorted { ($0.name, $0.address) < ($1.name, $1.address) }
        }
    }

    // MARK: - ReplicationObserver (the node's threads)

    public func written(through sequence: UInt64) {
        let now = monotonicNs()
        monitor.locked {
            written = sequence
            if writes.count < Self.writesKept {
                writes.append((sequence, now))
            } else {
                writes[writesHead] = (sequence, now)
                writesHead = (writesHead + 1) % Self.writesKept
            }
            wrote.broadcast()
        }
    }

    /// With the lock held: how long ago the first write past `applied` was made (0 when there
    /// is none; the oldest write kept when it is older than that).
    private func lagNs(applied: UInt64, now: Int64) -> Int64 {
        guard written > applied, !writes.isEmpty else { return 0 }
        var first: Int64?
        for i in 0..<writes.count {
            let write = writes[(writesHead + i) % writes.count]
            if write.sequence > applied { first = write.atNs; break }
        }
        return now - (first ?? writes[writesHead].atNs)
    }
    public func durable(through sequence: UInt64) {}
    public func applied(through sequence: UInt64, timestampNs: Int64) {}
    public func inboundRoom() {}

    // MARK: - Sessions

    final class Session: @unchecked Sendable {
        let channel: Channel
        let name: String
        let address: String
        var durable: UInt64
        var applied: UInt64 = 0
        var sent: UInt64
        init(channel: Channel, name: String, address: String, position: UInt64) {
            self.channel = channel
            self.name = name
            self.address = address
            durable = position
            sent = position
        }
    }

    /// A replica said hello: its sender thread checks its position, welcomes it and streams (or
    /// refuses it).
    fileprivate func hello(_ channel: Channel, points: [ChainPoint], name: String) {
        let (id, finished): (Int, [WorkerThread]) = monitor.locked {
            nextThread += 1
            let done = finishedThreads.compactMap { threads.removeValue(forKey: $0) }
            finishedThreads = []
            return (nextThread, done)
        }
        for thread in finished { thread.join() }
        let thread = WorkerThread { [self] in
            serve(channel, points: points, name: name)
            monitor.locked { finishedThreads.append(id) }
        }
        let late: Bool = monitor.locked {
            threads[id] = thread
            return stopped
        }
        if late { channel.close(promise: nil) }
    }

    private func serve(_ channel: Channel, points: [ChainPoint], name: String) {
        let cursor = StoredBlockCursor(directory: journal)
        // The newest of the replica's points that is a point of this journal's chain.
        var from: ChainPoint?
        var why: JournalError?
        for point in points {
            do {
                try cursor.start(after: point.sequence, chain: point.chain)
                from = point
                break
            } catch {
                why = why ?? error
                if case .notOnChain = error { continue }
                break
            }
        }
        guard let from else {
            let reason = why.map { "\($0)" } ?? "no point given"
            var refusal = Refusal.other
            switch why {
            case .notOnChain?: refusal = .diverged
            case .sequenceUnavailable?: refusal = .behind
            default: break
            }
            onEvent?("refused the replica \(name): \(reason)")
            Self.send(.refused(refusal, reason), on: channel, flush: true).whenComplete { _ in channel.close(promise: nil) }
            return
        }
        let lastSequence = from.sequence
        let address = channel.remoteAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? "?"
        onEvent?("streaming to the replica \(name) at \(address) from seq \(lastSequence + 1)")
        let session = Session(channel: channel, name: name, address: address, position: lastSequence)
        let refused: Bool = monitor.locked {
            if stopped { return true }
            sessions[ObjectIdentifier(channel)] = session
            return false
        }
        if refused {
            channel.close(promise: nil)
            return
        }
        let (written, epoch) = monitor.locked { (self.written, node?.currentEpoch ?? 0) }
        _ = Self.send(.welcome(from: lastSequence, writtenSequence: written, epoch: epoch, leader: leader), on: channel, flush: true)
        stream(cursor, to: session)
    }

    fileprivate func progress(_ channel: Channel, durable: UInt64, applied: UInt64) {
        var quorum: UInt64?
        var node: Node?
        monitor.locked {
            guard let session = sessions[ObjectIdentifier(channel)] else { return }
            session.durable = max(session.durable, durable)
            session.applied = max(session.applied, applied)
            node = self.node
            // The K-th most advanced replica: everything through it is on K replicas.
            let marks = sessions.values.map(\.durable).sorted(by: >)
            if ackReplicas > 0 && marks.count >= ackReplicas { quorum = marks[ackReplicas - 1] }
        }
        if let quorum { node?.replicasDurable(through: quorum) }
    }

    fileprivate func closed(_ channel: Channel) {
        monitor.locked {
            sessions.removeValue(forKey: ObjectIdentifier(channel))
            wrote.broadcast()
        }
    }

    /// The sender thread: pieces as the journal has them, waiting for the node to write more,
    /// until the connection closes.
    private func stream(_ cursor: StoredBlockCursor, to session: Session) {
        let channel = session.channel
        var last: EventLoopFuture<Void>?
        var idleSince = monotonicNs()
        while channel.isActive && !monitor.locked({ stopped }) {
            let piece: StoredPiece?
            do { piece = try cursor.next() } catch {
                _ = Self.send(.refused(.other, "the primary cannot read its journal: \(error)"), on: channel, flush: true)
                channel.close(promise: nil)
                return
            }
            guard let piece else {
                if last != nil { channel.flush() }
                // Nothing more written yet: wait for the node, with a heartbeat when idle.
                let seen = cursor.nextSequence - 1
                monitor.locked {
                    if written <= seen && !stopped && sessions[ObjectIdentifier(channel)] != nil {
                        monitor.wait(on: wrote, timeoutNs: 100_000_000)
                    }
                }
                if monotonicNs() - idleSince > 1_000_000_000 {
                    idleSince = monotonicNs()
                    last = Self.send(.heartbeat(writtenSequence: monitor.locked { written }), on: channel, flush: true)
                }
                continue
            }
            idleSince = monotonicNs()
            switch piece {
            case let .segment(_, bytes):
                last = Self.send(.segment(bytes), on: channel, flush: false)
            case let .block(header, bytes):
                last = Self.send(.block(Array(bytes)), on: channel, flush: false)
                monitor.locked { session.sent = header.lastSequence }
            }
            // A replica that reads slowly: wait until its connection drains.
            if !channel.isWritable {
                channel.flush()
                try? last?.wait()
            }
        }
    }

    @discardableResult
    static func send(_ frame: ReplicationFrame, on channel: Channel, flush: Bool) -> EventLoopFuture<Void> {
        var buffer = channel.allocator.buffer(capacity: 64)
        frame.write(to: &buffer)
        return flush ? channel.writeAndFlush(buffer) : channel.write(buffer)
    }
}

/// The primary's handler of one replica's connection.
private final class PrimaryHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ReplicationFrame
    private let server: ReplicationServer
    private var greeted = false

    init(server: ReplicationServer) { self.server = server }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case let .hello(points, name) where !greeted:
            greeted = true
            server.hello(context.channel, points: points, name: name)
        case let .progress(durable, applied) where greeted:
            server.progress(context.channel, durable: durable, applied: applied)
        default:
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        server.closed(context.channel)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}

/// Several observers of one node (a replica that will stream to replicas of its own once
/// promoted: its client and its server).
public final class ReplicationObservers: ReplicationObserver, @unchecked Sendable {
    private let all: [any ReplicationObserver]

    public init(_ all: [any ReplicationObserver]) { self.all = all }

    public func written(through sequence: UInt64) { for o in all { o.written(through: sequence) } }
    public func durable(through sequence: UInt64) { for o in all { o.durable(through: sequence) } }
    public func applied(through sequence: UInt64, timestampNs: Int64) {
        for o in all { o.applied(through: sequence, timestampNs: timestampNs) }
    }
    public func inboundRoom() { for o in all { o.inboundRoom() } }
}
