/// A journal directory on disk: what tools ask of one before they touch it.
public enum JournalDirectory {
    /// The name of the file that holds a journal's durable mark (FORMAT.md, "Durable mark").
    public static let durableMarkName = DurableMark.fileName

    /// Whether `path` is an existing directory.
    public static func exists(_ path: String, storage: any Storage = PosixStorage.shared) -> Bool { storage.isDirectory(path) }

    /// The segment files, in sequence order.
    public static func segments(_ path: String, storage: any Storage = PosixStorage.shared) throws(JournalError) -> [SegmentFile] {
        try SegmentCatalog.list(path, storage: storage)
    }

    /// The names in a directory (without `.` and `..`); nil when `path` is no readable directory.
    public static func entries(_ path: String) -> [String]? {
        guard PosixStorage.shared.isDirectory(path) else { return nil }
        return try? PosixStorage.shared.list(path)
    }

    /// What a path holds, as a tool that would write a journal there must know first.
    public enum Contents: Equatable, Sendable {
        /// Nothing there yet.
        case missing
        /// A directory with no entries.
        case empty
        /// A journal: its lock file or segment files are there.
        case journal
        /// A file, or a directory with other things in it: never written into.
        case other
    }

    public static func contents(_ path: String) -> Contents {
        guard PosixStorage.shared.exists(path) else { return .missing }
        guard let names = entries(path) else { return .other }
        if names.isEmpty { return .empty }
        let isJournal = names.contains {
            $0 == SegmentCatalog.lockName || $0.hasSuffix(SegmentCatalog.segmentSuffix)
        }
        return isJournal ? .journal : .other
    }

    /// The record kind of an existing journal (its segments' headers), nil when it has no
    /// segment yet or the header does not read.
    public static func recordKind(_ path: String) -> RecordKind? { lastSegmentHeader(path)?.recordKind }

    /// The header of an existing journal's last segment, nil when it has none or it does not read.
    public static func lastSegmentHeader(_ path: String) -> SegmentHeader? {
        guard let last = try? SegmentCatalog.list(path, storage: PosixStorage.shared).last,
              let map = try? SegmentMap(last, storage: PosixStorage.shared) else { return nil }
        defer { map.map.unmap() }
        return map.header
    }
}
