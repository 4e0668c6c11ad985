import Foundation
import Testing
@testable import Journal
import Workloads

/// The package root, found from this file's path.
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().path

/// The digest `Tools/journal_reader.py verify` reports as `records_sha256`: SHA-256 over
/// seq (8) ‖ ts (8) ‖ length (4) ‖ bytes of every record, little-endian.
func recordsDigest(_ directory: String) throws -> String {
    let hasher = SHA256Hasher()
    let reader = try JournalReader(directory: directory)
    while try reader.next({ (record: JournalRecord) -> Void in
        var head = [UInt8](repeating: 0, count: 20)
        head.withUnsafeMutableBytes { p in
            p.storeBytes(of: record.sequence.littleEndian, toByteOffset: 0, as: UInt64.self)
            p.storeBytes(of: record.timestampNs.littleEndian, toByteOffset: 8, as: Int64.self)
            p.storeBytes(of: UInt32(record.bytes.count).littleEndian, toByteOffset: 16, as: UInt32.self)
        }
        hasher.update(head)
        hasher.update(record.bytes)
    }) != nil {}
    return hasher.finish().hex
}

/// `Tools/journal_reader.py verify DIR`, parsed.
func independentVerify(_ directory: String) throws -> [String: Any] {
    let result = try run("/usr/bin/env", ["python3", packageRoot + "/Tools/journal_reader.py", "verify", directory])
    let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8))
    return object as! [String: Any]
}

@Suite struct GoldenJournalTests {
    func copyOfGolden(_ name: String) throws -> TemporaryDirectory {
        let dir = TemporaryDirectory("golden")
        let source = packageRoot + "/Journal/golden/" + name
        for file in try FileManager.default.contentsOfDirectory(atPath: source) {
            try FileManager.default.copyItem(atPath: source + "/" + file, toPath: dir.sub(file))
        }
        return dir
    }

    @Test func theV1GoldenJournalReadsAsTheIndependentReaderSays() throws {
        let dir = try copyOfGolden("orders-48b")
        let data = try Data(contentsOf: URL(fileURLWithPath: dir.sub("expected.json")))
        let expected = try JSONSerialization.jsonObject(with: data) as! [String: Any]

        let report = try JournalVerifier.verify(directory: dir.path)
        #expect(report.ok && report.tornTail == nil)
        #expect(report.chainHead.hex == expected["chain_head"] as? String)
        #expect(Int(report.lastSequence) == expected["last_seq"] as? Int)
        #expect(report.blocks == expected["blocks"] as? Int)
        #expect(report.segments == expected["segments"] as? Int)
        #expect(try recordsDigest(dir.path) == expected["records_sha256"] as? String)

        // The records are the seeded workload it was made from.
        var stream = OrderLikeRecords(seed: 2026)
        for record in try readAll(dir.path) {
            #expect(record.bytes == stream.next() && record.timestampNs == stream.timestampNs)
        }
        // A writer opens it without cutting anything and continues its chain.
        let writer = try JournalWriter(directory: dir.path, options: smallOptions())
        #expect(!writer.recovery.droppedAnything && writer.lastSequence == 5_000)
        #expect(writer.chainHead.hex == expected["chain_head"] as? String)
        try writer.close()
    }

    @Test func theIndependentReaderAgreesOnAFreshJournal() throws {
        // Raw and LZ4 blocks, segment rolls, empty records, time going backwards.
        let dir = TemporaryDirectory("independent")
        let writer = try JournalWriter(directory: dir.path, options: smallOptions())
        try appendAll(variedRecords(count: 1_200, seed: 61), to: writer)
        try writer.append([], timestampNs: -5)
        var random = SplitMix64(seed: 63)
        try writer.flush()
        try writer.append((0..<1_800).map { _ in UInt8(truncatingIfNeeded: random.next()) }, timestampNs: 9)
        try writer.flush()
        try appendAll(variedRecords(count: 300, seed: 64), to: writer)
        try writer.close()
        let segments = try JournalDirectory.segments(dir.path)
        let all = try segments.flatMap { try blocks(inSegment: $0.path) }
        #expect(all.contains { $0.header.isCompressed } && all.contains { !$0.header.isCompressed })

        let theirs = try independentVerify(dir.path)
        let ours = try JournalVerifier.verify(directory: dir.path)
        #expect(theirs["ok"] as? Bool == true)
        #expect(theirs["chain_head"] as? String == ours.chainHead.hex)
        #expect(theirs["last_seq"] as? Int == Int(ours.lastSequence))
        #expect(theirs["records_sha256"] as? String == (try recordsDigest(dir.path)))

        // And it finds corruption too.
        let victim = try blocks(inSegment: segments[0].path)[1]
        try flipBit(segments[0].path, offset: victim.offset + 100, bit: 3)
        #expect(try independentVerify(dir.path)["ok"] as? Bool == false)
    }

    @Test func aPayloadDecompressesWithTheStockLZ4Tool() throws {
        let dir = TemporaryDirectory("lz4")
        let writer = try JournalWriter(directory: dir.path, options: smallOptions())
        var stream = OrderLikeRecords(seed: 62)
        for _ in 0..<100 { try writer.append(stream.next(), timestampNs: stream.timestampNs) }
        try writer.close()
        let segment = try JournalDirectory.segments(dir.path)[0].path
        let block = try blocks(inSegment: segment)[0]
        #expect(block.header.isCompressed)
        let framed = dir.sub("block.lz4")
        let wrap = try run("/usr/bin/env", ["python3", packageRoot + "/Tools/journal_reader.py",
                                            "lz4-frame", segment, "\(block.offset)", framed])
        #expect(wrap.status == 0, "\(wrap.stderr)")
        let unpacked = try run("/usr/bin/env", ["lz4", "-d", "-f", "-q", framed, dir.sub("block.raw")])
        #expect(unpacked.status == 0, "the lz4 tool (Debian package lz4) must be installed: \(unpacked.stderr)")
        let raw = try PosixStorage.shared.readFile(dir.sub("block.raw"))
        #expect(raw.count == Int(block.header.rawBytes))
        // The raw payload is the framed records: the first is 48 bytes with a zero time delta.
        #expect(Array(raw[0..<2]) == [48, 0])
        var check = OrderLikeRecords(seed: 62)
        #expect(Array(raw[2..<50]) == check.next())
    }
}
