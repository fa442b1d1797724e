import EVPNModel

/// What a decoder expected and where it did not find it. `offset` is relative to the start of
/// the buffer the cursor was made for; readers add the record's file offset.
public struct DecodeError: Error, Equatable, CustomStringConvertible, Sendable {
    public var context: String
    public var expected: String
    public var offset: Int
    public init(context: String, expected: String, offset: Int) {
        self.context = context; self.expected = expected; self.offset = offset
    }
    public var description: String { "\(context) at byte \(offset): expected \(expected)" }
}

/// A bounds-checked reader over raw bytes. A failed read throws and leaves the position where
/// it was, so callers can report the offset of the field that did not fit.
public struct ByteCursor {
    public let bytes: UnsafeRawBufferPointer
    public private(set) var position: Int
    public let end: Int
    /// Offset of `bytes[0]` in the caller's frame of reference (for error messages).
    public let baseOffset: Int

    public init(_ bytes: UnsafeRawBufferPointer, baseOffset: Int = 0) {
        self.bytes = bytes; self.position = 0; self.end = bytes.count; self.baseOffset = baseOffset
    }

    private init(bytes: UnsafeRawBufferPointer, position: Int, end: Int, baseOffset: Int) {
        self.bytes = bytes; self.position = position; self.end = end; self.baseOffset = baseOffset
    }

    public var remaining: Int { end - position }
    public var isAtEnd: Bool { position >= end }
    public var absoluteOffset: Int { baseOffset + position }

    @inline(__always)
    private func need(_ count: Int, _ context: @autoclosure () -> String) throws {
        if count < 0 || count > end - position {
            throw DecodeError(
                context: context(), expected: "\(count) more bytes, found \(end - position)",
                offset: baseOffset + position)
        }
    }

    @inline(__always)
    public mutating func readUInt8(_ context: @autoclosure () -> String = "field") throws -> UInt8 {
        try need(1, context())
        defer { position += 1 }
        return bytes[position]
    }

    @inline(__always)
    public mutating func readUInt16(_ context: @autoclosure () -> String = "field") throws -> UInt16 {
        try need(2, context())
        defer { position += 2 }
        return UInt16(bytes[position]) << 8 | UInt16(bytes[position + 1])
    }

    @inline(__always)
    public mutating func readUInt24(_ context: @autoclosure () -> String = "field") throws -> UInt32 {
        try need(3, context())
        defer { position += 3 }
        return UInt32(bytes[position]) << 16 | UInt32(bytes[position + 1]) << 8 | UInt32(bytes[position + 2])
    }

    @inline(__always)
    public mutating func readUInt32(_ context: @autoclosure () -> String = "field") throws -> UInt32 {
        try need(4, context())
        defer { position += 4 }
        return UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: position, as: UInt32.self))
    }

    @inline(__always)
    public mutating func readUInt64(_ context: @autoclosure () -> String = "field") throws -> UInt64 {
        try need(8, context())
        defer { position += 8 }
        return UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: position, as: UInt64.self))
    }

    /// Reads `count` bytes (≤ 8) as a big-endian integer.
    public mutating func readUIntN(_ count: Int, _ context: @autoclosure () -> String = "field") throws -> UInt64 {
        try need(count, context())
        var value: UInt64 = 0
        for i in 0..<count { value = value << 8 | UInt64(bytes[position + i]) }
        position += count
        return value
    }

    public mutating func readBytes(_ count: Int, _ context: @autoclosure () -> String = "field") throws -> [UInt8] {
        try need(count, context())
        defer { position += count }
        return Array(UnsafeRawBufferPointer(rebasing: bytes[position..<position + count]))
    }

    public mutating func skip(_ count: Int, _ context: @autoclosure () -> String = "field") throws {
        try need(count, context())
        position += count
    }

    /// A child cursor over the next `length` bytes; this cursor moves past them.
    public mutating func sub(length: Int, _ context: @autoclosure () -> String = "field") throws -> ByteCursor {
        try need(length, context())
        let child = ByteCursor(bytes: bytes, position: position, end: position + length, baseOffset: baseOffset)
        position += length
        return child
    }

    public mutating func readIPv4(_ context: @autoclosure () -> String = "IPv4 address") throws -> IPAddress {
        IPAddress(v4: try readUInt32(context()))
    }

    public mutating func readIPv6(_ context: @autoclosure () -> String = "IPv6 address") throws -> IPAddress {
        let high = try readUInt64(context())
        let low = try readUInt64(context())
        return IPAddress(v6High: high, v6Low: low)
    }

    public func error(_ context: String, expected: String) -> DecodeError {
        DecodeError(context: context, expected: expected, offset: baseOffset + position)
    }
}

/// Appends big-endian integers; the encoder's counterpart of `ByteCursor`.
public struct ByteWriter {
    public var bytes: [UInt8] = []
    public init() {}
    public mutating func u8(_ v: UInt8) { bytes.append(v) }
    public mutating func u16(_ v: UInt16) { bytes.append(UInt8(v >> 8)); bytes.append(UInt8(v & 0xFF)) }
    public mutating func u24(_ v: UInt32) { bytes.append(UInt8((v >> 16) & 0xFF)); u16(UInt16(v & 0xFFFF)) }
    public mutating func u32(_ v: UInt32) { u16(UInt16(v >> 16)); u16(UInt16(v & 0xFFFF)) }
    public mutating func u48(_ v: UInt64) { u16(UInt16((v >> 32) & 0xFFFF)); u32(UInt32(truncatingIfNeeded: v)) }
    public mutating func u64(_ v: UInt64) { u32(UInt32(v >> 32)); u32(UInt32(truncatingIfNeeded: v)) }
    public mutating func append(_ other: [UInt8]) { bytes.append(contentsOf: other) }
    public mutating func ip(_ address: IPAddress) {
        if address.isIPv6 { u64(address.high); u64(address.low) } else { u32(address.v4) }
    }
    /// Writes a 16-bit length placeholder, runs `body`, then patches the length.
    public mutating func lengthPrefixed16(_ body: (inout ByteWriter) -> Void) {
        let at = bytes.count
        u16(0)
        body(&self)
        let length = bytes.count - at - 2
        bytes[at] = UInt8(length >> 8); bytes[at + 1] = UInt8(length & 0xFF)
    }
}
