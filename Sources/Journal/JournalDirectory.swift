/// Small questions about a journal directory that callers ask before opening it.
public enum JournalDirectory {
    /// Whether `path` is an existing directory.
    public static func exists(_ path: String) -> Bool { FileSystem.isDirectory(path) }

    /// The segment files, in sequence order.
    public static func segments(_ path: String) throws(JournalError) -> [SegmentFile] {
        try SegmentCatalog.list(path)
    }
}
