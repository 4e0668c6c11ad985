#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An IPv4 or IPv6 network (`10.0.0.0/8`, `::1/128`; an address alone is its own /32 or /128),
/// as an API key's IP whitelist lists them. IPv4 addresses are held as IPv4-mapped IPv6
/// (`::ffff:a.b.c.d`), so that a client seen over either family matches the same entries.
public struct CIDR: Equatable, Sendable, CustomStringConvertible {
    /// 16 bytes, network order.
    public var address: [UInt8]
    /// Leading bits that must match, of the 128.
    public var prefix: Int
    public let description: String

    /// Parses one entry; nil when it is not an address with an optional `/prefix`.
    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let host = parts.first, let address = Self.address(String(host)) else { return nil }
        let isV4 = !host.contains(":")
        var bits = isV4 ? 32 : 128
        if parts.count == 2 {
            guard let p = Int(parts[1]), p >= 0, p <= bits, parts[1].allSatisfy(\.isASCII) else { return nil }
            bits = p
        }
        self.address = address
        prefix = isV4 ? 96 + bits : bits
        description = text
    }

    /// The 16 bytes of an IPv4 or IPv6 address (IPv4 mapped into IPv6); nil when it is neither.
    public static func address(_ text: String) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: 16)
        if !text.contains(":") {
            var v4 = in_addr()
            guard inet_pton(AF_INET, text, &v4) == 1 else { return nil }
            out[10] = 0xFF; out[11] = 0xFF
            withUnsafeBytes(of: &v4) { for i in 0..<4 { out[12 + i] = $0[i] } }
            return out
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, text, &v6) == 1 else { return nil }
        withUnsafeBytes(of: &v6) { for i in 0..<16 { out[i] = $0[i] } }
        return out
    }

    /// Whether the address (16 bytes, as `address(_:)` gives) is in this network.
    public func contains(_ other: [UInt8]) -> Bool {
        guard other.count == 16 else { return false }
        var bits = prefix
        for i in 0..<16 where bits > 0 {
            let take = min(8, bits)
            let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - take))
            if address[i] & mask != other[i] & mask { return false }
            bits -= take
        }
        return true
    }

    /// The networks of a comma-separated list (spaces around entries allowed); nil when an
    /// entry is not one, or the list is empty.
    public static func list(_ text: String) -> [CIDR]? {
        var out: [CIDR] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard let cidr = CIDR(part.trimmingSpaces) else { return nil }
            out.append(cidr)
        }
        return out.isEmpty ? nil : out
    }
}

extension Substring {
    var trimmingSpaces: String {
        String(drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
    }
}
