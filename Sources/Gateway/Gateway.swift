import HTTPTypes
import Node

/// Everything a node serves over HTTP: the Binance API on `--listen`, the admin API on
/// `--admin-listen`, both answering from one `GatewayView` and submitting through one queue of
/// tags. Started once the view has caught up with the node's recovered state; stopped before
/// the node is (requests in flight are answered first).
public final class Gateway: @unchecked Sendable {
    public struct Address: Sendable, Equatable {
        public var host: String
        public var port: Int
        public init(host: String, port: Int) { self.host = host; self.port = port }

        /// `HOST:PORT` (`[::1]:8080` for IPv6); nil when it is not one.
        public init?(_ text: String) {
            guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
                  (0...65_535).contains(port) else { return nil }
            var host = String(text[..<colon])
            if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            guard !host.isEmpty else { return nil }
            self.init(host: host, port: port)
        }
    }

    public let view: GatewayView
    /// Who listens to which WebSocket stream.
    public let hub = StreamHub()
    private let messages: StreamMessages
    private let submitter: Submitter
    private var servers: [GatewayServer] = []
    private let nodeKey: NodeKey?
    private let data: String

    /// - Parameters:
    ///   - data: the node's data directory (its node key and admin token live there).
    ///   - createsNodeKey: make a node key when there is none (a primary's first start). A
    ///     replica must hold its primary's (`DIR/node.key`, copied): it opens the sealed HMAC
    ///     secrets of the keys the primary journaled.
    public init(node: Node, view: GatewayView, data: String, createsNodeKey: Bool = true) throws(GatewayError) {
        self.view = view
        self.data = data
        submitter = Submitter(node: node, view: view)
        nodeKey = createsNodeKey ? try NodeKey.loadOrCreate(data: data) : try NodeKey.load(data: data)
        messages = StreamMessages(hub: hub)
        messages.attach(to: view)
        view.streams = messages
    }

    /// Starts the Binance API listener; returns its port.
    public func listen(_ address: Address, limits: RateLimitOptions = RateLimitOptions()) throws(GatewayError) -> Int {
        let api = BinanceAPI(submitter: submitter, nodeKey: nodeKey, limits: limits, hub: hub)
        let server = GatewayServer(host: address.host, port: address.port, streams: StreamSession(hub: hub, view: view)) {
            request, _ in await api.handle(request)
        }
        let port = try server.start()
        servers.append(server)
        return port
    }

    /// Where a replica's primary takes orders (named in the error an order sent here gets).
    public func setLeader(_ url: String) { submitter.leaderHint = url }

    /// Starts the admin listener with a new token in `DIR/admin.token`; returns its port.
    public func listenAdmin(_ address: Address, control: AdminControl) throws(GatewayError) -> Int {
        let admin = AdminAPI(submitter: submitter, token: try AdminAPI.newToken(data: data), control: control)
        let server = GatewayServer(host: address.host, port: address.port) { request, headers in
            await admin.handle(request, authorization: headers[.authorization])
        }
        let port = try server.start()
        servers.append(server)
        return port
    }

    /// Stops the listeners, once the requests in flight are answered.
    public func stopListening() {
        hub.closeAll()
        for server in servers { server.stop() }
        servers = []
        messages.stop()
    }
}
