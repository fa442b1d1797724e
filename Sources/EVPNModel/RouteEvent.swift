/// Where a collector saw a route: an MRT collector's peer, or a BMP monitored router's peer
/// and table. Two observation points never share a RIB; the replay engine keys its
/// per-observation Adj-RIB on this.
public struct ObservationPoint: Hashable, Sendable {
    public enum Table: UInt8, Sendable, CaseIterable {
        case mrt = 0, adjRIBInPre, adjRIBInPost, locRIB, adjRIBOutPre, adjRIBOutPost, ribSnapshot
        public var name: String {
            switch self {
            case .mrt: return "mrt"
            case .adjRIBInPre: return "adj-rib-in-pre"
            case .adjRIBInPost: return "adj-rib-in-post"
            case .locRIB: return "loc-rib"
            case .adjRIBOutPre: return "adj-rib-out-pre"
            case .adjRIBOutPost: return "adj-rib-out-post"
            case .ribSnapshot: return "rib-snapshot"
            }
        }
    }
    /// Identifies the collector or BMP monitored router (input file's source router, or its sysName hash).
    public var router: UInt32
    public var table: Table
    public var distinguisher: UInt64
    public var peerIP: IPAddress
    public var peerAS: UInt32
    public var peerBGPID: IPAddress
    public init(
        router: UInt32, table: Table, distinguisher: UInt64 = 0, peerIP: IPAddress, peerAS: UInt32, peerBGPID: IPAddress
    ) {
        self.router = router; self.table = table; self.distinguisher = distinguisher
        self.peerIP = peerIP; self.peerAS = peerAS; self.peerBGPID = peerBGPID
    }

    /// The BGP session this observation belongs to: losing it empties every table of the peer.
    public var session: SessionKey { SessionKey(router: router, distinguisher: distinguisher, peerIP: peerIP) }

    /// An MRT dump's router: the session's local address, IPv4 as it is, IPv6 folded to 32
    /// bits. A BMP session whose Peer Up names this local address is the same BGP session.
    public static func mrtRouter(localAddress local: IPAddress) -> UInt32 {
        local.isIPv6
            ? UInt32(truncatingIfNeeded: local.high >> 32 ^ local.high ^ local.low >> 32 ^ local.low) : local.v4
    }

    /// The router of a RIB snapshot whose collector ID is 0.0.0.0 (GoBGP's table dumps): 255.255.x.y
    /// after the input, so the snapshots of one file are one router's and other files' are not.
    public static func anonymousCollector(input: Int32) -> UInt32 {
        0xFFFF_0000 | UInt32(UInt16(truncatingIfNeeded: input))
    }

    /// The peer's BGP identifier describes the point but does not tell points apart: a RIB
    /// snapshot names it and BGP4MP updates of the same session do not (zero), and both are one
    /// point.
    public static func == (a: ObservationPoint, b: ObservationPoint) -> Bool {
        a.router == b.router && a.table == b.table && a.distinguisher == b.distinguisher && a.peerIP == b.peerIP
            && a.peerAS == b.peerAS
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(router); hasher.combine(table); hasher.combine(distinguisher); hasher.combine(peerIP);
        hasher.combine(peerAS)
    }
}

public struct SessionKey: Hashable, Sendable {
    public var router: UInt32
    public var distinguisher: UInt64
    public var peerIP: IPAddress
    public init(router: UInt32, distinguisher: UInt64, peerIP: IPAddress) {
        self.router = router; self.distinguisher = distinguisher; self.peerIP = peerIP
    }
}

/// Where in the inputs an event came from: evidence for every finding.
public struct SourceRef: Hashable, Sendable {
    public var input: Int32
    public var offset: Int64  // uncompressed byte offset of the MRT record / BMP message
    public init(input: Int32, offset: Int64) { self.input = input; self.offset = offset }

    /// One word for tables that hold a reference per route or record: the input in the top 20
    /// bits, the offset in the low 44 (16 TiB of uncompressed input).
    public var packed: UInt64 {
        UInt64(UInt32(bitPattern: input) & 0xF_FFFF) << 44 | UInt64(bitPattern: offset) & 0xFFF_FFFF_FFFF
    }
    public init(packed: UInt64) { self.init(input: Int32(packed >> 44), offset: Int64(packed & 0xFFF_FFFF_FFFF)) }
}

/// One route announced or withdrawn at one observation point. A class, not a struct: every
/// stage (merge, engine, detectors, store, formatter) passes the event on, and handing on one
/// reference costs one retain where a struct copy would retain each of its attribute arrays.
public final class RouteEvent: Sendable {
    public let time: Int64  // microseconds since the epoch
    public let source: SourceRef
    public let observation: ObservationPoint
    public let isWithdraw: Bool
    public let family: AddressFamily
    public let entry: NLRIEntry
    public let attributes: PathAttributes  // empty for withdrawals
    public let nextHop: IPAddress?  // MP_REACH next hop, or NEXT_HOP for IPv4 unicast
    /// RFC 7606 treat-as-withdraw turned this announcement into a withdrawal.
    public let treatedAsWithdraw: Bool
    public let record: RecordKind
    public var isRIBEntry: Bool { record.isRIBEntry }
    public init(
        time: Int64, source: SourceRef, observation: ObservationPoint, isWithdraw: Bool, family: AddressFamily,
        entry: NLRIEntry, attributes: PathAttributes, nextHop: IPAddress?, treatedAsWithdraw: Bool = false,
        record: RecordKind = .update
    ) {
        self.time = time; self.source = source; self.observation = observation; self.isWithdraw = isWithdraw
        self.family = family; self.entry = entry; self.attributes = attributes; self.nextHop = nextHop
        self.treatedAsWithdraw = treatedAsWithdraw; self.record = record
    }
}

/// The kind of record an event came from: what bgpdump names its lines by (`decode --format bgpdump`).
public enum RecordKind: UInt8, Sendable {
    /// A BGP4MP message (one-second times).
    case update
    /// BGP4MP_ET: microsecond times.
    case updateET
    /// An entry of a RIB snapshot: legacy TABLE_DUMP, TABLE_DUMP_V2, BGP4MP_ENTRY.
    case tableDump, tableDumpV2, bgp4mpEntry
    /// A BMP message (route monitoring, route mirroring, peer up/down …).
    case bmp

    /// Not an UPDATE: what bgpdump prints as B rather than A.
    public var isRIBEntry: Bool { self == .tableDump || self == .tableDumpV2 || self == .bgp4mpEntry }
}

/// A BGP4MP STATE_CHANGE's two states (RFC 6396 §4.4.1: 1 Idle … 6 Established).
public struct BGPStateChange: Sendable, Equatable {
    public var old: UInt16
    public var new: UInt16
    public init(old: UInt16, new: UInt16) { self.old = old; self.new = new }
}

/// A BGP session or monitoring session changed state.
public struct SessionEvent: Sendable {
    public enum Kind: Sendable, Equatable {
        case established
        case down(reason: String)
        /// BMP Initiation: a monitored router starts reporting, named when it sent its sysName.
        case monitoringStarted(sysName: String?)
        /// BMP Termination: the monitored router stopped reporting; every peer it reported is gone.
        case monitoringEnded(reason: String)
        case endOfRIB(AddressFamily)
        /// A BGP4MP state change that neither reaches nor leaves Established (Idle → Connect …):
        /// nothing for the replay, kept for `decode`.
        case stateChange
        /// A TABLE_DUMP_V2 snapshot of the router (`observation.router`) begins: its PEER_INDEX_TABLE.
        case ribSnapshotStarted
        /// The snapshot's last entry has been read; `complete` when no damage cut into it, so the
        /// snapshot is the router's whole table at its time.
        case ribSnapshotEnded(complete: Bool)

        public var isRIBSnapshotBoundary: Bool {
            switch self {
            case .ribSnapshotStarted, .ribSnapshotEnded: return true
            default: return false
            }
        }
    }
    public var time: Int64
    public var source: SourceRef
    public var observation: ObservationPoint
    public var kind: Kind
    /// The states of a BGP4MP STATE_CHANGE record, whatever its kind.
    public var states: BGPStateChange?
    public var record: RecordKind
    /// A BMP session's local address (from its Peer Up), on its Peer Up and Peer Down: what
    /// ties it to an MRT dump of the same session (`ObservationPoint.mrtRouter`).
    public var localAddress: IPAddress?
    /// The monitored router's BGP identifier (its sent OPEN in the Peer Up), on its Peer Up and
    /// Peer Down: what ties the session to a RIB snapshot, which names its collector by it.
    public var localBGPID: IPAddress?
    public init(
        time: Int64, source: SourceRef, observation: ObservationPoint, kind: Kind, states: BGPStateChange? = nil,
        record: RecordKind = .update, localAddress: IPAddress? = nil, localBGPID: IPAddress? = nil
    ) {
        self.time = time; self.source = source; self.observation = observation; self.kind = kind
        self.states = states; self.record = record; self.localAddress = localAddress; self.localBGPID = localBGPID
    }
}

/// What the decoders hand to the replay engine, in time order.
public struct FeedItem: Sendable {
    /// Kept outside the payload: the merge, the timers and the engine read the time of every
    /// item, and reading it must not copy a whole route event out of its box.
    public let time: Int64
    public let payload: Payload

    public enum Payload: Sendable {
        case route(RouteEvent)
        indirect case session(SessionEvent)
        /// A record that carries no route but proves the collector was alive at this time
        /// (BMP statistics, keepalives, state changes of other families).
        case heartbeat
    }

    public static func route(_ event: RouteEvent) -> FeedItem { FeedItem(time: event.time, payload: .route(event)) }

    /// The route event, not retained: valid while this item lives. Binding the payload instead
    /// cost a retain and a release per stage that reads it, per route event; so did lending the
    /// bound event to a closure.
    @inlinable
    public var unretainedRoute: Unmanaged<RouteEvent>? {
        guard case .route(let event) = payload else { return nil }
        return .passUnretained(event)
    }
    public static func session(_ event: SessionEvent) -> FeedItem {
        FeedItem(time: event.time, payload: .session(event))
    }
    public static func heartbeat(time: Int64) -> FeedItem { FeedItem(time: time, payload: .heartbeat) }
}

extension Array where Element == FeedItem {
    /// Moves the item at `index` out, leaving a heartbeat in its place: a copy would retain its
    /// event here and release it again when the array is emptied (atomic operations, per event).
    @inlinable
    public mutating func takeItem(at index: Int) -> FeedItem {
        var item = FeedItem.heartbeat(time: 0)
        swap(&item, &self[index])
        return item
    }
}
