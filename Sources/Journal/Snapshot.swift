#if canImport(Glibc)
import Glibc
import _Posix
#endif

/// The fixed header of a snapshot file (Journal/FORMAT.md, "Snapshot files").
///
/// ```
///  0        8     12    16        24         32        40        48        56
///  +--------+-----+-----+---------+----------+---------+---------+---------+
///  | magic  | ver |flags| seq     | ts (ns)  | created | raw len | stored  |
///  +--------+-----+-----+---------+----------+---------+---------+---------+
///  56                     88                    120        124      128
///  +----------------------+---------------------+----------+--------+
///  | state digest (32)    | body SHA-256 (32)   | reserved | crc32c |
///  +----------------------+---------------------+----------+--------+
/// ```
public struct SnapshotHeader: Equatable, Sendable {
    public static let size = 128
    /// "XSNAPSHT" as bytes in file order.
    public static let magic: UInt64 = 0x5448_5350_414E_5358
    public static let formatVersion: UInt32 = 1

    /// The last journal sequence the state includes.
    public var sequence: UInt64
    /// That command's journal time (ns since the epoch).
    public var timestampNs: Int64
    /// When the file was written (wall clock, ns since the epoch): for operators only.
    public var createdNs: Int64
    /// Whether the body is one LZ4 block (else it is stored raw).
    public var compressed: Bool
    public var rawBytes: UInt64
    public var storedBytes: UInt64
    /// SHA-256 of the raw body: the state digest.
    public var stateDigest: Digest32
    /// SHA-256 of the stored body (checked before decompressing).
    public var bodyHash: Digest32

    func encoded() -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: Self.size)
        bytes.withUnsafeMutableBytes { b in
            let p = b.baseAddress!
            p.storeLE(Self.magic, 0)
            p.storeLE(Self.formatVersion, 8)
            p.storeLE(UInt32(compressed ? 1 : 0), 12)
            p.storeLE(sequence, 16)
            p.storeLE(timestampNs, 24)
            p.storeLE(createdNs, 32)
            p.storeLE(rawBytes, 40)
            p.storeLE(storedBytes, 48)
            stateDigest.store(to: p + 56)
            bodyHash.store(to: p + 88)
            p.storeLE(CRC32C.checksum(UnsafeRawBufferPointer(start: p, count: 124)), 124)
        }
        return bytes
    }

    /// Parses and checks a header; the reason it is refused otherwise.
    static func decode(_ bytes: [UInt8]) -> Result<SnapshotHeader, SnapshotProblem> {
        guard bytes.count >= size else { return .failure(.init(offset: 0, "not a snapshot: \(bytes.count) bytes, shorter than a snapshot header")) }
        return bytes.withUnsafeBytes { b in
            let p = b.baseAddress!
            guard p.loadLE(0, as: UInt64.self) == magic else { return .failure(.init(offset: 0, "not a snapshot (bad magic)")) }
            guard p.loadLE(124, as: UInt32.self) == CRC32C.checksum(UnsafeRawBufferPointer(start: p, count: 124)) else {
                return .failure(.init(offset: 124, "header CRC mismatch"))
            }
            let version = p.loadLE(8, as: UInt32.self)
            guard version == formatVersion else { return .failure(.init(offset: 8, "unknown version \(version)")) }
            let flags = p.loadLE(12, as: UInt32.self)
            guard flags <= 1 else { return .failure(.init(offset: 12, "unknown flags \(flags)")) }
            return .success(SnapshotHeader(
                sequence: p.loadLE(16), timestampNs: p.loadLE(24), createdNs: p.loadLE(32), compressed: flags == 1,
                rawBytes: p.loadLE(40), storedBytes: p.loadLE(48),
                stateDigest: Digest32(loading: p + 56), bodyHash: Digest32(loading: p + 88)))
        }
    }
}

/// Why a snapshot file is refused, and where.
public struct SnapshotProblem: Error, Equatable, Sendable {
    public var offset: Int
    public var reason: String
    init(offset: Int, _ reason: String) { self.offset = offset; self.reason = reason }
}

/// A snapshot file found in a directory.
public struct SnapshotFile: Equatable, Sendable {
    public var path: String
    public var name: String
    /// The sequence its name gives (its header says the same once it is checked).
    public var sequence: UInt64

    public init(path: String, name: String, sequence: UInt64) {
        self.path = path; self.name = name; self.sequence = sequence
    }
}

/// A directory of snapshot files, `snapshot-<20-digit sequence>.xsnap`: the engine's canonical
/// state at a sequence, written atomically, read back only after every check.
public enum SnapshotStore {
    static let prefix = "snapshot-"
    static let suffix = ".xsnap"
    /// LZ4's largest input; a bigger body is stored raw.
    static let compressibleMax = 0x7E00_0000

    public static func fileName(sequence: UInt64) -> String {
        let digits = String(sequence)
        return prefix + String(repeating: "0", count: max(0, 20 - digits.count)) + digits + suffix
    }

    /// The snapshot files of `directory`, newest (highest sequence) first; none when it does
    /// not exist. Files are not opened.
    public static func list(_ directory: String, storage: any Storage = PosixStorage.shared) throws(JournalError) -> [SnapshotFile] {
        guard storage.isDirectory(directory) else { return [] }
        var files: [SnapshotFile] = []
        for name in try storage.list(directory) where name.hasPrefix(prefix) && name.hasSuffix(suffix) {
            let digits = name.dropFirst(prefix.count).dropLast(suffix.count)
            guard digits.count == 20, let sequence = UInt64(digits) else { continue }
            files.append(SnapshotFile(path: StoragePath.join(directory, name), name: name, sequence: sequence))
        }
        return files.sorted { $0.sequence > $1.sequence }
    }

    /// Writes `body` (a canonical state) as the snapshot at `sequence`: LZ4, header, then
    /// `Storage.writeAtomically` (temporary file, fsync, rename, fsync of the directory).
    /// Then keeps only the newest `keep` files (0 keeps all). Returns the header written.
    @discardableResult
    public static func write(_ body: [UInt8], sequence: UInt64, timestampNs: Int64, createdNs: Int64,
                             to directory: String, keep: Int = 0,
                             storage: any Storage = PosixStorage.shared) throws(JournalError) -> SnapshotHeader {
        try storage.createDirectory(directory)
        var stored = body
        var compressed = false
        if body.count > 0 && body.count <= compressibleMax {
            var out = [UInt8](repeating: 0, count: LZ4.compressBound(body.count))
            let n = body.withUnsafeBytes { src in out.withUnsafeMutableBytes { LZ4.compress(src, into: $0) } }
            if let n, n < body.count {
                out.removeSubrange(n...)
                stored = out
                compressed = true
            }
        }
        let header = SnapshotHeader(
            sequence: sequence, timestampNs: timestampNs, createdNs: createdNs, compressed: compressed,
            rawBytes: UInt64(body.count), storedBytes: UInt64(stored.count),
            stateDigest: SHA256Hasher.hash(body), bodyHash: compressed ? SHA256Hasher.hash(stored) : SHA256Hasher.hash(body))
        let path = StoragePath.join(directory, fileName(sequence: sequence))
        try storage.writeAtomically(header.encoded(), stored, to: path, durable: true)
        if keep > 0 {
            for old in try list(directory, storage: storage).dropFirst(keep) { try storage.remove(old.path) }
        }
        return header
    }

    /// Reads and checks a snapshot file: header CRC, the body's SHA-256, decompression to the
    /// stated size, and the state digest of what it gives. Any failure is `.badSnapshot` naming
    /// the file and the byte offset.
    public static func read(_ path: String, storage: any Storage = PosixStorage.shared) throws(JournalError) -> (header: SnapshotHeader, body: [UInt8]) {
        let bytes = try storage.readFile(path)
        func corrupt(_ problem: SnapshotProblem, _ sequence: UInt64 = 0) -> JournalError {
            .badSnapshot(path: path, offset: problem.offset, reason: problem.reason)
        }
        let header: SnapshotHeader
        switch SnapshotHeader.decode(bytes) {
        case let .success(h): header = h
        case let .failure(problem): throw corrupt(problem)
        }
        let seq = header.sequence
        guard UInt64(bytes.count - SnapshotHeader.size) == header.storedBytes else {
            throw corrupt(.init(offset: bytes.count, "\(bytes.count - SnapshotHeader.size) body bytes, header says \(header.storedBytes)"), seq)
        }
        guard header.rawBytes <= UInt64(Int32.max) || !header.compressed, header.rawBytes < 1 << 40 else {
            throw corrupt(.init(offset: 40, "raw size \(header.rawBytes) out of range"), seq)
        }
        let stored = bytes[SnapshotHeader.size...]
        let storedHash = stored.withUnsafeBytes { b in
            let h = SHA256Hasher()
            h.update(b)
            return h.finish()
        }
        guard storedHash == header.bodyHash else {
            throw corrupt(.init(offset: SnapshotHeader.size, "body SHA-256 mismatch"), seq)
        }
        var body: [UInt8]
        if header.compressed {
            body = [UInt8](repeating: 0, count: Int(header.rawBytes))
            let ok = stored.withUnsafeBytes { src in body.withUnsafeMutableBytes { LZ4.decompress(src, into: $0) } }
            guard ok else { throw corrupt(.init(offset: SnapshotHeader.size, "body does not decompress to \(header.rawBytes) bytes"), seq) }
        } else {
            guard header.rawBytes == header.storedBytes else {
                throw corrupt(.init(offset: 40, "raw and stored sizes differ in a raw body"), seq)
            }
            body = Array(stored)
        }
        guard SHA256Hasher.hash(body) == header.stateDigest else {
            throw corrupt(.init(offset: SnapshotHeader.size, "state digest mismatch"), seq)
        }
        return (header, body)
    }

    /// Reads and checks only the header of a snapshot file.
    public static func header(_ path: String, storage: any Storage = PosixStorage.shared) throws(JournalError) -> SnapshotHeader {
        let file = try storage.open(path, .read)
        defer { file.close() }
        switch SnapshotHeader.decode(try file.read(count: SnapshotHeader.size, at: 0)) {
        case let .success(h): return h
        case let .failure(problem): throw .badSnapshot(path: path, offset: problem.offset, reason: problem.reason)
        }
    }

    /// Renames the snapshots past `sequence` (the journal's last) to `NAME.orphaned`, which no
    /// listing takes, and syncs the directory. Such a snapshot holds records the journal lost
    /// (a torn tail, or a loss an operator accepted): once the journal grows past it again
    /// with other records, it would pass for their state. Returns the names set aside.
    public static func setAside(beyond sequence: UInt64, in directory: String,
                                storage: any Storage = PosixStorage.shared) throws(JournalError) -> [String] {
        let stale = try list(directory, storage: storage).filter { $0.sequence > sequence }
        for file in stale { try storage.rename(file.path, file.path + orphanedSuffix) }
        if !stale.isEmpty { try storage.syncDirectory(directory) }
        return stale.map(\.name)
    }

    /// Appended to the name of a snapshot set aside.
    public static let orphanedSuffix = ".orphaned"

    /// Removes leftover temporary files of writes that a crash interrupted.
    public static func removeTemporaries(_ directory: String, storage: any Storage = PosixStorage.shared) throws(JournalError) {
        guard storage.isDirectory(directory) else { return }
        for name in try storage.list(directory) where name.hasPrefix(prefix) && name.hasSuffix(suffix + ".tmp") {
            try storage.remove(StoragePath.join(directory, name))
        }
    }
}
