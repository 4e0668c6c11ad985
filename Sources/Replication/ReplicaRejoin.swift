import Journal
import NIOCore
import NIOPosix

/// What a replica does before its node starts: asks the primary where their histories part.
/// It offers points of its journal's chain (its end, then earlier block ends,
/// `JournalWriter.recentPoints`); the primary names the newest one on its own chain. Records
/// after that point are not on the primary's chain (a primary that failed before they were on a
/// quorum, or a replica that was promoted and then replaced): the caller cuts them
/// (`JournalWriter.cut`) before the node starts, so that they are never applied.
public enum ReplicaRejoin {
    public enum Answer: Equatable, Sendable {
        /// The primary streams from after this sequence.
        case from(UInt64)
        /// The primary refused (why); nothing of this journal is on its chain, or it is behind.
        case refused(String)
    }

    /// Asks the primary at `host:port`; nil when it cannot be reached within `timeoutSeconds`
    /// (the replica then starts as it is, and its connection asks again).
    public static func ask(host: String, port: Int, points: [ChainPoint], name: String,
                           timeoutSeconds: Int64 = 5) -> Answer? {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let answered = group.next().makePromise(of: Answer.self)
        let bootstrap = ClientBootstrap(group: group)
            .connectTimeout(.seconds(timeoutSeconds))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(ReplicationFrameDecoder()))
                    try channel.pipeline.syncOperations.addHandler(AskHandler(points: points, name: name, answered: answered))
                }
            }
        guard let channel = try? bootstrap.connect(host: host, port: port).wait() else {
            answered.fail(ChannelError.connectTimeout(.seconds(timeoutSeconds)))
            return nil
        }
        let timeout = channel.eventLoop.scheduleTask(in: .seconds(timeoutSeconds)) {
            answered.fail(ChannelError.connectTimeout(.seconds(timeoutSeconds)))
        }
        let answer = try? answered.futureResult.wait()
        timeout.cancel()
        try? channel.close().wait()
        return answer
    }
}

private final class AskHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ReplicationFrame
    let points: [ChainPoint]
    let name: String
    let answered: EventLoopPromise<ReplicaRejoin.Answer>

    init(points: [ChainPoint], name: String, answered: EventLoopPromise<ReplicaRejoin.Answer>) {
        self.points = points
        self.name = name
        self.answered = answered
    }

    func channelActive(context: ChannelHandlerContext) {
        ReplicationServer.send(.hello(points: points, name: name), on: context.channel, flush: true)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case let .welcome(from, _, _, _): answered.succeed(.from(from))
        case let .refused(_, reason): answered.succeed(.refused(reason))
        default: break
        }
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        answered.fail(ChannelError.inputClosed)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        answered.fail(error)
        context.close(promise: nil)
    }
}
