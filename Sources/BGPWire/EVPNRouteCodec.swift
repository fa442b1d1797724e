import EVPNModel

/// EVPN NLRI (AFI 25 / SAFI 70): RFC 7432 types 1-4, RFC 9136 type 5; other types kept raw.
public enum EVPNRouteCodec {
    public static func decode(_ outer: inout ByteCursor) throws -> EVPNRoute {
        let type = try outer.readUInt8("EVPN route type")
        let length = Int(try outer.readUInt8("EVPN route length"))
        var c = try outer.sub(length: length, "EVPN route type \(type) body")
        let route: EVPNRoute
        switch type {
        case EVPNRouteType.ethernetAD:
            guard length == 25 else { throw lengthError(c, type, length, "25") }
            route = .ethernetAD(
                EthernetAutoDiscovery(
                    rd: try readRD(&c), esi: try readESI(&c),
                    ethernetTag: try c.readUInt32("Ethernet tag"), label: try c.readUInt24("MPLS label")))
        case EVPNRouteType.macIP:
            let rd = try readRD(&c), esi = try readESI(&c)
            let tag = try c.readUInt32("Ethernet tag")
            let macBits = try c.readUInt8("MAC length")
            guard macBits == 48 else { throw c.error("MAC/IP route MAC length", expected: "48, found \(macBits)") }
            let mac = MACAddress(try c.readUIntN(6, "MAC address"))
            let ipBits = try c.readUInt8("IP length")
            let ip: IPAddress?
            switch ipBits {
            case 0: ip = nil
            case 32: ip = try c.readIPv4()
            case 128: ip = try c.readIPv6()
            default: throw c.error("MAC/IP route IP length", expected: "0, 32 or 128, found \(ipBits)")
            }
            let label1 = try c.readUInt24("label1")
            let label2: UInt32? = c.remaining >= 3 ? try c.readUInt24("label2") : nil
            guard c.isAtEnd else { throw lengthError(c, type, length, "33, 36, 37, 40, 49 or 52") }
            route = .macIP(
                MACIPAdvertisement(rd: rd, esi: esi, ethernetTag: tag, mac: mac, ip: ip, label1: label1, label2: label2)
            )
        case EVPNRouteType.inclusiveMulticast:
            let rd = try readRD(&c)
            let tag = try c.readUInt32("Ethernet tag")
            route = .inclusiveMulticast(
                InclusiveMulticastRoute(rd: rd, ethernetTag: tag, originatingIP: try readLengthPrefixedIP(&c)))
            guard c.isAtEnd else { throw lengthError(c, type, length, "17 or 29") }
        case EVPNRouteType.ethernetSegment:
            let rd = try readRD(&c), esi = try readESI(&c)
            route = .ethernetSegment(
                EthernetSegmentRoute(rd: rd, esi: esi, originatingIP: try readLengthPrefixedIP(&c)))
            guard c.isAtEnd else { throw lengthError(c, type, length, "23 or 35") }
        case EVPNRouteType.ipPrefix:
            guard length == 34 || length == 58 else { throw lengthError(c, type, length, "34 or 58") }
            let rd = try readRD(&c), esi = try readESI(&c)
            let tag = try c.readUInt32("Ethernet tag")
            let bits = try c.readUInt8("IP prefix length")
            let v6 = length == 58
            guard Int(bits) <= (v6 ? 128 : 32) else {
                throw c.error("IP prefix route", expected: "prefix length ≤ \(v6 ? 128 : 32), found \(bits)")
            }
            let address = v6 ? try c.readIPv6() : try c.readIPv4()
            let gateway = v6 ? try c.readIPv6() : try c.readIPv4()
            route = .ipPrefix(
                IPPrefixRoute(
                    rd: rd, esi: esi, ethernetTag: tag, prefix: IPPrefix(address: address, length: bits),
                    gateway: gateway, label: try c.readUInt24("label")))
        default:
            route = .unknown(type: type, bytes: try c.readBytes(length))
        }
        return route
    }

    private static func lengthError(_ c: ByteCursor, _ type: UInt8, _ length: Int, _ allowed: String) -> DecodeError {
        c.error("EVPN route type \(type)", expected: "length \(allowed), found \(length)")
    }

    static func readRD(_ c: inout ByteCursor) throws -> RouteDistinguisher {
        RouteDistinguisher(type: try c.readUInt16("RD type"), value: try c.readUIntN(6, "RD value"))
    }

    static func readESI(_ c: inout ByteCursor) throws -> ESI {
        ESI(high: try c.readUInt16("ESI"), low: try c.readUInt64("ESI"))
    }

    static func readLengthPrefixedIP(_ c: inout ByteCursor) throws -> IPAddress {
        let bits = try c.readUInt8("originating IP length")
        switch bits {
        case 32: return try c.readIPv4()
        case 128: return try c.readIPv6()
        default: throw c.error("originating router IP length", expected: "32 or 128, found \(bits)")
        }
    }

    public static func encode(_ route: EVPNRoute, into w: inout ByteWriter) {
        var body = ByteWriter()
        func rd(_ value: RouteDistinguisher) { body.u16(value.type); body.u48(value.value) }
        func esi(_ value: ESI) { body.u16(value.high); body.u64(value.low) }
        func lengthIP(_ ip: IPAddress) { body.u8(UInt8(ip.bitLength)); body.ip(ip) }
        switch route {
        case .ethernetAD(let r):
            rd(r.rd); esi(r.esi); body.u32(r.ethernetTag); body.u24(r.label)
        case .macIP(let r):
            rd(r.rd); esi(r.esi); body.u32(r.ethernetTag)
            body.u8(48); body.u48(r.mac.value)
            if let ip = r.ip { lengthIP(ip) } else { body.u8(0) }
            body.u24(r.label1)
            if let label2 = r.label2 { body.u24(label2) }
        case .inclusiveMulticast(let r):
            rd(r.rd); body.u32(r.ethernetTag); lengthIP(r.originatingIP)
        case .ethernetSegment(let r):
            rd(r.rd); esi(r.esi); lengthIP(r.originatingIP)
        case .ipPrefix(let r):
            rd(r.rd); esi(r.esi); body.u32(r.ethernetTag); body.u8(r.prefix.length)
            body.ip(r.prefix.address); body.ip(r.gateway); body.u24(r.label)
        case .unknown(_, let bytes):
            body.append(bytes)
        }
        w.u8(route.routeType)
        w.u8(UInt8(body.bytes.count))
        w.append(body.bytes)
    }
}
