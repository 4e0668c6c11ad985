import Journal
import NIOCore
import NIOPosix
import Node
import _Posix

/// A replica's end of replication: connects to the primary, says where its journal ends,
/// checks each piece as it arrives (a block's CRC: bytes damaged in transit close the
/// connection and are fetched again), queues it for the node (`Node.offer`), which writes and
/// applies it, and reports its progress back. It reconnects after any break, from what it
/// has, until stopped (or promoted).
public final class ReplicationClient: ReplicationObserver, @unchecked Sendable {
    public struct Status: Sendable, Equatable {
        public var connected: Bool
        /// What the primary said it had written (welcome and heartbeats).
        public var primaryWritten: UInt64
        /// The last sequence received (queued for the node).
        public var received: UInt64
        public var durable: UInt64
        public var applied: UInt64
        /// Where the primary takes orders (empty: unknown).
        public var leader: String
        /// Why the last connection ended, if one did.
        public var lastError: String?
        /// When the primary stamped the last command applied here (wall clock, ns).
        public var appliedTimestampNs: Int64 = 0

        /// Commands the primary has written that this replica has not applied.
        public var lagSequences: UInt64 { primaryWritten > applied ? primaryWritten - applied : 0 }

        /// How long ago the primary stamped the last command applied here, when behind (0 when
        /// caught up): an estimate of the replica's lag in time.
        public func lagMicroseconds(nowNs: Int64) -> Int64 {
            lagSequences == 0 || appliedTimestampNs == 0 ? 0 : max(0, (nowNs - appliedTimestampNs) / 1_000)
        }
    }

    private var host: String
    private var port: Int
    private let name: String
    private let group: MultiThreadedEventLoopGroup
    private let monitor = Monitor()
    private let changed = Monitor.Condition()
    private var node: Node?
    private var channel: Channel?
    private var stopped = false
    private var supervisor: WorkerThread?
    private var status = Status(connected: false, primaryWritten: 0, received: 0, durable: 0, applied: 0, leader: "")
    /// After the last piece queued: the position a reconnection starts from.
    private var position: (sequence: UInt64, chain: Digest32) = (0, .zero)
    /// The piece the node's queue had no room for, offered again once it has.
    private var held: ReplicaPiece?
    private var heldHeader: (UInt64, Digest32)?
    private var progressPending = false
    /// Called with each leader URL the primary announces.
    public var onLeader: (@Sendable (String) -> Void)?
    /// Called with each change of the connection, as a line for the operator.
    public var onEvent: (@Sendable (String) -> Void)?
    /// Called when the primary's history does not hold this replica's journal (the replica
    /// stops following; restarting it cuts the records the primary lacks).
    public var onDiverged: (@Sendable (String) -> Void)?

    /// - Parameters:
    ///   - primary: the primary's replication address.
    ///   - name: how the primary lists this replica.
    /// - Parameters:
    ///   - host, port: the primary's replication address (port 0: none yet, `follow` says).
    public init(host: String, port: Int, name: String) {
        self.host = host
        self.port = port
        self.name = name
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    }

    /// Starts following for `node` (a node started with `NodeOptions.follower` and this
    /// observer).
    public func start(node: Node) {
        monitor.locked {
            self.node = node
            position = node.journalHead
            status.received = position.sequence
            status.durable = position.sequence
            status.applied = node.appliedSequence
        }
        supervisor = WorkerThread { [self] in superviseConnections() }
    }

    /// Stops following: closes the connection and stops reconnecting.
    public func stop() {
        let open: Channel? = monitor.locked {
            stopped = true
            changed.broadcast()
            return channel
        }
        open?.close(promise: nil)
        supervisor?.join()
        supervisor = nil
        try? group.syncShutdownGracefully()
    }

    public var current: Status { monitor.locked { status } }

    /// The primary's address now (`follow` changes it from another thread).
    private var target: String { monitor.locked { "\(host):\(port)" } }

    /// Follows another primary (leadership moved): the current connection closes and the next
    /// one goes to `host:port`.
    public func follow(host: String, port: Int) {
        let open: Channel? = monitor.locked {
            self.host = host
            self.port = port
            status.lastError = nil
            changed.broadcast()
            return channel
        }
        open?.close(promise: nil)
    }

    /// Connects, waits for the connection to end, waits a little, and again, until stopped.
    private func superviseConnections() {
        var pauseNs: Int64 = 50_000_000
        while !monitor.locked({ stopped }) {
            let target: (String, Int) = monitor.locked {
                while self.port == 0 && !stopped { monitor.wait(on: changed) }
                return (self.host, self.port)
            }
            let (host, port) = target
            if monitor.locked({ stopped }) { break }
            let bootstrap = ClientBootstrap(group: group)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .connectTimeout(.seconds(2))
                .channelInitializer { [self] channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(ReplicationFrameDecoder()))
                        try channel.pipeline.syncOperations.addHandler(ReplicaHandler(client: self))
                    }
                }
            do {
                let connected = try bootstrap.connect(host: host, port: port).wait()
                let late: Bool = monitor.locked {
                    channel = connected
                    return stopped
                }
                if late { connected.close(promise: nil) }
                try? connected.closeFuture.wait()
                pauseNs = 50_000_000
            } catch {
                let why = "connecting to \(host):\(port): \(error)"
                let changed: Bool = monitor.locked {
                    defer { status.lastError = why }
                    return status.lastError != why
                }
                if changed { onEvent?(why) }
            }
            monitor.locked {
                channel = nil
                status.connected = false
                if !stopped { monitor.wait(on: changed, timeoutNs: pauseNs) }
            }
            pauseNs = min(pauseNs * 2, 1_000_000_000)
        }
    }

    // MARK: - The connection (its event loop)

    fileprivate func connected(_ channel: Channel) {
        let (sequence, chain) = monitor.locked { () -> (UInt64, Digest32) in
            held = nil
            heldHeader = nil
            return position
        }
        ReplicationServer.send(.hello(points: [ChainPoint(sequence: sequence, chain: chain)], name: name), on: channel, flush: true)
    }

    fileprivate func received(_ frame: ReplicationFrame, on channel: Channel) {
        switch frame {
        case let .welcome(start, written, epoch, leader):
            guard start == monitor.locked({ position.sequence }) else {
                // (It offered one point: an answer from elsewhere is a broken primary.)
                broken(channel, "the primary streams from seq \(start), not from where this replica is")
                return
            }
            let known = monitor.locked { node?.currentEpoch ?? 0 }
            guard epoch >= known else {
                broken(channel, "the primary at \(target) is of epoch \(epoch), older than this replica's \(known): a deposed primary")
                return
            }
            let from: UInt64 = monitor.locked {
                status.connected = true
                status.primaryWritten = written
                status.leader = leader
                status.lastError = nil
                return position.sequence
            }
            onEvent?("connected to the primary at \(target): following from seq \(from), the primary has written \(written)")
            if !leader.isEmpty { onLeader?(leader) }
            reportProgress(on: channel)
        case let .heartbeat(written):
            monitor.locked { status.primaryWritten = max(status.primaryWritten, written) }
        case let .refused(refusal, reason):
            monitor.locked { status.lastError = "the primary refused: \(reason)" }
            onEvent?("the primary refused: \(reason)")
            channel.close(promise: nil)
            if refusal == .diverged {
                // This journal has records the primary's history does not: nothing a
                // reconnection mends (a restart cuts them, `ReplicaRejoin`).
                onDiverged?(reason)
            }
        case let .segment(bytes):
            guard bytes.count == SegmentHeader.size,
                  case .success = bytes.withUnsafeBytes({ SegmentHeader.decode($0.baseAddress!) }) else {
                broken(channel, "a damaged segment header arrived")
                return
            }
            offer(.segment(bytes), after: nil, on: channel)
        case let .block(bytes):
            let checked = bytes.withUnsafeBytes { checker.check($0) }
            guard case let .success(header) = checked else {
                broken(channel, "a damaged block arrived after sequence \(monitor.locked { position.sequence })")
                return
            }
            monitor.locked { status.primaryWritten = max(status.primaryWritten, header.lastSequence) }
            offer(.block(bytes), after: (header.lastSequence, header.chain), on: channel)
        case .hello, .progress:
            broken(channel, "the primary sent a replica's message")
        }
    }

    private let checker = StoredBlockChecker()

    private func broken(_ channel: Channel, _ why: String) {
        monitor.locked { status.lastError = why + "; reconnecting" }
        onEvent?(why + "; reconnecting")
        channel.close(promise: nil)
    }

    /// Queues a piece for the node; with no room, holds it and stops reading until the node
    /// says it has room (`inboundRoom`).
    private func offer(_ piece: ReplicaPiece, after end: (UInt64, Digest32)?, on channel: Channel) {
        guard let node = monitor.locked({ node }) else { return }
        switch node.offer(piece) {
        case .queued:
            if let end {
                monitor.locked {
                    position = end
                    status.received = end.0
                }
            }
        case .full:
            monitor.locked {
                held = piece
                heldHeader = end
            }
            // (Room that comes meanwhile is announced through this event loop, so after this.)
            _ = channel.setOption(.autoRead, value: false)
        case .stopped, .notFollower:
            channel.close(promise: nil)
        }
    }

    private func retryHeld(on channel: Channel) {
        guard let piece = monitor.locked({ () -> ReplicaPiece? in
            defer { held = nil }
            return held
        }) else { return }
        let end = monitor.locked { heldHeader }
        offer(piece, after: end, on: channel)
        if monitor.locked({ held == nil }) {
            _ = channel.setOption(.autoRead, value: true)
            channel.read()
        }
    }

    private func reportProgress(on channel: Channel) {
        let (durable, applied) = monitor.locked {
            progressPending = false
            return (status.durable, status.applied)
        }
        ReplicationServer.send(.progress(durable: durable, applied: applied), on: channel, flush: true)
    }

    /// From the node's threads: report on the event loop, at most one report queued at a time.
    private func scheduleProgress() {
        let target: Channel? = monitor.locked {
            guard let channel, status.connected, !progressPending else { return nil }
            progressPending = true
            return channel
        }
        guard let target else { return }
        target.eventLoop.execute { [self] in reportProgress(on: target) }
    }

    // MARK: - ReplicationObserver (the node's threads)

    public func written(through sequence: UInt64) {}

    public func durable(through sequence: UInt64) {
        monitor.locked { status.durable = max(status.durable, sequence) }
        scheduleProgress()
    }

    public func applied(through sequence: UInt64, timestampNs: Int64) {
        monitor.locked {
            status.applied = max(status.applied, sequence)
            status.appliedTimestampNs = timestampNs
        }
        scheduleProgress()
    }

    public func inboundRoom() {
        guard let target = monitor.locked({ channel }) else { return }
        target.eventLoop.execute { [self] in retryHeld(on: target) }
    }
}

/// The replica's handler of its connection to the primary.
private final class ReplicaHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ReplicationFrame
    private let client: ReplicationClient

    init(client: ReplicationClient) { self.client = client }

    func channelActive(context: ChannelHandlerContext) {
        client.connected(context.channel)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        client.received(unwrapInboundIn(data), on: context.channel)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}
