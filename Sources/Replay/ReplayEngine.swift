import Containers
import EVPNModel

/// Rebuilds what every PE advertised and what a PE applying RFC 7432 §15 would install, from
/// time-ordered feed items, and reports each change as a `Transition`.
///
/// Layout for speed and memory: every live (PE, BD, MAC, IP) route is one fixed-size slot in
/// `routes`, chained per MAC and grouped by PE, so no MAC owns a heap object of its own; the
/// per-observation RIB maps a compact key to a slot. Attributes shared by many routes (next
/// hop, ESI, label) are interned once.
public final class ReplayEngine {
    public struct Options: Sendable {
        /// Force one ID-1 rule; nil applies them in the spec's order of preference.
        public var peKey: PEKeyRule?
        public var bdKey: BDKeyRule
        /// MOB-14: how long after the last PE withdrew a MAC a higher sequence elsewhere still
        /// proves a move (MOB-7's window M).
        public var moveWindow: TimeSpan
        /// ID-3: how late a copy of an advertisement may reach another observation point and
        /// still be taken for a copy once the advertisement was withdrawn everywhere else.
        public var copyLag: TimeSpan
        public init(
            peKey: PEKeyRule? = nil, bdKey: BDKeyRule = .rt, moveWindow: TimeSpan = .seconds(180),
            copyLag: TimeSpan = .seconds(1)
        ) {
            self.peKey = peKey; self.bdKey = bdKey
            self.moveWindow = moveWindow; self.copyLag = copyLag
        }
    }

    public struct Counters: Sendable {
        public var announcements = 0
        public var withdrawals = 0
        public var unknownWithdrawals = 0
        public var sessionLosses = 0
        public var endOfRIBs = 0
        public var otherFamilyEvents = 0
        public var noPEIdentified = 0
        /// Copies of one route beyond `RouteSlot.maxObservations` observation points, ignored.
        public var copiesBeyondLimit = 0
        /// l2vpn-evpn route events of every route type (DQ-NO-EVPN when none).
        public var evpnRoutes = 0
        /// Routes whose type-1 RD names another PE than their ORIGINATOR_ID (DQ-PE-CONFLICT).
        public var peConflicts = 0
        public var firstPEConflict: (rd: IPAddress, originator: IPAddress, source: SourceRef)?
        /// RIB snapshots read to their end, and the routes they withdrew by leaving them out.
        public var ribSnapshots = 0, snapshotWithdrawals = 0

        /// The counters as `engine.*` rows of the database's meta table: what was replayed, and
        /// what could not be (withdrawals of routes never seen, routes with no identifiable PE).
        public var described: [(String, String)] {
            [
                ("engine.mac-ip-announcements", announcements), ("engine.mac-ip-withdrawals", withdrawals),
                ("engine.unknown-withdrawals", unknownWithdrawals), ("engine.no-pe-identified", noPEIdentified),
                ("engine.session-losses", sessionLosses), ("engine.end-of-ribs", endOfRIBs),
                ("engine.other-family-events", otherFamilyEvents), ("engine.copies-beyond-limit", copiesBeyondLimit),
                ("engine.evpn-routes", evpnRoutes), ("engine.pe-conflicts", peConflicts),
                ("engine.rib-snapshots", ribSnapshots), ("engine.snapshot-withdrawals", snapshotWithdrawals),
            ]
            .map { ($0.0, String($0.1)) }
        }
    }

    public internal(set) var options: Options
    public internal(set) var pes: [PEInfo] = []
    public internal(set) var bds: [BroadcastDomain] = []
    /// Every MAC in every broadcast domain, by `MACID` (changed here, read elsewhere as `macs`).
    let macTable = PagedArray<MACState>()
    public var macs: PagedView<MACState> { PagedView(macTable) }
    public internal(set) var observations: [ObservationPoint] = []
    /// MAC/IP route events per observation point, parallel to `observations` (DQ-WITHDRAW-ONLY).
    public struct ObservationCounts: Sendable {
        public var announcements = 0, withdrawals = 0, unknownWithdrawals = 0
        public var firstSource: SourceRef?
    }

    public internal(set) var observationCounts: [ObservationCounts] = []
    /// Each BMP session (global instance) as an MRT dump of the same router names it: its Peer
    /// Up's local address as the router, and the peer. One BGP session, two formats (MOB-12).
    var bmpSessionsInMRTTerms: [SessionKey: SessionKey] = [:]
    public internal(set) var counters = Counters()
    public internal(set) var now: Int64 = 0
    public internal(set) var firstTime: Int64?
    /// Receives every transition, in order.
    public var onTransition: (Transition) -> Void = { _ in }
    let peRules: [PEKeyRule]
    let peIndex = IDIndex()
    let bdIndex = IDIndex()
    var bdKeys: [BDKey] = []
    var bdTargets: [UInt64] = []
    let hasher = WordHasher()
    let macIndex = IDIndex()
    var lastPE: (address: IPAddress, id: Int32)?
    var observationIndex: [ObservationPoint: Int32] = [:]
    /// The two most recent observation points: route reflectors and BMP pre/post tables
    /// interleave their copies of each update, so the last one alone misses half the time.
    var lastObservation: (point: ObservationPoint, id: Int32)?
    var previousObservation: (point: ObservationPoint, id: Int32)?
    /// The routes as each observation point (and add-path id) carries them, found by NLRI.
    let ribEntries = RecyclingTable<RIBEntry>()
    let ribIndex = IDIndex()
    let routes = RecyclingTable<RouteSlot>()
    /// What MOB-14 and ID-3 remember of the MACs withdrawn lately (`MACState.departures`): the
    /// last departure per PE, oldest first, at most `departuresKept`. Most MACs are never
    /// withdrawn, so they carry an index, not an array.
    let departureLists = RecyclingTable<[Departure]>()
    /// The MAC each departure list belongs to (-1 once released), so forgetting quiet MACs scans
    /// the few lists, not every MAC.
    var departureListOwners: [Int32] = []
    var traits: [RouteTraits] = []
    let traitsIndex = IDIndex()
    /// IP-to-MAC bindings per broadcast domain (MOB-11).
    let ipBindings = PagedArray<IPBinding>()
    let ipBindingIndex = IDIndex()
    let hostSlots = RecyclingTable<HostRouteSlot>()
    /// IP → the first of its PEs' host-route slots.
    let hostHeads = IDIndex()
    let hostEntries = RecyclingTable<HostRIBEntry>()
    let hostRIBIndex = IDIndex()
    /// The IPv6 addresses of records that keep an IPv4 address in one 32-bit word (IP bindings,
    /// host-route slots): such a record's word is the IPv4 address or its row here.
    let ipv6Rows = RecyclingTable<IPv6Row>()
    var paths: [Path] = []
    var pathIndex: [Path: Int32] = [:]
    /// Path id of each observation point without add-path (id 0), the common case: no hashing.
    var plainPaths: [Int32] = []
    /// The last add-path pair looked up: copies of one route arrive together.
    var lastPath = (key: Path(op: -1, pathID: 0), id: Int32(-1))
    var snapshots = SnapshotState()

    /// MOB-14's window is MOB-7's (the detector's `--window`).
    public func useMobilityWindow(_ window: TimeSpan) {
        options.moveWindow = window
    }

    public init(options: Options = Options()) {
        self.options = options
        peRules = options.peKey.map { [$0] } ?? [.rd, .originator, .nexthop, .peer]
    }

    /// `prefetched`: what `prefetchBucket` returned for this same item, if it was asked.
    public func process(_ item: FeedItem, prefetched: PrefetchTarget = .none) {
        let time = item.time
        if time > now { now = time }
        if firstTime == nil { firstTime = time }
        if let route = item.unretainedRoute {
            // The item holds the event for the whole call: borrowed, not retained and released again.
            route._withUnsafeGuaranteedRef { processRoute($0, prefetched) }
            return
        }
        switch item.payload {
        case .heartbeat, .route: break
        case .session(let event): processSession(event)
        }
    }

    func processRoute(_ event: RouteEvent, _ prefetched: PrefetchTarget) {
        switch event.entry.nlri {
        case .evpn(let route):
            counters.evpnRoutes += 1
            switch route {
            case .macIP(let r): processMACIP(event, r, prefetched)
            case .ethernetAD(let r):
                if !event.isWithdraw, let pe = identifyPE(event, rd: r.rd) {
                    pes[Int(pe)].ethernetSegments.insert(r.esi)
                }
            case .ethernetSegment(let r):
                if !event.isWithdraw, let pe = identifyPE(event, rd: r.rd) {
                    pes[Int(pe)].ethernetSegments.insert(r.esi)
                }
            case .inclusiveMulticast(let r):
                if !event.isWithdraw, let pe = identifyPE(event, rd: r.rd) { pes[Int(pe)].imetRoutes += 1 }
            case .ipPrefix(let r):
                if !event.isWithdraw, let pe = identifyPE(event, rd: r.rd) { pes[Int(pe)].prefixRoutes += 1 }
            case .unknown: counters.otherFamilyEvents += 1
            }
        case .vpn(let rd, let prefix, _) where prefix.isHostRoute:
            processHostRoute(event, rd: rd, prefix: prefix, prefetched)
        default:
            counters.otherFamilyEvents += 1
        }
    }

    func emit(_ t: Transition) { onTransition(t) }
}
