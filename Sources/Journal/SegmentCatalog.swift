#if canImport(Glibc)
import Glibc
#endif

/// One segment file of a journal directory.
public struct SegmentFile: Equatable, Sendable {
    /// The first sequence number, as the file name says.
    public var firstSequence: UInt64
    public var path: String

    public var name: String { SegmentCatalog.name(firstSequence) }
    var indexPath: String { SegmentCatalog.indexPath(path) }
}

/// Names and finds the files of a journal directory:
/// `<first sequence, 20 digits>.seg` for segments and `.idx` beside each for its index.
enum SegmentCatalog {
    static let segmentSuffix = ".seg"
    static let indexSuffix = ".idx"
    static let lockName = "LOCK"

    static func name(_ firstSequence: UInt64) -> String {
        let digits = String(firstSequence)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits + segmentSuffix
    }

    static func indexPath(_ segmentPath: String) -> String {
        String(segmentPath.dropLast(segmentSuffix.count)) + indexSuffix
    }

    /// The segments in `directory`, in sequence order.
    static func list(_ directory: String, storage: any Storage) throws(JournalError) -> [SegmentFile] {
        var segments: [SegmentFile] = []
        for name in try storage.list(directory) where name.hasSuffix(segmentSuffix) {
            let stem = name.dropLast(segmentSuffix.count)
            guard stem.count == 20, stem.allSatisfy(\.isASCII), let first = UInt64(stem) else {
                continue
            }
            segments.append(SegmentFile(firstSequence: first, path: StoragePath.join(directory, name)))
        }
        return segments.sorted { $0.firstSequence < $1.firstSequence }
    }

    /// The segment that holds `sequence` (the last one whose first sequence is not above it).
    static func position(of sequence: UInt64, in segments: [SegmentFile]) -> Int? {
        var low = 0, high = segments.count
        while low < high {
            let mid = (low + high) / 2
            if segments[mid].firstSequence <= sequence { low = mid + 1 } else { high = mid }
        }
        return low == 0 ? nil : low - 1
    }
}

/// A segment mapped for reading, with its checked header.
final class SegmentMap {
    let file: SegmentFile
    let map: MappedFile
    let header: SegmentHeader
    let storage: any Storage

    /// Maps the whole file as it is now (never past its end: that would be SIGBUS).
    init(_ file: SegmentFile, storage: any Storage, writable: Bool = false) throws(JournalError) {
        self.storage = storage
        let handle = try storage.open(file.path, writable ? .readWrite : .read)
        defer { handle.close() }
        let size = try handle.size()
        guard size >= SegmentHeader.size else {
            throw JournalError.corrupt(segment: file.name, offset: 0, sequence: file.firstSequence,
                                       reason: "file of \(size) bytes is shorter than a segment header")
        }
        map = try handle.map(count: size, writable: writable)
        self.file = file
        switch SegmentHeader.decode(map.base!) {
        case let .failure(why):
            throw JournalError.corrupt(segment: file.name, offset: 0, sequence: file.firstSequence,
                                       reason: "segment header: \(why)")
        case let .success(h):
            guard h.firstSequence == file.firstSequence else {
                throw JournalError.corrupt(
                    segment: file.name, offset: 0, sequence: file.firstSequence,
                    reason: "segment header says first sequence \(h.firstSequence)")
            }
            header = h
        }
    }

    var bytes: UnsafeRawBufferPointer { map.bytes }

    func corrupt(_ offset: Int, _ sequence: UInt64, _ reason: String) -> JournalError {
        .corrupt(segment: file.name, offset: offset, sequence: sequence, reason: reason)
    }

    /// Offset of the last non-zero byte at or after `from`, or nil when all of it is zero.
    func lastNonZero(from: Int) -> Int? {
        let base = map.base!.assumingMemoryBound(to: UInt8.self)
        var i = map.count - 1
        // Word-wise from the end; torn tails are short and the rest of a segment is zeroes.
        while i >= from + 7 && (UnsafeRawPointer(base + i - 7)).loadUnaligned(as: UInt64.self) == 0 {
            i -= 8
        }
        while i >= from {
            if base[i] != 0 { return i }
            i -= 1
        }
        return nil
    }

    /// The first offset after `from` where a block passes its header checks and CRC: proof that
    /// what lies at `from` is corruption, not a torn tail.
    func validBlock(after from: Int, decoder: BlockDecoder) -> Int? {
        let bytes = map.bytes
        let first = UInt8(truncatingIfNeeded: BlockHeader.magic)
        var at = from + 1
        while at + BlockHeader.size <= bytes.count {
            guard let found = memchr(bytes.baseAddress! + at, Int32(first), bytes.count - at) else {
                return nil
            }
            let offset = UnsafeRawPointer(found) - bytes.baseAddress!
            if case .success = decoder.checkedHeader(in: bytes, at: offset) { return offset }
            at = offset + 1
        }
        return nil
    }
}
