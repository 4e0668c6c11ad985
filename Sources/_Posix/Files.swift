#if canImport(Glibc)
import Glibc
#endif

/// A failed system call on a file: which one, on what, and its errno.
public struct FileError: Error, Sendable, CustomStringConvertible {
    public var operation: String
    public var path: String
    public var errno: Int32

    public var description: String {
        errno == ENOENT ? "no such file: \(path)" : "cannot \(operation) \(path): \(String(cString: strerror(errno)))"
    }
}

/// Writes all of `bytes` to a file descriptor, going on after EINTR and short writes; false
/// when it stops taking them (a closed pipe, a full disk).
@discardableResult
public func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Bool {
    var done = 0
    while done < bytes.count {
        let n = write(fd, bytes.baseAddress! + done, bytes.count - done)
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { return false }
        done += n
    }
    return true
}

/// The whole of a file's bytes, read to its end (not to a size taken first, so a file that
/// grows or a pipe reads whole too).
public func readWholeFile(_ path: String) throws(FileError) -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw FileError(operation: "open", path: path, errno: errno) }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        guard n >= 0 else { throw FileError(operation: "read", path: path, errno: errno) }
        if n == 0 { return bytes }
        bytes.append(contentsOf: chunk[0..<n])
    }
}
