// Little-endian field access for the on-disk layouts. Every persisted integer goes through these
// two helpers, so the byte order is decided in one place.

public extension UnsafeRawPointer {
    @inlinable
    func loadLE<T: FixedWidthInteger>(_ offset: Int, as: T.Type = T.self) -> T {
        T(littleEndian: loadUnaligned(fromByteOffset: offset, as: T.self))
    }
}

public extension UnsafeMutableRawPointer {
    @inlinable
    func storeLE<T: FixedWidthInteger>(_ value: T, _ offset: Int) {
        storeBytes(of: value.littleEndian, toByteOffset: offset, as: T.self)
    }
}
