#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import _Posix

// The journal's only contact with the operating system: descriptors, directories, memory maps.
// Everything unsafe about them stays in this file.

/// An open file descriptor with the path it was opened from, for error messages.
struct OpenFile {
    let fd: Int32
    let path: String

    static func open(_ path: String, flags: Int32, mode: mode_t = 0o644) throws(JournalError) -> OpenFile {
        let fd = Glibc.open(path, flags | O_CLOEXEC, mode)
        guard fd >= 0 else { throw JournalError.system("open", path) }
        return OpenFile(fd: fd, path: path)
    }

    func close() { _ = Glibc.close(fd) }

    func size() throws(JournalError) -> Int {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw JournalError.system("fstat", path) }
        return Int(st.st_size)
    }

    /// Reserves `bytes` of real disk blocks, so that later stores through a memory map never hit
    /// a full disk (which would be SIGBUS, not an error).
    func preallocate(_ bytes: Int) throws(JournalError) {
        let code = posix_fallocate(fd, 0, off_t(bytes))
        guard code == 0 else { throw JournalError.system("fallocate", path, code) }
    }

    /// Writes all of `bytes` (a large write can come back partial: it is continued).
    func write(_ bytes: [UInt8], at offset: Int) throws(JournalError) {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress! + done, $0.count - done, off_t(offset + done)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw JournalError.system("pwrite", path) }
            done += n
        }
    }

    /// Reads up to `count` bytes (fewer at the end of the file).
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

    /// Takes an exclusive advisory lock without waiting; false when someone else holds it.
    /// flock locks belong to the open file description, so a second open in the same process
    /// conflicts too.
    func tryLock() throws(JournalError) -> Bool {
        if flock(fd, LOCK_EX | LOCK_NB) == 0 { return true }
        if errno == EWOULDBLOCK { return false }
        throw JournalError.system("flock", path)
    }
}

enum FileSystem {
    static func join(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    static func exists(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0
    }

    static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// Creates `path` and its missing parents.
    static func createDirectory(_ path: String) throws(JournalError) {
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

    /// The names in a directory, sorted bytewise (so the order never depends on the file system).
    static func list(_ directory: String) throws(JournalError) -> [String] {
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

    static func rename(_ from: String, _ to: String) throws(JournalError) {
        guard Glibc.rename(from, to) == 0 else { throw JournalError.system("rename", from) }
    }

    static func remove(_ path: String) throws(JournalError) {
        guard unlink(path) == 0 || errno == ENOENT else { throw JournalError.system("unlink", path) }
    }

    /// Makes the directory's entries (a created or renamed file) durable.
    static func syncDirectory(_ path: String) throws(JournalError) {
        let dir = try OpenFile.open(path, flags: O_RDONLY | O_DIRECTORY)
        defer { dir.close() }
        try dir.sync()
    }

    /// Writes a whole file atomically, `parts` one after the other: a temporary file, renamed
    /// over `path`. When `durable`, the file is fsynced before the rename and the directory
    /// after it, so that the new file survives a power cut. On failure the temporary file is
    /// removed and `path` is as it was.
    static func writeAtomically(_ parts: [UInt8]..., to path: String, durable: Bool) throws(JournalError) {
        let temporary = path + ".tmp"
        let file = try OpenFile.open(temporary, flags: O_WRONLY | O_CREAT | O_TRUNC)
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
            _ = unlink(temporary)
            throw error
        }
        if durable {
            let slash = path.utf8.lastIndex(of: UInt8(ascii: "/"))
            try syncDirectory(slash.map { String(path[..<$0]) }.map { $0.isEmpty ? "/" : $0 } ?? ".")
        }
    }

    static func readFile(_ path: String) throws(JournalError) -> [UInt8] {
        do { return try readWholeFile(path) } catch {
            throw JournalError.io(operation: error.operation, path: error.path, errno: error.errno)
        }
    }
}

/// A file mapped into memory, shared with the page cache (so other processes see the stores at
/// once). Reads and writes go through `base`; the mapping lives until `unmap()` or deinit.
final class MappedFile {
    let path: String
    let count: Int
    let writable: Bool
    private(set) var base: UnsafeMutableRawPointer?

    init(file: OpenFile, count: Int, writable: Bool) throws(JournalError) {
        precondition(count > 0, "cannot map an empty file")
        let protection = writable ? PROT_READ | PROT_WRITE : PROT_READ
        let address = mmap(nil, count, protection, MAP_SHARED, file.fd, 0)
        guard let address, address != MAP_FAILED else {
            throw JournalError.system("mmap", file.path)
        }
        self.path = file.path
        self.count = count
        self.writable = writable
        self.base = address
    }

    deinit { unmap() }

    func unmap() {
        if let base { munmap(base, count) }
        base = nil
    }

    var bytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base, count: count)
    }

    /// Writes the pages that hold `range` to disk and waits for them.
    func sync(_ range: Range<Int>) throws(JournalError) {
        guard let base, !range.isEmpty else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = range.lowerBound / page * page
        guard msync(base + start, range.upperBound - start, MS_SYNC) == 0 else {
            throw JournalError.system("msync", path)
        }
    }

    /// Maps the pages of `range` in one call instead of one page fault per page (a hint: a
    /// failure changes nothing). Writable prefaulting allocates the page-cache pages too.
    func prefault(_ range: Range<Int>, forWriting: Bool) {
        guard let base, !range.isEmpty else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = range.lowerBound / page * page
        let end = min(count, range.upperBound)
        guard end > start else { return }
        // MADV_POPULATE_WRITE (23) and MADV_POPULATE_READ (22), Linux 5.14 and later.
        _ = madvise(base + start, end - start, forWriting ? 23 : 22)
    }

    /// Zeroes `range` (used to cut off a torn tail).
    func zero(_ range: Range<Int>) {
        precondition(writable && range.upperBound <= count, "zeroing outside a writable map")
        (base! + range.lowerBound).initializeMemory(as: UInt8.self, repeating: 0, count: range.count)
    }
}
