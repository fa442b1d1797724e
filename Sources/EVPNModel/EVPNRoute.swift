/// EVPN routes (RFC 7432 §7, RFC 9136) as values; BGPWire turns bytes into these and back.

public struct EthernetAutoDiscovery: Hashable, Sendable {
    public var rd: RouteDistinguisher
    public var esi: ESI
    public var ethernetTag: UInt32
    public var label: UInt32
    public init(rd: RouteDistinguisher, esi: ESI, ethernetTag: UInt32, label: UInt32) {
        self.rd = rd; self.esi = esi; self.ethernetTag = ethernetTag; self.label = label
    }
}

public struct MACIPAdvertisement: Hashable, Sendable {
    public var rd: RouteDistinguisher
    public var esi: ESI
    public var ethernetTag: UInt32
    public var mac: MACAddress
    public var ip: IPAddress?
    /// Raw 24-bit label fields: MPLS label << 4 | TC/BoS, or a whole VXLAN VNI.
    public var label1: UInt32
    public var label2: UInt32?
    public init(
        rd: RouteDistinguisher, esi: ESI = .zero, ethernetTag: UInt32 = 0, mac: MACAddress,
        ip: IPAddress? = nil, label1: UInt32 = 0, label2: UInt32? = nil
    ) {
        self.rd = rd; self.esi = esi; self.ethernetTag = ethernetTag; self.mac = mac
        self.ip = ip; self.label1 = label1; self.label2 = label2
    }
}

public struct InclusiveMulticastRoute: Hashable, Sendable {
    public var rd: RouteDistinguisher
    public var ethernetTag: UInt32
    public var originatingIP: IPAddress
    public init(rd: RouteDistinguisher, ethernetTag: UInt32, originatingIP: IPAddress) {
        self.rd = rd; self.ethernetTag = ethernetTag; self.originatingIP = originatingIP
    }
}

public struct EthernetSegmentRoute: Hashable, Sendable {
    public var rd: RouteDistinguisher
    public var esi: ESI
    public var originatingIP: IPAddress
    public init(rd: RouteDistinguisher, esi: ESI, originatingIP: IPAddress) {
        self.rd = rd; self.esi = esi; self.originatingIP = originatingIP
    }
}

public struct IPPrefixRoute: Hashable, Sendable {
    public var rd: RouteDistinguisher
    public var esi: ESI
    public var ethernetTag: UInt32
    public var prefix: IPPrefix
    public var gateway: IPAddress
    public var label: UInt32
    public init(
        rd: RouteDistinguisher, esi: ESI, ethernetTag: UInt32, prefix: IPPrefix, gateway: IPAddress, label: UInt32
    ) {
        self.rd = rd; self.esi = esi; self.ethernetTag = ethernetTag; self.prefix = prefix
        self.gateway = gateway; self.label = label
    }
}

public enum EVPNRoute: Hashable, Sendable {
    case ethernetAD(EthernetAutoDiscovery)
    case macIP(MACIPAdvertisement)
    case inclusiveMulticast(InclusiveMulticastRoute)
    case ethernetSegment(EthernetSegmentRoute)
    case ipPrefix(IPPrefixRoute)
    case unknown(type: UInt8, bytes: [UInt8])

    public var routeType: UInt8 {
        switch self {
        case .ethernetAD: return EVPNRouteType.ethernetAD
        case .macIP: return EVPNRouteType.macIP
        case .inclusiveMulticast: return EVPNRouteType.inclusiveMulticast
        case .ethernetSegment: return EVPNRouteType.ethernetSegment
        case .ipPrefix: return EVPNRouteType.ipPrefix
        case .unknown(let type, _): return type
        }
    }

    public var rd: RouteDistinguisher? {
        switch self {
        case .ethernetAD(let r): return r.rd
        case .macIP(let r): return r.rd
        case .inclusiveMulticast(let r): return r.rd
        case .ethernetSegment(let r): return r.rd
        case .ipPrefix(let r): return r.rd
        case .unknown: return nil
        }
    }
}

/// AFI/SAFI pairs the tool knows by name.
public struct AddressFamily: Hashable, Sendable, CustomStringConvertible {
    public var afi: UInt16
    public var safi: UInt8
    public init(afi: UInt16, safi: UInt8) { self.afi = afi; self.safi = safi }
    public static let ipv4Unicast = AddressFamily(afi: 1, safi: 1)
    public static let ipv6Unicast = AddressFamily(afi: 2, safi: 1)
    public static let ipv4Multicast = AddressFamily(afi: 1, safi: 2)
    public static let ipv6Multicast = AddressFamily(afi: 2, safi: 2)
    public static let vpnv4 = AddressFamily(afi: 1, safi: 128)
    public static let vpnv6 = AddressFamily(afi: 2, safi: 128)
    public static let evpn = AddressFamily(afi: 25, safi: 70)
    public var description: String {
        switch self {
        case .ipv4Unicast: return "ipv4-unicast"
        case .ipv6Unicast: return "ipv6-unicast"
        case .ipv4Multicast: return "ipv4-multicast"
        case .ipv6Multicast: return "ipv6-multicast"
        case .vpnv4: return "vpnv4"
        case .vpnv6: return "vpnv6"
        case .evpn: return "l2vpn-evpn"
        default: return "afi\(afi)-safi\(safi)"
        }
    }
}

/// One NLRI of any family the tool decodes.
public enum NLRI: Hashable, Sendable {
    case evpn(EVPNRoute)
    case prefix(IPPrefix)  // unicast and multicast
    case vpn(rd: RouteDistinguisher, prefix: IPPrefix, label: UInt32)
}

public struct NLRIEntry: Hashable, Sendable {
    public var pathID: UInt32?
    public var nlri: NLRI
    public init(pathID: UInt32? = nil, nlri: NLRI) { self.pathID = pathID; self.nlri = nlri }
}

/// EVPN route type codes (RFC 7432 §7, RFC 9136 for type 5).
public enum EVPNRouteType {
    public static let ethernetAD: UInt8 = 1
    public static let macIP: UInt8 = 2
    public static let inclusiveMulticast: UInt8 = 3
    public static let ethernetSegment: UInt8 = 4
    public static let ipPrefix: UInt8 = 5
}
