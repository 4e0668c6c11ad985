import Codec
import Foundation
import Matching
import Node

/// What the admin listener asks of the program that runs the node, beyond its commands: its
/// status (one JSON object: role, sequences, replication), and for a replica, promotion.
public struct AdminControl: Sendable {
    public var status: @Sendable () -> String
    /// Makes a replica the primary: (done, a JSON object saying what happened).
    public var promote: (@Sendable () -> (Bool, String))?

    public init(status: @escaping @Sendable () -> String, promote: (@Sendable () -> (Bool, String))? = nil) {
        self.status = status
        self.promote = promote
    }
}

/// The admin listener's API: INTERCHANGE commands in, their events out once durable, and the
/// API keys of an account. Every request carries the token the node wrote to `DIR/admin.token`
/// (mode 0600) as `Authorization: Bearer TOKEN`.
public final class AdminAPI: @unchecked Sendable {
    let view: GatewayView
    let submitter: Submitter
    let token: String
    let control: AdminControl

    init(submitter: Submitter, token: String, control: AdminControl) {
        self.view = submitter.view
        self.token = token
        self.submitter = submitter
        self.control = control
    }

    public static func tokenPath(data: String) -> String { data.hasSuffix("/") ? data + "admin.token" : data + "/admin.token" }

    /// A new token written to `DIR/admin.token` (each start of a node makes a new one).
    public static func newToken(data: String) throws(GatewayError) -> String {
        var generator = SystemRandomNumberGenerator()
        let token = hex((0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) })
        guard writeSecretFile(tokenPath(data: data), Array((token + "\n").utf8)) else {
            throw GatewayError("cannot write the admin token \(tokenPath(data: data))")
        }
        return token
    }

    public func handle(_ request: BinanceAPI.Request, authorization: String?) async -> BinanceAPI.Response {
        guard let authorization, authorization == "Bearer " + token else {
            return .init(status: 401, body: #"{"error":"a valid admin token is required (Authorization: Bearer, from DIR/admin.token)"}"# + "\n")
        }
        switch (request.method, request.path) {
        case ("POST", "/admin/submit"): return await submit(request.body)
        case ("GET", "/admin/keys"): return keys(request.query)
        case ("GET", "/admin/status"): return .init(status: 200, body: control.status() + "\n")
        case ("POST", "/admin/promote"):
            guard let promote = control.promote else {
                return .init(status: 409, body: #"{"error":"this node is no replica"}"# + "\n")
            }
            let (ok, message) = promote()
            return .init(status: ok ? 200 : 409, body: message + "\n")
        default: return .init(status: 404, body: #"{"error":"no such admin endpoint"}"# + "\n")
        }
    }

    /// Each line's events, one JSON line each, in order; a line that is not a JSON object gives
    /// `{"line":N,"error":…}` and nothing is journaled for it.
    private func submit(_ body: String) async -> BinanceAPI.Response {
        var out = ""
        var decoder = CommandJSON.Reader()
        for (n, line) in body.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var text = String(line)
            let command = text.withUTF8 { raw -> Command? in
                CommandJSON.isBlank(UnsafeRawBufferPointer(raw)) ? nil : decoder.decodeCommand(UnsafeRawBufferPointer(raw))
            }
            guard let command else {
                if !text.allSatisfy({ $0 == " " || $0 == "\t" || $0 == "\r" }) {
                    out += #"{"line":\#(n + 1),"error":"not a JSON object"}"# + "\n"
                }
                continue
            }
            switch await submitter.submit(command, wantsLines: true) {
            case let .applied(applied): for line in applied.eventLines { out += line + "\n" }
            case .busy: out += #"{"line":\#(n + 1),"error":"the node is busy"}"# + "\n"
            case .stopped: return .init(status: 503, body: out + #"{"line":\#(n + 1),"error":"the node is stopping"}"# + "\n")
            case let .notLeader(leader):
                let why = "this node is a replica" + (leader.map { "; its primary is at \($0)" } ?? "")
                return .init(status: 503, body: out + #"{"line":\#(n + 1),"error":\#(JSONObjectWriter.quote(why))}"# + "\n")
            case let .failed(why):
                return .init(status: 503, body: out + #"{"line":\#(n + 1),"error":\#(JSONObjectWriter.quote(why))}"# + "\n")
            }
        }
        return .init(status: 200, body: out)
    }

    /// The keys of `account=N` (all accounts without it), one JSON line each, never a secret.
    private func keys(_ query: String?) -> BinanceAPI.Response {
        var account: AccountId?
        for pair in (query ?? "").split(separator: "&") where pair.hasPrefix("account=") {
            guard let n = AccountId(pair.dropFirst("account=".count)) else {
                return .init(status: 400, body: #"{"error":"account: not an integer ≥ 0"}"# + "\n")
            }
            account = n
        }
        let keys = view.read { $0.apiKeys }.filter { account == nil || $0.account == account }
        var out = ""
        for key in keys {
            var o = JSONObjectWriter()
            o.string("api_key", key.apiKey)
            o.number("account", key.account)
            o.string("permissions", key.permissions.names)
            o.string("ip", key.ipWhitelist)
            o.string("type", key.kind == .hmac ? "HMAC_SHA256" : "ED25519")
            out += o.text + "\n"
        }
        return .init(status: 200, body: out)
    }
}
