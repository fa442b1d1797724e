import BGPWire

/// The information TLVs behind the common header of an Initiation or Termination message
/// (RFC 7854 §4.3–4.5): type, length and value, back to back. Walked here for the reader and for
/// `collect`, which names a router's archive after the Initiation's sysName.
public enum InformationTLVs {
    /// Calls `visit` with each TLV's type, length and a cursor over its value; a TLV longer than
    /// what is left of the message throws, naming the field.
    public static func forEach(
        in cursor: inout ByteCursor, _ visit: (_ type: UInt16, _ length: Int, inout ByteCursor) throws -> Void
    ) throws {
        while !cursor.isAtEnd {
            let type = try cursor.readUInt16("BMP TLV type")
            let length = Int(try cursor.readUInt16("BMP TLV length"))
            var value = try cursor.sub(length: length, "BMP TLV value")
            try visit(type, length, &value)
        }
    }

    /// The first non-empty sysName of a whole message (common header included), or nil when the
    /// message is not an Initiation, names no router, or breaks off before a sysName.
    public static func sysName(ofInitiation message: ArraySlice<UInt8>) -> String? {
        guard message.count >= bmpCommonHeaderLength, message[message.startIndex + 5] == BMPMessageType.initiation
        else {
            return nil
        }
        return message.withUnsafeBytes { raw in
            var cursor = ByteCursor(UnsafeRawBufferPointer(rebasing: raw[bmpCommonHeaderLength...]))
            var name: String?
            try? forEach(in: &cursor) { type, length, value in
                guard name == nil, type == BMPInformation.sysName, length > 0 else { return }
                name = String(decoding: try value.readBytes(length), as: UTF8.self)
            }
            return name
        }
    }
}
