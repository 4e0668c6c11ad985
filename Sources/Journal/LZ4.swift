import CLZ4

/// LZ4 block compression (the plain block format of liblz4, no frame).
enum LZ4 {
    /// The largest compressed size of `rawCount` bytes.
    static func compressBound(_ rawCount: Int) -> Int {
        Int(LZ4_compressBound(Int32(rawCount)))
    }

    /// Compresses `source` into `destination`; returns the compressed size, or nil when the
    /// result would not fit (the caller then stores the block raw).
    static func compress(
        _ source: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer
    ) -> Int? {
        guard source.count > 0 else { return nil }
        let n = LZ4_compress_default(
            source.baseAddress!.assumingMemoryBound(to: CChar.self),
            destination.baseAddress!.assumingMemoryBound(to: CChar.self),
            Int32(source.count), Int32(destination.count))
        return n > 0 ? Int(n) : nil
    }

    /// Decompresses `source`, which must expand to exactly `destination.count` bytes; false when
    /// it is malformed or expands to another size.
    static func decompress(
        _ source: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer
    ) -> Bool {
        guard source.count > 0, destination.count > 0 else { return false }
        let n = LZ4_decompress_safe(
            source.baseAddress!.assumingMemoryBound(to: CChar.self),
            destination.baseAddress!.assumingMemoryBound(to: CChar.self),
            Int32(source.count), Int32(destination.count))
        return n == Int32(destination.count)
    }
}
