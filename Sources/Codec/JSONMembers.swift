/// The top-level members of one JSON object, located in the bytes of its line: where each key
/// and value starts and ends, and what kind of value it is. Nothing is copied and no tree is
/// built; a command reads the few members it needs straight from the line.
///
/// `scan` checks the whole text against JSON's grammar (RFC 8259), nested values included, and
/// that every string is UTF-8, so a line is either an object, some other JSON, or not JSON.
/// A key written twice means its last value, as most parsers read it.
///
/// Its memory is reused from one scan to the next, and shared by copies: one scanner, one
/// owner (a `CommandJSON.Reader`, or a local).
struct JSONMembers {
    enum Kind: UInt8 {
        /// A string without escapes: its bytes between the quotes are its UTF-8.
        case plainString
        /// A string with at least one backslash escape.
        case escapedString
        case number, bool, null, object, array
    }

    struct Member {
        /// The key's bytes between its quotes (escapes, if any, as written).
        var keyStart: Int32, keyEnd: Int32
        var keyEscaped: Bool
        var kind: Kind
        /// The value as written: for a string, the bytes between its quotes.
        var valueStart: Int32, valueEnd: Int32
        /// From the key's opening quote to the value's last byte (what `journal export` copies).
        var memberStart: Int32
    }

    enum Outcome: Equatable { case object, notObject, notJSON }

    /// Nesting deeper than this is refused as not JSON (a bound on the scanner's recursion).
    static let depthMax = 64

    private var bytes = UnsafeRawBufferPointer(start: nil, count: 0)
    /// The text being scanned, its length, and where the scan is (`bytes` as a pointer: no
    /// optional base address to test on every byte).
    private var p = UnsafePointer<UInt8>(bitPattern: 1)!
    private var end = 0
    private var at = 0
    /// The keys filed as they are scanned.
    private let slots: JSONKeySlots
    /// The members, and where the last member of each slot's key is (-1: none), in plain
    /// memory that one scan after another reuses.
    private let table: Table

    init(slots: JSONKeySlots = JSONKeySlots([])) {
        self.slots = slots
        table = Table(slots: slots.count)
    }

    /// The members of the last object scanned, in the order written.
    var members: UnsafeBufferPointer<Member> { UnsafeBufferPointer(start: table.members, count: table.count) }

    /// Used by one scanner at a time (no dynamic exclusivity checks on its counters).
    final class Table {
        @exclusivity(unchecked) var members: UnsafeMutablePointer<Member>
        @exclusivity(unchecked) var count = 0
        @exclusivity(unchecked) var capacity = 16
        let memberOfSlot: UnsafeMutablePointer<Int32>
        let slots: Int

        init(slots: Int) {
            self.slots = slots
            members = .allocate(capacity: capacity)
            memberOfSlot = .allocate(capacity: max(slots, 1))
            memberOfSlot.initialize(repeating: -1, count: max(slots, 1))
        }

        deinit {
            members.deallocate()
            memberOfSlot.deallocate()
        }

        func reset() {
            count = 0
            memberOfSlot.update(repeating: -1, count: slots)
        }

        @inline(__always)
        func append(_ member: Member) {
            if count == capacity { grow() }
            (members + count).initialize(to: member)
            count += 1
        }

        private func grow() {
            let bigger = UnsafeMutablePointer<Member>.allocate(capacity: capacity * 2)
            bigger.moveInitialize(from: members, count: count)
            members.deallocate()
            members = bigger
            capacity *= 2
        }
    }

    /// Scans `text`, which must stay valid while the members are read.
    mutating func scan(_ text: UnsafeRawBufferPointer) -> Outcome {
        table.reset()
        bytes = text
        at = 0
        guard let base = text.baseAddress, text.count <= Int(Int32.max) else { return .notJSON }
        p = base.assumingMemoryBound(to: UInt8.self)
        end = text.count
        skipSpace()
        guard at < end else { return .notJSON }
        let isObject = p[at] == UInt8(ascii: "{")
        let ok = isObject ? topObject() : value(depth: 0) != nil
        skipSpace()
        guard ok, at == end else { return .notJSON }
        return isObject ? .object : .notObject
    }

    /// The last member whose key is filed at `slot`, if any.
    @inline(__always)
    func find(_ slot: KeySlot) -> Member? {
        assert(slot.index < table.slots, "slot \(slot.index) is not of this key set")
        let i = Int(table.memberOfSlot[slot.index])
        return i >= 0 ? table.members[i] : nil
    }

    /// The last member named `key`, if any.
    func find(_ key: JSONKey) -> Member? {
        // A key with a slot belongs to the set this scanner files keys by (`K` for commands).
        if key.slot >= 0 && key.slot < table.slots {
            assert(slots.keys[key.slot].name.utf8Start == key.name.utf8Start, "\(key.name) is not of this key set")
            let i = Int(table.memberOfSlot[key.slot])
            return i >= 0 ? table.members[i] : nil
        }
        let members = self.members
        var i = members.count
        while i > 0 {
            i -= 1
            if self.key(of: members[i], is: key) { return members[i] }
        }
        return nil
    }

    /// Whether the member's key is `key`.
    @inline(__always)
    func key(of m: Member, is key: JSONKey) -> Bool {
        if m.keyEscaped { return decodeString(from: m.keyStart, to: m.keyEnd).utf8.elementsEqual(key.bytes) }
        return Int(m.keyEnd - m.keyStart) == key.length && matches(at: Int(m.keyStart), key)
    }

    /// The slot of a key that `slots` knows.
    private func slotOfKey(start: Int, end keyEnd: Int, escaped: Bool) -> Int? {
        if escaped {
            var key = decodeString(from: Int32(start), to: Int32(keyEnd))
            return key.withUTF8 { slots.slot(of: JSONKey.words(UnsafeRawBufferPointer($0)), length: $0.count) }
        }
        let n = keyEnd &- start
        guard n <= 16 else { return nil }
        return slots.slot(of: words(at: start, count: n), length: n)
    }

    /// The `n` (at most 16) bytes of the text at `offset` as two words, zero past them: loaded
    /// as whole words where the text goes on far enough (it nearly always does: a key is
    /// followed by its value, a value by the end of the object).
    @inline(__always)
    private func words(at offset: Int, count n: Int) -> (UInt64, UInt64) {
        let q = UnsafeRawPointer(p + offset)
        guard offset &+ 16 <= end else { return JSONKey.words(UnsafeRawBufferPointer(start: q, count: n)) }
        var w0 = UInt64(littleEndian: q.loadUnaligned(as: UInt64.self))
        var w1 = UInt64(littleEndian: q.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        if n <= 8 {
            w1 = 0
            if n < 8 { w0 &= (1 &<< (8 &* UInt64(n))) &- 1 }
        } else if n < 16 {
            w1 &= (1 &<< (8 &* UInt64(n &- 8))) &- 1
        }
        return (w0, w1)
    }

    /// A plain string value's first sixteen bytes as two words, zero past its end, and its
    /// length; nil for a longer value or another kind. Loaded as words where the line goes on
    /// far enough (it nearly always does).
    @inline(__always)
    func valueWords(_ m: Member) -> (words: (UInt64, UInt64), length: Int)? {
        let n = Int(m.valueEnd &- m.valueStart)
        guard m.kind == .plainString, n <= 16 else { return nil }
        return (words(at: Int(m.valueStart), count: n), n)
    }

    /// Whether a plain string value is `word` (a command's name).
    @inline(__always)
    func value(of m: Member, is word: JSONKey) -> Bool {
        m.kind == .plainString && Int(m.valueEnd - m.valueStart) == word.length && matches(at: Int(m.valueStart), word)
    }

    /// Whether the `word.length` bytes at `offset` are `word`, compared as words.
    @inline(__always)
    private func matches(at offset: Int, _ word: JSONKey) -> Bool {
        guard word.length <= 16 else { return memcmp(p + offset, word.name.utf8Start, word.length) == 0 }
        return words(at: offset, count: word.length) == word.words
    }

    /// The bytes of a plain string, or of a number, as written.
    func raw(_ m: Member) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: bytes[Int(m.valueStart)..<Int(m.valueEnd)])
    }

    /// A string value's text (escapes decoded).
    func string(_ m: Member) -> String {
        m.kind == .plainString ? String(decoding: raw(m), as: UTF8.self)
                               : decodeString(from: m.valueStart, to: m.valueEnd)
    }

    /// A number value as an integer, when it is written as one (no fraction, no exponent)
    /// and fits in 64 bits.
    func integer(_ m: Member) -> Int64? {
        guard m.kind == .number else { return nil }
        var q = p + Int(m.valueStart)
        let last = p + Int(m.valueEnd)
        let negative = q.pointee == UInt8(ascii: "-")
        if negative { q += 1 }
        // Up to 18 digits cannot overflow; the 19th is checked.
        guard q.distance(to: last) <= 19 else { return nil }
        var magnitude: UInt64 = 0
        while q < last {
            let d = q.pointee &- UInt8(ascii: "0")
            guard d < 10 else { return nil }  // a fraction or an exponent: not an integer
            magnitude = magnitude &* 10 &+ UInt64(d)
            q += 1
        }
        if negative {
            guard magnitude <= UInt64(Int64.max) + 1 else { return nil }
            return Int64(truncatingIfNeeded: 0 &- magnitude)
        }
        guard magnitude <= UInt64(Int64.max) else { return nil }
        return Int64(magnitude)
    }

    /// The member's full text, `"key":value`, as written.
    func memberText(_ m: Member) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: bytes[Int(m.memberStart)..<(Int(m.valueEnd) + (m.isString ? 1 : 0))])
    }

    // MARK: - Scanning

    @inline(__always)
    private mutating func skipSpace() {
        while at < end {
            let c = p[at]
            guard c <= 0x20, c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 else { return }
            at &+= 1
        }
    }

    /// The top-level object, recording its members.
    private mutating func topObject() -> Bool {
        at &+= 1
        skipSpace()
        if at < end && p[at] == UInt8(ascii: "}") { at &+= 1; return true }
        while true {
            skipSpace()
            let memberStart = at
            guard at < end, p[at] == UInt8(ascii: "\"") else { return false }
            // A short plain key is read from the words loaded to find its end, and filed by
            // them at once; any other goes the long way.
            var slot: Int?
            let key: (start: Int, end: Int, escaped: Bool)
            if let short = shortKey() {
                key = (short.start, short.end, false)
                slot = short.slot
            } else {
                guard let long = stringBody() else { return false }
                key = long
                slot = slotOfKey(start: key.start, end: key.end, escaped: key.escaped)
            }
            skipSpace()
            guard at < end, p[at] == UInt8(ascii: ":") else { return false }
            at &+= 1
            skipSpace()
            let valueStart = at
            // Strings and numbers, nearly every value, without the general dispatch.
            let kind: Kind
            if at < end && p[at] == UInt8(ascii: "\"") {
                guard let s = stringBody() else { return false }
                kind = s.escaped ? .escapedString : .plainString
            } else if at < end && (p[at] &- UInt8(ascii: "0") < 10 || p[at] == UInt8(ascii: "-")) {
                guard number() else { return false }
                kind = .number
            } else {
                guard let other = value(depth: 1) else { return false }
                kind = other
            }
            let isString = kind == .plainString || kind == .escapedString
            if let slot { table.memberOfSlot[slot] = Int32(truncatingIfNeeded: table.count) }
            table.append(Member(
                keyStart: Int32(truncatingIfNeeded: key.start), keyEnd: Int32(truncatingIfNeeded: key.end),
                keyEscaped: key.escaped, kind: kind,
                valueStart: Int32(truncatingIfNeeded: isString ? valueStart &+ 1 : valueStart),
                valueEnd: Int32(truncatingIfNeeded: isString ? at &- 1 : at),
                memberStart: Int32(truncatingIfNeeded: memberStart)))
            skipSpace()
            guard at < end else { return false }
            if p[at] == UInt8(ascii: ",") { at &+= 1; continue }
            if p[at] == UInt8(ascii: "}") { at &+= 1; return true }
            return false
        }
    }

    /// A key of at most 15 bytes with nothing in it to check (no escape, control character or
    /// byte above 0x7F), read from two words at its opening quote: its extent and slot, with
    /// `at` after its closing quote. Nil (and `at` unmoved) for any other key.
    @inline(__always)
    private mutating func shortKey() -> (start: Int, end: Int, slot: Int?)? {
        let start = at &+ 1
        guard start &+ 16 <= end else { return nil }
        let raw = UnsafeRawPointer(p + start)
        var w0 = UInt64(littleEndian: raw.loadUnaligned(as: UInt64.self))
        var w1: UInt64 = 0
        var n: Int
        let m0 = Self.attention(w0)
        if m0 != 0 {
            n = m0.trailingZeroBitCount &>> 3
            guard p[start &+ n] == UInt8(ascii: "\"") else { return nil }
            if n < 8 { w0 &= (1 &<< (8 &* UInt64(n))) &- 1 }
        } else {
            w1 = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
            let m1 = Self.attention(w1)
            guard m1 != 0 else { return nil }
            n = 8 &+ (m1.trailingZeroBitCount &>> 3)
            guard p[start &+ n] == UInt8(ascii: "\"") else { return nil }
            w1 &= (1 &<< (8 &* UInt64(n &- 8))) &- 1
        }
        at = start &+ n &+ 1
        return (start, start &+ n, slots.slot(of: (w0, w1), length: n))
    }

    /// One value at `at` (spaces before it skipped); nil when it is not JSON.
    private mutating func value(depth: Int) -> Kind? {
        guard depth < Self.depthMax else { return nil }
        skipSpace()
        guard at < end else { return nil }
        switch p[at] {
        case UInt8(ascii: "\""):
            guard let s = stringBody() else { return nil }
            return s.escaped ? .escapedString : .plainString
        case UInt8(ascii: "{"):
            return container(close: UInt8(ascii: "}"), keyed: true, depth: depth) ? .object : nil
        case UInt8(ascii: "["):
            return container(close: UInt8(ascii: "]"), keyed: false, depth: depth) ? .array : nil
        case UInt8(ascii: "t"): return literal("true") ? .bool : nil
        case UInt8(ascii: "f"): return literal("false") ? .bool : nil
        case UInt8(ascii: "n"): return literal("null") ? .null : nil
        default: return number() ? .number : nil
        }
    }

    /// A nested object or array, checked and skipped.
    private mutating func container(close: UInt8, keyed: Bool, depth: Int) -> Bool {
        at &+= 1
        skipSpace()
        if at < end && p[at] == close { at &+= 1; return true }
        while true {
            if keyed {
                skipSpace()
                guard at < end, p[at] == UInt8(ascii: "\""), stringBody() != nil else { return false }
                skipSpace()
                guard at < end, p[at] == UInt8(ascii: ":") else { return false }
                at &+= 1
            }
            guard value(depth: depth &+ 1) != nil else { return false }
            skipSpace()
            guard at < end else { return false }
            if p[at] == UInt8(ascii: ",") { at &+= 1; continue }
            if p[at] == close { at &+= 1; return true }
            return false
        }
    }

    private mutating func literal(_ word: StaticString) -> Bool {
        let n = word.utf8CodeUnitCount
        guard at &+ n <= end, memcmp(p + at, word.utf8Start, n) == 0 else { return false }
        at &+= n
        return true
    }

    /// Skips a run of decimal digits, eight at a time where the text goes on that far; returns
    /// how many there were.
    @inline(__always)
    private mutating func digits() -> Int {
        let start = at
        let raw = UnsafeRawPointer(p)
        while at &+ 8 <= end {
            let w = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt64.self))
            // A digit has 3 in its high nibble, and so does the digit plus 6 (0x3A…0x3F do not).
            // A carry out of a byte comes only from one that is not a digit itself, so the
            // lowest byte flagged is the first that is not a digit.
            let notThirty = (w & 0xF0F0_F0F0_F0F0_F0F0) ^ 0x3030_3030_3030_3030
            let aboveNine = ((w &+ 0x0606_0606_0606_0606) & 0xF0F0_F0F0_F0F0_F0F0) ^ 0x3030_3030_3030_3030
            let flagged = notThirty | aboveNine
            if flagged != 0 {
                at &+= flagged.trailingZeroBitCount &>> 3
                return at &- start
            }
            at &+= 8
        }
        while at < end, p[at] &- UInt8(ascii: "0") < 10 { at &+= 1 }
        return at &- start
    }

    @inline(__always)
    private mutating func number() -> Bool {
        if p[at] == UInt8(ascii: "-") { at &+= 1 }
        let first = at
        let whole = digits()
        guard whole > 0, !(whole > 1 && p[first] == UInt8(ascii: "0")) else { return false }
        if at < end && p[at] == UInt8(ascii: ".") {
            at &+= 1
            guard digits() > 0 else { return false }
        }
        if at < end && (p[at] | 0x20) == UInt8(ascii: "e") {
            at &+= 1
            if at < end && (p[at] == UInt8(ascii: "+") || p[at] == UInt8(ascii: "-")) { at &+= 1 }
            guard digits() > 0 else { return false }
        }
        return true
    }

    /// A string starting at its opening quote: checks escapes, control characters and UTF-8,
    /// leaves `at` after the closing quote, and returns where its body lies.
    @inline(__always)
    private mutating func stringBody() -> (start: Int, end: Int, escaped: Bool)? {
        at &+= 1
        let start = at
        var escaped = false
        var ascii = true
        let raw = UnsafeRawPointer(p)
        while true {
            // Eight bytes at a time to the first that is a quote, a backslash, a control
            // character or part of a multi-byte UTF-8 sequence.
            while at &+ 8 <= end {
                let w = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt64.self))
                let mask = Self.attention(w)
                if mask != 0 {
                    at &+= mask.trailingZeroBitCount &>> 3
                    break
                }
                at &+= 8
            }
            guard at < end else { return nil }
            let c = p[at]
            if c == UInt8(ascii: "\"") {
                let bodyEnd = at
                at &+= 1
                if !ascii {
                    let body = UnsafeRawBufferPointer(start: raw + start, count: bodyEnd &- start)
                    guard String(validating: body, as: UTF8.self) != nil else { return nil }
                }
                return (start, bodyEnd, escaped)
            }
            if c == UInt8(ascii: "\\") {
                escaped = true
                guard at &+ 1 < end else { return nil }
                switch p[at &+ 1] {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"),
                     UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    at &+= 2
                case UInt8(ascii: "u"):
                    guard at &+ 6 <= end, hex4(at &+ 2) != nil else { return nil }
                    at &+= 6
                default:
                    return nil
                }
                continue
            }
            guard c >= 0x20 else { return nil }
            if c >= 0x80 { ascii = false }
            at &+= 1
        }
    }

    /// The high bit of each byte of `w` that is `"`, `\\`, below 0x20 or above 0x7F (exact up
    /// to the lowest such byte; bytes above it may be marked when they are not).
    @inline(__always)
    static func attention(_ w: UInt64) -> UInt64 {
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        func zeroBytes(_ x: UInt64) -> UInt64 { (x &- ones) & ~x & highs }
        let control = (w &- ones &* 0x20) & ~w & highs
        return control | zeroBytes(w ^ (ones &* 0x22)) | zeroBytes(w ^ (ones &* 0x5C)) | (w & highs)
    }

    private func hex4(_ offset: Int) -> UInt32? {
        var v: UInt32 = 0
        for i in offset..<(offset + 4) {
            let c = bytes[i]
            let d: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = c - UInt8(ascii: "A") + 10
            default: return nil
            }
            v = v << 4 | UInt32(d)
        }
        return v
    }

    /// The text of a string body that `stringBody` accepted, escapes decoded. A `\u` escape
    /// that is not a whole scalar (a lone surrogate) becomes U+FFFD.
    private func decodeString(from start: Int32, to end: Int32) -> String {
        var out: [UInt8] = []
        var i = Int(start)
        let end = Int(end)
        while i < end {
            let c = bytes[i]
            guard c == UInt8(ascii: "\\") else { out.append(c); i += 1; continue }
            let e = bytes[i + 1]
            i += 2
            switch e {
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = hex4(i)!
                i += 4
                if (0xD800..<0xDC00).contains(scalar), i + 6 <= end, bytes[i] == UInt8(ascii: "\\"),
                   bytes[i + 1] == UInt8(ascii: "u"), let low = hex4(i + 2), (0xDC00..<0xE000).contains(low) {
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    i += 6
                }
                out.append(contentsOf: String(Character(Unicode.Scalar(scalar) ?? "\u{FFFD}")).utf8)
            default: out.append(e)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// A key (or an enumeration's name) known when the program is built, with its first 16 bytes
/// held as two words so that comparing it with a member's key takes two compares, not a call.
struct JSONKey: Sendable {
    let name: StaticString
    let length: Int
    let words: (UInt64, UInt64)
    /// Its place in a `JSONKeySlots` (-1: none).
    let slot: Int

    init(_ name: StaticString, slot: Int = -1) {
        self.name = name
        self.slot = slot
        length = name.utf8CodeUnitCount
        words = JSONKey.words(UnsafeRawBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
    }

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: name.utf8Start, count: length) }

    /// The first 16 bytes of `raw` as two little-endian words, zero past its end.
    @inline(__always)
    static func words(_ raw: UnsafeRawBufferPointer) -> (UInt64, UInt64) {
        let n = raw.count
        if n >= 16 {
            return (UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self)),
                    UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
        }
        var w0: UInt64 = 0, w1: UInt64 = 0
        for i in 0..<n {
            if i < 8 { w0 |= UInt64(raw[i]) << (8 * i) } else { w1 |= UInt64(raw[i]) << (8 * (i - 8)) }
        }
        return (w0, w1)
    }
}

/// Where a key of a `JSONKeySlots` is filed.
struct KeySlot: Sendable {
    let index: Int
    init(_ index: Int) { self.index = index }
}

/// A set of keys of up to 16 bytes, each at its slot, found by hashing their words into a small
/// open-addressed table (a key is usually found, or not, at its first probe).
struct JSONKeySlots: Sendable {
    let keys: [JSONKey]
    private let table: Table

    /// Entries: the key's two words, its length and slot (-1: empty).
    final class Table: @unchecked Sendable {
        static let size = 64
        let words0: UnsafeMutablePointer<UInt64>
        let words1: UnsafeMutablePointer<UInt64>
        let lengths: UnsafeMutablePointer<Int32>
        let slots: UnsafeMutablePointer<Int32>

        init() {
            words0 = .allocate(capacity: Self.size); words0.initialize(repeating: 0, count: Self.size)
            words1 = .allocate(capacity: Self.size); words1.initialize(repeating: 0, count: Self.size)
            lengths = .allocate(capacity: Self.size); lengths.initialize(repeating: -1, count: Self.size)
            slots = .allocate(capacity: Self.size); slots.initialize(repeating: -1, count: Self.size)
        }

        deinit {
            words0.deallocate(); words1.deallocate(); lengths.deallocate(); slots.deallocate()
        }
    }

    init(_ keys: [JSONKey]) {
        precondition(keys.count <= Table.size / 2, "too many keys for the table")
        self.keys = keys
        table = Table()
        for (i, key) in keys.enumerated() {
            precondition(key.slot == i && key.length <= 16, "key \(key.name) is not at its slot")
            var h = Self.hash(key.words, key.length)
            while table.slots[h] >= 0 { h = (h &+ 1) & (Table.size &- 1) }
            table.words0[h] = key.words.0
            table.words1[h] = key.words.1
            table.lengths[h] = Int32(key.length)
            table.slots[h] = Int32(i)
        }
    }

    var count: Int { keys.count }

    @inline(__always)
    static func hash(_ words: (UInt64, UInt64), _ length: Int) -> Int {
        Int(truncatingIfNeeded: ((words.0 &+ words.1 &* 31 &+ UInt64(length)) &* 0x9E37_79B9_7F4A_7C15) &>> 58)
    }

    @inline(__always)
    func slot(of words: (UInt64, UInt64), length: Int) -> Int? {
        guard length <= 16 else { return nil }
        var h = Self.hash(words, length)
        while true {
            let slot = table.slots[h]
            if slot < 0 { return nil }
            if table.words0[h] == words.0 && table.words1[h] == words.1 && Int(table.lengths[h]) == length {
                return Int(slot)
            }
            h = (h &+ 1) & (Table.size &- 1)
        }
    }
}

extension JSONMembers.Member {
    var isString: Bool { kind == .plainString || kind == .escapedString }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
