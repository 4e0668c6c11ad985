import Foundation
import HummingbirdWebSocket
import Matching

/// A WebSocket connection to the market streams (`/ws/<stream>`, `/ws`, `/stream?streams=a/b`)
/// or to a user data stream (`/ws/<listenKey>`), with Binance's `SUBSCRIBE`, `UNSUBSCRIBE` and
/// `LIST_SUBSCRIPTIONS` requests.
struct StreamSession {
    enum Target {
        case streams([String], combined: Bool)
    }

    let hub: StreamHub
    let view: GatewayView

    /// What a path asks for; nil when it names nothing served (the upgrade is refused).
    func target(path: String) -> Target? {
        let (route, query) = path.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
            .map(String.init).splitFirst()
        if route == "/ws" || route == "/ws/" { return .streams([], combined: false) }
        if route == "/stream" {
            let streams = (query ?? "").split(separator: "&").first { $0.hasPrefix("streams=") }
                .map { $0.dropFirst("streams=".count).split(separator: "/").map(String.init) } ?? []
            guard streams.allSatisfy(valid) else { return nil }
            return .streams(streams, combined: true)
        }
        guard route.hasPrefix("/ws/") else { return nil }
        let streams = route.dropFirst("/ws/".count).split(separator: "/").map(String.init)
        guard !streams.isEmpty, streams.allSatisfy(valid) else { return nil }
        return .streams(streams, combined: false)
    }

    private static let kinds: Set<String> = [
        "trade", "aggTrade", "depth", "depth@100ms", "depth5", "depth10", "depth20", "depth5@100ms", "depth10@100ms",
        "depth20@100ms", "bookTicker", "ticker", "kline_1m", "kline_1h", "kline_1d"]

    /// Whether `stream` is one this exchange has: a symbol, in lower case, and a kind; or a live
    /// listen key (a user data stream).
    func valid(_ stream: String) -> Bool {
        guard let at = stream.firstIndex(of: "@") else { return hub.account(ofListenKey: stream, nowMs: nowMs()) != nil }
        let symbol = String(stream[..<at]), kind = String(stream[stream.index(after: at)...])
        guard Self.kinds.contains(kind), symbol == symbol.lowercased() else { return false }
        return view.read { $0.engine.symbolIndex(symbol.uppercased()) != nil }
    }

    func serve(_ target: Target, inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) async {
        let (messages, outbox) = AsyncStream<String>.makeStream(bufferingPolicy: .bufferingOldest(StreamHub.outboxMax))
        guard case let .streams(streams, combined) = target else { return }
        let connection = StreamHub.Connection(outbox: outbox, combined: combined)
        hub.add(connection, streams: streams)
        await run(connection, messages, inbound, outbound)
    }

    private func run(_ connection: StreamHub.Connection, _ messages: AsyncStream<String>, _ inbound: WebSocketInboundStream,
                     _ outbound: WebSocketOutboundWriter) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await text in messages {
                    if connection.closing { break }
                    do { try await outbound.write(.text(text)) } catch { break }
                }
                if connection.overflowed { try? await outbound.close(.policyViolation, reason: "too slow: messages overflowed") }
            }
            group.addTask {
                do {
                    for try await message in inbound.messages(maxSize: 1 << 16) {
                        guard case let .text(text) = message else { continue }
                        connection.send(answer(text, connection))
                    }
                } catch {}
                hub.drop(connection)
            }
            // A stopping node closes the connection even while a write waits on a slow client.
            group.addTask {
                while !connection.closing && !Task.isCancelled { try? await Task.sleep(for: .milliseconds(50)) }
                if connection.closing { try? await outbound.close(.goingAway, reason: "the node is stopping") }
            }
            await group.next()
            group.cancelAll()
        }
        hub.drop(connection)
    }

    /// The answer to a request sent on the connection: `{"result":…,"id":…}` or an error.
    private func answer(_ text: String, _ connection: StreamHub.Connection) -> String {
        func error(_ code: Int, _ message: String, id: Any? = nil) -> String {
            let idText = (id as? Int).map(String.init) ?? (id as? String).map { JSONObjectWriterQuote($0) } ?? "null"
            return #"{"error":{"code":\#(code),"msg":\#(JSONObjectWriterQuote(message))},"id":\#(idText)}"#
        }
        guard let object = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] else {
            return error(3, "Invalid JSON: expected an object")
        }
        let id = object["id"]
        let idText = (id as? Int).map(String.init) ?? (id as? String).map { JSONObjectWriterQuote($0) } ?? "null"
        guard let method = object["method"] as? String else { return error(1, "Invalid request: 'method' is missing", id: id) }
        switch method {
        case "SUBSCRIBE", "UNSUBSCRIBE":
            guard let params = object["params"] as? [String], !params.isEmpty else {
                return error(2, "Invalid request: 'params' must be a list of stream names", id: id)
            }
            guard params.allSatisfy(valid) else { return error(2, "Invalid request: unknown stream", id: id) }
            if method == "SUBSCRIBE" { hub.add(connection, streams: params) } else { hub.remove(connection, streams: params) }
            return #"{"result":null,"id":\#(idText)}"#
        case "LIST_SUBSCRIPTIONS":
            let list = hub.streams(of: connection).map(JSONObjectWriterQuote)
            return #"{"result":[\#(list.joined(separator: ","))],"id":\#(idText)}"#
        default:
            return error(2, "Invalid request: unknown method \(method)", id: id)
        }
    }
}

private func JSONObjectWriterQuote(_ s: String) -> String { JSON.string(s).text }

extension Array where Element == String {
    fileprivate func splitFirst() -> (String, String?) { (self.first ?? "", count > 1 ? self[1] : nil) }
}
