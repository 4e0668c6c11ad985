import Testing
@testable import Journal

/// The byte positions written down in Journal/FORMAT.md, checked field by field.
@Suite struct LayoutTests {
    @Test func segmentHeaderFieldsSitWhereFormatSays() throws {
        var chain = [UInt8](repeating: 0, count: 32)
        for i in 0..<32 { chain[i] = UInt8(i + 1) }
        let previous = chain.withUnsafeBytes { Digest32(loading: $0.baseAddress!) }
        let header = SegmentHeader(segmentIndex: 3, firstSequence: 0x0102_0304_0506_0708,
                                   segmentBytes: 65_536, previousChain: previous, recordKind: .commands)
        let bytes = header.encoded
        #expect(bytes.count == 128)
        #expect(Array(bytes[0..<8]) == Array("XJOURNAL".utf8))
        #expect(bytes[8] == 1 && bytes[9] == 0)           // version 1, little-endian
        #expect(bytes[10] == 128 && bytes[11] == 0)       // header size
        #expect(Array(bytes[12..<16]) == [1, 0, 0, 0])    // record kind: commands
        #expect(bytes[16] == 3)                           // segment index
        #expect(Array(bytes[24..<32]) == [8, 7, 6, 5, 4, 3, 2, 1])
        #expect(Array(bytes[32..<40]) == [0, 0, 1, 0, 0, 0, 0, 0])
        #expect(Array(bytes[40..<72]) == chain)
        #expect(bytes[72..<124].allSatisfy { $0 == 0 })
        let crc = CRC32C.checksum(Array(bytes[0..<124]))
        #expect(Array(bytes[124..<128]) == [UInt8(crc & 0xff), UInt8(crc >> 8 & 0xff),
                                            UInt8(crc >> 16 & 0xff), UInt8(crc >> 24)])
        let decoded = bytes.withUnsafeBytes { SegmentHeader.decode($0.baseAddress!) }
        #expect(try decoded.get() == header)
    }

    @Test func blockHeaderFieldsSitWhereFormatSays() throws {
        let header = BlockHeader(flags: 1, firstSequence: 42, recordCount: 3, rawBytes: 300,
                                 storedBytes: 200, firstTimestampNs: -5, lastTimestampNs: 9,
                                 chain: .zero, crc: 0xDEAD_BEEF)
        var bytes = [UInt8](repeating: 0xAA, count: 96)
        bytes.withUnsafeMutableBytes { header.encode(to: $0.baseAddress!) }
        #expect(Array(bytes[0..<4]) == Array("XBLK".utf8))
        #expect(bytes[4] == 1 && bytes[5] == 0)
        #expect(bytes[6] == 96)
        #expect(bytes[8] == 42)
        #expect(bytes[16] == 3)
        #expect(bytes[20] == 44 && bytes[21] == 1)       // 300
        #expect(bytes[24] == 200)
        #expect(Array(bytes[32..<40]) == [0xfb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])
        #expect(bytes[40] == 9)
        #expect(bytes[80..<92].allSatisfy { $0 == 0 })
        #expect(Array(bytes[92..<96]) == [0xEF, 0xBE, 0xAD, 0xDE])
        let peeked = bytes.withUnsafeBytes { BlockHeader.peek($0.baseAddress!) }
        #expect(peeked == header)
        #expect(MemoryLayout<Digest32>.size == 32)
    }
}
