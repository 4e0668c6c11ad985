/// What an API key may do (Binance's permissions): read account data, and trade.
public struct ApiPermissions: OptionSet, Equatable, Hashable, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let read = ApiPermissions(rawValue: 1)
    public static let trade = ApiPermissions(rawValue: 2)
    public static let all: ApiPermissions = [.read, .trade]

    /// "READ,TRADE", in that order (INTERCHANGE's `permissions`).
    public var names: String {
        var out: [String] = []
        if contains(.read) { out.append("READ") }
        if contains(.trade) { out.append("TRADE") }
        return out.joined(separator: ",")
    }

    /// The permissions of a comma-separated list of names; nil for an unknown name, an empty
    /// list or a name given twice.
    public init?(names: String) {
        var set: ApiPermissions = []
        for part in names.split(separator: ",", omittingEmptySubsequences: false) {
            let p: ApiPermissions
            switch part {
            case "READ": p = .read
            case "TRADE": p = .trade
            default: return nil
            }
            guard !set.contains(p) else { return nil }
            set.insert(p)
        }
        guard !set.isEmpty else { return nil }
        self = set
    }
}

/// An API key as the state holds it (INTERCHANGE's `add_api_key`). The engine keeps keys only so
/// that they are journaled, snapshotted and replicated with everything else; the gateway checks
/// signatures with them. No secret is held in plaintext: an HMAC key's secret is sealed with
/// the node's key (AES-256-GCM) before it is journaled, an Ed25519 key holds its public key.
public struct ApiKeySpec: Equatable, Sendable {
    public enum Kind: UInt8, Sendable {
        /// HMAC-SHA256: `material` is the sealed secret (nonce, ciphertext, tag).
        case hmac = 0
        /// Ed25519: `material` is the 32-byte public key.
        case ed25519 = 1
    }

    public var account: AccountId
    /// The key's name, sent by clients in `X-MBX-APIKEY`: 1 to 64 ASCII letters and digits.
    public var apiKey: String
    public var permissions: ApiPermissions
    /// Comma-separated IPv4/IPv6 CIDRs the key may be used from; empty: from anywhere.
    public var ipWhitelist: String
    public var kind: Kind
    public var material: [UInt8]

    public init(account: AccountId, apiKey: String, permissions: ApiPermissions, ipWhitelist: String = "",
                kind: Kind, material: [UInt8]) {
        self.account = account; self.apiKey = apiKey; self.permissions = permissions
        self.ipWhitelist = ipWhitelist; self.kind = kind; self.material = material
    }

    /// Why the key is malformed (the `detail` of its `INVALID_COMMAND`), if it is. The shape of
    /// each CIDR is the interchange layer's check; here, what does not depend on parsing.
    public var problem: String? {
        let name = Array(apiKey.utf8)
        if name.isEmpty || name.count > 64 || !name.allSatisfy({ Self.isAlphanumeric($0) }) {
            return "api_key: not 1 to 64 ASCII letters and digits"
        }
        if permissions.isEmpty || permissions.rawValue & ~ApiPermissions.all.rawValue != 0 {
            return "permissions: not READ, TRADE or both"
        }
        switch kind {
        case .hmac where material.count < 12 + 16 + 16 || material.count > 12 + 128 + 16:
            return "secret_sealed: not a sealed secret of 16 to 128 bytes"
        case .ed25519 where material.count != 32:
            return "ed25519_public_key: not 32 bytes"
        default: return nil
        }
    }

    static func isAlphanumeric(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
    }
}

extension MatchingEngine {
    mutating func addApiKey(_ spec: ApiKeySpec, _ events: inout EventBuffer) {
        if spec.problem != nil { return events.append(.rejected(account: spec.account, reason: .invalidCommand)) }
        guard hasAccount(spec.account) else { return events.append(.rejected(account: spec.account, reason: .unknownAccount)) }
        guard apiKeys[spec.apiKey] == nil else { return events.append(.rejected(account: spec.account, reason: .duplicate)) }
        apiKeys[spec.apiKey] = spec
        events.append(.ok)
    }

    mutating func revokeApiKey(_ account: AccountId, _ apiKey: String, _ events: inout EventBuffer) {
        guard let spec = apiKeys[apiKey], spec.account == account else {
            return events.append(.rejected(account: account, reason: .unknownApiKey))
        }
        apiKeys[apiKey] = nil
        events.append(.ok)
    }

    /// The API keys, ordered by name (never by hashing order).
    public var apiKeysByName: [ApiKeySpec] { apiKeys.values.sorted { $0.apiKey < $1.apiKey } }

    /// The key of that name, if it is valid.
    public func apiKey(_ name: String) -> ApiKeySpec? { apiKeys[name] }
}
