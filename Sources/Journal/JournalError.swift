#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Operational failures of the journal. Each one says where it happened; none of them leaves a
/// half-written block behind.
public enum JournalError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A system call failed (`errno` is the raw error number).
    case io(operation: String, path: String, errno: Int32)
    /// The disk is full: the block stayed in memory and can be written once there is room.
    case noSpace(path: String)
    /// The directory or a file in it cannot be written.
    case readOnly(path: String)
    /// Another writer (this process or another) holds the journal's lock file.
    case locked(path: String)
    /// A record larger than `JournalOptions.recordBytesMax`; nothing was appended.
    case recordTooLarge(bytes: Int, limit: Int)
    /// Bytes that fail a check and are not a torn tail; never skipped, never repaired.
    case corrupt(segment: String, offset: Int, sequence: UInt64, reason: String)
    /// A snapshot file that fails a check (or is no snapshot at all).
    case badSnapshot(path: String, offset: Int, reason: String)
    /// A sequence number outside what the journal holds.
    case sequenceUnavailable(requested: UInt64, first: UInt64, last: UInt64)
    /// Options that break a limit (checked when a journal is opened).
    case invalidOptions(String)
    /// The writer was closed, or an earlier failure left it unusable.
    case closed
    /// The journal holds records of another kind than the writer appends.
    case wrongRecordKind(path: String, journal: RecordKind, writer: RecordKind)
    /// Another journal's position (a replica's last sequence and chain hash) that is not a
    /// point of this journal's chain, or a stored piece that does not continue this journal.
    case notOnChain(sequence: UInt64, reason: String)

    public var description: String {
        switch self {
        case let .io(operation, path, errno):
            return "\(operation) \(path): \(String(cString: strerror(errno))) (errno \(errno))"
        case let .noSpace(path):
            return "no space left on device writing \(path)"
        case let .readOnly(path):
            return "\(path) is read-only"
        case let .locked(path):
            return "journal is locked by another writer (\(path))"
        case let .recordTooLarge(bytes, limit):
            return "record of \(bytes) bytes is over the limit of \(limit) bytes"
        case let .corrupt(segment, offset, sequence, reason):
            return "corrupt journal: segment \(segment), byte offset \(offset), sequence \(sequence): \(reason)"
        case let .badSnapshot(path, offset, reason):
            return "snapshot \(path), byte offset \(offset): \(reason)"
        case let .sequenceUnavailable(requested, first, last):
            return "sequence \(requested) is not in the journal (it holds \(first)...\(last))"
        case let .invalidOptions(message):
            return "invalid journal options: \(message)"
        case .closed:
            return "journal writer is closed"
        case let .wrongRecordKind(path, journal, writer):
            return "\(path) is a journal of \(journal) records; this tool appends \(writer) records"
        case let .notOnChain(sequence, reason):
            return "not on this journal's chain at sequence \(sequence): \(reason)"
        }
    }

    /// A failure of the machine (I/O error, full disk, no permission, a lock), not of the
    /// bytes: trying again may succeed, and it proves nothing about what the files hold.
    public var isEnvironmentFailure: Bool {
        switch self {
        case .io, .noSpace, .readOnly, .locked: return true
        default: return false
        }
    }

    /// Maps an errno from an operation on `path` to the most specific case.
    static func system(_ operation: String, _ path: String, _ code: Int32 = errno) -> JournalError {
        switch code {
        case ENOSPC, EDQUOT: return .noSpace(path: path)
        case EROFS, EACCES, EPERM: return .readOnly(path: path)
        default: return .io(operation: operation, path: path, errno: code)
        }
    }
}
