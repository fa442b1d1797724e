import BGPWire
import EVPNModel

/// Writes BMP messages (RFC 7854, RFC 9069) for the generator and the tests.
public enum BMPEncoder {
    public struct PeerHeader {
        public var type: UInt8  // 0 global, 3 Loc-RIB
        public var flags: UInt8  // BMPPeerFlag
        public var distinguisher: UInt64 = 0
        public var address: IPAddress
        public var asn: UInt32
        public var bgpID: IPAddress
        public var time: Int64
        public init(type: UInt8 = 0, flags: UInt8 = 0, address: IPAddress, asn: UInt32, bgpID: IPAddress, time: Int64) {
            self.type = type; self.flags = flags; self.address = address; self.asn = asn; self.bgpID = bgpID;
            self.time = time
        }
    }

    static func message(type: UInt8, body: [UInt8]) -> [UInt8] {
        var w = ByteWriter()
        w.u8(bmpVersion); w.u32(UInt32(body.count + bmpCommonHeaderLength)); w.u8(type)
        w.append(body)
        return w.bytes
    }

    static func write(_ header: PeerHeader, into w: inout ByteWriter) {
        w.u8(header.type); w.u8(header.flags | (header.address.isIPv6 ? BMPPeerFlag.ipv6 : 0));
        w.u64(header.distinguisher)
        if header.address.isIPv6 { w.ip(header.address) } else { w.u64(0); w.u32(0); w.ip(header.address) }
        w.u32(header.asn); w.ip(header.bgpID)
        w.u32(UInt32(header.time / 1_000_000)); w.u32(UInt32(header.time % 1_000_000))
    }

    public static func routeMonitoring(_ header: PeerHeader, update: [UInt8]) -> [UInt8] {
        var w = ByteWriter()
        write(header, into: &w)
        w.append(update)
        return message(type: BMPMessageType.routeMonitoring, body: w.bytes)
    }

    public static func statistics(_ header: PeerHeader, counters: [(UInt16, UInt32)]) -> [UInt8] {
        var w = ByteWriter()
        write(header, into: &w)
        w.u32(UInt32(counters.count))
        for (type, value) in counters { w.u16(type); w.u16(4); w.u32(value) }
        return message(type: BMPMessageType.statisticsReport, body: w.bytes)
    }

    public static func peerDown(_ header: PeerHeader, reason: UInt8, data: [UInt8] = []) -> [UInt8] {
        var w = ByteWriter()
        write(header, into: &w)
        w.u8(reason); w.append(data)
        return message(type: BMPMessageType.peerDown, body: w.bytes)
    }

    public static func peerUp(
        _ header: PeerHeader, localAddress: IPAddress, sentOpen: OpenMessage, receivedOpen: OpenMessage
    ) -> [UInt8] {
        var w = ByteWriter()
        write(header, into: &w)
        if localAddress.isIPv6 { w.ip(localAddress) } else { w.u64(0); w.u32(0); w.ip(localAddress) }
        w.u16(179); w.u16(40000)
        w.append(sentOpen.encode()); w.append(receivedOpen.encode())
        return message(type: BMPMessageType.peerUp, body: w.bytes)
    }

    public static func initiation(sysName: String, sysDescr: String) -> [UInt8] {
        var w = ByteWriter()
        for (type, text) in [(BMPInformation.sysName, sysName), (BMPInformation.sysDescr, sysDescr)] {
            let bytes = Array(text.utf8)
            w.u16(type); w.u16(UInt16(bytes.count)); w.append(bytes)
        }
        return message(type: BMPMessageType.initiation, body: w.bytes)
    }

    public static func termination(reason: UInt16) -> [UInt8] {
        var w = ByteWriter()
        w.u16(BMPInformation.terminationReason); w.u16(2); w.u16(reason)
        return message(type: BMPMessageType.termination, body: w.bytes)
    }

    /// One BMP message as OpenBMP's `bmp_raw` topic carries it (binary header v1.7): the router
    /// named by `routerIP` and a hash of it, the collector by `admin`.
    public static func openBMPRecord(
        _ message: [UInt8], routerIP: IPAddress, collectorTime: Int64, admin: String = "collector",
        group: String = "", objectType: UInt8 = 12
    ) -> [UInt8] {
        var fields = ByteWriter()
        fields.u8(0x80 | (routerIP.isIPv6 ? 0x40 : 0)); fields.u8(objectType)
        fields.u32(UInt32(collectorTime / 1_000_000)); fields.u32(UInt32(collectorTime % 1_000_000))
        fields.append([UInt8](repeating: 0xC0, count: 16))
        fields.u16(UInt16(admin.utf8.count)); fields.append(Array(admin.utf8))
        // The router hash: stable per address, as OpenBMP's is.
        var hash = [UInt8](repeating: 0, count: 16)
        for (index, byte) in routerIP.description.utf8.enumerated() {
            hash[index % 16] = hash[index % 16] &* 31 &+ byte
        }
        fields.append(hash)
        if routerIP.isIPv6 {
            fields.ip(routerIP)
        } else {
            fields.ip(routerIP); fields.append([UInt8](repeating: 0, count: 12))
        }
        fields.u16(UInt16(group.utf8.count)); fields.append(Array(group.utf8))
        fields.u32(1)
        var w = ByteWriter()
        w.append(Array("OBMP".utf8)); w.u8(1); w.u8(7)
        w.u16(UInt16(12 + fields.bytes.count)); w.u32(UInt32(message.count))
        w.append(fields.bytes)
        w.append(message)
        return w.bytes
    }
}
