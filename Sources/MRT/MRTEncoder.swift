import BGPWire
import EVPNModel

/// Writes MRT records (RFC 6396, RFC 8050): what the scenario generator and the tests feed
/// the reader, so both go through real bytes.
public enum MRTEncoder {
    public static func record(seconds: UInt32, type: UInt16, subtype: UInt16, body: [UInt8]) -> [UInt8] {
        var w = ByteWriter()
        w.u32(seconds); w.u16(type); w.u16(subtype); w.u32(UInt32(body.count))
        w.append(body)
        return w.bytes
    }

    /// BGP4MP_ET MESSAGE_AS4 (or MESSAGE_AS4_ADDPATH) carrying one BGP message.
    public static func bgp4mpMessage(
        time: Int64, peerAS: UInt32, localAS: UInt32, peerIP: IPAddress, localIP: IPAddress,
        message: [UInt8], addPath: Bool = false, extendedTime: Bool = true
    ) -> [UInt8] {
        var w = ByteWriter()
        if extendedTime { w.u32(UInt32(time % 1_000_000)) }
        w.u32(peerAS); w.u32(localAS); w.u16(0); w.u16(peerIP.isIPv6 ? 2 : 1)
        w.ip(peerIP); w.ip(localIP)
        w.append(message)
        return record(
            seconds: UInt32(time / 1_000_000), type: extendedTime ? MRTType.bgp4mpET : MRTType.bgp4mp,
            subtype: addPath ? BGP4MPSubtype.messageAS4AddPath : BGP4MPSubtype.messageAS4, body: w.bytes)
    }

    /// BGP4MP_ET STATE_CHANGE_AS4.
    public static func bgp4mpStateChange(
        time: Int64, peerAS: UInt32, localAS: UInt32, peerIP: IPAddress, localIP: IPAddress,
        old: UInt16, new: UInt16
    ) -> [UInt8] {
        var w = ByteWriter()
        w.u32(UInt32(time % 1_000_000))
        w.u32(peerAS); w.u32(localAS); w.u16(0); w.u16(peerIP.isIPv6 ? 2 : 1)
        w.ip(peerIP); w.ip(localIP)
        w.u16(old); w.u16(new)
        return record(
            seconds: UInt32(time / 1_000_000), type: MRTType.bgp4mpET, subtype: BGP4MPSubtype.stateChangeAS4,
            body: w.bytes)
    }

    public struct Peer {
        public var bgpID: IPAddress
        public var ip: IPAddress
        public var asn: UInt32
        public init(bgpID: IPAddress, ip: IPAddress, asn: UInt32) { self.bgpID = bgpID; self.ip = ip; self.asn = asn }
    }

    public static func peerIndexTable(time: Int64, collectorID: IPAddress, viewName: String, peers: [Peer]) -> [UInt8] {
        var w = ByteWriter()
        w.ip(collectorID)
        let name = Array(viewName.utf8)
        w.u16(UInt16(name.count)); w.append(name)
        w.u16(UInt16(peers.count))
        for peer in peers {
            w.u8((peer.ip.isIPv6 ? 1 : 0) | 2)
            w.ip(peer.bgpID); w.ip(peer.ip); w.u32(peer.asn)
        }
        return record(
            seconds: UInt32(time / 1_000_000), type: MRTType.tableDumpV2, subtype: TableDumpV2Subtype.peerIndexTable,
            body: w.bytes)
    }

    public struct RIBEntry {
        public var peerIndex: UInt16
        public var originated: UInt32
        public var pathID: UInt32?
        public var attributes: PathAttributes
        public var nextHop: IPAddress?
        public init(
            peerIndex: UInt16, originated: UInt32, pathID: UInt32? = nil, attributes: PathAttributes,
            nextHop: IPAddress?
        ) {
            self.peerIndex = peerIndex; self.originated = originated; self.pathID = pathID;
            self.attributes = attributes; self.nextHop = nextHop
        }
    }

    /// RIB_GENERIC (or RIB_GENERIC_ADDPATH) for one NLRI; MP_REACH in its abbreviated RIB form.
    public static func ribGeneric(
        time: Int64, sequence: UInt32, family: AddressFamily, nlri: NLRI, entries: [RIBEntry]
    ) -> [UInt8] {
        var w = ByteWriter()
        w.u32(sequence); w.u16(family.afi); w.u8(family.safi)
        NLRICodec.encode(NLRIEntry(nlri: nlri), into: &w)
        w.u16(UInt16(entries.count))
        let addPath = entries.contains { $0.pathID != nil }
        for entry in entries {
            w.u16(entry.peerIndex); w.u32(entry.originated)
            if addPath { w.u32(entry.pathID ?? 0) }
            var attributes = ByteWriter()
            BGPEncoder.writeAttributes(
                entry.attributes, options: DecodeOptions(fourByteAS: true), into: &attributes,
                reach: MPReach(family: family, nextHop: entry.nextHop, nlri: []), abbreviatedReach: true)
            w.u16(UInt16(attributes.bytes.count)); w.append(attributes.bytes)
        }
        return record(
            seconds: UInt32(time / 1_000_000), type: MRTType.tableDumpV2,
            subtype: addPath ? TableDumpV2Subtype.ribGenericAddPath : TableDumpV2Subtype.ribGeneric, body: w.bytes)
    }
}
