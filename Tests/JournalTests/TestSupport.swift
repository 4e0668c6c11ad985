import Foundation
@testable import Journal
import Workloads
@_exported import _ProcessTesting

/// A fresh directory under /tmp, removed when the value is released.
final class TemporaryDirectory {
    let path: String

    init(_ label: String = "journal") {
        var template = Array("/tmp/exchange-test-\(label)-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(made != nil, "mkdtemp failed")
        path = String(cString: template.withUnsafeBufferPointer { $0.baseAddress! })
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func sub(_ name: String) -> String { path + "/" + name }
}

/// Small limits so that tests roll segments and close blocks often.
func smallOptions(durability: Durability = .none, segmentBytes: Int = 64 << 10,
                  blockBytesMax: Int = 2 << 10) -> JournalOptions {
    JournalOptions(segmentBytes: segmentBytes, blockBytesMax: blockBytesMax,
                   blockRecordsMax: 1_000, recordBytesMax: 4 << 10, durability: durability)
}

/// Records of varied sizes and contents, from a seed (some compress well, some do not).
func variedRecords(count: Int, seed: UInt64) -> [(bytes: [UInt8], timestampNs: Int64)] {
    var random = SplitMix64(seed: seed)
    var time: Int64 = 1_000_000
    var out: [(bytes: [UInt8], timestampNs: Int64)] = []
    for i in 0..<count {
        let length = Int(random.next() % 300)
        var bytes = [UInt8](repeating: UInt8(i & 0xff), count: length)
        if random.next() % 2 == 0 {
            for j in 0..<length { bytes[j] = UInt8(truncatingIfNeeded: random.next()) }
        }
        time += Int64(random.next() % 5_000) - 1_000  // time may go backwards: the journal only stores it
        out.append((bytes, time))
    }
    return out
}

func appendAll(_ records: [(bytes: [UInt8], timestampNs: Int64)], to writer: JournalWriter) throws {
    for record in records { try writer.append(record.bytes, timestampNs: record.timestampNs) }
}

/// Every record from `sequence` on, copied.
func readAll(_ directory: String, from sequence: UInt64? = nil, verifyChain: Bool = true) throws
    -> [(sequence: UInt64, timestampNs: Int64, bytes: [UInt8])] {
    let reader = try JournalReader(directory: directory, verifyChain: verifyChain)
    if let sequence { try reader.seek(to: sequence) }
    var out: [(sequence: UInt64, timestampNs: Int64, bytes: [UInt8])] = []
    while let record = try reader.nextRecord() { out.append(record) }
    return out
}

/// The blocks of a segment as (offset, header), walking the file.
func blocks(inSegment path: String) throws -> [(offset: Int, header: BlockHeader)] {
    let bytes = try PosixStorage.shared.readFile(path)
    var out: [(offset: Int, header: BlockHeader)] = []
    bytes.withUnsafeBytes { raw in
        var offset = SegmentHeader.size
        while offset + BlockHeader.size <= raw.count, let h = BlockHeader.peek(raw.baseAddress! + offset) {
            out.append((offset, h))
            offset += h.totalBytes
        }
    }
    return out
}

func flipBit(_ path: String, offset: Int, bit: Int) throws {
    let handle = try PosixStorage.shared.open(path, .readWrite)
    defer { handle.close() }
    var byte = try handle.read(count: 1, at: offset)
    byte[0] ^= UInt8(1 << bit)
    try handle.write(byte, at: offset)
}

/// Replaces the journal's durable mark by one saying records through `sequence` were synced:
/// the state a crash leaves between a block's sync and the mark that would cover it.
func setDurableMark(_ directory: String, through sequence: UInt64) throws {
    try PosixStorage.shared.writeAtomically(DurableMark(generation: 1, sequence: sequence, chain: .zero).encoded(),
                                   to: DurableMark.path(in: directory), durable: false)
}
