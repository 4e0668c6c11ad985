/// A decimal exactly as written at the edge (JSON), before the engine puts it into a symbol's or
/// an asset's units: `mantissa × 10^-scale`. `"30000.10"` is (3000010, 2).
public struct ExactDecimal: Equatable, Hashable, Sendable, CustomStringConvertible {
    public var mantissa: Int64
    /// Stored in a byte (0...18), so that an optional decimal takes 16 bytes, not 24: commands
    /// carry three of them and cross from core to core on every submission.
    @usableFromInline var storedScale: UInt8

    public var scale: Int {
        get { Int(storedScale) }
        set {
            precondition((0...18).contains(newValue), "scale \(newValue) outside 0...18")
            storedScale = UInt8(newValue)
        }
    }

    @inlinable
    public init(mantissa: Int64, scale: Int) {
        precondition((0...18).contains(scale), "scale \(scale) outside 0...18")
        self.mantissa = mantissa
        self.storedScale = UInt8(scale)
    }

    /// Parses the INTERCHANGE grammar `-?[0-9]+(\.[0-9]+)?`; nil for anything else, for more than
    /// 18 decimals, or for a value that does not fit in 64 bits at its scale.
    public init?(parsing text: String) {
        var text = text
        guard let value = text.withUTF8({ ExactDecimal(parsing: UnsafeRawBufferPointer($0)) }) else { return nil }
        self = value
    }

    /// The same grammar, read from UTF-8 bytes.
    public init?(parsing bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return nil }
        let text = base.assumingMemoryBound(to: UInt8.self)
        var i = 0
        let negative = text[0] == UInt8(ascii: "-")
        if negative { i = 1 }
        // Up to 18 digits cannot overflow 64 bits: they are summed unchecked, and a longer
        // number is checked at every digit.
        var magnitude: UInt64 = 0
        var digits = 0
        var point = -1
        while i < bytes.count {
            let byte = text[i]
            i &+= 1
            if byte == UInt8(ascii: ".") {
                guard point < 0, digits > 0 else { return nil }
                point = digits
                continue
            }
            let d = byte &- UInt8(ascii: "0")
            guard d < 10 else { return nil }
            if digits < 18 {
                magnitude = magnitude &* 10 &+ UInt64(d)
            } else {
                let (times, o1) = magnitude.multipliedReportingOverflow(by: 10)
                let (plus, o2) = times.addingReportingOverflow(UInt64(d))
                guard !o1, !o2 else { return nil }
                magnitude = plus
            }
            digits &+= 1
        }
        let scale = point < 0 ? 0 : digits - point
        guard digits > 0, point != digits, scale <= 18, magnitude <= UInt64(Int64.max) else { return nil }
        let mantissa = Int64(magnitude)
        self.init(mantissa: negative ? -mantissa : mantissa, scale: scale)
    }

    /// The value as an integer count of `10^-target` units; nil when it is finer than that
    /// (a digit would be lost) or does not fit in 64 bits.
    @inline(__always)
    public func units(atScale target: Int) -> Int64? {
        if target == scale { return mantissa }  // as written, nearly always
        return rescaled(to: target)
    }

    private func rescaled(to target: Int) -> Int64? {
        if target >= scale {
            var value = mantissa
            for _ in 0..<(target - scale) {
                let (next, overflow) = value.multipliedReportingOverflow(by: 10)
                if overflow { return nil }
                value = next
            }
            return value
        }
        var value = mantissa
        for _ in 0..<(scale - target) {
            guard value % 10 == 0 else { return nil }
            value /= 10
        }
        return value
    }

    /// The number of decimals without trailing zeros ("0.010" has 2).
    public var significantDecimals: Int {
        var value = mantissa
        var decimals = scale
        while decimals > 0 && value % 10 == 0 {
            value /= 10
            decimals -= 1
        }
        return decimals
    }

    public var description: String { Self.format(units: mantissa, scale: scale) }

    /// Renders `units × 10^-scale` with exactly `scale` decimals ("0.50000").
    public static func format(units: Int64, scale: Int) -> String {
        let negative = units < 0
        let magnitude = units.magnitude
        var digits = String(magnitude)
        if scale > 0 {
            if digits.count <= scale {
                digits = String(repeating: "0", count: scale - digits.count + 1) + digits
            }
            digits.insert(".", at: digits.index(digits.endIndex, offsetBy: -scale))
        }
        return negative ? "-" + digits : digits
    }
}
