import Testing
@testable import Journal
import Workloads
import _Posix

@Suite struct ChecksumTests {
    @Test func crc32cMatchesTheStandardCheckValue() {
        // The check value of CRC-32C (RFC 3720, appendix B.4) over "123456789".
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.portableChecksum(Array("123456789".utf8)) == 0xE306_9283)
        // 32 bytes of zeroes, from RFC 3720's test vectors.
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xff, count: 32)) == 0x62A8_AB43)
    }

    @Test func hardwareAndPortablePathsAgreeAndChain() {
        var random = SplitMix64(seed: 7)
        for length in [0, 1, 7, 8, 9, 63, 64, 65, 1000, 4097] {
            let bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            #expect(CRC32C.checksum(bytes) == CRC32C.portableChecksum(bytes), "length \(length)")
            let split = length / 3
            let chained = CRC32C.checksum(Array(bytes[split...]),
                                          continuing: CRC32C.checksum(Array(bytes[..<split])))
            #expect(chained == CRC32C.checksum(bytes), "length \(length)")
        }
    }

    @Test func sha256MatchesFIPSVectors() {
        #expect(SHA256Hasher.hash(Array("abc".utf8)).hex
                == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256Hasher.hash([]).hex
                == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        let digest = SHA256Hasher.hash(Array("abc".utf8))
        #expect(Digest32(hex: digest.hex) == digest)
        #expect(Digest32(hex: "zz") == nil)
    }

    @Test func varintsRoundTripAtEveryWidth() {
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: 16, alignment: 8)
        defer { buffer.deallocate() }
        var values: [UInt64] = [0, 1, 127, 128, 16_383, 16_384, UInt64(UInt32.max), UInt64.max]
        for shift in 0..<64 { values.append(1 << UInt64(shift)) }
        for value in values {
            let end = Varint.write(value, to: buffer, at: 0)
            #expect(end == Varint.size(value))
            // Bytes after the value (the next field) must not leak into it.
            (buffer + end).initializeMemory(as: UInt8.self, repeating: 0xAA, count: 16 - end)
            var at = 0
            #expect(Varint.read(buffer, at: &at, end: 16) == value)
            #expect(at == end)
            at = 0
            #expect(Varint.read(buffer, at: &at, end: end) == value)
            var short = 0
            #expect(Varint.read(buffer, at: &short, end: end - 1) == nil, "truncated \(value)")
        }
        // Ten bytes at most, and the tenth holds only the top bit.
        buffer.initializeMemory(as: UInt8.self, repeating: 0xFF, count: 16)
        buffer.storeBytes(of: 0x02, toByteOffset: 9, as: UInt8.self)
        var at = 0
        #expect(Varint.read(buffer, at: &at, end: 16) == nil, "overflows 64 bits")
        buffer.storeBytes(of: 0x01, toByteOffset: 9, as: UInt8.self)
        at = 0
        #expect(Varint.read(buffer, at: &at, end: 16) == UInt64.max && at == 10)
        for signed: Int64 in [0, -1, 1, Int64.min, Int64.max, -123_456] {
            #expect(Varint.unzigzag(Varint.zigzag(signed)) == signed)
        }
        #expect(Varint.zigzag(-1) == 1 && Varint.zigzag(1) == 2)
    }
}
