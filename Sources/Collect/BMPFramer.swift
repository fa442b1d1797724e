import BGPWire
import BMP

/// What ended a session's stream: bytes that are not a BMP message, at a byte offset of that
/// session's stream.
public struct FramingError: Error, CustomStringConvertible {
    public var offset: Int64
    public var message: String
    public var description: String { "byte \(offset): \(message)" }
}

/// Cuts one session's byte stream into BMP messages (RFC 7854 §4.1: version 3, then a length
/// that counts the whole message). A stream that stops being BMP cannot be resynchronised (no
/// marker to search for), so the first bad header ends it.
public struct BMPFramer {
    private var buffer: [UInt8] = []
    private var start = 0
    /// Bytes of the stream before `buffer[start]`.
    public private(set) var offset: Int64 = 0

    public init() {}

    /// Bytes received but not yet part of a whole message.
    public var pendingBytes: Int { buffer.count - start }

    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        if start > 0 && start == buffer.count {
            buffer.removeAll(keepingCapacity: true); start = 0
        } else if start > 1 << 16 && start * 2 > buffer.count {
            buffer.removeFirst(start); start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// The next whole message, or nil until more bytes arrive.
    public mutating func next() throws(FramingError) -> ArraySlice<UInt8>? {
        guard buffer.count - start >= bmpCommonHeaderLength else { return nil }
        let version = buffer[start]
        guard version == bmpVersion else {
            throw FramingError(offset: offset, message: "BMP version \(version): expected 3 (RFC 7854)")
        }
        let length =
            Int(buffer[start + 1]) << 24 | Int(buffer[start + 2]) << 16 | Int(buffer[start + 3]) << 8
            | Int(buffer[start + 4])
        guard length >= bmpCommonHeaderLength, length <= BMPReader.maximumMessageLength else {
            throw FramingError(
                offset: offset,
                message: "BMP message length \(length): expected \(bmpCommonHeaderLength) to "
                    + "\(BMPReader.maximumMessageLength)"
            )
        }
        let type = buffer[start + 5]
        guard type <= BMPMessageType.routeMirroring else {
            throw FramingError(offset: offset, message: "BMP message type \(type): expected 0 to 6 (RFC 7854)")
        }
        guard buffer.count - start >= length else { return nil }
        defer { start += length; offset += Int64(length) }
        return buffer[start..<start + length]
    }
}
