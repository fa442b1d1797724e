/// An extended community kept as its 8 raw bytes; typed views are computed on demand so that
/// decoding never allocates per community and unknown ones round-trip untouched.
public struct ExtendedCommunity: Hashable, Sendable {
    public var raw: UInt64
    public init(raw: UInt64) { self.raw = raw }

    public var type: UInt8 { UInt8(truncatingIfNeeded: raw >> 56) }
    public var subtype: UInt8 { UInt8(truncatingIfNeeded: raw >> 48) }
    private var value48: UInt64 { raw & 0xFFFF_FFFF_FFFF }
    /// The transitive form of the type (bit 0x40 marks the non-transitive variant).
    private var baseType: UInt8 { type & 0xBF }

    public var isRouteTarget: Bool { baseType <= 2 && subtype == 0x02 }

    public struct MACMobility: Hashable, Sendable {
        public var sequence: UInt32
        public var sticky: Bool
        public init(sequence: UInt32, sticky: Bool) { self.sequence = sequence; self.sticky = sticky }
    }

    public var macMobility: MACMobility? {
        guard type == 0x06, subtype == 0x00 else { return nil }
        return MACMobility(sequence: UInt32(truncatingIfNeeded: raw), sticky: (raw >> 40) & 0x01 != 0)
    }

    public var encapsulationTunnelType: UInt16? {
        guard type == 0x03, subtype == 0x0C else { return nil }
        return UInt16(truncatingIfNeeded: raw)
    }

    public static func routeTarget(_ target: RouteTarget) -> ExtendedCommunity { ExtendedCommunity(raw: target.raw) }
    public static func macMobility(sequence: UInt32, sticky: Bool = false) -> ExtendedCommunity {
        ExtendedCommunity(raw: 0x0600 << 48 | (sticky ? 1 << 40 : 0) | UInt64(sequence))
    }
    public static func encapsulation(_ tunnelType: UInt16) -> ExtendedCommunity {
        ExtendedCommunity(raw: 0x030C << 48 | UInt64(tunnelType))
    }
    public static let defaultGateway = ExtendedCommunity(raw: 0x030D << 48)
    public static func esiLabel(singleActive: Bool, label: UInt32) -> ExtendedCommunity {
        ExtendedCommunity(raw: 0x0601 << 48 | (singleActive ? 1 << 40 : 0) | UInt64(label & 0xFF_FFFF))
    }
    public static func esImport(_ mac: MACAddress) -> ExtendedCommunity {
        ExtendedCommunity(raw: 0x0602 << 48 | mac.value)
    }
    public static func routerMAC(_ mac: MACAddress) -> ExtendedCommunity {
        ExtendedCommunity(raw: 0x0603 << 48 | mac.value)
    }

    /// Text for decode output and reports: "rt:65000:100", "mm:seq=3,sticky", raw hex otherwise.
    public var description: String {
        if isRouteTarget { return "rt:\(RouteTarget(raw: raw))" }
        switch (baseType, subtype) {
        case (0, 3), (1, 3), (2, 3): return "soo:\(RouteTarget(raw: raw))"
        case (0x03, 0x0C): return "encap:\(encapsulationName(UInt16(truncatingIfNeeded: raw)))"
        case (0x03, 0x0D): return "default-gateway"
        case (0x06, 0x00):
            let mobility = macMobility!
            return "mac-mobility:seq=\(mobility.sequence)\(mobility.sticky ? ",sticky" : "")"
        case (0x06, 0x01):
            return "esi-label:\(value48 & 0xFF_FFFF)\((raw >> 40) & 1 == 1 ? ",single-active" : ",all-active")"
        case (0x06, 0x02): return "es-import:\(MACAddress(value48))"
        case (0x06, 0x03): return "router-mac:\(MACAddress(value48))"
        case (0x06, 0x04):
            return "l2-attr:flags=\(value48 >> 32),mtu=\((value48 >> 16) & 0xFFFF)"
        default:
            let hex = String(raw, radix: 16)
            return "0x" + String(repeating: "0", count: 16 - hex.count) + hex
        }
    }
}

public func encapsulationName(_ tunnelType: UInt16) -> String {
    switch tunnelType {
    case 8: return "vxlan"
    case 9: return "nvgre"
    case 10: return "mpls"
    case 11: return "mpls-in-gre"
    case 12: return "vxlan-gpe"
    case 13: return "mpls-in-udp"
    default: return "type\(tunnelType)"
    }
}

public struct LargeCommunity: Hashable, Sendable, CustomStringConvertible {
    public var global: UInt32, local1: UInt32, local2: UInt32
    public init(global: UInt32, local1: UInt32, local2: UInt32) {
        self.global = global; self.local1 = local1; self.local2 = local2
    }
    public var description: String { "\(global):\(local1):\(local2)" }
}

public struct ASPathSegment: Hashable, Sendable {
    public enum Kind: UInt8, Sendable { case set = 1, sequence = 2, confedSequence = 3, confedSet = 4 }
    public var kind: Kind
    public var asns: [UInt32]
    public init(kind: Kind, asns: [UInt32]) { self.kind = kind; self.asns = asns }
}

/// `setSeparator`: between the members of a set (bgpdump prints `{13659,701}`).
public func formatASPath(_ segments: [ASPathSegment], setSeparator: String = " ") -> String {
    var parts: [String] = []
    for segment in segments {
        let list = segment.asns.map(String.init).joined(separator: " ")
        let set = segment.asns.map(String.init).joined(separator: setSeparator)
        switch segment.kind {
        case .sequence: parts.append(list)
        case .set: parts.append("{\(set)}")
        case .confedSequence: parts.append("(\(list))")
        case .confedSet: parts.append("[\(set)]")
        }
    }
    return parts.joined(separator: " ")
}

public struct PMSITunnel: Hashable, Sendable {
    public var flags: UInt8
    public var tunnelType: UInt8
    public var label: UInt32
    public var tunnelID: [UInt8]
    public init(flags: UInt8, tunnelType: UInt8, label: UInt32, tunnelID: [UInt8]) {
        self.flags = flags; self.tunnelType = tunnelType; self.label = label; self.tunnelID = tunnelID
    }
}

public struct RawAttribute: Hashable, Sendable {
    public var flags: UInt8
    public var type: UInt8
    public var value: [UInt8]
    public init(flags: UInt8, type: UInt8, value: [UInt8]) { self.flags = flags; self.type = type; self.value = value }
}

/// Path attributes of one UPDATE (or RIB entry), MP_REACH/MP_UNREACH excepted.
public struct PathAttributes: Hashable, Sendable {
    public var origin: UInt8?
    public var localPref: UInt32?
    public var originatorID: IPAddress?
    public var clusterList = InlineList<UInt32>()
    public var extendedCommunities = InlineList<ExtendedCommunity>()
    /// The attributes an EVPN route seldom carries (NEXT_HOP too: its next hop is MP_REACH's), in
    /// one box shared until written (nil: none).
    /// Every route event holds its UPDATE's attributes: inline, these made each event ~130 bytes
    /// and four references larger, copied in and released per route.
    private var rare: RareAttributes?
    public init() {}

    /// Set whole; an empty path (an iBGP route's, nearly every EVPN route's) makes no box.
    public var asPath: [ASPathSegment] {
        get { rare?.values.asPath ?? [] }
        set { if rare != nil || !newValue.isEmpty { rareForWriting().values.asPath = newValue } }
    }
    /// NEXT_HOP (type 3).
    public var nextHop: IPAddress? {
        get { rare?.values.nextHop }
        _modify { yield &rareForWriting().values.nextHop }
    }
    public var med: UInt32? {
        get { rare?.values.med }
        _modify { yield &rareForWriting().values.med }
    }
    public var atomicAggregate: Bool {
        get { rare?.values.atomicAggregate ?? false }
        _modify { yield &rareForWriting().values.atomicAggregate }
    }
    public var aggregatorAS: UInt32? {
        get { rare?.values.aggregatorAS }
        _modify { yield &rareForWriting().values.aggregatorAS }
    }
    public var aggregatorIP: IPAddress? {
        get { rare?.values.aggregatorIP }
        _modify { yield &rareForWriting().values.aggregatorIP }
    }
    public var communities: InlineList<UInt32> {
        get { rare?.values.communities ?? InlineList() }
        _modify { yield &rareForWriting().values.communities }
    }
    public var largeCommunities: [LargeCommunity] {
        get { rare?.values.largeCommunities ?? [] }
        _modify { yield &rareForWriting().values.largeCommunities }
    }
    public var pmsiTunnel: PMSITunnel? {
        get { rare?.values.pmsiTunnel }
        _modify { yield &rareForWriting().values.pmsiTunnel }
    }
    public var other: [RawAttribute] {
        get { rare?.values.other ?? [] }
        _modify { yield &rareForWriting().values.other }
    }

    /// The box, made or copied first when another value shares it (copy on write).
    private mutating func rareForWriting() -> RareAttributes {
        if rare == nil {
            rare = RareAttributes(SeldomAttributes())
        } else if !isKnownUniquelyReferenced(&rare) {
            rare = RareAttributes(rare!.values)
        }
        return rare.unsafelyUnwrapped
    }

    /// No attributes: what a withdrawal carries.
    public static let empty = PathAttributes()

    /// Back to no attributes; equal to `PathAttributes()` afterwards.
    public mutating func reset() {
        origin = nil; localPref = nil; originatorID = nil
        clusterList.removeAll(); extendedCommunities.removeAll()
        if rare != nil { rare = nil }  // the check skips a release call per UPDATE without a box
    }

    public static func == (a: PathAttributes, b: PathAttributes) -> Bool {
        a.origin == b.origin && a.localPref == b.localPref
            && a.originatorID == b.originatorID && a.clusterList == b.clusterList
            && a.extendedCommunities == b.extendedCommunities
            && (a.rare === b.rare || a.seldom == b.seldom)
    }

    /// A missing box reads as one with nothing in it.
    private var seldom: SeldomAttributes { rare?.values ?? SeldomAttributes.none }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(origin); hasher.combine(localPref); hasher.combine(originatorID)
        hasher.combine(clusterList); hasher.combine(extendedCommunities)
        hasher.combine(seldom)
    }

    /// MOB-9: a receiver uses the community with the highest sequence when several appear, and
    /// its sticky flag (sticky when any community of that sequence is): the same whatever the
    /// communities' order.
    public var macMobility: ExtendedCommunity.MACMobility? {
        var best: ExtendedCommunity.MACMobility?
        for community in extendedCommunities {
            guard let mobility = community.macMobility else { continue }
            if best == nil || mobility.sequence > best!.sequence {
                best = mobility
            } else if mobility.sequence == best!.sequence && mobility.sticky {
                best!.sticky = true
            }
        }
        return best
    }

    public var macMobilityCount: Int { extendedCommunities.reduce(0) { $0 + ($1.macMobility == nil ? 0 : 1) } }

    public var routeTargets: [RouteTarget] {
        extendedCommunities.compactMap { $0.isRouteTarget ? RouteTarget(raw: $0.raw) : nil }
    }
}

/// `PathAttributes`' seldom-carried attributes, as values (compared and hashed field by field).
struct SeldomAttributes: Hashable, Sendable {
    var nextHop: IPAddress?
    var asPath: [ASPathSegment] = []
    var med: UInt32?
    var atomicAggregate = false
    var aggregatorAS: UInt32?
    var aggregatorIP: IPAddress?
    var communities = InlineList<UInt32>()
    var largeCommunities: [LargeCommunity] = []
    var pmsiTunnel: PMSITunnel?
    var other: [RawAttribute] = []

    /// What an absent box reads as.
    static let none = SeldomAttributes()
}

/// The box `PathAttributes` keeps its seldom-carried attributes in. Written only through
/// `PathAttributes`, which copies a box before writing it unless it holds the only reference: a
/// box is never written while shared, so handing it to another thread is safe.
final class RareAttributes: @unchecked Sendable {
    var values: SeldomAttributes
    init(_ values: SeldomAttributes) { self.values = values }
}
