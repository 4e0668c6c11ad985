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

    /// One byte, within room already made.
    @inline(__always)
    mutating func put(_ byte: UInt8) {
        assert(count < capacity, "ByteOutput written past its reserved room")
        base[count] = byte
        count += 1
    }

    @inline(__always)
    mutating func put(_ text: StaticString) {
        assert(count + text.utf8CodeUnitCount <= capacity, "ByteOutput written past its reserved room")
        (base + count).update(from: text.utf8Start, count: text.utf8CodeUnitCount)
        count += text.utf8CodeUnitCount
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

    /// `"key":`, with room made for it and `valueBytes` more.
    @inline(__always)
    private mutating func key(_ key: StaticString, valueBytes: Int) {
        reserve(key.utf8CodeUnitCount + Self.keyOverhead + valueBytes)
        if hasField { put(UInt8(ascii: ",")) }
        hasField = true
        put(UInt8(ascii: "\""))
        put(key)
        put(UInt8(ascii: "\""))
        put(UInt8(ascii: ":"))
    }

    public mutating func number(_ key: StaticString, _ value: Int64) {
        self.key(key, valueBytes: Self.decimalBytesMax)
        putDecimal(value, scale: 0, trimmed: false)
    }

    public mutating func number(_ key: StaticString, _ value: UInt64) {
        self.key(key, valueBytes: Self.decimalBytesMax)
        if value >= 10_000_000_000_000_000_000 {
            // 20 digits: the top one, then the other 19.
            put(UInt8(ascii: "0") + UInt8(value / 10_000_000_000_000_000_000))
            putDigits(value % 10_000_000_000_000_000_000, width: 19)
        } else if value > UInt64(Int64.max) {
            putDigits(value, width: 19)
        } else {
            putDecimal(Int64(value), scale: 0, trimmed: false)
        }
    }

    public mutating func number(_ key: StaticString, _ value: Int) { number(key, Int64(value)) }

    /// A value known when the program was built (an event's name, a side, a status).
    public mutating func string(_ key: StaticString, _ value: StaticString) {
        self.key(key, valueBytes: value.utf8CodeUnitCount + 2)
        put(UInt8(ascii: "\""))
        put(value)
        put(UInt8(ascii: "\""))
    }

    public mutating func string(_ key: StaticString, _ value: String) {
        var value = value
        value.withUTF8 { utf8 in
            // An escaped byte takes at most 6 bytes.
            self.key(key, valueBytes: 6 * utf8.count + 2)
            putQuoted(utf8)
        }
    }

    /// `units × 10^-scale` as a JSON string: all `scale` decimals, or (`trimmed`) without
    /// trailing zeros.
    public mutating func decimal(_ key: StaticString, units: Int64, scale: Int, trimmed: Bool) {
        self.key(key, valueBytes: Self.decimalBytesMax + 2)
        put(UInt8(ascii: "\""))
        putDecimal(units, scale: scale, trimmed: trimmed)
        put(UInt8(ascii: "\""))
    }

    /// `units × 10^-scale` with exactly `scale` decimals, or (`trimmed`) without trailing zeros
    /// and without a point when nothing follows it; the same text as `ExactDecimal.format`.
    /// Within room already made (`decimalBytesMax`).
    mutating func putDecimal(_ units: Int64, scale: Int, trimmed: Bool) {
        if units < 0 { put(UInt8(ascii: "-")) }
        var magnitude = units.magnitude
        var scale = scale
        if trimmed {
            while scale > 0 && magnitude % 10 == 0 {
                magnitude /= 10
                scale -= 1
            }
        }
        // Digits written from the last one back: the decimals, the point, the whole part (at
        // least one digit, "0" when the value is below 1).
        let digits = max(Self.digitCount(magnitude), scale + 1)
        let length = digits + (scale > 0 ? 1 : 0)
        var at = count + length
        var written = 0
        while written < digits {
            if written == scale && scale > 0 {
                at -= 1
                base[at] = UInt8(ascii: ".")
            }
            at -= 1
            base[at] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: magnitude % 10)
            magnitude /= 10
            written += 1
        }
        count += length
    }

    /// The decimal digits of `value` (1 for 0).
    @inline(__always)
    static func digitCount(_ value: UInt64) -> Int {
        var n = 1
        var v = value
        while v >= 10_000 { v /= 10_000; n += 4 }
        while v >= 10 { v /= 10; n += 1 }
        return n
    }

    /// `value` as exactly `width` digits, leading zeros included.
    private mutating func putDigits(_ value: UInt64, width: Int) {
        var value = value
        let start = count
        count += width
        for i in stride(from: width - 1, through: 0, by: -1) {
            base[start + i] = UInt8(ascii: "0") + UInt8(value % 10)
            value /= 10
        }
    }

    /// UTF-8 bytes as a JSON string literal, quotes included, escaping what JSON requires.
    /// Within room already made (6 bytes a byte, and 2).
    mutating func putQuoted(_ utf8: UnsafeBufferPointer<UInt8>) {
        put(UInt8(ascii: "\""))
        for byte in utf8 {
            if byte >= 0x20 && byte != UInt8(ascii: "\"") && byte != UInt8(ascii: "\\") {
                put(byte)  // UTF-8 passes through as it is
                continue
            }
            put(UInt8(ascii: "\\"))
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): put(byte)
            case 0x0A: put(UInt8(ascii: "n"))
            case 0x0D: put(UInt8(ascii: "r"))
            case 0x09: put(UInt8(ascii: "t"))
            default:
                let hex: StaticString = "0123456789abcdef"
                put("u00")
                put(hex.utf8Start[Int(byte >> 4)])
                put(hex.utf8Start[Int(byte & 15)])
            }
        }
        put(UInt8(ascii: "\""))
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
