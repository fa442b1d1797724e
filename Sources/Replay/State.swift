import EVPNModel

/// ID-1: which rule named the originating PE.
public enum PEKeyRule: String, Sendable, CaseIterable {
    case rd, originator, nexthop, peer
}

/// ID-2: how two PEs' routes are found to be in one broadcast domain.
public enum BDKeyRule: String, Sendable, CaseIterable {
    case rt
    case rdNumber = "rd-number"
}

public struct PEInfo: Sendable {
    public var address: IPAddress
    public var source: PEKeyRule
    public var ethernetSegments: Set<ESI> = []
    public var imetRoutes = 0
    public var prefixRoutes = 0
    public var sessionsDown = 0
    public var firstSeen: Int64
    public var lastSeen: Int64
}

public struct BroadcastDomain: Sendable {
    public var routeTargets: [RouteTarget]
    public var rdNumber: UInt32?
    public var ethernetTag: UInt32
    public var label: String
}

/// One route (MAC-only, or MAC+IP) of one PE for one MAC, as `ReplayEngine.routes` reports it.
public struct RouteState: Sendable {
    public var ip: IPAddress?
    public var seq: UInt32
    public var sticky: Bool
    public var esi: ESI
    public var nextHop: IPAddress?
    public var label1: UInt32
    public var rd: RouteDistinguisher
    public var observations: Int32
    public var firstSeen: Int64
    public var lastUpdate: Int64
    public var source: SourceRef
    public var mobilityCommunities: Int
}

/// What one PE advertises for one MAC in one broadcast domain, summed over its routes.
public struct PEAdvertisement: Sendable {
    public var pe: PEID
    /// MOB-11: the PE's sequence for the MAC is the highest over its routes.
    public var seq: UInt32
    public var sticky: Bool
    public var esi: ESI
    public var routeCount: Int
    public var firstSeen: Int64
    /// Time the PE last raised or lowered its sequence, or first advertised (for staleness).
    public var lastChange: Int64
}

/// One MAC in one broadcast domain. The routes advertising it live in the engine's route
/// table, chained from `firstRoute` and grouped by PE.
public struct MACState: Sendable {
    // Eight-byte fields first: Swift lays fields out in order, so this leaves no padding.
    public var mac: MACAddress
    public var firstSeen: Int64
    public var lastChange: Int64
    public var bd: Int32
    /// The PE a receiver applying MOB-3/4/6 would install, none when nobody advertises.
    public var winner = PEID.none
    public var winnerSeq: UInt32 = 0
    public var moves: Int32 = 0
    var firstRoute: Int32 = -1
    /// The MAC's recent departures in the engine's departure lists (MOB-14, ID-3), -1 while no
    /// PE withdrew it lately: most MACs never go, so they carry 4 bytes, not an array.
    var departures: Int32 = -1

    public var isAdvertised: Bool { firstRoute >= 0 }
}

public struct HostRouteState: Sendable {
    public var pe: PEID
    public var observations: Int32
    public var lastUpdate: Int64
}
