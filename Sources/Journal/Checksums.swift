import CCRC32C
import CLibCrypto

/// CRC-32C (Castagnoli) as used in block and segment headers.
public enum CRC32C {
    /// The CRC-32C of `bytes`, continuing from `crc` (0 starts a new checksum).
    @inlinable
    public static func checksum(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return crc }
        return exchange_crc32c(crc, base, bytes.count)
    }

    /// The CRC-32C of an array of bytes.
    public static func checksum(_ bytes: [UInt8], continuing crc: UInt32 = 0) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0, continuing: crc) }
    }

    /// Whether this CPU runs the SSE4.2 instruction path.
    public static var usesHardware: Bool { exchange_crc32c_hardware() != 0 }

    /// The portable path, whatever the CPU; tests compare it with the hardware path.
    public static func portableChecksum(_ bytes: [UInt8], continuing crc: UInt32 = 0) -> UInt32 {
        bytes.withUnsafeBytes { raw in
            guard let base = raw.baseAddress, raw.count > 0 else { return crc }
            return exchange_crc32c_portable(crc, base, raw.count)
        }
    }
}

/// A 32-byte SHA-256 digest: a chain hash, a state digest. Stored as four words so that it is a
/// plain value with no heap storage.
public struct Digest32: Equatable, Hashable, Sendable, CustomStringConvertible {
    public var w0: UInt64, w1: UInt64, w2: UInt64, w3: UInt64

    public static let zero = Digest32(w0: 0, w1: 0, w2: 0, w3: 0)

    public init(w0: UInt64, w1: UInt64, w2: UInt64, w3: UInt64) {
        self.w0 = w0; self.w1 = w1; self.w2 = w2; self.w3 = w3
    }

    /// Reads 32 bytes as they lie in memory (the digest's byte order).
    public init(loading from: UnsafeRawPointer) {
        w0 = from.loadUnaligned(fromByteOffset: 0, as: UInt64.self)
        w1 = from.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
        w2 = from.loadUnaligned(fromByteOffset: 16, as: UInt64.self)
        w3 = from.loadUnaligned(fromByteOffset: 24, as: UInt64.self)
    }

    /// Parses 64 hexadecimal digits; nil for anything else.
    public init?(hex: String) {
        let bytes = Array(hex.utf8)
        guard bytes.count == 64 else { return nil }
        var raw = [UInt8](repeating: 0, count: 32)
        for i in 0..<32 {
            guard let hi = Self.nibble(bytes[2 * i]), let lo = Self.nibble(bytes[2 * i + 1]) else {
                return nil
            }
            raw[i] = hi << 4 | lo
        }
        self = raw.withUnsafeBytes { Digest32(loading: $0.baseAddress!) }
    }

    /// Writes the 32 bytes to memory in the digest's byte order.
    public func store(to: UnsafeMutableRawPointer) {
        to.storeBytes(of: w0, toByteOffset: 0, as: UInt64.self)
        to.storeBytes(of: w1, toByteOffset: 8, as: UInt64.self)
        to.storeBytes(of: w2, toByteOffset: 16, as: UInt64.self)
        to.storeBytes(of: w3, toByteOffset: 24, as: UInt64.self)
    }

    public var bytes: [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        out.withUnsafeMutableBytes { store(to: $0.baseAddress!) }
        return out
    }

    /// Lower-case hexadecimal, 64 characters.
    public var hex: String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(64)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0xf)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    public var description: String { hex }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

/// An incremental SHA-256 from libcrypto (SHA-NI where the CPU has it). One instance is reused
/// for every hash, with no allocation per hash; it is not thread-safe.
public final class SHA256Hasher {
    private let context = UnsafeMutablePointer<SHA256_CTX>.allocate(capacity: 1)

    public init() {
        reset()
    }

    deinit { context.deallocate() }

    /// Starts a new hash.
    public func reset() {
        precondition(SHA256_Init(context) == 1, "libcrypto: SHA256_Init failed")
    }

    public func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        precondition(SHA256_Update(context, base, bytes.count) == 1, "libcrypto: SHA256_Update failed")
    }

    public func update(_ digest: Digest32) {
        withUnsafeBytes(of: digest) { update($0) }
    }

    public func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// Ends the hash and returns it; call `reset()` before hashing again.
    public func finish() -> Digest32 {
        var digest = Digest32.zero
        let ok = withUnsafeMutableBytes(of: &digest) { out in
            SHA256_Final(out.baseAddress!.assumingMemoryBound(to: UInt8.self), context)
        }
        precondition(ok == 1, "libcrypto: SHA256_Final failed")
        return digest
    }

    /// SHA-256 of one buffer.
    public static func hash(_ bytes: [UInt8]) -> Digest32 {
        let hasher = SHA256Hasher()
        hasher.update(bytes)
        return hasher.finish()
    }
}
