import ArgumentParser
import Codec
import Foundation
import Gateway
import Matching
import _Posix

// MARK: - exchange admin

struct AdminCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "admin",
        abstract: "Administer a running node through its admin listener (--admin-listen).",
        discussion: """
        Every subcommand takes --node (the admin listener's URL) and --data (the node's data \
        directory, where its admin token and node key are).
        """,
        subcommands: [AdminSubmit.self, AdminCreateKey.self, AdminRevokeKey.self, AdminKeys.self])
}

struct AdminOptions: ParsableArguments {
    @Option(help: "The admin listener, http://HOST:PORT.") var node: String
    @Option(help: "The node's data directory (its admin.token and node.key).") var data: String

    var token: String {
        get throws {
            guard let text = try? String(contentsOfFile: AdminAPI.tokenPath(data: data), encoding: .utf8) else {
                throw fail("no admin token at \(AdminAPI.tokenPath(data: data)) (is a node running there with --admin-listen?)")
            }
            return text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }

    func call(_ method: String, _ path: String, body: String = "") throws -> String {
        let base = node.hasSuffix("/") ? String(node.dropLast()) : node
        let response: HTTPClient.Response
        do {
            response = try HTTPClient.request(method, base + path, headers: [("Authorization", "Bearer " + (try token))], body: body)
        } catch let error as HTTPClient.Failure {
            throw fail("\(node): \(error)")
        }
        guard response.status == 200 else {
            throw fail("\(node): HTTP \(response.status): \(response.body.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        return response.body
    }

    /// Submits one command line; its event lines, or a failure naming why it was rejected.
    func submit(_ line: String) throws -> [String] {
        let lines = try call("POST", "/admin/submit", body: line + "\n").split(separator: "\n").map(String.init)
        if let first = lines.first, first.contains(#""event":"rejected""#) { throw fail("rejected: \(first)") }
        return lines
    }
}

struct AdminSubmit: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "submit",
        abstract: "Submit INTERCHANGE commands (JSON Lines; - for stdin) and print their events once durable.")

    @OptionGroup var admin: AdminOptions
    @Argument(help: "The file of commands.") var file: String

    func run() throws {
        let text: String
        if file == "-" {
            text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
        } else {
            guard let read = try? String(contentsOfFile: file, encoding: .utf8) else { throw fail("cannot read \(file)") }
            text = read
        }
        print(try admin.call("POST", "/admin/submit", body: text), terminator: "")
    }
}

struct AdminCreateKey: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create-key",
        abstract: "Create an API key for an account (journaled); prints the key, and an HMAC secret this once only.")

    @OptionGroup var admin: AdminOptions
    @Option(help: "The account the key trades for.") var account: UInt64
    @Option(help: "READ, TRADE or TRADE,READ.") var permissions: String = "READ,TRADE"
    @Option(help: "Comma-separated IP addresses or CIDRs the key may be used from (default: anywhere).") var ip: String?
    @Option(name: .customLong("ed25519-public-key"), help: "A PEM file with an Ed25519 public key: the key signs with Ed25519 and no secret is made.")
    var ed25519PublicKey: String?
    @Flag(help: "Print one JSON object.") var json = false

    func run() throws {
        let names = permissions.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        let ordered = ["READ", "TRADE"].filter { names.contains($0) }
        guard ordered.count == names.count, !ordered.isEmpty else { throw fail("--permissions \(permissions): not READ, TRADE or both") }
        let apiKey = randomAlphanumeric(64)
        var o = JSONObjectWriter()
        o.string("cmd", "add_api_key")
        o.number("account", account)
        o.string("api_key", apiKey)
        o.string("permissions", ordered.joined(separator: ","))
        if let ip { o.string("ip", ip) }
        var secret: String?
        if let ed25519PublicKey {
            guard let pem = try? String(contentsOfFile: ed25519PublicKey, encoding: .utf8) else {
                throw fail("cannot read \(ed25519PublicKey)")
            }
            guard let raw = ed25519RawPublicKey(pem: pem) else { throw fail("\(ed25519PublicKey): not a PEM Ed25519 public key") }
            o.string("public_key", hex(raw))
        } else {
            let made = randomAlphanumeric(64)
            let nodeKey: NodeKey
            do { nodeKey = try NodeKey.load(data: admin.data) } catch { throw fail(error.description) }
            o.string("secret_sealed", hex(nodeKey.seal(Array(made.utf8), apiKey: apiKey)))
            secret = made
        }
        _ = try admin.submit(o.text)
        if json {
            var out = JSONObjectWriter()
            out.string("api_key", apiKey)
            if let secret { out.string("secret_key", secret) }
            print(out.text)
        } else {
            print("api key:    \(apiKey)")
            if let secret { print("secret key: \(secret)   (shown this once only)") }
        }
    }
}

struct AdminRevokeKey: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "revoke-key", abstract: "Revoke an API key (journaled).")

    @OptionGroup var admin: AdminOptions
    @Argument(help: "The API key.") var key: String

    func run() throws {
        let lines = try admin.call("GET", "/admin/keys").split(separator: "\n")
        // Each line is {"api_key":…,"account":N,…}: the key's account follows its name.
        guard let line = lines.first(where: { $0.hasPrefix("{\"api_key\":\(JSONObjectWriter.quote(key)),\"account\":") }),
              let account = UInt64(line.drop(while: { $0 != ":" }).dropFirst().drop(while: { $0 != ":" }).dropFirst()
                  .prefix(while: \.isNumber)) else {
            throw fail("no API key \(key)")
        }
        var o = JSONObjectWriter()
        o.string("cmd", "revoke_api_key")
        o.number("account", account)
        o.string("api_key", key)
        _ = try admin.submit(o.text)
        print("revoked \(key) (account \(account))")
    }
}

struct AdminKeys: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "keys", abstract: "List API keys (never a secret), as JSON lines.")

    @OptionGroup var admin: AdminOptions
    @Option(help: "Only this account's keys.") var account: UInt64?

    func run() throws {
        print(try admin.call("GET", "/admin/keys" + (account.map { "?account=\($0)" } ?? "")), terminator: "")
    }
}

/// The 32 raw bytes of a PEM `PUBLIC KEY` holding an Ed25519 key (SubjectPublicKeyInfo with
/// algorithm 1.3.101.112).
func ed25519RawPublicKey(pem: String) -> [UInt8]? {
    let body = pem.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
    guard let der = Data(base64Encoded: body), der.count == 44 else { return nil }
    let prefix: [UInt8] = [0x30, 0x2A, 0x30, 0x05, 0x06, 0x03, 0x2B, 0x65, 0x70, 0x03, 0x21, 0x00]
    guard Array(der.prefix(12)) == prefix else { return nil }
    return Array(der.suffix(32))
}

// MARK: - exchange promote, exchange status

struct PromoteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "promote",
        abstract: "Make a replica the primary, by hand (through its admin listener): it stops following and takes orders.",
        discussion: """
        Stop the old primary first (or make sure it is gone): a promoted replica and a primary \
        that still runs are two writers of one history. The promoted node takes orders after \
        the last command it received, on the same --listen; prints {"promoted":true,"last_seq":…}.
        """)

    @OptionGroup var admin: AdminOptions

    func run() throws {
        print(try admin.call("POST", "/admin/promote"), terminator: "")
    }
}

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "A running node's role, sequences and replication (through its admin listener), as one JSON line.",
        discussion: """
        A primary lists its replicas: what it sent each, what each reports durable and applied, \
        and each one's lag in commands and in microseconds (since the oldest command it lacks \
        was written). A replica shows its primary: connected, what it has written, what was \
        received, and the lag.
        """)

    @OptionGroup var admin: AdminOptions

    func run() throws {
        print(try admin.call("GET", "/admin/status"), terminator: "")
    }
}
