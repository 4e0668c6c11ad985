#if canImport(Glibc)
import Glibc
#endif
import Journal
import Workloads

/// The faults `SimulatedStorage` can inject, by name (the simulator counts which it exercised).
public enum StorageFault: String, CaseIterable, Sendable, Comparable {
    /// A call fails with ENOSPC (creating, growing, writing, renaming).
    case noSpace = "enospc"
    /// A call fails with EIO (any call).
    case ioError = "eio"
    /// A call takes long (the simulated clock jumps).
    case slow
    /// The process dies: every write not yet synced is lost, or torn at any byte; directory
    /// changes not yet synced survive only as a prefix of their order.
    case crash
    /// A bit of stored (durable) data flips while the machine is down.
    case bitFlip = "bit-flip"

    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
}

/// Files in memory, for one thread that drives a simulation: each file has the bytes the
/// process sees and the bytes that survive a crash (what its last sync covered), and each
/// directory keeps the changes made since its last sync in order. A seed decides every fault,
/// so a run reproduces exactly.
///
/// Not modelled: a file's size past a crash follows its bytes (a grown file keeps its torn
/// size); directories are durable when made; a memory map taken before a file was grown does
/// not see the growth (the journal never grows a mapped file).
public final class SimulatedStorage: Storage, @unchecked Sendable {
    /// One file's bytes: a buffer with a fixed address (memory maps point into it), replaced,
    /// not moved, when the file grows.
    final class Buffer {
        let pointer: UnsafeMutableRawPointer
        let capacity: Int
        init(capacity: Int) {
            self.capacity = max(capacity, 1)
            pointer = .allocate(byteCount: self.capacity, alignment: 16)
            pointer.initializeMemory(as: UInt8.self, repeating: 0, count: self.capacity)
        }
        deinit { pointer.deallocate() }
    }

    final class File {
        var buffer: Buffer
        var count: Int
        /// What survives a crash.
        var durable: [UInt8] = []
        init(count: Int = 0) {
            buffer = Buffer(capacity: count)
            self.count = count
        }

        /// A new file with `bytes` as both what the process sees and what survives a crash
        /// (what a restarted process finds; the old file's maps no longer reach it).
        convenience init(bytes: UnsafeRawBufferPointer, durable: [UInt8]) {
            self.init(count: bytes.count)
            if bytes.count > 0 { buffer.pointer.copyMemory(from: bytes.baseAddress!, byteCount: bytes.count) }
            self.durable = durable
        }
        var bytes: UnsafeMutableRawBufferPointer { UnsafeMutableRawBufferPointer(start: buffer.pointer, count: count) }

        func resize(_ newCount: Int) {
            if newCount > buffer.capacity {
                let grown = Buffer(capacity: max(newCount, buffer.capacity * 2))
                grown.pointer.copyMemory(from: buffer.pointer, byteCount: count)
                buffer = grown
            } else if newCount > count {
                (buffer.pointer + count).initializeMemory(as: UInt8.self, repeating: 0, count: newCount - count)
            }
            count = newCount
        }
    }

    private enum Change {
        case link(name: String, File)
        case unlink(name: String)
    }

    /// Paths the process sees, and the ones that survive a crash.
    private var files: [String: File] = [:]
    private var durableFiles: [String: File] = [:]
    private var directories: Set<String> = ["/"]
    /// Directory changes not yet synced, per directory, in order.
    private var pending: [String: [Change]] = [:]
    /// Locks held, by path; dropped at a crash.
    private var locks: Set<String> = []
    /// Bumped by a crash: handles and maps from before it are dead.
    private(set) var epoch = 0

    private var random: SplitMix64
    /// Chance (in 1/1,000,000) that a call fails, and that one is slow.
    public var failurePpm: UInt64 = 0
    public var slowPpm: UInt64 = 0
    /// A disk that acknowledges syncs without keeping what they cover (some consumer drives
    /// do): no journal survives it, so a simulation run on one must fail its checks.
    public var syncsLie = false
    /// The clock slow calls move.
    public let time: ManualTime
    /// Faults injected so far, by kind.
    public private(set) var injected: [StorageFault: Int] = [:]
    /// A flipped bit: where, which, and the byte's value after the flip.
    public struct Flip: Sendable {
        public var path: String
        public var offset: Int
        var mask: UInt8
        var flipped: UInt8
    }
    /// Bits flipped since `forgetFlips()`.
    public private(set) var flips: [Flip] = []

    public init(seed: UInt64, time: ManualTime) {
        random = SplitMix64(seed: seed)
        self.time = time
    }

    private func below(_ n: UInt64) -> UInt64 { n == 0 ? 0 : random.next() % n }

    private func count(_ fault: StorageFault) { injected[fault, default: 0] += 1 }

    /// Every call passes here: it may be slow, and it may fail with `errno` (ENOSPC only where
    /// space is allocated).
    private func call(_ operation: String, _ path: String, allocates: Bool = false) throws(JournalError) {
        time.advance(byNs: 1_000 + Int64(below(20_000)))
        if slowPpm > 0 && below(1_000_000) < slowPpm {
            count(.slow)
            time.advance(byNs: 1_000_000 + Int64(below(50_000_000)))
        }
        guard failurePpm > 0, below(1_000_000) < failurePpm else { return }
        if allocates && below(2) == 0 {
            count(.noSpace)
            throw .noSpace(path: path)
        }
        count(.ioError)
        throw .io(operation: operation, path: path, errno: EIO)
    }

    private static func normalized(_ path: String) -> String {
        path.count > 1 && path.hasSuffix("/") ? String(path.dropLast()) : path
    }

    private func change(_ path: String, _ change: Change) {
        pending[StoragePath.parent(path), default: []].append(change)
    }

    // MARK: - Storage

    public func exists(_ path: String) -> Bool {
        let p = Self.normalized(path)
        return files[p] != nil || directories.contains(p)
    }

    public func isDirectory(_ path: String) -> Bool { directories.contains(Self.normalized(path)) }

    public func createDirectory(_ path: String) throws(JournalError) {
        var p = Self.normalized(path)
        if directories.contains(p) { return }
        try call("mkdir", p)
        while p != "/" && p != "." && !directories.contains(p) {
            guard files[p] == nil else { throw .io(operation: "mkdir", path: p, errno: EEXIST) }
            directories.insert(p)
            p = StoragePath.parent(p)
        }
    }

    public func list(_ directory: String) throws(JournalError) -> [String] {
        let d = Self.normalized(directory)
        guard directories.contains(d) else { throw .io(operation: "opendir", path: d, errno: ENOENT) }
        try call("opendir", d)
        let prefix = d == "/" ? "/" : d + "/"
        var names: [String] = []
        for path in files.keys where StoragePath.parent(path) == d { names.append(String(path.dropFirst(prefix.count))) }
        for path in directories where path != d && StoragePath.parent(path) == d { names.append(String(path.dropFirst(prefix.count))) }
        return names.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    public func rename(_ from: String, _ to: String) throws(JournalError) {
        guard let file = files[from] else { throw .io(operation: "rename", path: from, errno: ENOENT) }
        try call("rename", from, allocates: true)
        files[from] = nil
        files[to] = file
        change(from, .unlink(name: from))
        change(to, .link(name: to, file))
    }

    public func remove(_ path: String) throws(JournalError) {
        guard files[path] != nil else { return }
        try call("unlink", path)
        files[path] = nil
        change(path, .unlink(name: path))
    }

    public func syncDirectory(_ path: String) throws(JournalError) {
        let d = Self.normalized(path)
        try call("fsync", d)
        for change in pending.removeValue(forKey: d) ?? [] { apply(change) }
    }

    private func apply(_ change: Change) {
        switch change {
        case let .link(name, file): durableFiles[name] = file
        case let .unlink(name): durableFiles[name] = nil
        }
    }

    public func readFile(_ path: String) throws(JournalError) -> [UInt8] {
        guard let file = files[path] else { throw .io(operation: "open", path: path, errno: ENOENT) }
        try call("read", path)
        return Array(file.bytes)
    }

    public func open(_ path: String, _ mode: OpenMode) throws(JournalError) -> any StoredFile {
        let existing = files[path]
        switch mode {
        case .read, .readWrite:
            guard existing != nil else { throw .io(operation: "open", path: path, errno: ENOENT) }
        case .createNew:
            guard existing == nil else { throw .io(operation: "open", path: path, errno: EEXIST) }
        case .create, .replace:
            break
        }
        guard directories.contains(StoragePath.parent(path)) else { throw .io(operation: "open", path: path, errno: ENOENT) }
        try call("open", path, allocates: existing == nil)
        let file: File
        if let existing {
            file = existing
            if mode == .replace { file.resize(0) }
        } else {
            file = File()
            files[path] = file
            change(path, .link(name: path, file))
        }
        return Handle(storage: self, file: file, path: path, epoch: epoch)
    }

    // MARK: - Files

    final class Handle: StoredFile {
        unowned let storage: SimulatedStorage
        let file: File
        let path: String
        let epoch: Int
        var holdsLock = false

        init(storage: SimulatedStorage, file: File, path: String, epoch: Int) {
            self.storage = storage
            self.file = file
            self.path = path
            self.epoch = epoch
        }

        /// A handle of a process that crashed does nothing more.
        private func alive(_ operation: String) throws(JournalError) {
            guard epoch == storage.epoch else { throw .io(operation: operation, path: path, errno: EBADF) }
        }

        func size() throws(JournalError) -> Int {
            try alive("fstat")
            return file.count
        }

        func preallocate(_ bytes: Int) throws(JournalError) {
            try alive("fallocate")
            try storage.call("fallocate", path, allocates: true)
            if bytes > file.count { file.resize(bytes) }
        }

        func write(_ bytes: [UInt8], at offset: Int) throws(JournalError) {
            try alive("pwrite")
            try storage.call("pwrite", path, allocates: true)
            if offset + bytes.count > file.count { file.resize(offset + bytes.count) }
            bytes.withUnsafeBytes { (file.buffer.pointer + offset).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        }

        func read(count: Int, at offset: Int) throws(JournalError) -> [UInt8] {
            try alive("pread")
            try storage.call("pread", path)
            guard offset < file.count else { return [] }
            return Array(file.bytes[offset..<min(file.count, offset + count)])
        }

        func sync() throws(JournalError) {
            try alive("fsync")
            try storage.call("fsync", path)
            if !storage.syncsLie { file.durable = Array(file.bytes) }
        }

        func tryLock() throws(JournalError) -> Bool {
            try alive("flock")
            if storage.locks.contains(path) { return false }
            storage.locks.insert(path)
            holdsLock = true
            return true
        }

        func map(count: Int, writable: Bool) throws(JournalError) -> MappedFile {
            try alive("mmap")
            precondition(count > 0 && count <= file.count, "mapping past the end of a simulated file")
            return MappedFile(path: path, base: file.buffer.pointer, count: count, writable: writable,
                              backing: Mapping(handle: self, buffer: file.buffer))
        }

        func close() {
            if holdsLock && epoch == storage.epoch { storage.locks.remove(path) }
            holdsLock = false
        }
    }

    /// A map keeps its buffer alive; its syncs make the synced pages of the file durable.
    final class Mapping: MappingBacking {
        let handle: Handle
        let buffer: Buffer
        init(handle: Handle, buffer: Buffer) {
            self.handle = handle
            self.buffer = buffer
        }

        func sync(_ map: MappedFile, _ range: Range<Int>) throws(JournalError) {
            guard handle.epoch == handle.storage.epoch else { throw .io(operation: "msync", path: map.path, errno: EBADF) }
            try handle.storage.call("msync", map.path)
            let file = handle.file
            guard file.buffer === buffer, !handle.storage.syncsLie else { return }
            let page = 4_096
            let start = range.lowerBound / page * page
            let end = min(file.count, (range.upperBound + page - 1) / page * page)
            if file.durable.count < end { file.durable += [UInt8](repeating: 0, count: end - file.durable.count) }
            for i in start..<end { file.durable[i] = file.buffer.pointer.load(fromByteOffset: i, as: UInt8.self) }
        }

        func prefault(_ map: MappedFile, _ range: Range<Int>, forWriting: Bool) {}
        func unmap(_ map: MappedFile) {}
    }

    // MARK: - Faults

    /// The process dies. Each file keeps its durable bytes, and of the bytes written since its
    /// last sync each run of changed bytes survives as a random prefix (a write torn at any
    /// byte, or lost); each directory keeps a random prefix of its unsynced changes. Handles,
    /// maps and locks of before are dead.
    public func crash() {
        count(.crash)
        epoch += 1
        locks.removeAll()
        for directory in pending.keys.sorted() {
            let changes = pending[directory]!
            for change in changes.prefix(Int(below(UInt64(changes.count) + 1))) { apply(change) }
        }
        pending.removeAll()
        var survivors: [ObjectIdentifier: File] = [:]
        for path in durableFiles.keys.sorted() {
            let file = durableFiles[path]!
            if let done = survivors[ObjectIdentifier(file)] {
                durableFiles[path] = done
                continue
            }
            let seen = Array(file.bytes)
            var kept = file.durable
            // The size the file ends with: its synced one, or (its metadata written back) the
            // size the process saw.
            let size = below(2) == 0 ? kept.count : max(kept.count, seen.count)
            if kept.count < size { kept += [UInt8](repeating: 0, count: size - kept.count) }
            var i = 0
            while i < min(size, seen.count) {
                guard seen[i] != kept[i] else { i += 1; continue }
                var end = i
                while end < min(size, seen.count) && seen[end] != kept[end] { end += 1 }
                let survive = Int(below(UInt64(end - i) + 1))
                for k in i..<(i + survive) { kept[k] = seen[k] }
                i = end
            }
            let fresh = kept.withUnsafeBytes { File(bytes: $0, durable: kept) }
            survivors[ObjectIdentifier(file)] = fresh
            durableFiles[path] = fresh
        }
        files = durableFiles
    }

    /// Flips one bit of stored data in one of `paths` (chosen by the seed), in the part of the
    /// file that holds data (up to its last non-zero byte). Call it while the process is down.
    /// - Returns: the flip, nil when none of the files holds data.
    @discardableResult
    public func flipBit(among paths: [String]) -> Flip? {
        let candidates = paths.filter { (files[$0]?.durable.lastIndex { $0 != 0 }) != nil }
        guard !candidates.isEmpty else { return nil }
        let path = candidates[Int(below(UInt64(candidates.count)))]
        let file = files[path]!
        let end = file.durable.lastIndex { $0 != 0 }! + 1
        let offset = Int(below(UInt64(end)))
        let bit = UInt8(1) << UInt8(below(8))
        file.durable[offset] ^= bit
        file.buffer.pointer.storeBytes(of: file.durable[offset], toByteOffset: offset, as: UInt8.self)
        count(.bitFlip)
        let flip = Flip(path: path, offset: offset, mask: bit, flipped: file.durable[offset])
        flips.append(flip)
        return flip
    }

    /// Repairs the flipped bits (as from a backup) that are still as flipped, except in
    /// `keeping`; they stay listed until `forgetFlips()`.
    public func undoFlips(keeping: String? = nil) {
        for flip in flips where flip.path != keeping {
            guard let file = files[flip.path], flip.offset < file.count,
                  file.bytes[flip.offset] == flip.flipped else { continue }
            file.bytes[flip.offset] ^= flip.mask
            if flip.offset < file.durable.count { file.durable[flip.offset] ^= flip.mask }
        }
    }

    public func forgetFlips() { flips.removeAll() }

    /// Runs `body` with no call failing or slow (the simulator's own reads, which check the
    /// node and must not disturb it).
    public func withoutFaults<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        let saved = (failurePpm, slowPpm)
        failurePpm = 0
        slowPpm = 0
        defer { (failurePpm, slowPpm) = saved }
        return try body()
    }

    /// The process dies, the machine does not: everything written stays (the page cache
    /// survives), handles, maps and locks of before are dead, and maps now point at copies
    /// (a dead process's stores reach nothing).
    public func processExit() {
        epoch += 1
        locks.removeAll()
        var copies: [ObjectIdentifier: File] = [:]
        func copy(_ file: File) -> File {
            if let done = copies[ObjectIdentifier(file)] { return done }
            let fresh = File(bytes: UnsafeRawBufferPointer(file.bytes), durable: file.durable)
            copies[ObjectIdentifier(file)] = fresh
            return fresh
        }
        for path in files.keys.sorted() { files[path] = copy(files[path]!) }
        for path in durableFiles.keys.sorted() { durableFiles[path] = copy(durableFiles[path]!) }
        for directory in pending.keys.sorted() {
            pending[directory] = pending[directory]!.map { change in
                if case let .link(name, file) = change { return .link(name: name, copy(file)) }
                return change
            }
        }
    }

    /// The paths of the files under `directory` (sorted).
    public func paths(under directory: String) -> [String] {
        let prefix = Self.normalized(directory) + "/"
        return files.keys.filter { $0.hasPrefix(prefix) }.sorted()
    }

    /// A file's bytes as the process sees them (nil when there is none).
    public func contents(_ path: String) -> [UInt8]? { files[path].map { Array($0.bytes) } }
}
