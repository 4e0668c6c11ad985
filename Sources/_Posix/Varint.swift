/// LEB128 variable-length unsigned integers and zigzag signed mapping, as used in record framing.
public enum Varint {
    /// Bytes that `value` takes as LEB128 (1...10).
    @inlinable
    public static func size(_ value: UInt64) -> Int {
        // Each byte carries 7 bits; a zero still takes one byte.
        let bits = 64 - (value | 1).leadingZeroBitCount
        return (bits + 6) / 7
    }

    /// Writes `value` at `offset` and returns the offset after it. The caller guarantees room.
    @inlinable
    public static func write(_ value: UInt64, to base: UnsafeMutableRawPointer, at offset: Int) -> Int {
        var v = value
        var i = offset
        while v >= 0x80 {
            base.storeBytes(of: UInt8(truncatingIfNeeded: v) | 0x80, toByteOffset: i, as: UInt8.self)
            v >>= 7
            i += 1
        }
        base.storeBytes(of: UInt8(v), toByteOffset: i, as: UInt8.self)
        return i + 1
    }

    /// Reads a value at `offset` no further than `end`; nil when it runs past `end` or is longer
    /// than 10 bytes or overflows 64 bits.
    @inlinable
    public static func read(
        from base: UnsafeRawPointer, at offset: inout Int, end: Int
    ) -> UInt64? {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        var i = offset
        while i < end {
            let byte = base.load(fromByteOffset: i, as: UInt8.self)
            i += 1
            if shift == 63 && byte > 1 { return nil }
            result |= UInt64(byte & 0x7f) << shift
            if byte < 0x80 {
                offset = i
                return result
            }
            shift += 7
            if shift > 63 { return nil }
        }
        return nil
    }

    @inlinable
    public static func zigzag(_ value: Int64) -> UInt64 {
        UInt64(bitPattern: (value << 1) ^ (value >> 63))
    }

    @inlinable
    public static func unzigzag(_ value: UInt64) -> Int64 {
        Int64(bitPattern: value >> 1) ^ -Int64(bitPattern: value & 1)
    }
}
