/// The registry numbers of the formats evpnscope reads and writes, named once for the readers,
/// the encoders and the line formatters (IANA's BGP, MRT and BMP registries).

/// BGP message types (RFC 4271 §4.1, RFC 2918).
public enum BGPMessageType {
    public static let open: UInt8 = 1
    public static let update: UInt8 = 2
    public static let notification: UInt8 = 3
    public static let keepalive: UInt8 = 4
    public static let routeRefresh: UInt8 = 5
}

/// BGP path attribute type codes, with the names RFC 7606 error messages and `decode` print.
public enum PathAttribute {
    public static let origin: UInt8 = 1
    public static let asPath: UInt8 = 2
    public static let nextHop: UInt8 = 3
    public static let multiExitDisc: UInt8 = 4
    public static let localPref: UInt8 = 5
    public static let atomicAggregate: UInt8 = 6
    public static let aggregator: UInt8 = 7
    public static let communities: UInt8 = 8
    public static let originatorID: UInt8 = 9
    public static let clusterList: UInt8 = 10
    public static let mpReachNLRI: UInt8 = 14
    public static let mpUnreachNLRI: UInt8 = 15
    public static let extendedCommunities: UInt8 = 16
    public static let as4Path: UInt8 = 17
    public static let as4Aggregator: UInt8 = 18
    public static let pmsiTunnel: UInt8 = 22
    public static let largeCommunity: UInt8 = 32

    /// Attribute flags (RFC 4271 §4.3): optional, transitive, partial, extended length.
    public static let optional: UInt8 = 0x80, transitive: UInt8 = 0x40, extendedLength: UInt8 = 0x10

    public static func name(_ code: UInt8) -> String {
        switch code {
        case origin: return "ORIGIN"
        case asPath: return "AS_PATH"
        case nextHop: return "NEXT_HOP"
        case multiExitDisc: return "MULTI_EXIT_DISC"
        case localPref: return "LOCAL_PREF"
        case atomicAggregate: return "ATOMIC_AGGREGATE"
        case aggregator: return "AGGREGATOR"
        case communities: return "COMMUNITIES"
        case originatorID: return "ORIGINATOR_ID"
        case clusterList: return "CLUSTER_LIST"
        case mpReachNLRI: return "MP_REACH_NLRI"
        case mpUnreachNLRI: return "MP_UNREACH_NLRI"
        case extendedCommunities: return "EXTENDED_COMMUNITIES"
        case as4Path: return "AS4_PATH"
        case as4Aggregator: return "AS4_AGGREGATOR"
        case pmsiTunnel: return "PMSI_TUNNEL"
        case largeCommunity: return "LARGE_COMMUNITY"
        default: return "attribute type \(code)"
        }
    }
}

/// BGP finite state machine states as MRT state changes carry them (RFC 6396 §4.4.1); 7 and 8
/// are FRR's own (Clearing, Deleted), not in the RFC.
public enum BGPState {
    public static let idle: UInt16 = 1
    public static let connect: UInt16 = 2
    public static let active: UInt16 = 3
    public static let openSent: UInt16 = 4
    public static let openConfirm: UInt16 = 5
    public static let established: UInt16 = 6
    public static let frrClearing: UInt16 = 7
    public static let frrDeleted: UInt16 = 8
}

/// MRT record types (RFC 6396 §4, RFC 8050).
public enum MRTType {
    public static let ospfV2: UInt16 = 11
    public static let tableDump: UInt16 = 12
    public static let tableDumpV2: UInt16 = 13
    public static let bgp4mp: UInt16 = 16
    /// BGP4MP with a microsecond field (RFC 6396 §3).
    public static let bgp4mpET: UInt16 = 17
    public static let isis: UInt16 = 32
    public static let isisET: UInt16 = 33
    public static let ospfV3: UInt16 = 48
    public static let ospfV3ET: UInt16 = 49

    /// Every type RFC 6396 defines in use today: what tells an MRT file from anything else.
    public static let defined: Set<UInt16> = [
        ospfV2, tableDump, tableDumpV2, bgp4mp, bgp4mpET, isis, isisET, ospfV3, ospfV3ET,
    ]
}

/// BGP4MP subtypes (RFC 6396 §4.4, RFC 8050 §3).
public enum BGP4MPSubtype {
    public static let stateChange: UInt16 = 0
    public static let message: UInt16 = 1
    public static let entry: UInt16 = 2
    public static let messageAS4: UInt16 = 4
    public static let stateChangeAS4: UInt16 = 5
    public static let messageLocal: UInt16 = 6
    public static let messageAS4Local: UInt16 = 7
    public static let messageAddPath: UInt16 = 8
    public static let messageAS4AddPath: UInt16 = 9
    public static let messageLocalAddPath: UInt16 = 10
    public static let messageAS4LocalAddPath: UInt16 = 11

    /// Subtypes that record what the collector itself sent.
    public static func isLocal(_ subtype: UInt16) -> Bool {
        switch subtype {
        case messageLocal, messageAS4Local, messageLocalAddPath, messageAS4LocalAddPath: return true
        default: return false
        }
    }

    /// Subtypes whose messages carry add-path identifiers (RFC 8050).
    public static func hasAddPath(_ subtype: UInt16) -> Bool {
        switch subtype {
        case messageAddPath, messageAS4AddPath, messageLocalAddPath, messageAS4LocalAddPath: return true
        default: return false
        }
    }
}

/// TABLE_DUMP_V2 subtypes (RFC 6396 §4.3, RFC 8050 §4).
public enum TableDumpV2Subtype {
    public static let peerIndexTable: UInt16 = 1
    public static let ribIPv4Unicast: UInt16 = 2
    public static let ribIPv4Multicast: UInt16 = 3
    public static let ribIPv6Unicast: UInt16 = 4
    public static let ribIPv6Multicast: UInt16 = 5
    public static let ribGeneric: UInt16 = 6
    public static let ribIPv4UnicastAddPath: UInt16 = 8
    public static let ribIPv4MulticastAddPath: UInt16 = 9
    public static let ribIPv6UnicastAddPath: UInt16 = 10
    public static let ribIPv6MulticastAddPath: UInt16 = 11
    public static let ribGenericAddPath: UInt16 = 12
}

/// TABLE_DUMP (the first version) subtypes: the address family (RFC 6396 §4.2).
public enum TableDumpSubtype {
    public static let ipv4: UInt16 = 1
    public static let ipv6: UInt16 = 2
}

/// BMP message types (RFC 7854 §4.1).
public enum BMPMessageType {
    public static let routeMonitoring: UInt8 = 0
    public static let statisticsReport: UInt8 = 1
    public static let peerDown: UInt8 = 2
    public static let peerUp: UInt8 = 3
    public static let initiation: UInt8 = 4
    public static let termination: UInt8 = 5
    public static let routeMirroring: UInt8 = 6
}

/// BMP's version, the one RFC 7854 defines.
public let bmpVersion: UInt8 = 3

/// The common header every BMP message starts with: version, length, type (RFC 7854 §4.1).
public let bmpCommonHeaderLength = 6

/// BMP per-peer header flags (RFC 7854 §4.2; Adj-RIB-Out from RFC 8671).
public enum BMPPeerFlag {
    public static let ipv6: UInt8 = 0x80
    public static let postPolicy: UInt8 = 0x40
    /// The peer's AS_PATH uses two-byte AS numbers.
    public static let legacyASPath: UInt8 = 0x20
    public static let adjRIBOut: UInt8 = 0x10
}

/// BMP per-peer header peer types (RFC 7854 §4.2, RFC 9069 for Loc-RIB).
public enum BMPPeerType {
    public static let global: UInt8 = 0
    public static let rdInstance: UInt8 = 1
    public static let local: UInt8 = 2
    public static let locRIB: UInt8 = 3
}

/// BMP Peer Down reasons (RFC 7854 §4.9, RFC 9069 §5.6).
public enum BMPPeerDownReason {
    public static let localNotification: UInt8 = 1
    public static let localNoNotification: UInt8 = 2
    public static let remoteNotification: UInt8 = 3
    public static let remoteNoNotification: UInt8 = 4
    public static let deconfigured: UInt8 = 5
    public static let locRIBClosed: UInt8 = 6
}

/// BMP Information TLV types of Initiation messages (RFC 7854 §4.4) and Termination's reason TLV.
public enum BMPInformation {
    public static let string: UInt16 = 0
    public static let sysDescr: UInt16 = 1
    public static let sysName: UInt16 = 2
    public static let terminationReason: UInt16 = 1
    /// Route Mirroring's TLV holding a whole BGP message (RFC 7854 §4.7).
    public static let mirroredBGPMessage: UInt16 = 0
}
