import Codec
import Crypto
import Foundation
import Matching
import _Posix

/// Why the gateway cannot start or serve.
public struct GatewayError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The node's key: 32 random bytes in `DIR/node.key` (mode 0600) that seal every HMAC secret
/// before it is journaled (AES-256-GCM, the API key's name as associated data). Whoever holds
/// the journal without this file learns no secret.
public struct NodeKey: Sendable {
    let key: SymmetricKey

    /// A key of these 32 bytes.
    public init(bytes: [UInt8]) {
        precondition(bytes.count == 32, "a node key is 32 bytes")
        key = SymmetricKey(data: bytes)
    }

    init(key: SymmetricKey) { self.key = key }

    public static func path(data: String) -> String { data.hasSuffix("/") ? data + "node.key" : data + "/node.key" }

    /// The key of a data directory, made on first use.
    public static func loadOrCreate(data: String) throws(GatewayError) -> NodeKey {
        let path = path(data: data)
        if FileManager.default.fileExists(atPath: path) { return try load(data: data) }
        let key = SymmetricKey(size: .bits256)
        let bytes = key.withUnsafeBytes { Array($0) }
        guard writeSecretFile(path, bytes) else { throw GatewayError("cannot write the node key \(path)") }
        return NodeKey(key: key)
    }

    /// The key of a data directory that has one.
    public static func load(data: String) throws(GatewayError) -> NodeKey {
        let path = path(data: data)
        guard let bytes = FileManager.default.contents(atPath: path) else {
            throw GatewayError("no node key at \(path) (a node makes it when it first starts with --listen)")
        }
        guard bytes.count == 32 else { throw GatewayError("\(path) is not a node key (\(bytes.count) bytes, not 32)") }
        return NodeKey(key: SymmetricKey(data: bytes))
    }

    /// `nonce ‖ ciphertext ‖ tag` of `secret`, bound to the key's name.
    public func seal(_ secret: [UInt8], apiKey: String) -> [UInt8] {
        let box = try! AES.GCM.seal(secret, using: key, nonce: AES.GCM.Nonce(), authenticating: Array(apiKey.utf8))
        return Array(box.combined!)
    }

    /// The secret `seal` sealed for `apiKey`; nil when it was sealed under another key or name.
    public func open(_ sealed: [UInt8], apiKey: String) -> [UInt8]? {
        guard let box = try? AES.GCM.SealedBox(combined: sealed),
              let plain = try? AES.GCM.open(box, using: key, authenticating: Array(apiKey.utf8)) else { return nil }
        return Array(plain)
    }
}

/// Writes a file only its owner may read (0600), replacing any.
func writeSecretFile(_ path: String, _ bytes: [UInt8]) -> Bool {
    let temporary = path + ".tmp"
    unlink(temporary)
    let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL, 0o600)
    guard fd >= 0 else { return false }
    let written = bytes.withUnsafeBytes { writeAll(fd, $0) }
    let synced = fsync(fd) == 0
    close(fd)
    guard written, synced, rename(temporary, path) == 0 else { unlink(temporary); return false }
    return true
}

/// Checks request signatures against the keys the engine holds: HMAC-SHA256 (hex) with the
/// unsealed secret, or Ed25519 (base64) with the public key. Unsealed secrets are kept in
/// memory only, by key name and sealed bytes (a key revoked and added again is unsealed anew).
final class SignatureChecker: @unchecked Sendable {
    private let nodeKey: NodeKey?
    private let monitor = Monitor()
    private var verifiers: [String: (material: [UInt8], verifier: Verifier)] = [:]

    enum Verifier {
        case hmac(SymmetricKey)
        case ed25519(Curve25519.Signing.PublicKey)
    }

    init(nodeKey: NodeKey?) { self.nodeKey = nodeKey }

    /// Whether `signature` signs `payload` under `spec`.
    func verify(_ signature: String, payload: [UInt8], spec: ApiKeySpec) -> Bool {
        guard let verifier = verifier(spec) else { return false }
        switch verifier {
        case let .hmac(key):
            guard let mac = unhex(signature), mac.count == 32 else { return false }
            return HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: payload, using: key)
        case let .ed25519(publicKey):
            guard let raw = Data(base64Encoded: signature) else { return false }
            return publicKey.isValidSignature(raw, for: payload)
        }
    }

    private func verifier(_ spec: ApiKeySpec) -> Verifier? {
        monitor.lock()
        defer { monitor.unlock() }
        if let cached = verifiers[spec.apiKey], cached.material == spec.material { return cached.verifier }
        let verifier: Verifier
        switch spec.kind {
        case .hmac:
            guard let secret = nodeKey?.open(spec.material, apiKey: spec.apiKey) else { return nil }
            verifier = .hmac(SymmetricKey(data: secret))
        case .ed25519:
            guard let key = try? Curve25519.Signing.PublicKey(rawRepresentation: spec.material) else { return nil }
            verifier = .ed25519(key)
        }
        verifiers[spec.apiKey] = (spec.material, verifier)
        return verifier
    }
}
