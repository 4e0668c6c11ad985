#if canImport(Glibc)
import Glibc
#endif

/// Lines of a file descriptor, without the newline (a last line without one counts too), read
/// in large chunks. A line longer than `lineBytesMax` is not kept: it is read past and reported
/// by its length, so that no input can make the reader hold more than that.
public struct LineReader {
    public enum Item {
        case line(UnsafeRawBufferPointer)
        case tooLong(bytes: Int)
    }

    let fd: Int32
    let lineBytesMax: Int
    private var buffer: UnsafeMutableRawBufferPointer
    private var start = 0, end = 0
    /// Where the search for the next newline goes on (what lies before it has none).
    private var scanned = 0
    private var atEOF = false
    /// The length of an over-long line read past so far (nil: not inside one).
    private var discarding: Int?

    public init(fd: Int32, lineBytesMax: Int) {
        self.fd = fd
        self.lineBytesMax = lineBytesMax
        buffer = .allocate(byteCount: max(1 << 16, lineBytesMax + 1), alignment: 16)
    }

    public func deallocate() { buffer.deallocate() }

    /// Where the next newline is, when `hasBufferedLine` found it (so `next` need not look again).
    private var knownNewline = -1

    /// Whether a whole line is already read (the next `next` returns it without reading).
    public mutating func hasBufferedLine() -> Bool {
        if knownNewline >= 0 { return true }
        guard scanned < end, let found = memchr(buffer.baseAddress! + scanned, 0x0A, end - scanned) else {
            return false
        }
        knownNewline = buffer.baseAddress!.distance(to: UnsafeMutableRawPointer(found))
        return true
    }

    /// The next line, valid until the next call; nil at the end, or when a signal interrupted
    /// the read and `interrupted()` says to stop.
    public mutating func next(interrupted: () -> Bool) -> Item? {
        while true {
            let base = buffer.baseAddress!
            var newline = knownNewline
            knownNewline = -1
            if newline < 0, scanned < end, let found = memchr(base + scanned, 0x0A, end - scanned) {
                newline = base.distance(to: UnsafeMutableRawPointer(found))
            }
            if newline >= 0 {
                let lineStart = start
                start = newline + 1
                scanned = start
                if let length = discarding {
                    discarding = nil
                    return .tooLong(bytes: length + newline - lineStart)
                }
                return .line(UnsafeRawBufferPointer(start: base + lineStart, count: newline - lineStart))
            }
            scanned = end
            if atEOF {
                guard start < end || discarding != nil else { return nil }
                defer { start = end; scanned = end; discarding = nil }
                if let length = discarding { return .tooLong(bytes: length + end - start) }
                return .line(UnsafeRawBufferPointer(start: base + start, count: end - start))
            }
            if end - start > lineBytesMax {
                // Too long to keep: count it and drop what is read of it.
                discarding = (discarding ?? 0) + end - start
                start = 0; end = 0; scanned = 0
            } else if start > 0 && end == buffer.count {
                memmove(base, base + start, end - start)
                end -= start
                scanned -= start
                start = 0
            }
            if end == buffer.count {
                discarding = (discarding ?? 0) + end - start
                start = 0; end = 0; scanned = 0
            }
            let n = read(fd, base + end, buffer.count - end)
            if n < 0 && errno == EINTR {
                if interrupted() { return nil }
                continue
            }
            if n <= 0 { atEOF = true } else { end += n }
        }
    }
}
