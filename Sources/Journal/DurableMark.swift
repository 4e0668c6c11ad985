#if canImport(Glibc)
import Glibc
#endif
import _Posix

/// The journal's record of what has been synced: the last sequence a writer made durable (and
/// so may have acknowledged), kept in the file `DURABLE` beside the segments.
///
/// It lets recovery tell the two things a bad last block can be: a write cut short by a crash
/// (its records were never synced, never acknowledged: cut off) or damage to records that were
/// synced and acknowledged (refused, naming the block, unless the operator accepts the loss).
/// The blocks alone cannot tell them apart.
///
/// Layout (little-endian), 72 bytes, in two slots at offsets 0 and 512 written alternately, so
/// that a write torn by a crash leaves the other slot whole; the valid slot with the higher
/// generation counts (the sequence may go down: a loss accepted by the operator):
///
///     0  magic "JXDURABL" (u64)   8  version 1 (u16)   10  size 72 (u16)   12  reserved (u32)
///     16 generation (u64)        24  sequence (u64)    32  chain hash after that sequence (32)
///     64 reserved (u32)          68  CRC-32C of bytes 0..<68
///
/// A writer stores a mark after a sync when it goes idle (see `JournalWriter.markDurable()`)
/// and on close, so a mark never claims more than the segments held when it was written; it
/// may lag behind the last acknowledged block by the commands acknowledged since the writer
/// last went idle.
struct DurableMark: Equatable {
    static let fileName = "DURABLE"
    static let size = 72
    static let slotStride = 512
    static let magic: UInt64 = 0x4C42_4152_5544_584A  // "JXDURABL"
    static let version: UInt16 = 1

    /// One more than the mark it replaces.
    var generation: UInt64
    var sequence: UInt64
    var chain: Digest32

    func encoded() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Self.size)
        out.withUnsafeMutableBytes { raw in
            let p = raw.baseAddress!
            p.storeLE(Self.magic, 0)
            p.storeLE(Self.version, 8)
            p.storeLE(UInt16(Self.size), 10)
            p.storeLE(generation, 16)
            p.storeLE(sequence, 24)
            chain.store(to: p + 32)
            p.storeLE(CRC32C.checksum(UnsafeRawBufferPointer(start: p, count: 68)), 68)
        }
        return out
    }

    /// The mark in `bytes` if it checks out (magic, version, size, CRC).
    static func decode(_ bytes: ArraySlice<UInt8>) -> DurableMark? {
        guard bytes.count >= size else { return nil }
        return Array(bytes.prefix(size)).withUnsafeBytes { raw -> DurableMark? in
            let p = raw.baseAddress!
            guard p.loadLE(0, as: UInt64.self) == magic, p.loadLE(8, as: UInt16.self) == version,
                  p.loadLE(10, as: UInt16.self) == UInt16(size),
                  p.loadLE(68, as: UInt32.self) == CRC32C.checksum(UnsafeRawBufferPointer(start: p, count: 68))
            else { return nil }
            return DurableMark(generation: p.loadLE(16), sequence: p.loadLE(24), chain: Digest32(loading: p + 32))
        }
    }

    static func path(in directory: String) -> String { StoragePath.join(directory, fileName) }

    /// Why valid blocks that end at `validThrough`, below a mark at `marked`, are corruption:
    /// the one wording for the writer, the reader and verify.
    static func shortfall(validThrough: UInt64, marked: UInt64, by evidence: String = "the DURABLE mark") -> String {
        "the valid blocks end at sequence \(validThrough), but records through \(marked) were synced and may have been acknowledged (\(evidence))"
    }

    /// The newest valid mark of a journal directory, nil when there is none (a journal written
    /// before marks existed, or copied without it). A mark that cannot be read (an I/O error)
    /// is an error: going on without it would turn damage to acknowledged records into a
    /// torn write.
    static func read(directory: String, storage: any Storage) throws(JournalError) -> (mark: DurableMark, slot: Int)? {
        let path = path(in: directory)
        guard storage.exists(path) else { return nil }
        let bytes = try storage.readFile(path)
        var best: (mark: DurableMark, slot: Int)?
        for slot in 0..<2 where bytes.count >= slot * slotStride + size {
            if let mark = decode(bytes[(slot * slotStride)...]), mark.generation >= (best?.mark.generation ?? 0) {
                best = (mark, slot)
            }
        }
        return best
    }
}

/// Writes a journal's marks, alternating slots, each one synced before `write` returns.
final class DurableMarkFile {
    private let file: any StoredFile
    private var nextSlot: Int
    private var generation: UInt64
    private(set) var sequence: UInt64

    init(directory: String, storage: any Storage) throws(JournalError) {
        let existing = try DurableMark.read(directory: directory, storage: storage)
        file = try storage.open(DurableMark.path(in: directory), .create)
        nextSlot = existing.map { 1 - $0.slot } ?? 0
        sequence = existing?.mark.sequence ?? 0
        generation = existing?.mark.generation ?? 0
    }

    /// Stores `sequence` (and the chain hash after it) as the durable point.
    func write(sequence: UInt64, chain: Digest32) throws(JournalError) {
        let mark = DurableMark(generation: generation + 1, sequence: sequence, chain: chain)
        try file.write(mark.encoded(), at: nextSlot * DurableMark.slotStride)
        try file.sync()
        nextSlot = 1 - nextSlot
        generation = mark.generation
        self.sequence = sequence
    }

    func close() { file.close() }
}
