import _Posix
/// The first 128 bytes of every segment file (see Journal/FORMAT.md, "Segment header").
///
/// ```
///  0        8        10       12       16             24             32             40
///  +--------+--------+--------+--------+--------------+--------------+--------------+
///  | magic  |version |hdr size|rec kind|segment index | first seq    | segment bytes|
///  +--------+--------+--------+--------+--------------+--------------+--------------+
///  40                                  72                                 124      128
///  +-----------------------------------+-----------------------------------+--------+
///  | previous chain hash (32)          | reserved, zero (52)               | crc32c |
///  +-----------------------------------+-----------------------------------+--------+
/// ```
/// What the records of a journal are: fixed when its first segment is created, written in every
/// segment header, and checked by every writer that says what it appends (so that no tool
/// appends one kind of record to a journal of another).
public struct RecordKind: RawRepresentable, Equatable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Journals created before the field existed, or by a writer that did not say.
    public static let unspecified = RecordKind(rawValue: 0)
    /// The exchange's command records (Journal/FORMAT.md, "Command records").
    public static let commands = RecordKind(rawValue: 1)
    /// Opaque records of a benchmark workload (`exchange journal generate`).
    public static let opaque = RecordKind(rawValue: 2)

    public var description: String {
        switch self {
        case .unspecified: return "unspecified"
        case .commands: return "command"
        case .opaque: return "opaque"
        default: return "kind \(rawValue)"
        }
    }
}

public struct SegmentHeader: Equatable, Sendable {
    public static let size = 128
    /// "XJOURNAL" as bytes in file order.
    public static let magic: UInt64 = 0x4C41_4E52_554F_4A58
    public static let formatVersion: UInt16 = 1

    /// 0 for the journal's first segment, one more for each segment after it.
    public var segmentIndex: UInt64
    /// The sequence number of the first record this segment holds (or will hold).
    public var firstSequence: UInt64
    /// The file's preallocated size.
    public var segmentBytes: UInt64
    /// The chain hash of the last block before this segment (zero for the first segment).
    public var previousChain: Digest32
    /// What the journal's records are (the same in every segment of a journal).
    public var recordKind: RecordKind

    public init(segmentIndex: UInt64, firstSequence: UInt64, segmentBytes: UInt64,
                previousChain: Digest32, recordKind: RecordKind = .unspecified) {
        self.recordKind = recordKind
        self.segmentIndex = segmentIndex
        self.firstSequence = firstSequence
        self.segmentBytes = segmentBytes
        self.previousChain = previousChain
    }

    /// Writes the header, with its CRC, into `to` (at least `size` bytes).
    public func encode(to p: UnsafeMutableRawPointer) {
        p.initializeMemory(as: UInt8.self, repeating: 0, count: Self.size)
        p.storeLE(Self.magic, 0)
        p.storeLE(Self.formatVersion, 8)
        p.storeLE(UInt16(Self.size), 10)
        p.storeLE(recordKind.rawValue, 12)
        p.storeLE(segmentIndex, 16)
        p.storeLE(firstSequence, 24)
        p.storeLE(segmentBytes, 32)
        previousChain.store(to: p + 40)
        let crc = CRC32C.checksum(UnsafeRawBufferPointer(start: p, count: 124))
        p.storeLE(crc, 124)
    }

    public var encoded: [UInt8] {
        var out = [UInt8](repeating: 0, count: Self.size)
        out.withUnsafeMutableBytes { encode(to: $0.baseAddress!) }
        return out
    }

    /// Why a header does not decode.
    public enum DecodeError: Error, Equatable, Sendable {
        case badMagic, unsupportedVersion(UInt16), badChecksum, badSize
    }

    /// Reads and checks a header from `from` (at least `size` bytes).
    public static func decode(_ p: UnsafeRawPointer) -> Result<SegmentHeader, DecodeError> {
        guard p.loadLE(0, as: UInt64.self) == magic else { return .failure(.badMagic) }
        let crc = CRC32C.checksum(UnsafeRawBufferPointer(start: p, count: 124))
        guard p.loadLE(124, as: UInt32.self) == crc else { return .failure(.badChecksum) }
        let version: UInt16 = p.loadLE(8)
        guard version == formatVersion else { return .failure(.unsupportedVersion(version)) }
        guard p.loadLE(10, as: UInt16.self) == UInt16(size) else { return .failure(.badSize) }
        return .success(SegmentHeader(
            segmentIndex: p.loadLE(16), firstSequence: p.loadLE(24), segmentBytes: p.loadLE(32),
            previousChain: Digest32(loading: p + 40), recordKind: RecordKind(rawValue: p.loadLE(12))))
    }
}
