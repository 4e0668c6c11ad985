/// When appended records reach the disk.
public enum Durability: Equatable, Sendable, CustomStringConvertible {
    /// Every block is msync'ed before the call that wrote it returns.
    case always
    /// Blocks are synced when this many milliseconds have passed since the last sync, checked on
    /// every append and flush and by `JournalWriter.syncIfDue()`.
    case interval(milliseconds: Int)
    /// Blocks reach the page cache only (they survive a process crash, not a power cut); they
    /// are synced on segment roll, on `sync()` and on close.
    case none

    /// Parses `always`, `none` or `interval:MS`.
    public init?(parsing text: String) {
        switch text {
        case "always": self = .always
        case "none": self = .none
        default:
            guard text.hasPrefix("interval:"), let ms = Int(text.dropFirst("interval:".count)),
                  ms > 0 else { return nil }
            self = .interval(milliseconds: ms)
        }
    }

    public var description: String {
        switch self {
        case .always: return "always"
        case .none: return "none"
        case let .interval(ms): return "interval:\(ms)"
        }
    }
}

/// The journal's limits, all in one place and checked when a writer opens.
public struct JournalOptions: Equatable, Sendable {
    /// Size every segment file is preallocated to.
    public var segmentBytes: Int = 64 << 20
    /// A block closes before a record would take its raw payload past this size.
    public var blockBytesMax: Int = 64 << 10
    /// A block closes when it holds this many records.
    public var blockRecordsMax: Int = 16_384
    /// The largest record accepted by `append`.
    public var recordBytesMax: Int = 1 << 20
    public var durability: Durability = .always
    /// What this writer appends: a new journal is created with this kind, and an existing one
    /// of another kind is refused (`JournalError.wrongRecordKind`). Nil: whatever the journal
    /// holds (a tool that appends nothing, such as retention).
    public var recordKind: RecordKind?
    /// Open a journal whose blocks end before its durable mark (records that were synced, so
    /// possibly acknowledged, are damaged or missing) by cutting them off, instead of refusing.
    /// An operator's decision, reported in `RecoveryReport.acknowledgedRecordsLost`.
    public var acceptDataLoss = false

    public init(segmentBytes: Int = 64 << 20, blockBytesMax: Int = 64 << 10,
                blockRecordsMax: Int = 16_384, recordBytesMax: Int = 1 << 20,
                durability: Durability = .always, recordKind: RecordKind? = nil) {
        self.recordKind = recordKind
        self.segmentBytes = segmentBytes
        self.blockBytesMax = blockBytesMax
        self.blockRecordsMax = blockRecordsMax
        self.recordBytesMax = recordBytesMax
        self.durability = durability
    }

    /// Framing in front of a record: its length and its timestamp delta, 10 bytes each at most.
    static let recordFramingMax = 20
    /// Hard ceilings that keep every length within the header's 32-bit fields.
    public static let blockRawCeiling = 256 << 20

    /// The largest raw payload a block can have: a full block, or one record alone.
    var blockRawMax: Int { max(blockBytesMax, recordBytesMax + Self.recordFramingMax) }

    func validate() throws(JournalError) {
        func fail(_ message: String) throws(JournalError) { throw JournalError.invalidOptions(message) }
        if blockBytesMax < 64 { try fail("blockBytesMax \(blockBytesMax) is below 64") }
        if blockRecordsMax < 1 { try fail("blockRecordsMax must be at least 1") }
        if recordBytesMax < 0 { try fail("recordBytesMax must not be negative") }
        if blockRawMax > Self.blockRawCeiling {
            try fail("a block could reach \(blockRawMax) bytes, over \(Self.blockRawCeiling)")
        }
        // A block is stored raw when compression does not help, so this is the worst case.
        let needed = SegmentHeader.size + BlockHeader.size + blockRawMax
        if segmentBytes < needed {
            try fail("segmentBytes \(segmentBytes) cannot hold one block of \(blockRawMax) bytes (needs \(needed))")
        }
        if case let .interval(ms) = durability, ms <= 0 {
            try fail("interval must be positive")
        }
    }
}
