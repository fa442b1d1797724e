import BGPWire
import ByteStreams
import EVPNModel

/// OpenBMP's binary header (version 1.7), which wraps each raw BMP message in its
/// `openbmp.bmp_raw` Kafka topic: magic "OBMP", major and minor version, the header's own length,
/// the BMP message's length, flags, object type (12: raw BMP), the collector's timestamp, hash
/// and admin id, then the router's hash, IP address and group, and a row count. Records dumped
/// from the topic lie back to back, routers interleaved.
struct OpenBMPHeader {
    static let magic: [UInt8] = Array("OBMP".utf8)
    static let rawBMP: UInt8 = 12
    /// Up to the length fields: enough to know the record's size.
    static let prefixLength = 12
    /// Every fixed field, with empty admin id and group.
    static let minimumLength = 78

    var headerLength: Int
    var messageLength: Int
    var objectType: UInt8 = 0
    var collectorTime: Int64 = 0
    var routerHash: [UInt8] = []
    var routerIP = IPAddress(v4: 0)

    /// The version and both lengths, from the first `prefixLength` bytes.
    init(prefix c: inout ByteCursor) throws {
        let magic = try c.readBytes(4, "OpenBMP magic")
        guard magic == OpenBMPHeader.magic else {
            throw DecodeError(context: "OpenBMP record", expected: "the magic \"OBMP\"", offset: c.absoluteOffset - 4)
        }
        let major = try c.readUInt8("OpenBMP major version")
        _ = try c.readUInt8("OpenBMP minor version")
        guard major == 1 else {
            throw DecodeError(
                context: "OpenBMP version \(major)", expected: "version 1 (1.7)", offset: c.absoluteOffset - 2)
        }
        headerLength = Int(try c.readUInt16("OpenBMP header length"))
        messageLength = Int(try c.readUInt32("OpenBMP message length"))
        guard headerLength >= OpenBMPHeader.minimumLength else {
            throw DecodeError(
                context: "OpenBMP header length \(headerLength)", expected: "at least \(OpenBMPHeader.minimumLength)",
                offset: c.absoluteOffset - 6)
        }
    }

    /// The rest of the header, from the flags on; `c` spans the whole header.
    mutating func readFields(_ c: inout ByteCursor) throws {
        let flags = try c.readUInt8("OpenBMP flags")
        objectType = try c.readUInt8("OpenBMP object type")
        let seconds = try c.readUInt32("OpenBMP collector seconds")
        let micros = try c.readUInt32("OpenBMP collector microseconds")
        collectorTime = Int64(seconds) * 1_000_000 + Int64(micros)
        try c.skip(16, "OpenBMP collector hash")
        let admin = Int(try c.readUInt16("OpenBMP admin id length"))
        try c.skip(admin, "OpenBMP admin id")
        routerHash = try c.readBytes(16, "OpenBMP router hash")
        // Flag 0x40: the router's address is IPv6; an IPv4 one sits in the first 4 bytes.
        if flags & 0x40 != 0 {
            routerIP = try c.readIPv6("OpenBMP router IP")
        } else {
            routerIP = try c.readIPv4("OpenBMP router IP")
            try c.skip(12, "OpenBMP router IP")
        }
        let group = Int(try c.readUInt16("OpenBMP router group length"))
        try c.skip(group, "OpenBMP router group")
        _ = try c.readUInt32("OpenBMP row count")
    }
}
