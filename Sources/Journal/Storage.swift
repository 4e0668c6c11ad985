#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import _Posix

// The journal's only contact with the operating system: descriptors, directories, memory maps.
// Everything the journal and the snapshot store do to files goes through `Storage`, so that a
// simulation can put them in memory and inject faults (tearing, lost unsynced writes, flipped
// bits, ENOSPC, EIO) at any call. `PosixStorage` is the real one.

/// How a file is opened.
public enum OpenMode: Sendable {
    case read
    case readWrite
    /// Read-write, created when missing.
    case create
    /// Read-write, created; an error when it exists.
    case createNew
    /// Write-only, created or emptied.
    case replace
}

/// A place that holds named files in directories (the file system, or a simulated one).
public protocol Storage: AnyObject, Sendable {
    func exists(_ path: String) -> Bool
    func isDirectory(_ path: String) -> Bool
    /// Creates `path` and its missing parents.
    func createDirectory(_ path: String) throws(JournalError)
    /// The names in a directory, sorted bytewise (never in the file system's own order).
    func list(_ directory: String) throws(JournalError) -> [String]
    func rename(_ from: String, _ to: String) throws(JournalError)
    /// Removes a file; one that is not there is no error.
    func remove(_ path: String) throws(JournalError)
    /// Makes the directory's entries (a created, renamed or removed file) durable.
    func syncDirectory(_ path: String) throws(JournalError)
    func readFile(_ path: String) throws(JournalError) -> [UInt8]
    func open(_ path: String, _ mode: OpenMode) throws(JournalError) -> any StoredFile
}

/// An open file.
public protocol StoredFile: AnyObject {
    var path: String { get }
    func size() throws(JournalError) -> Int
    /// Reserves `bytes` of real disk blocks, so that later stores through a memory map never hit
    /// a full disk (which would be SIGBUS, not an error).
    func preallocate(_ bytes: Int) throws(JournalError)
    /// Writes all of `bytes` at `offset`.
    func write(_ bytes: [UInt8], at offset: Int) throws(JournalError)
    /// Reads up to `count` bytes (fewer at the end of the file).
    func read(count: Int, at offset: Int) throws(JournalError) -> [UInt8]
    func sync() throws(JournalError)
    /// Takes an exclusive lock without waiting; false when someone else holds it.
    func tryLock() throws(JournalError) -> Bool
    /// Maps the first `count` bytes (never past the file's end).
    func map(count: Int, writable: Bool) throws(JournalError) -> MappedFile
    func close()
}

/// What a memory map needs from its storage besides its bytes.
public protocol MappingBacking: AnyObject {
    /// Makes `range` of the map durable.
    func sync(_ map: MappedFile, _ range: Range<Int>) throws(JournalError)
    /// Maps the pages of `range` ahead of use (a hint).
    func prefault(_ map: MappedFile, _ range: Range<Int>, forWriting: Bool)
    func unmap(_ map: MappedFile)
}

extension Storage {
    /// Writes a whole file atomically, `parts` one after the other: a temporary file, renamed
    /// over `path`. When `durable`, the file is synced before the rename and the directory
    /// after it, so that the new file survives a power cut. On failure the temporary file is
    /// removed and `path` is as it was.
    func writeAtomically(_ parts: [UInt8]..., to path: String, durable: Bool) throws(JournalError) {
        let temporary = path + ".tmp"
        let file = try open(temporary, .replace)
        var open = true
        do {
            var offset = 0
            for part in parts {
                try file.write(part, at: offset)
                offset += part.count
            }
            if durable { try file.sync() }
            file.close()
            open = false
            try rename(temporary, path)
        } catch {
            if open { file.close() }
            try? remove(temporary)
            throw error
        }
        if durable { try syncDirectory(StoragePath.parent(path)) }
    }
}

/// Paths as the journal builds them: `/`-separated, no normalization beyond a trailing slash.
public enum StoragePath {
    public static func join(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    /// The directory a path is in ("." for a bare name, "/" for a name under the root).
    public static func parent(_ path: String) -> String {
        guard let slash = path.utf8.lastIndex(of: UInt8(ascii: "/")) else { return "." }
        let parent = String(path[..<slash])
        return parent.isEmpty ? "/" : parent
    }
}

/// The file system, through POSIX calls.
public final class PosixStorage: Storage {
    public static let shared = PosixStorage()
    public init() {}

    public func exists(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0
    }

    public func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    public func createDirectory(_ path: String) throws(JournalError) {
        if isDirectory(path) { return }
        var prefix = path.hasPrefix("/") ? "/" : ""
        for part in path.split(separator: "/") {
            prefix += part + "/"
            if isDirectory(prefix) { continue }
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
                throw JournalError.system("mkdir", prefix)
            }
        }
    }

    public func list(_ directory: String) throws(JournalError) -> [String] {
        guard let dir = opendir(directory) else { throw JournalError.system("opendir", directory) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.baseAddress!.assumingMemoryBound(to: CChar.self))
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    public func rename(_ from: String, _ to: String) throws(JournalError) {
        guard Glibc.rename(from, to) == 0 else { throw JournalError.system("rename", from) }
    }

    public func remove(_ path: String) throws(JournalError) {
        guard unlink(path) == 0 || errno == ENOENT else { throw JournalError.system("unlink", path) }
    }

    public func syncDirectory(_ path: String) throws(JournalError) {
        let dir = try PosixFile.open(path, flags: O_RDONLY | O_DIRECTORY)
        defer { dir.close() }
        try dir.sync()
    }

    public func readFile(_ path: String) throws(JournalError) -> [UInt8] {
        do { return try readWholeFile(path) } catch {
            throw JournalError.io(operation: error.operation, path: error.path, errno: error.errno)
        }
    }

    public func open(_ path: String, _ mode: OpenMode) throws(JournalError) -> any StoredFile {
        let flags: Int32
        switch mode {
        case .read: flags = O_RDONLY
        case .readWrite: flags = O_RDWR
        case .create: flags = O_RDWR | O_CREAT
        case .createNew: flags = O_RDWR | O_CREAT | O_EXCL
        case .replace: flags = O_WRONLY | O_CREAT | O_TRUNC
        }
        return try PosixFile.open(path, flags: flags)
    }
}

/// An open file descriptor with the path it was opened from, for error messages.
final class PosixFile: StoredFile {
    let fd: Int32
    let path: String

    private init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
    }

    static func open(_ path: String, flags: Int32, mode: mode_t = 0o644) throws(JournalError) -> PosixFile {
        let fd = Glibc.open(path, flags | O_CLOEXEC, mode)
        guard fd >= 0 else { throw JournalError.system("open", path) }
        return PosixFile(fd: fd, path: path)
    }

    func close() { _ = Glibc.close(fd) }

    func size() throws(JournalError) -> Int {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw JournalError.system("fstat", path) }
        return Int(st.st_size)
    }

    func preallocate(_ bytes: Int) throws(JournalError) {
        let code = posix_fallocate(fd, 0, off_t(bytes))
        guard code == 0 else { throw JournalError.system("fallocate", path, code) }
    }

    /// A large write can come back partial: it is continued.
    func write(_ bytes: [UInt8], at offset: Int) throws(JournalError) {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress! + done, $0.count - done, off_t(offset + done)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw JournalError.system("pwrite", path) }
            done += n
        }
    }

    func read(count: Int, at offset: Int) throws(JournalError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = out.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, count - done, off_t(offset + done)) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw JournalError.system("pread", path) }
            if n == 0 { break }
            done += n
        }
        out.removeLast(count - done)
        return out
    }

    func sync() throws(JournalError) {
        guard fsync(fd) == 0 else { throw JournalError.system("fsync", path) }
    }

    /// flock locks belong to the open file description, so a second open in the same process
    /// conflicts too.
    func tryLock() throws(JournalError) -> Bool {
        if flock(fd, LOCK_EX | LOCK_NB) == 0 { return true }
        if errno == EWOULDBLOCK { return false }
        throw JournalError.system("flock", path)
    }

    /// A map shared with the page cache (other processes see the stores at once); it outlives
    /// the descriptor.
    func map(count: Int, writable: Bool) throws(JournalError) -> MappedFile {
        precondition(count > 0, "cannot map an empty file")
        let protection = writable ? PROT_READ | PROT_WRITE : PROT_READ
        let address = mmap(nil, count, protection, MAP_SHARED, fd, 0)
        guard let address, address != MAP_FAILED else {
            throw JournalError.system("mmap", path)
        }
        return MappedFile(path: path, base: address, count: count, writable: writable, backing: PosixMapping.shared)
    }
}

/// msync, madvise and munmap (a map needs no descriptor once made).
final class PosixMapping: MappingBacking, Sendable {
    static let shared = PosixMapping()
    private static let page = Int(sysconf(Int32(_SC_PAGESIZE)))

    func sync(_ map: MappedFile, _ range: Range<Int>) throws(JournalError) {
        guard let base = map.base else { return }
        let start = range.lowerBound / Self.page * Self.page
        guard msync(base + start, range.upperBound - start, MS_SYNC) == 0 else {
            throw JournalError.system("msync", map.path)
        }
    }

    func prefault(_ map: MappedFile, _ range: Range<Int>, forWriting: Bool) {
        guard let base = map.base else { return }
        let start = range.lowerBound / Self.page * Self.page
        let end = min(map.count, range.upperBound)
        guard end > start else { return }
        // MADV_POPULATE_WRITE (23) and MADV_POPULATE_READ (22), Linux 5.14 and later.
        _ = madvise(base + start, end - start, forWriting ? 23 : 22)
    }

    func unmap(_ map: MappedFile) {
        if let base = map.base { munmap(base, map.count) }
    }
}

/// A file's bytes mapped into memory. Reads and writes go through `base`; the mapping lives
/// until `unmap()` or deinit.
public final class MappedFile {
    public let path: String
    public let count: Int
    public let writable: Bool
    public private(set) var base: UnsafeMutableRawPointer?
    private let backing: any MappingBacking

    public init(path: String, base: UnsafeMutableRawPointer, count: Int, writable: Bool, backing: any MappingBacking) {
        self.path = path
        self.base = base
        self.count = count
        self.writable = writable
        self.backing = backing
    }

    deinit { unmap() }

    func unmap() {
        if base != nil { backing.unmap(self) }
        base = nil
    }

    var bytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base, count: count)
    }

    /// Writes the pages that hold `range` to disk and waits for them.
    func sync(_ range: Range<Int>) throws(JournalError) {
        guard base != nil, !range.isEmpty else { return }
        try backing.sync(self, range)
    }

    /// Maps the pages of `range` in one call instead of one page fault per page (a hint: a
    /// failure changes nothing). Writable prefaulting allocates the page-cache pages too.
    func prefault(_ range: Range<Int>, forWriting: Bool) {
        guard base != nil, !range.isEmpty else { return }
        backing.prefault(self, range, forWriting: forWriting)
    }

    /// Zeroes `range` (used to cut off a torn tail).
    func zero(_ range: Range<Int>) {
        precondition(writable && range.upperBound <= count, "zeroing outside a writable map")
        (base! + range.lowerBound).initializeMemory(as: UInt8.self, repeating: 0, count: range.count)
    }
}
