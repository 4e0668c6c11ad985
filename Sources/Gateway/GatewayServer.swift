import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore
import ServiceLifecycle
import _Posix

/// The request context: Hummingbird's, with the client's address (for IP whitelists).
public struct GatewayContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }
}

/// An HTTP listener (Hummingbird) in front of the Binance API or the admin API, run from
/// synchronous code: `start` returns once it listens, `stop` once it has finished the requests
/// in flight.
public final class GatewayServer: @unchecked Sendable {
    /// The largest request body read (a larger one is refused, 413).
    public static let bodyBytesMax = 64 << 10

    private let group: ServiceGroup
    private let done = Monitor()
    private var finished = false
    private var failure: (any Error)?
    private var port: Int?

    /// A listener on `host:port` (port 0: any free one) handing requests to `handle`, and
    /// WebSocket upgrades to `streams` (none: refused).
    init(host: String, port: Int, streams: StreamSession? = nil,
         handle: @escaping @Sendable (BinanceAPI.Request, HTTPFields) async -> BinanceAPI.Response) {
        let responder = Responder(handle: handle)
        var logger = Logger(label: "exchange.gateway")
        logger.logLevel = .critical
        let ready = done
        nonisolated(unsafe) var this: GatewayServer?
        // Pings every 20 seconds, as Binance sends them; a connection that has not answered the
        // last one by the next is closed.
        let server = HTTPServerBuilder.http1WebSocketUpgrade(
            configuration: .init(ws: .init(maxFrameSize: 1 << 16, autoPing: .enabled(timePeriod: .seconds(20))))
        ) { request, _, _ in
            guard let streams, let path = request.path, let target = streams.target(path: path) else { return .dontUpgrade }
            return .upgrade([:]) { inbound, outbound, _ in
                await streams.serve(target, inbound: inbound, outbound: outbound)
            }
        }
        let app = Application(
            responder: responder,
            server: server,
            configuration: .init(address: .hostname(host, port: port), serverName: "exchange"),
            onServerRunning: { channel in
                ready.locked { this?.port = channel.localAddress?.port }
                ready.broadcast()
            },
            logger: logger)
        group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [], logger: logger))
        this = self
    }

    /// Starts listening; returns the port it listens on.
    public func start() throws(GatewayError) -> Int {
        let group = self.group
        Task.detached { [self] in
            do { try await group.run() } catch { done.locked { failure = error } }
            done.locked { finished = true }
            done.broadcast()
        }
        done.lock()
        while port == nil && !finished { done.wait() }
        let outcome = (port, failure)
        done.unlock()
        guard let port = outcome.0 else {
            throw GatewayError("cannot listen: \(outcome.1.map { "\($0)" } ?? "the server stopped")")
        }
        return port
    }

    /// Stops taking connections and waits for the requests in flight.
    public func stop() {
        let group = self.group
        Task.detached { await group.triggerGracefulShutdown() }
        done.lock()
        while !finished { done.wait() }
        done.unlock()
    }

    struct Responder: HTTPResponder {
        typealias Context = GatewayContext
        let handle: @Sendable (BinanceAPI.Request, HTTPFields) async -> BinanceAPI.Response

        func respond(to request: Request, context: GatewayContext) async throws -> Response {
            var request = request
            let body: String
            do {
                let buffer = try await request.collectBody(upTo: GatewayServer.bodyBytesMax)
                body = String(buffer: buffer)
            } catch {
                return Self.response(.init(status: 413, body: APIError.tooMuchBody.body))
            }
            let method = request.method.rawValue
            let api = BinanceAPI.Request(
                method: method, path: request.uri.path, query: request.uri.query, body: body,
                apiKey: request.headers[HTTPField.Name("X-MBX-APIKEY")!], clientIP: context.remoteAddress?.ipAddress)
            return Self.response(await handle(api, request.headers))
        }

        static func response(_ r: BinanceAPI.Response) -> Response {
            var headers = HTTPFields()
            headers[.contentType] = "application/json;charset=UTF-8"
            for (name, value) in r.headers {
                if let field = HTTPField.Name(name) { headers[field] = value }
            }
            return Response(status: .init(code: r.status), headers: headers, body: .init(byteBuffer: ByteBuffer(string: r.body)))
        }
    }
}
