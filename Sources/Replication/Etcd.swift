import Foundation
import _Posix

/// The few calls of etcd's v3 API that leadership needs, through its HTTP/JSON gateway
/// (`/v3/lease/…`, `/v3/kv/…`; keys and values base64 in the JSON, as etcd has them).
public struct EtcdClient: Sendable {
    public let endpoint: String

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// A key's value and the revision that created it (etcd's counter of changes: a key made
    /// again later has a higher one).
    public struct Entry: Sendable, Equatable {
        public var key: String
        public var value: String
        public var createRevision: UInt64
    }

    public init(endpoint: String) {
        self.endpoint = endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint
    }

    private func call(_ path: String, _ body: [String: Any]) throws -> [String: Any] {
        let text = String(decoding: try JSONSerialization.data(withJSONObject: body), as: UTF8.self)
        let response: HTTPClient.Response
        do {
            response = try HTTPClient.request("POST", endpoint + path, headers: [("Content-Type", "application/json")],
                                              body: text, timeoutSeconds: 2)
        } catch {
            throw Failure(description: "etcd \(endpoint): \(error)")
        }
        guard response.status == 200,
              let object = try? JSONSerialization.jsonObject(with: Data(response.body.utf8)) as? [String: Any] else {
            throw Failure(description: "etcd \(endpoint)\(path): HTTP \(response.status): \(response.body.prefix(200))")
        }
        return object
    }

    private static func b64(_ text: String) -> String { Data(text.utf8).base64EncodedString() }
    private static func text(_ b64: Any?) -> String {
        (b64 as? String).flatMap { Data(base64Encoded: $0) }.map { String(decoding: $0, as: UTF8.self) } ?? ""
    }
    private static func number(_ value: Any?) -> UInt64 {
        if let s = value as? String { return UInt64(s) ?? 0 }
        return (value as? NSNumber)?.uint64Value ?? 0
    }

    /// A new lease of `ttlSeconds`; its id.
    public func grant(ttlSeconds: Int) throws -> UInt64 {
        let id = Self.number(try call("/v3/lease/grant", ["TTL": ttlSeconds])["ID"])
        guard id != 0 else { throw Failure(description: "etcd \(endpoint): no lease granted") }
        return id
    }

    /// Renews a lease; false when it has expired (or was revoked).
    public func keepAlive(_ lease: UInt64) throws -> Bool {
        let result = try call("/v3/lease/keepalive", ["ID": String(lease)])["result"] as? [String: Any]
        return Self.number(result?["TTL"]) > 0
    }

    public func revoke(_ lease: UInt64) throws {
        _ = try call("/v3/lease/revoke", ["ID": String(lease)])
    }

    /// Puts `value` at `key` bound to `lease` (it goes when the lease does).
    public func put(_ key: String, _ value: String, lease: UInt64) throws {
        _ = try call("/v3/kv/put", ["key": Self.b64(key), "value": Self.b64(value), "lease": String(lease)])
    }

    /// Puts `value` at `key` bound to `lease` only if `key` does not exist; the key's entry
    /// afterwards (ours when `won`).
    public func create(_ key: String, _ value: String, lease: UInt64) throws -> (won: Bool, entry: Entry?) {
        let response = try call("/v3/kv/txn", [
            "compare": [["key": Self.b64(key), "target": "CREATE", "create_revision": "0"]],
            "success": [["request_put": ["key": Self.b64(key), "value": Self.b64(value), "lease": String(lease)]]],
            "failure": [["request_range": ["key": Self.b64(key)]]],
        ])
        let won = response["succeeded"] as? Bool ?? false
        return (won, try get(key))
    }

    /// The entry at `key`, if there is one.
    public func get(_ key: String) throws -> Entry? {
        try range(["key": Self.b64(key)]).first
    }

    /// The entries whose keys start with `prefix`.
    public func list(prefix: String) throws -> [Entry] {
        var end = Array(prefix.utf8)
        end[end.count - 1] += 1
        return try range(["key": Self.b64(prefix), "range_end": Data(end).base64EncodedString()])
    }

    private func range(_ body: [String: Any]) throws -> [Entry] {
        let kvs = try call("/v3/kv/range", body)["kvs"] as? [[String: Any]] ?? []
        return kvs.map { Entry(key: Self.text($0["key"]), value: Self.text($0["value"]),
                               createRevision: Self.number($0["create_revision"])) }
    }
}
