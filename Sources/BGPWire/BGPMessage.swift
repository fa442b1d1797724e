import EVPNModel

/// A framed BGP message (RFC 4271 §4.1) with the parts the readers need.
public enum BGPMessage {
    case open(OpenMessage)
    case update(UpdateMessage)
    case notification(code: UInt8, subcode: UInt8, data: [UInt8])
    case keepalive
    case routeRefresh(AddressFamily)
    case unknown(type: UInt8)

    public static let headerLength = 19
    /// RFC 8654 extended messages raise the limit from 4096.
    public static let maximumLength = 65535

    public static func decode(_ cursor: inout ByteCursor, options: DecodeOptions) throws -> BGPMessage {
        var (type, body) = try header(&cursor)
        return try decodeBody(type: type, &body, options: options)
    }

    /// Decodes an UPDATE into `update` (empty on entry) and returns true, not wrapping it in a
    /// `BGPMessage`: route feeds hold millions, and each wrap, unwrap and return copied the whole
    /// UPDATE. Any other message is decoded (and checked) as `decode` does, and gives false.
    public static func decodeUpdate(
        _ cursor: inout ByteCursor, options: DecodeOptions, into update: inout UpdateMessage
    ) throws -> Bool {
        var (type, body) = try header(&cursor)
        if type == BGPMessageType.update {
            try UpdateDecoder.decode(&body, options: options, into: &update)
            return true
        }
        _ = try decodeBody(type: type, &body, options: options)
        return false
    }

    private static func header(_ cursor: inout ByteCursor) throws -> (type: UInt8, body: ByteCursor) {
        let start = cursor.absoluteOffset
        let marker1 = try cursor.readUInt64("BGP marker"), marker2 = try cursor.readUInt64("BGP marker")
        guard marker1 == UInt64.max, marker2 == UInt64.max else {
            throw DecodeError(context: "BGP message header", expected: "16-byte all-ones marker", offset: start)
        }
        let length = Int(try cursor.readUInt16("BGP message length"))
        let type = try cursor.readUInt8("BGP message type")
        guard length >= headerLength else {
            throw DecodeError(
                context: "BGP message header", expected: "length ≥ 19, found \(length)", offset: start + 16)
        }
        return (type, try cursor.sub(length: length - headerLength, "BGP message body (length \(length))"))
    }

    private static func decodeBody(type: UInt8, _ body: inout ByteCursor, options: DecodeOptions) throws -> BGPMessage {
        switch type {
        case BGPMessageType.open: return .open(try OpenMessage.decode(&body))
        case BGPMessageType.update: return .update(try UpdateDecoder.decode(&body, options: options))
        case BGPMessageType.notification:
            return .notification(
                code: try body.readUInt8("NOTIFICATION code"), subcode: try body.readUInt8("NOTIFICATION subcode"),
                data: try body.readBytes(body.remaining))
        case BGPMessageType.keepalive: return .keepalive
        case BGPMessageType.routeRefresh:
            let afi = try body.readUInt16("ROUTE-REFRESH AFI")
            try body.skip(1)
            return .routeRefresh(AddressFamily(afi: afi, safi: try body.readUInt8("ROUTE-REFRESH SAFI")))
        default: return .unknown(type: type)
        }
    }
}

/// OPEN with the capabilities that change how UPDATEs are read (RFC 5492).
public struct OpenMessage: Hashable, Sendable {
    public var version: UInt8
    public var myAS: UInt32  // the 4-byte AS capability's value when present
    public var holdTime: UInt16
    public var bgpID: IPAddress
    public var multiprotocol: [AddressFamily] = []
    public var fourByteAS: Bool = false
    /// Add-path capability: family → 1 receive, 2 send, 3 both (RFC 7911).
    public var addPath: [AddressFamily: UInt8] = [:]
    public var gracefulRestart: Bool = false
    public var routeRefresh: Bool = false
    public var extendedMessage: Bool = false

    public init(version: UInt8 = 4, myAS: UInt32, holdTime: UInt16 = 90, bgpID: IPAddress) {
        self.version = version; self.myAS = myAS; self.holdTime = holdTime; self.bgpID = bgpID
    }

    public static func decode(_ c: inout ByteCursor) throws -> OpenMessage {
        let version = try c.readUInt8("OPEN version")
        let as2 = try c.readUInt16("OPEN my AS")
        var open = OpenMessage(
            version: version, myAS: UInt32(as2), holdTime: try c.readUInt16("OPEN hold time"),
            bgpID: try c.readIPv4("OPEN BGP identifier"))
        var paramsLength = Int(try c.readUInt8("OPEN optional parameters length"))
        var extended = false
        if paramsLength == 255, c.remaining >= 3, c.bytes[c.position] == 255 {  // RFC 9072
            try c.skip(1)
            paramsLength = Int(try c.readUInt16("OPEN extended parameters length"))
            extended = true
        }
        var params = try c.sub(length: paramsLength, "OPEN optional parameters")
        while !params.isAtEnd {
            let type = try params.readUInt8("OPEN parameter type")
            let length =
                extended
                ? Int(try params.readUInt16("OPEN parameter length"))
                : Int(try params.readUInt8("OPEN parameter length"))
            var value = try params.sub(length: length, "OPEN parameter value")
            guard type == 2 else { continue }
            while !value.isAtEnd {
                let code = try value.readUInt8("capability code")
                let capLength = Int(try value.readUInt8("capability length"))
                var cap = try value.sub(length: capLength, "capability \(code) value")
                switch code {
                case 1 where capLength == 4:
                    let afi = try cap.readUInt16(); try cap.skip(1)
                    open.multiprotocol.append(AddressFamily(afi: afi, safi: try cap.readUInt8()))
                case 2: open.routeRefresh = true
                case 6: open.extendedMessage = true
                case 64: open.gracefulRestart = true
                case 65 where capLength == 4:
                    open.fourByteAS = true
                    open.myAS = try cap.readUInt32()
                case 69:
                    while cap.remaining >= 4 {
                        let family = AddressFamily(afi: try cap.readUInt16(), safi: try cap.readUInt8())
                        open.addPath[family] = try cap.readUInt8()
                    }
                default: break
                }
            }
        }
        return open
    }

    public func encode() -> [UInt8] {
        var caps = ByteWriter()
        for family in multiprotocol { caps.u8(1); caps.u8(4); caps.u16(family.afi); caps.u8(0); caps.u8(family.safi) }
        if routeRefresh { caps.u8(2); caps.u8(0) }
        if fourByteAS { caps.u8(65); caps.u8(4); caps.u32(myAS) }
        if !addPath.isEmpty {
            let sorted = addPath.sorted { ($0.key.afi, $0.key.safi) < ($1.key.afi, $1.key.safi) }
            caps.u8(69); caps.u8(UInt8(sorted.count * 4))
            for (family, mode) in sorted { caps.u16(family.afi); caps.u8(family.safi); caps.u8(mode) }
        }
        var body = ByteWriter()
        body.u8(version)
        body.u16(myAS > 0xFFFF ? 23456 : UInt16(myAS))
        body.u16(holdTime)
        body.ip(bgpID)
        if caps.bytes.isEmpty {
            body.u8(0)
        } else {
            body.u8(UInt8(caps.bytes.count + 2)); body.u8(2); body.u8(UInt8(caps.bytes.count)); body.append(caps.bytes)
        }
        return BGPEncoder.frame(type: BGPMessageType.open, body: body.bytes)
    }

    /// RFC 7911 §4: paths carry identifiers when the sender may send and the receiver may receive.
    public static func addPathFamilies(sender: OpenMessage, receiver: OpenMessage) -> AddPathFamilies {
        var families = AddPathFamilies()
        for (family, mode) in sender.addPath where mode & 2 != 0 {
            if let other = receiver.addPath[family], other & 1 != 0 { families.insert(family) }
        }
        return families
    }
}
