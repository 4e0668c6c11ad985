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

    /// Reads a value at `offset` (moving it past the value) no further than `end`; nil when it
    /// runs past `end`, or overflows 64 bits (a tenth byte may only hold the top bit). The one
    /// reader of record framing and of record fields: values of up to three bytes (lengths,
    /// time deltas within a block, millisecond deltas in nanoseconds, small ids, most amounts)
    /// inline, longer ones in `readLong`.
    @inlinable @inline(__always)
    public static func read(_ base: UnsafeRawPointer, at offset: inout Int, end: Int) -> UInt64? {
        if offset < end {
            let b0 = base.load(fromByteOffset: offset, as: UInt8.self)
            if b0 < 0x80 {
                offset += 1
                return UInt64(b0)
            }
            if offset + 1 < end {
                let b1 = base.load(fromByteOffset: offset + 1, as: UInt8.self)
                if b1 < 0x80 {
                    offset += 2
                    return UInt64(b0 & 0x7f) | UInt64(b1) << 7
                }
                if offset + 2 < end {
                    let b2 = base.load(fromByteOffset: offset + 2, as: UInt8.self)
                    if b2 < 0x80 {
                        offset += 3
                        return UInt64(b0 & 0x7f) | UInt64(b1 & 0x7f) << 7 | UInt64(b2) << 14
                    }
                }
            }
        }
        return readLong(base, at: &offset, end: end)
    }

    /// Up to eight bytes (prices, ids, nanosecond deltas) from one word, of eight bytes or of
    /// the four left at a record's end; longer, or fewer bytes left, a loop, with a masking
    /// shift that the check on the tenth byte keeps below 64.
    @inlinable @inline(never)
    public static func readLong(_ base: UnsafeRawPointer, at offset: inout Int, end: Int) -> UInt64? {
        guard offset < end else { return nil }
        var word: UInt64 = 0
        var stops: UInt64 = 0  // the high bits of the bytes read
        if offset + 8 <= end {
            word = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
            stops = 0x8080_8080_8080_8080
        } else if offset + 4 <= end {
            word = UInt64(UInt32(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
            stops = 0x8080_8080
        }
        if stops != 0 {
            // A clear high bit ends the varint: the lowest such byte is its last.
            let ends = ~word & stops
            if ends != 0 {
                let length = (ends.trailingZeroBitCount + 1) >> 3
                var x = length == 8 ? word : word & ((1 << (UInt64(length) << 3)) - 1)
                // Pack the 7-bit groups: pairs into 14 bits, then 28, then 56.
                x = (x & 0x7F00_7F00_7F00_7F00) >> 1 | (x & 0x007F_007F_007F_007F)
                x = (x & 0x3FFF_0000_3FFF_0000) >> 2 | (x & 0x0000_3FFF_0000_3FFF)
                x = (x & 0x0FFF_FFFF_0000_0000) >> 4 | (x & 0x0000_0000_0FFF_FFFF)
                offset += length
                return x
            }
        }
        var result: UInt64 = 0
        var shift: UInt64 = 0
        var i = offset
        while i < end {
            let byte = base.load(fromByteOffset: i, as: UInt8.self)
            i += 1
            // At shift 63 only the lowest bit fits, and nothing may follow.
            guard shift < 63 || byte <= 1 else { return nil }
            result |= UInt64(byte & 0x7f) &<< shift
            if byte < 0x80 {
                offset = i
                return result
            }
            shift &+= 7
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
