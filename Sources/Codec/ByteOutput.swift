#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A growable run of bytes written through a pointer, for JSON output on hot paths (every
/// acknowledgement of a node, every event of a replay). Room is made once per field (`reserve`)
/// and the bytes are then stored without checks; an array would check its uniqueness and
/// capacity on every byte appended.
///
/// The object writing (`beginObject`, a field, …, `endObject`) keeps keys in the order given.
public struct ByteOutput: ~Copyable {
    private var base: UnsafeMutablePointer<UInt8>
    public private(set) var count = 0
    private var capacity: Int
    /// Whether the object being written already has a field (the next one needs a comma).
    private var hasField = false

    /// The most bytes `putDecimal` writes: a sign, 19 digits, a point and 18 leading zeros.
    static let decimalBytesMax = 40
    /// The most bytes a key and its punctuation take beyond the key itself.
    static let keyOverhead = 4

    public init(capacity: Int = 1 << 16) {
        self.capacity = max(capacity, 64)
        base = .allocate(capacity: self.capacity)
    }

    deinit { base.deallocate() }

    public mutating func removeAll() { count = 0 }

    /// The bytes written so far.
    public func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: base, count: count))
    }

    public var string: String { withBytes { String(decoding: $0, as: UTF8.self) } }

    /// Makes room for `n` more bytes.
    @inline(__always)
    public mutating func reserve(_ n: Int) {
        if count + n > capacity { grow(to: count + n) }
    }

    private mutating func grow(to needed: Int) {
        var newCapacity = capacity * 2
        while newCapacity < needed { newCapacity *= 2 }
        let bigger = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
        bigger.update(from: base, count: count)
        base.deallocate()
        base = bigger
        capacity = newCapacity
    }

    /// UTF-8 bytes as a JSON string literal (see `writeQuoted`), within room already made.
    mutating func putQuoted(_ utf8: UnsafeBufferPointer<UInt8>) {
        var q = base + count
        Self.writeQuoted(utf8, &q)
        count = base.distance(to: q)
    }

    /// One byte, within room already made.
    @inline(__always)
    mutating func put(_ byte: UInt8) {
        assert(count < capacity, "ByteOutput written past its reserved room")
        base[count] = byte
        count += 1
    }

    /// Appends bytes (making room for them).
    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        reserve(bytes.count)
        if let source = bytes.baseAddress {
            UnsafeMutableRawPointer(base + count).copyMemory(from: source, byteCount: bytes.count)
        }
        count += bytes.count
    }

    public mutating func append(_ byte: UInt8) {
        reserve(1)
        put(byte)
    }

    // MARK: - Writing through a cursor

    /// A place to write within room already made: bytes are stored through it without any
    /// check, and `commit` makes them part of the output.
    struct Cursor {
        var q: UnsafeMutablePointer<UInt8>

        @inline(__always)
        mutating func byte(_ b: UInt8) {
            q.pointee = b
            q += 1
        }

        /// Text known when the program is built.
        @inline(__always)
        mutating func text(_ s: StaticString) { ByteOutput.copy(s, &q) }

        /// A decimal integer.
        @inline(__always)
        mutating func integer(_ value: UInt64) {
            if value < 10 {
                byte(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: value))
            } else if value <= UInt64(Int64.max) {
                ByteOutput.writeDecimal(Int64(value), scale: 0, trimmed: false, &q)
            } else {
                ByteOutput.writeLarge(value, &q)
            }
        }

        /// `units × 10^-scale` as a JSON string (see `writeDecimal`).
        @inline(__always)
        mutating func decimal(_ units: Int64, scale: Int, trimmed: Bool) {
            byte(UInt8(ascii: "\""))
            ByteOutput.writeDecimal(units, scale: scale, trimmed: trimmed, &q)
            byte(UInt8(ascii: "\""))
        }

        /// A string literal, escaped as JSON requires.
        @inline(__always)
        mutating func quoted(_ value: String) {
            var value = value
            value.withUTF8 { ByteOutput.writeQuoted($0, &q) }
        }
    }

    /// A cursor at the end of the output, with room made for `n` bytes.
    @inline(__always)
    mutating func cursor(reserving n: Int) -> Cursor {
        reserve(n)
        return Cursor(q: base + count)
    }

    /// Makes what was written through `cursor` part of the output.
    @inline(__always)
    mutating func commit(_ cursor: Cursor) {
        assert(base.distance(to: cursor.q) <= capacity, "ByteOutput written past its reserved room")
        count = base.distance(to: cursor.q)
    }

    // MARK: - JSON

    public mutating func beginObject() {
        reserve(1)
        put(UInt8(ascii: "{"))
        hasField = false
    }

    public mutating func endObject() {
        reserve(1)
        put(UInt8(ascii: "}"))
    }

    /// Writes `"key":`, with room made for it and `valueBytes` more, and returns where the
    /// value goes: the value's bytes go through that local pointer, and `end(at:)` stores
    /// where it stopped.
    @inline(__always)
    private mutating func begin(_ key: StaticString, valueBytes: Int) -> UnsafeMutablePointer<UInt8> {
        reserve(key.utf8CodeUnitCount &+ Self.keyOverhead &+ valueBytes)
        var q = base + count
        if hasField {
            q.pointee = UInt8(ascii: ",")
            q += 1
        }
        hasField = true
        q.pointee = UInt8(ascii: "\"")
        q += 1
        Self.copy(key, &q)
        q[0] = UInt8(ascii: "\"")
        q[1] = UInt8(ascii: ":")
        return q + 2
    }

    @inline(__always)
    private mutating func end(at q: UnsafeMutablePointer<UInt8>) { count = base.distance(to: q) }

    /// Text known when the program is built (a key, a name, punctuation), copied eight bytes at
    /// a time and then byte by byte: a call to memmove costs more than the few bytes it moves.
    @inline(__always)
    static func copy(_ text: StaticString, _ q: inout UnsafeMutablePointer<UInt8>) {
        let n = text.utf8CodeUnitCount
        let source = UnsafeRawPointer(text.utf8Start)
        let target = UnsafeMutableRawPointer(q)
        if n >= 8 {
            // Whole words, the last one overlapping the one before it (no byte loop).
            var i = 0
            while i &+ 8 < n {
                target.storeBytes(of: source.loadUnaligned(fromByteOffset: i, as: UInt64.self),
                                  toByteOffset: i, as: UInt64.self)
                i &+= 8
            }
            target.storeBytes(of: source.loadUnaligned(fromByteOffset: n &- 8, as: UInt64.self),
                              toByteOffset: n &- 8, as: UInt64.self)
        } else if n >= 4 {
            target.storeBytes(of: source.loadUnaligned(as: UInt32.self), as: UInt32.self)
            target.storeBytes(of: source.loadUnaligned(fromByteOffset: n &- 4, as: UInt32.self),
                              toByteOffset: n &- 4, as: UInt32.self)
        } else {
            var i = 0
            while i < n {
                q[i] = text.utf8Start[i]
                i &+= 1
            }
        }
        q += n
    }

    public mutating func number(_ key: StaticString, _ value: Int64) {
        var q = begin(key, valueBytes: Self.decimalBytesMax)
        Self.writeDecimal(value, scale: 0, trimmed: false, &q)
        end(at: q)
    }

    public mutating func number(_ key: StaticString, _ value: UInt64) {
        var q = begin(key, valueBytes: Self.decimalBytesMax)
        if value > UInt64(Int64.max) {
            // Rare (ids and sequences stay far below): through a String.
            var text = String(value)
            text.withUTF8 { digits in
                for d in digits { q.pointee = d; q += 1 }
            }
        } else {
            Self.writeDecimal(Int64(value), scale: 0, trimmed: false, &q)
        }
        end(at: q)
    }

    public mutating func number(_ key: StaticString, _ value: Int) { number(key, Int64(value)) }

    /// A value known when the program was built (an event's name, a side, a status).
    public mutating func string(_ key: StaticString, _ value: StaticString) {
        var q = begin(key, valueBytes: value.utf8CodeUnitCount &+ 2)
        q.pointee = UInt8(ascii: "\"")
        q += 1
        Self.copy(value, &q)
        q.pointee = UInt8(ascii: "\"")
        end(at: q + 1)
    }

    public mutating func string(_ key: StaticString, _ value: String) {
        var value = value
        value.withUTF8 { utf8 in
            // An escaped byte takes at most 6 bytes.
            var q = begin(key, valueBytes: 6 &* utf8.count &+ 2)
            Self.writeQuoted(utf8, &q)
            end(at: q)
        }
    }

    /// `units × 10^-scale` as a JSON string: all `scale` decimals, or (`trimmed`) without
    /// trailing zeros.
    public mutating func decimal(_ key: StaticString, units: Int64, scale: Int, trimmed: Bool) {
        var q = begin(key, valueBytes: Self.decimalBytesMax &+ 2)
        q.pointee = UInt8(ascii: "\"")
        q += 1
        Self.writeDecimal(units, scale: scale, trimmed: trimmed, &q)
        q.pointee = UInt8(ascii: "\"")
        end(at: q + 1)
    }

    /// Within room already made (`decimalBytesMax`): see `writeDecimal`.
    mutating func putDecimal(_ units: Int64, scale: Int, trimmed: Bool) {
        var q = base + count
        Self.writeDecimal(units, scale: scale, trimmed: trimmed, &q)
        count = base.distance(to: q)
    }

    /// `units × 10^-scale` with exactly `scale` decimals, or (`trimmed`) without trailing zeros
    /// and without a point when nothing follows it; the same text as `ExactDecimal.format`.
    /// The digits are written two at a time from the last; then the decimals kept move one
    /// place right to make room for the point.
    @inline(__always)
    static func writeDecimal(_ units: Int64, scale: Int, trimmed: Bool, _ q: inout UnsafeMutablePointer<UInt8>) {
        if units < 0 {
            q.pointee = UInt8(ascii: "-")
            q += 1
        }
        var m = units.magnitude
        var n = 1
        var t = m
        while t >= 100 { t /= 100; n &+= 2 }
        if t >= 10 { n &+= 1 }
        // At least one digit before the point.
        let digits = max(n, scale &+ 1)
        let pairs = digitPairs.utf8Start
        var i = digits
        while m >= 100 {
            let x = m / 100
            let r = Int(truncatingIfNeeded: m &- x &* 100) &* 2
            i &-= 2
            q[i] = pairs[r]
            q[i &+ 1] = pairs[r &+ 1]
            m = x
        }
        if m >= 10 {
            let r = Int(truncatingIfNeeded: m) &* 2
            i &-= 2
            q[i] = pairs[r]
            q[i &+ 1] = pairs[r &+ 1]
        } else {
            i &-= 1
            q[i] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: m)
        }
        while i > 0 { i &-= 1; q[i] = UInt8(ascii: "0") }
        let whole = digits &- scale
        var last = digits
        if trimmed { while last > whole && q[last &- 1] == UInt8(ascii: "0") { last &-= 1 } }
        if last == whole {
            q += whole
            return
        }
        var k = last
        while k > whole { q[k] = q[k &- 1]; k &-= 1 }
        q[whole] = UInt8(ascii: ".")
        q += last &+ 1
    }

    /// "00" to "99", for writing two digits at once (a literal, not a lazily made global).
    @inline(__always)
    static var digitPairs: StaticString { """
        00010203040506070809101112131415161718192021222324252627282930313233343536373839\
        40414243444546474849505152535455565758596061626364656667686970717273747576777879\
        8081828384858687888990919293949596979899
        """ }

    /// An integer above Int64.max (rare: ids and sequences stay far below), through a String.
    @inline(never)
    static func writeLarge(_ value: UInt64, _ q: inout UnsafeMutablePointer<UInt8>) {
        var text = String(value)
        text.withUTF8 { digits in
            for d in digits { q.pointee = d; q += 1 }
        }
    }

    /// UTF-8 bytes as a JSON string literal, quotes included, escaping what JSON requires.
    /// Within room already made (6 bytes a byte, and 2). Eight bytes that need no escape (the
    /// common case) are copied at once.
    static func writeQuoted(_ utf8: UnsafeBufferPointer<UInt8>, _ q: inout UnsafeMutablePointer<UInt8>) {
        q.pointee = UInt8(ascii: "\"")
        q += 1
        var rest = utf8[...]
        if let source = utf8.baseAddress {
            let raw = UnsafeRawPointer(source)
            var i = 0
            while i &+ 8 <= utf8.count {
                let w = raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)
                guard JSONMembers.attention(UInt64(littleEndian: w)) == 0 else { break }
                UnsafeMutableRawPointer(q).storeBytes(of: w, as: UInt64.self)
                q += 8
                i &+= 8
            }
            rest = utf8[i...]
        }
        for byte in rest {
            if byte >= 0x20 && byte != UInt8(ascii: "\"") && byte != UInt8(ascii: "\\") {
                q.pointee = byte  // UTF-8 passes through as it is
                q += 1
                continue
            }
            q.pointee = UInt8(ascii: "\\")
            q += 1
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): q.pointee = byte; q += 1
            case 0x0A: q.pointee = UInt8(ascii: "n"); q += 1
            case 0x0D: q.pointee = UInt8(ascii: "r"); q += 1
            case 0x09: q.pointee = UInt8(ascii: "t"); q += 1
            default:
                let hex: StaticString = "0123456789abcdef"
                q[0] = UInt8(ascii: "u"); q[1] = UInt8(ascii: "0"); q[2] = UInt8(ascii: "0")
                q[3] = hex.utf8Start[Int(byte >> 4)]
                q[4] = hex.utf8Start[Int(byte & 15)]
                q += 5
            }
        }
        q.pointee = UInt8(ascii: "\"")
        q += 1
    }
}

/// One JSON object built field by field (`journal export`, the CLI's summaries); `text` is the
/// object, closed.
public struct JSONObjectWriter: ~Copyable {
    private var output = ByteOutput(capacity: 256)

    public init() { output.beginObject() }

    public mutating func number(_ key: StaticString, _ value: Int64) { output.number(key, value) }
    public mutating func number(_ key: StaticString, _ value: UInt64) { output.number(key, value) }
    public mutating func number(_ key: StaticString, _ value: Int) { output.number(key, value) }
    public mutating func string(_ key: StaticString, _ value: String) { output.string(key, value) }

    public var text: String { output.string + "}" }

    /// `s` as a JSON string literal, quotes included.
    public static func quote(_ s: String) -> String {
        var s = s
        return s.withUTF8 { utf8 in
            var out = ByteOutput(capacity: 6 * utf8.count + 2)
            out.reserve(6 * utf8.count + 2)
            out.putQuoted(utf8)
            return out.string
        }
    }
}
