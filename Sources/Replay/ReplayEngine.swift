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
        public var moveWindow: Int64
        /// ID-3: how late a copy of an advertisement may reach another observation point and
        /// still be taken for a copy once the advertisement was withdrawn everywhere else.
        public var copyLag: Int64
        public init(peKey: PEKeyRule? = nil, bdKey: BDKeyRule = .rt, moveWindow: Int64 = 180_000_000, copyLag: Int64 = 1_000_000) {
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

        /// The counters as `engine.*` rows of the database's meta table: what was replayed, and
        /// what could not be (withdrawals of routes never seen, routes with no identifiable PE).
        public var described: [(String, String)] {
            [("engine.mac-ip-announcements", announcements), ("engine.mac-ip-withdrawals", withdrawals),
             ("engine.unknown-withdrawals", unknownWithdrawals), ("engine.no-pe-identified", noPEIdentified),
             ("engine.session-losses", sessionLosses), ("engine.end-of-ribs", endOfRIBs),
             ("engine.other-family-events", otherFamilyEvents), ("engine.copies-beyond-limit", copiesBeyondLimit),
             ("engine.evpn-routes", evpnRoutes), ("engine.pe-conflicts", peConflicts)]
                .map { ($0.0, String($0.1)) }
        }
    }

    public private(set) var options: Options
    public private(set) var pes: [PEInfo] = []
    public private(set) var bds: [BroadcastDomain] = []
    public let macs = PagedArray<MACState>()
    public private(set) var observations: [ObservationPoint] = []
    /// MAC/IP route events per observation point, parallel to `observations` (DQ-WITHDRAW-ONLY).
    public struct ObservationCounts: Sendable {
        public var announcements = 0, withdrawals = 0, unknownWithdrawals = 0
        public var firstSource: SourceRef?
    }
    public private(set) var observationCounts: [ObservationCounts] = []
    public private(set) var counters = Counters()
    public private(set) var now: Int64 = 0
    public private(set) var firstTime: Int64?
    /// Live (PE, BD, MAC, IP) routes: one per PE however many observation points carry it (ID-3).
    public var liveRoutes: Int { routes.liveCount }
    /// Receives every transition, in order.
    public var onTransition: (Transition) -> Void = { _ in }

    private let peRules: [PEKeyRule]
    private let peIndex = IDIndex()
    private let bdIndex = IDIndex()
    /// What `internBD` compares, kept apart from `bds` so the per-event check copies no arrays;
    /// a domain's route targets are `bdTargets[firstTarget ..< firstTarget + targetCount]`.
    private struct BDKey { var ethernetTag: UInt32; var rdNumber: UInt32; var firstTarget: Int32; var targetCount: Int32 }
    private var bdKeys: [BDKey] = []
    private var bdTargets: [UInt64] = []
    private let hasher = WordHasher()
    private let macIndex = IDIndex()
    private var lastPE: (address: IPAddress, id: Int32)?
    private var observationIndex: [ObservationPoint: Int32] = [:]
    /// The two most recent observation points: route reflectors and BMP pre/post tables
    /// interleave their copies of each update, so the last one alone misses half the time.
    private var lastObservation: (point: ObservationPoint, id: Int32)?
    private var previousObservation: (point: ObservationPoint, id: Int32)?
    /// The routes as each observation point (and add-path id) carries them, found by NLRI.
    private let ribEntries = RecyclingTable<RIBEntry>()
    private let ribIndex = IDIndex()
    private let routes = RecyclingTable<RouteSlot>()
    /// What MOB-14 and ID-3 remember of the MACs withdrawn lately (`MACState.departures`): the
    /// last departure per PE, oldest first, at most `departuresKept`. Most MACs are never
    /// withdrawn, so they carry an index, not an array.
    private let departureLists = RecyclingTable<[Departure]>()
    /// The MAC each departure list belongs to (-1 once released), so forgetting quiet MACs scans
    /// the few lists, not every MAC.
    private var departureListOwners: [Int32] = []
    /// A PE's advertisement of a MAC that ended lately (every route of it withdrawn or flushed):
    /// MOB-14 proves a move across it, ID-3 recognises late copies of it.
    /// 24 bytes: whether the PE owned the MAC rides in the observation point's top bit.
    private struct Departure {
        var time: Int64
        var pe: Int32
        var seq: UInt32
        private var observationAndOwner: UInt32
        init(pe: Int32, seq: UInt32, observation: Int32, time: Int64, wasOwner: Bool) {
            self.time = time; self.pe = pe; self.seq = seq
            observationAndOwner = UInt32(bitPattern: observation) & 0x7FFF_FFFF | (wasOwner ? 1 << 31 : 0)
        }
        var observation: Int32 { Int32(bitPattern: observationAndOwner & 0x7FFF_FFFF) }
        var wasOwner: Bool { observationAndOwner >> 31 != 0 }
    }
    private static let departuresKept = 4
    private var traits: [RouteTraits] = []
    private let traitsIndex = IDIndex()
    /// IP-to-MAC bindings per broadcast domain (MOB-11).
    private let ipBindings = PagedArray<IPBinding>()
    private let ipBindingIndex = IDIndex()
    private let hostSlots = RecyclingTable<HostRouteSlot>()
    /// IP → the first of its PEs' host-route slots.
    private let hostHeads = IDIndex()
    private let hostEntries = RecyclingTable<HostRIBEntry>()
    private let hostRIBIndex = IDIndex()

    /// 8 bytes: `address` is an IPv4 address or an `ipv6Rows` row (bindings are never removed,
    /// so neither are their rows). The binding's domain is its MAC's: it is found by domain and
    /// only ever names MACs of that domain.
    private struct IPBinding {
        var address: UInt32
        private var macAndFamily: FlaggedID

        init(address: UInt32, mac: Int32, isIPv6: Bool) {
            self.address = address
            macAndFamily = FlaggedID(mac, isIPv6: isIPv6)
        }

        var isIPv6: Bool { macAndFamily.isIPv6 }
        var mac: Int32 {
            get { macAndFamily.id }
            set { macAndFamily.id = newValue }
        }
    }

    /// A table row id (31 bits) and, in the top bit, whether the record's address is IPv6: the
    /// flag rides in a word the record has anyway.
    private struct FlaggedID {
        private var raw: UInt32

        init(_ id: Int32, isIPv6: Bool) { raw = UInt32(bitPattern: id) & 0x7FFF_FFFF | (isIPv6 ? 1 << 31 : 0) }

        var isIPv6: Bool { raw >> 31 != 0 }
        var id: Int32 {
            get { Int32(bitPattern: raw & 0x7FFF_FFFF) }
            set { raw = raw & 1 << 31 | UInt32(bitPattern: newValue) & 0x7FFF_FFFF }
        }
    }
    /// The IPv6 addresses of records that keep an IPv4 address in one 32-bit word (IP bindings,
    /// host-route slots): such a record's word is the IPv4 address or its row here.
    private let ipv6Rows = RecyclingTable<IPv6Row>()
    /// 16 bytes (an `IPAddress` is 24 with its family flag).
    private struct IPv6Row { var high: UInt64; var low: UInt64 }

    private func addressWord(for ip: IPAddress) -> UInt32 {
        ip.isIPv6 ? UInt32(ipv6Rows.add(IPv6Row(high: ip.high, low: ip.low))) : ip.v4
    }
    private func address(_ word: UInt32, isIPv6: Bool) -> IPAddress {
        guard isIPv6 else { return IPAddress(v4: word) }
        let row = ipv6Rows[Int(word)]
        return IPAddress(v6High: row.high, v6Low: row.low)
    }
    @inline(__always) private func address(_ word: UInt32, isIPv6: Bool, is ip: IPAddress) -> Bool {
        guard isIPv6 else { return !ip.isIPv6 && word == ip.v4 }
        let row = ipv6Rows[Int(word)]
        return ip.isIPv6 && row.high == ip.high && row.low == ip.low
    }

    private func ipOf(_ binding: IPBinding) -> IPAddress { address(binding.address, isIPv6: binding.isIPv6) }
    @inline(__always) private func binding(_ binding: IPBinding, is ip: IPAddress) -> Bool {
        address(binding.address, isIPv6: binding.isIPv6, is: ip)
    }

    /// One PE's VPN host route for one IP, however many observation points carry it. 24 bytes:
    /// `address` is an IPv4 address or an `ipv6Rows` row, released with the slot.
    private struct HostRouteSlot {
        var lastUpdate: Int64
        var address: UInt32
        private var peAndFamily: FlaggedID
        var observations: Int32 = 1
        /// The next PE's slot for the same IP.
        var next: Int32 = -1

        init(lastUpdate: Int64, address: UInt32, isIPv6: Bool, pe: Int32) {
            self.lastUpdate = lastUpdate
            self.address = address
            peAndFamily = FlaggedID(pe, isIPv6: isIPv6)
        }

        var pe: Int32 { peAndFamily.id }
        var isIPv6: Bool { peAndFamily.isIPv6 }
    }

    private func ipOf(_ slot: HostRouteSlot) -> IPAddress { address(slot.address, isIPv6: slot.isIPv6) }
    @inline(__always) private func hostSlot(_ slot: Int32, is ip: IPAddress) -> Bool {
        address(hostSlots[Int(slot)].address, isIPv6: hostSlots[Int(slot)].isIPv6, is: ip)
    }
    /// A host route as one observation point (and add-path id) carries it; `path` is -1 while
    /// the entry is free. `traits` holds the route distinguisher (and PE), interned.
    private struct HostRIBEntry { var traits: Int32; var slot: Int32; var path: Int32 }

    /// An observation point and add-path id, interned for the RIB entries (12 bytes each, not 16):
    /// few pairs exist, the RIB holds millions of entries.
    private struct Path: Hashable { var op: Int32; var pathID: UInt32 }
    private var paths: [Path] = []
    private var pathIndex: [Path: Int32] = [:]
    /// Path id of each observation point without add-path (id 0), the common case: no hashing.
    private var plainPaths: [Int32] = []

    /// The last add-path pair looked up: copies of one route arrive together.
    private var lastPath = (key: Path(op: -1, pathID: 0), id: Int32(-1))

    private func internPath(op: Int32, pathID: UInt32) -> Int32 {
        if pathID == 0, Int(op) < plainPaths.count, plainPaths[Int(op)] >= 0 { return plainPaths[Int(op)] }
        let key = Path(op: op, pathID: pathID)
        if lastPath.key == key { return lastPath.id }
        let id: Int32
        if let known = pathIndex[key] { id = known } else {
            id = Int32(paths.count)
            paths.append(key)
            pathIndex[key] = id
        }
        if pathID == 0 {
            while plainPaths.count <= Int(op) { plainPaths.append(-1) }
            plainPaths[Int(op)] = id
        } else {
            lastPath = (key, id)
        }
        return id
    }

    /// An NLRI at one observation point and add-path id: what a withdrawal names.
    private struct RIBKey {
        var op: Int32, pathID: UInt32, rd: UInt64, tag: UInt32, mac: MACAddress, ip: IPAddress?
    }
    /// One route as one observation point (and add-path id) carries it; its NLRI is read from its
    /// slot. `path` is -1 while the entry is free.
    private struct RIBEntry { var slot: Int32; var path: Int32; var seq: UInt32 }

    /// The parts of a route that are the same for most of a PE's routes in one domain, its PE
    /// and route distinguisher included: kept once here, they keep the route slot at 56 bytes.
    /// A VPN host route's traits are its PE and route distinguisher alone.
    private struct RouteTraits: Equatable {
        var nextHop: IPAddress?
        var esi: ESI
        var label1: UInt32
        var pe: Int32
        var rd: UInt64
    }

    /// One live (PE, BD, MAC, IP) route, 56 bytes. Declaration order is layout order: the words
    /// first, then the 32-bit fields, with no padding.
    private struct RouteSlot {
        var firstSeen: Int64, lastUpdate: Int64
        /// Meaningful on the first slot of a PE's group: the advertisement's last sequence change.
        var advertLastChange: Int64
        /// `SourceRef.packed` of the last update.
        var source: UInt64
        private var ipWord: UInt32
        /// The observation points carrying the route (low 24 bits), the IP's kind (2 bits), sticky
        /// (1 bit) and how many MAC Mobility communities the last update had (5 bits, at most 31).
        private var bits: UInt32
        var mac: Int32
        var next: Int32 = -1
        var seq: UInt32
        /// The PE, route distinguisher, next hop, ESI and label (`traits`).
        var traits: Int32

        static let maxObservations: Int32 = 1 << 24 - 1
        /// `next` of a late copy's slot (ID-3), which is in no MAC's chain: it only answers the
        /// withdrawal that will follow it at its observation point.
        static let lateCopy: Int32 = -2
        private static let ipKindShift: UInt32 = 24, stickyBit: UInt32 = 1 << 26, mobilityShift: UInt32 = 27

        init(firstSeen: Int64, lastUpdate: Int64, advertLastChange: Int64, source: UInt64, ip: SlotIP, sticky: Bool,
             mobilityCommunities: Int, mac: Int32, seq: UInt32, traits: Int32) {
            self.firstSeen = firstSeen; self.lastUpdate = lastUpdate; self.advertLastChange = advertLastChange; self.source = source
            ipWord = 0; bits = 1  // carried at one observation point
            self.mac = mac; self.seq = seq; self.traits = traits
            self.ip = ip; self.sticky = sticky; self.mobilityCommunities = mobilityCommunities
        }

        var sourceRef: SourceRef { SourceRef(packed: source) }
        var observations: Int32 {
            get { Int32(bits & 0xFF_FFFF) }
            set { bits = bits & ~0xFF_FFFF | UInt32(min(max(newValue, 0), Self.maxObservations)) }
        }
        var ip: SlotIP {
            get { SlotIP(word: ipWord, kind: UInt8(bits >> Self.ipKindShift & 3)) }
            set { ipWord = newValue.word; bits = bits & ~(3 << Self.ipKindShift) | UInt32(newValue.kind) << Self.ipKindShift }
        }
        var sticky: Bool {
            get { bits & Self.stickyBit != 0 }
            set { bits = newValue ? bits | Self.stickyBit : bits & ~Self.stickyBit }
        }
        var mobilityCommunities: Int {
            get { Int(bits >> Self.mobilityShift) }
            set {
                let counted = UInt32(min(max(newValue, 0), ReplayEngine.maximumCountedMobilityCommunities))
                bits = bits & ~(31 << Self.mobilityShift) | counted << Self.mobilityShift
            }
        }
    }

    /// A route's IP in 34 bits: an IPv4 address is kept in the slot, an IPv6 address is named by
    /// its IP binding (every MAC+IP route has one, in the MAC's domain, and bindings stay).
    private struct SlotIP {
        var word: UInt32
        var kind: UInt8
        static let none = SlotIP(word: 0, kind: 0)
        static let v4: UInt8 = 1, v6Binding: UInt8 = 2

        init(word: UInt32, kind: UInt8) { self.word = word; self.kind = kind }
        init(_ ip: IPAddress, binding: Int32) {
            self = ip.isIPv6 ? SlotIP(word: UInt32(binding), kind: Self.v6Binding) : SlotIP(word: ip.v4, kind: Self.v4)
        }
    }

    private func ipOf(_ slot: RouteSlot) -> IPAddress? {
        switch slot.ip.kind {
        case SlotIP.v4: IPAddress(v4: slot.ip.word)
        case SlotIP.v6Binding: ipOf(ipBindings[Int(slot.ip.word)])
        default: nil
        }
    }

    @inline(__always) private func slot(_ slot: RouteSlot, carries ip: IPAddress?) -> Bool {
        guard let ip else { return slot.ip.kind == 0 }
        if ip.isIPv6 { return slot.ip.kind == SlotIP.v6Binding && binding(ipBindings[Int(slot.ip.word)], is: ip) }
        return slot.ip.kind == SlotIP.v4 && slot.ip.word == ip.v4
    }

    @inline(__always) private func peOf(_ slot: RouteSlot) -> Int32 { traits[Int(slot.traits)].pe }
    @inline(__always) private func rdOf(_ slot: RouteSlot) -> UInt64 { traits[Int(slot.traits)].rd }

    /// MOB-14's window is MOB-7's (the detector's `--window`).
    public func useMobilityWindow(_ window: Int64) {
        options.moveWindow = window
    }

    public init(options: Options = Options()) {
        self.options = options
        peRules = options.peKey.map { [$0] } ?? [.rd, .originator, .nexthop, .peer]
    }

    // MARK: - Feed

    /// `prefetched`: what `prefetchBucket` returned for this same item, if it was asked.
    public func process(_ item: FeedItem, prefetched: PrefetchTarget = .none) {
        let time = item.time
        if time > now { now = time }
        if firstTime == nil { firstTime = time }
        switch item.payload {
        case .heartbeat: break
        case .session(let event): processSession(event)
        case .route(let event): processRoute(event, prefetched)
        }
    }

    private func processRoute(_ event: RouteEvent, _ prefetched: PrefetchTarget) {
        switch event.entry.nlri {
        case .evpn(let route):
            counters.evpnRoutes += 1
            switch route {
            case .macIP(let r): processMACIP(event, r, prefetched)
            case .ethernetAD(let r):
                if !event.isWithdraw, let pe = identifyPE(event, rd: r.rd) { pes[Int(pe)].ethernetSegments.insert(r.esi) }
            case .ethernetSegment(let r):
                if !event.isWithdraw, let pe = identifyPE(event, rd: r.rd) { pes[Int(pe)].ethernetSegments.insert(r.esi) }
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

    // MARK: - Identification (ID-1, ID-2)

    private func internPE(_ address: IPAddress, _ rule: PEKeyRule, _ time: Int64) -> Int32 {
        let id: Int32
        if let last = lastPE, last.address == address {
            id = last.id
        } else if let known = peID(of: address) {
            id = known
        } else {
            id = Int32(pes.count)
            pes.append(PEInfo(address: address, source: rule, firstSeen: time, lastSeen: time))
            peIndex.insert(id, hash: hostIPHash(address))
        }
        lastPE = (address, id)
        if time > pes[Int(id)].lastSeen { pes[Int(id)].lastSeen = time }
        return id
    }

    public func peID(of address: IPAddress) -> Int32? { peIndex.find(hostIPHash(address)) { pes[Int($0)].address == address } }
    public func observationID(of observation: ObservationPoint) -> Int32? { observationIndex[observation] }

    private func identifyPE(_ event: RouteEvent, rd: RouteDistinguisher) -> Int32? {
        for rule in peRules {
            let address: IPAddress?
            switch rule {
            case .rd:
                address = rd.routerIP
                if let address, let originator = event.attributes.originatorID, originator != address {
                    counters.peConflicts += 1
                    if counters.firstPEConflict == nil { counters.firstPEConflict = (address, originator, event.source) }
                }
            case .originator: address = event.attributes.originatorID
            case .nexthop: address = event.nextHop.flatMap { $0 == IPAddress(v4: 0) ? nil : $0 }
            // The BGP identifier where the input carries it (BMP, RIB dumps), else the peer address (BGP4MP).
            case .peer: address = event.observation.peerBGPID.isZero ? event.observation.peerIP : event.observation.peerBGPID
            }
            if let address { return internPE(address, rule, event.time) }
        }
        counters.noPEIdentified += 1
        return nil
    }

    /// ID-2, without building the target list: routes of one domain carry the same set of
    /// route targets, so the domain is found by an order-independent hash of the set.
    private func internBD(_ event: RouteEvent, rd: RouteDistinguisher, tag: UInt32) -> Int32 {
        let (hash, found) = findBD(event, rd: rd, tag: tag)
        if let found { return found }
        let rdNumber = options.bdKey == .rdNumber ? rd.assignedNumber : 0
        let id = Int32(bds.count)
        let label: String
        switch options.bdKey {
        case .rt:
            let targets = event.attributes.routeTargets.sorted()
            label = (targets.isEmpty ? "no-rt" : targets.map { "rt:\($0)" }.joined(separator: ",")) + " tag \(tag)"
            bds.append(BroadcastDomain(routeTargets: targets, rdNumber: nil, ethernetTag: tag, label: label))
        case .rdNumber:
            label = "rd-number \(rdNumber) tag \(tag)"
            bds.append(BroadcastDomain(routeTargets: [], rdNumber: rdNumber, ethernetTag: tag, label: label))
        }
        let targets = bds[Int(id)].routeTargets.map(\.raw)
        bdKeys.append(BDKey(ethernetTag: tag, rdNumber: rdNumber, firstTarget: Int32(bdTargets.count), targetCount: Int32(targets.count)))
        bdTargets.append(contentsOf: targets)
        bdIndex.insert(id, hash: hash)
        return id
    }

    /// Takes the event, not its attributes: an argument read out of the event would be a copy.
    private func findBD(_ event: RouteEvent, rd: RouteDistinguisher, tag: UInt32) -> (hash: UInt64, id: Int32?) {
        var targetSum: UInt64 = 0, targetCount: UInt64 = 0
        if options.bdKey == .rt {
            for community in event.attributes.extendedCommunities where community.isRouteTarget {
                targetSum &+= hasher.hash(community.raw, 0x5bd1_e995)
                targetCount += 1
            }
        }
        let rdNumber = options.bdKey == .rdNumber ? rd.assignedNumber : 0
        let hash = hasher.hash(targetSum, UInt64(tag) << 32 | UInt64(rdNumber), targetCount, 0, 0)
        let found = bdIndex.find(hash) { id in
            let key = bdKeys[Int(id)]
            guard key.ethernetTag == tag else { return false }
            if options.bdKey == .rdNumber { return key.rdNumber == rdNumber }
            guard key.targetCount == Int32(targetCount) else { return false }
            // Same size and every target of each side present in the other: the same set.
            let known = Int(key.firstTarget)..<Int(key.firstTarget + key.targetCount)
            for community in event.attributes.extendedCommunities where community.isRouteTarget {
                if !known.contains(where: { bdTargets[$0] == community.raw }) { return false }
            }
            return known.allSatisfy { i in event.attributes.extendedCommunities.contains { $0.isRouteTarget && $0.raw == bdTargets[i] } }
        }
        return (hash, found)
    }

    private func internObservation(_ op: ObservationPoint) -> Int32 {
        if let id = recentObservation(op) { return id }
        let id: Int32
        if let known = observationIndex[op] { id = known } else {
            id = Int32(observations.count)
            observations.append(op)
            observationCounts.append(ObservationCounts())
            observationIndex[op] = id
        }
        previousObservation = lastObservation
        lastObservation = (op, id)
        return id
    }

    /// Moves the one used to the front.
    @inline(__always)
    private func recentObservation(_ op: ObservationPoint) -> Int32? {
        guard let id = cachedObservationID(op) else { return nil }
        if id != lastObservation?.id { swap(&lastObservation, &previousObservation) }
        return id
    }

    /// The id of `op` when it is one of the two most recent observation points (no lookup).
    @inline(__always)
    private func cachedObservationID(_ op: ObservationPoint) -> Int32? {
        if let last = lastObservation, last.point == op { return last.id }
        if let previous = previousObservation, previous.point == op { return previous.id }
        return nil
    }

    private func internTraits(_ value: RouteTraits) -> Int32 {
        let hop = value.nextHop
        let hash = hasher.hash(hop?.high ?? 0, (hop?.low ?? 0) ^ (hop == nil ? 0 : hop!.isIPv6 ? 2 : 1) << 62, value.esi.low,
                               UInt64(value.esi.high) << 32 | UInt64(value.label1), value.rd ^ UInt64(UInt32(bitPattern: value.pe)) << 16)
        if let id = traitsIndex.find(hash, { traits[Int($0)] == value }) { return id }
        let id = Int32(traits.count)
        traits.append(value)
        traitsIndex.insert(id, hash: hash)
        return id
    }

    // MARK: - Prefetch

    /// A MAC/IP event's RIB lookup walks index bucket → RIB entry → route slot → MAC, four
    /// dependent loads that miss the cache once the tables outgrow it; a VPN host route's walks
    /// index bucket → host RIB entry → host route slot. `EngineLookahead` calls these stages on
    /// events still waiting their turn, one step per processed event, so each load has arrived
    /// by the time the next step (or `process`) reads it. They change nothing.
    public struct PrefetchTarget {
        /// The event's RIB hash; 0 when there is nothing to follow.
        public var hash: UInt64
        public var hostRoute: Bool
        /// A MAC/IP announcement's MAC index hash (0: none, or its domain is not known yet).
        var macHash: UInt64 = 0
        /// What stage 0 worked out on the way, which processing the same item then reuses:
        /// ids do not change once given, and hashes are of the event's own key.
        var observation: Int32 = -1
        var bd: Int32 = -1
        public static let none = PrefetchTarget(hash: 0, hostRoute: false)
    }

    /// Stage 0: the event's RIB hash, with its index bucket requested.
    public func prefetchBucket(_ item: FeedItem) -> PrefetchTarget {
        guard case .route(let event) = item.payload, let op = cachedObservationID(event.observation) else { return .none }
        // The hash as it is: its low 32 bits are the tag stage 1 matches (a hash of 0 reads as
        // "no chain" and is merely not prefetched).
        switch event.entry.nlri {
        case .evpn(.macIP(let r)):
            let hash = ribHash(ribKey(event, r, op: op))
            ribIndex.prefetch(hash)
            var target = PrefetchTarget(hash: hash, hostRoute: false)
            target.observation = op
            // An announcement from a PE new to the route (a move) looks its MAC up by address.
            if !event.isWithdraw, let bd = findBD(event, rd: r.rd, tag: r.ethernetTag).id {
                target.bd = bd
                target.macHash = macHash(r.mac, bd: bd)
                macIndex.prefetch(target.macHash)
            }
            return target
        case .vpn(let rd, let prefix, _) where prefix.isHostRoute:
            let hash = hostEntryHash(op: op, pathID: event.entry.pathID ?? 0, rd: rd.word, ip: prefix.address)
            hostRIBIndex.prefetch(hash)
            if !event.isWithdraw { hostHeads.prefetch(hostIPHash(prefix.address)) }  // the IP's PE list, read when a PE takes the route
            var target = PrefetchTarget(hash: hash, hostRoute: true)
            target.observation = op
            return target
        default:
            return .none
        }
    }

    /// Stages 1–3: follows the chain one load further; `cursor` is what the previous stage found.
    public func prefetchChain(_ target: PrefetchTarget, stage: Int, cursor: Int32) -> Int32 {
        guard target.hash != 0 else { return -1 }
        switch (stage, target.hostRoute) {
        case (1, false):
            if target.macHash != 0, let mac = macIndex.find(target.macHash, { _ in true }) { macs.prefetch(Int(mac)) }
            return prefetchEntry(ribIndex, target.hash, in: ribEntries)
        case (1, true): return prefetchEntry(hostRIBIndex, target.hash, in: hostEntries)
        case (2, false): return prefetchSlot(of: cursor, in: ribEntries, \.slot, from: routes)
        case (2, true): return prefetchSlot(of: cursor, in: hostEntries, \.slot, from: hostSlots)
        case (_, true): return -1  // a host route slot leads nowhere further
        default:
            guard cursor >= 0, Int(cursor) < routes.highWater else { return -1 }
            let mac = routes[Int(cursor)].mac
            macs.prefetch(Int(mac))
            return mac
        }
    }

    /// The first entry `index` holds under `hash` (the first tag match), requested from `entries`.
    private func prefetchEntry<Entry>(_ index: IDIndex, _ hash: UInt64, in entries: RecyclingTable<Entry>) -> Int32 {
        guard let entry = index.find(hash, { _ in true }) else { return -1 }
        entries.prefetch(Int(entry))
        return entry
    }

    /// The slot entry `cursor` names, requested from `slots`.
    private func prefetchSlot<Entry, Slot>(of cursor: Int32, in entries: RecyclingTable<Entry>, _ slot: (Entry) -> Int32,
                                          from slots: RecyclingTable<Slot>) -> Int32 {
        guard cursor >= 0, Int(cursor) < entries.highWater else { return -1 }
        let found = slot(entries[Int(cursor)])
        slots.prefetch(Int(found))
        return found
    }

    // MARK: - Route table

    /// Where `pe`'s routes for MAC `m` sit in its chain: the group's first and last slot, the
    /// slot carrying `ip`, and the chain's last slot.
    private func locate(_ m: Int, pe: Int32, ip: IPAddress?, rd: UInt64) -> (head: Int32, tail: Int32, route: Int32, chainTail: Int32) {
        var head: Int32 = -1, tail: Int32 = -1, route: Int32 = -1, chainTail: Int32 = -1
        var s = macs[m].firstRoute
        while s >= 0 {
            let slot = routes[Int(s)]
            if peOf(slot) == pe {
                if head < 0 { head = s }
                tail = s
                if self.slot(slot, carries: ip) && rdOf(slot) == rd { route = s }
            }
            chainTail = s
            s = slot.next
        }
        return (head, tail, route, chainTail)
    }

    /// MOB-11 and MOB-8 over one PE's group: highest sequence, any sticky, first non-zero ESI.
    private func summarize(_ m: Int, pe: Int32) -> PEAdvertisement? {
        var s = macs[m].firstRoute
        var result: PEAdvertisement?
        while s >= 0 {
            let slot = routes[Int(s)]
            s = slot.next
            guard peOf(slot) == pe else {
                if result != nil { break }  // groups are contiguous
                continue
            }
            let esi = traits[Int(slot.traits)].esi
            if var advert = result {
                if SequenceOrder.newer(slot.seq, than: advert.seq) { advert.seq = slot.seq }
                if slot.sticky { advert.sticky = true }
                if advert.esi.isZero { advert.esi = esi }
                advert.routeCount += 1
                advert.firstSeen = min(advert.firstSeen, slot.firstSeen)
                result = advert
            } else {
                result = PEAdvertisement(pe: pe, seq: slot.seq, sticky: slot.sticky, esi: esi, routeCount: 1,
                                         firstSeen: slot.firstSeen, lastChange: slot.advertLastChange)
            }
        }
        return result
    }

    private func routeState(_ slot: RouteSlot) -> RouteState {
        let shared = traits[Int(slot.traits)]
        return RouteState(ip: ipOf(slot), seq: slot.seq, sticky: slot.sticky, esi: shared.esi, nextHop: shared.nextHop, label1: shared.label1,
                          rd: RouteDistinguisher(word: rdOf(slot)), observations: slot.observations, firstSeen: slot.firstSeen, lastUpdate: slot.lastUpdate,
                          source: slot.sourceRef, mobilityCommunities: slot.mobilityCommunities)
    }

    // MARK: - MAC/IP routes

    private func ribKey(_ event: RouteEvent, _ r: MACIPAdvertisement, op: Int32) -> RIBKey {
        RIBKey(op: op, pathID: event.entry.pathID ?? 0, rd: r.rd.word, tag: r.ethernetTag, mac: r.mac, ip: r.ip)
    }

    private func ribHash(_ key: RIBKey) -> UInt64 {
        let flags: UInt64 = key.ip == nil ? 0 : key.ip!.isIPv6 ? 3 << 48 : 1 << 48
        return hasher.hash(UInt64(UInt32(bitPattern: key.op)) << 32 | UInt64(key.pathID), key.rd, key.mac.value | flags,
                           (key.ip?.high ?? 0) &+ UInt64(key.tag) &* 0x9E37_79B9_7F4A_7C15, key.ip?.low ?? 0)
    }

    private func findRIBEntry(_ key: RIBKey, path: Int32, hash: UInt64) -> Int32? {
        ribIndex.find(hash) { id in
            let entry = ribEntries[Int(id)]
            guard entry.path == path else { return false }
            let slot = routes[Int(entry.slot)]
            let state = macs[Int(slot.mac)]
            return rdOf(slot) == key.rd && self.slot(slot, carries: key.ip) && state.mac == key.mac && bds[Int(state.bd)].ethernetTag == key.tag
        }
    }

    private func dropRIBEntry(_ id: Int32, hash: UInt64) {
        ribIndex.remove(id, hash: hash)
        ribEntries[Int(id)].path = -1
        ribEntries.release(id)
    }

    private func processMACIP(_ event: RouteEvent, _ r: MACIPAdvertisement, _ prefetched: PrefetchTarget) {
        let op = prefetched.observation >= 0 ? prefetched.observation : internObservation(event.observation)
        let key = ribKey(event, r, op: op)
        let path = internPath(op: op, pathID: key.pathID)
        let hash = prefetched.hash != 0 ? prefetched.hash : ribHash(key)
        var existing = findRIBEntry(key, path: path, hash: hash)
        if observationCounts[Int(op)].firstSource == nil { observationCounts[Int(op)].firstSource = event.source }
        if event.isWithdraw {
            counters.withdrawals += 1
            observationCounts[Int(op)].withdrawals += 1
            guard let existing else {
                counters.unknownWithdrawals += 1
                observationCounts[Int(op)].unknownWithdrawals += 1
                return
            }
            let slot = ribEntries[Int(existing)].slot
            dropRIBEntry(existing, hash: hash)
            removeObservation(slot, kind: .withdrawn, time: event.time, source: event.source, op: op)
            return
        }
        // This observation point held a late copy; whatever it says now is its own news.
        if let copy = existing, case let slot = ribEntries[Int(copy)].slot, routes[Int(slot)].next == RouteSlot.lateCopy {
            dropRIBEntry(copy, hash: hash)
            routes.release(slot)
            existing = nil
        }
        counters.announcements += 1
        observationCounts[Int(op)].announcements += 1
        guard let pe = identifyPE(event, rd: r.rd) else { return }
        let bd = prefetched.bd >= 0 ? prefetched.bd : internBD(event, rd: r.rd, tag: r.ethernetTag)
        let mac: Int32
        // A re-announcement names its MAC through the RIB entry (same MAC address and tag by the
        // key): the MAC index is only searched when the domain differs or the route is new.
        if let existing, case let known = routes[Int(ribEntries[Int(existing)].slot)].mac, macs[Int(known)].bd == bd {
            mac = known
        } else {
            mac = internMAC(r.mac, bd: bd, time: event.time, hash: prefetched.bd == bd ? prefetched.macHash : 0)
        }
        let mobility = event.attributes.macMobility
        let seq = mobility?.sequence ?? 0
        var previousSeq: UInt32?
        if let existing {
            let old = ribEntries[Int(existing)]
            let slot = routes[Int(old.slot)]
            if slot.mac == mac && peOf(slot) == pe {
                previousSeq = old.seq
            } else {
                // The same NLRI at this observation point now belongs to another PE or domain.
                dropRIBEntry(existing, hash: hash)
                removeObservation(old.slot, kind: .withdrawn, time: event.time, source: event.source, op: op)
            }
        }
        let traitID = internTraits(RouteTraits(nextHop: event.nextHop, esi: r.esi, label1: r.label1, pe: pe, rd: key.rd))
        // Bound before the slot is made (an IPv6 slot names its binding); a changed binding is
        // reported after the announcement's own transitions.
        var slotIP = SlotIP.none, boundBefore: Int32?
        if let ip = r.ip {
            let binding = bindIP(ip, bd: bd, mac: mac)
            slotIP = SlotIP(ip, binding: binding.id)
            boundBefore = binding.previousMAC
        }
        let sticky = mobility?.sticky ?? false, mobilityCommunities = event.attributes.macMobilityCount
        if let existing, previousSeq == seq, r.ip == nil || boundBefore == mac {
            let s = ribEntries[Int(existing)].slot
            let slot = routes[Int(s)]
            if slot.seq == seq && slot.traits == traitID && slot.sticky == sticky && slot.mobilityCommunities == min(mobilityCommunities, Self.maximumCountedMobilityCommunities) {
                refresh(slot: s, mac: mac, pe: pe, op: op, ip: r.ip, time: event.time, source: event.source)
                return
            }
        }
        let incoming = RouteSlot(firstSeen: event.time, lastUpdate: event.time, advertLastChange: event.time,
                                 source: event.source.packed, ip: slotIP, sticky: sticky,
                                 mobilityCommunities: mobilityCommunities, mac: mac,
                                 seq: seq, traits: traitID)
        guard let slot = announce(mac: mac, route: incoming, ip: r.ip, previousSeqAtObservation: previousSeq, op: op) else { return }
        if let existing, previousSeq != nil {
            ribEntries[Int(existing)].seq = seq
            ribEntries[Int(existing)].slot = slot
        } else {
            ribIndex.insert(ribEntries.add(RIBEntry(slot: slot, path: path, seq: seq)), hash: hash)
        }
        if let ip = r.ip, let previous = boundBefore, previous != mac {
            var t = Transition(kind: .ipMoved, time: event.time, mac: mac, pe: pe, source: event.source)
            t.ip = ip
            t.otherMAC = previous
            emit(t)
        }
    }

    private func macHash(_ address: MACAddress, bd: Int32) -> UInt64 {
        hasher.hash(UInt64(UInt32(bitPattern: bd)), address.value)
    }

    /// `hash`: the MAC's hash when already known, or 0.
    private func findMAC(_ address: MACAddress, bd: Int32, hash known: UInt64 = 0) -> (hash: UInt64, id: Int32?) {
        let hash = known != 0 ? known : macHash(address, bd: bd)
        return (hash, macIndex.find(hash) { macs[Int($0)].mac == address && macs[Int($0)].bd == bd })
    }

    private func internMAC(_ address: MACAddress, bd: Int32, time: Int64, hash known: UInt64 = 0) -> Int32 {
        let (hash, found) = findMAC(address, bd: bd, hash: known)
        if let found { return found }
        let mac = Int32(macs.count)
        macs.append(MACState(mac: address, firstSeen: time, lastChange: time, bd: bd))
        macIndex.insert(mac, hash: hash)
        return mac
    }

    /// Applies one announcement to the MAC's routes and returns the slot now holding it; nil
    /// (nothing changed) for a copy beyond the slot's count of observation points.
    private func announce(mac: Int32, route incoming: RouteSlot, ip: IPAddress?, previousSeqAtObservation: UInt32?, op: Int32) -> Int32? {
        let m = Int(mac), pe = peOf(incoming), time = incoming.lastUpdate, source = incoming.sourceRef
        let winnerBefore = macs[m].winner
        let winnerSeqBefore = macs[m].winnerSeq
        let place = locate(m, pe: pe, ip: ip, rd: rdOf(incoming))
        // 2^24 copies of one route need 2^24 observation points or add-path ids: crafted input.
        if place.route >= 0 && previousSeqAtObservation == nil && routes[Int(place.route)].observations == RouteSlot.maxObservations {
            counters.copiesBeyondLimit += 1
            return nil
        }
        let isNewAdvert = place.head < 0
        if isNewAdvert && previousSeqAtObservation == nil && isLateCopy(m, pe: pe, seq: incoming.seq, op: op, time: time) {
            var copy = incoming
            copy.next = RouteSlot.lateCopy
            return routes.add(copy)
        }
        let peSeqBefore = isNewAdvert ? 0 : summarize(m, pe: pe)!.seq
        var isRefresh = false
        let slot: Int32
        if place.route >= 0 {
            slot = place.route
            var route = routes[Int(slot)]
            if previousSeqAtObservation == nil { route.observations += 1 }
            // A lagging observation point repeating an older sequence does not roll the route back
            // (ID-3); a sequence that falls at one observation point is the PE's own decrease.
            if SequenceOrder.newer(incoming.seq, than: route.seq)
                || previousSeqAtObservation.map({ SequenceOrder.newer($0, than: incoming.seq) }) == true {
                route.seq = incoming.seq
            }
            isRefresh = previousSeqAtObservation == incoming.seq || (previousSeqAtObservation == nil && route.seq == incoming.seq)
            route.sticky = incoming.sticky
            route.traits = incoming.traits
            route.lastUpdate = time
            route.source = incoming.source
            route.mobilityCommunities = incoming.mobilityCommunities
            routes[Int(slot)] = route
        } else {
            slot = routes.add(incoming)
            // Keep each PE's routes together, PEs in order of their first advertisement.
            let after = isNewAdvert ? place.chainTail : place.tail
            if after < 0 {
                macs[m].firstRoute = slot
            } else {
                routes[Int(slot)].next = routes[Int(after)].next
                routes[Int(after)].next = slot
            }
        }
        let peSeqAfter = summarize(m, pe: pe)!.seq
        if peSeqAfter != peSeqBefore && !isNewAdvert { routes[Int(place.head)].advertLastChange = time }
        recomputeWinner(m)
        let winnerAfter = macs[m].winner
        var t = Transition(kind: .updated, time: time, mac: mac, pe: pe, source: source)
        t.observation = op
        t.ip = ip
        t.sticky = incoming.sticky

        if isNewAdvert {
            if winnerBefore < 0, let owner = departedOwner(m, notPE: pe, time: time), SequenceOrder.newer(peSeqAfter, than: owner.seq) {
                // MOB-14: the higher sequence proves the PE saw the withdrawn owner's route.
                var template = t
                template.detail = "across a withdrawal"
                emitMove(m, from: owner.pe, to: pe, seqBefore: owner.seq, seqAfter: peSeqAfter, template: template)
            } else if winnerBefore < 0 {
                t.kind = .learned; t.seqAfter = peSeqAfter
                emit(t)
            } else if winnerAfter == pe {
                if sameSegment(pe, winnerBefore, m) {
                    t.kind = .aliased; t.otherPE = winnerBefore; t.seqAfter = peSeqAfter
                    emit(t)
                } else {
                    emitMove(m, from: winnerBefore, to: pe, seqBefore: winnerSeqBefore, seqAfter: peSeqAfter, template: t)
                }
            } else if sameSegment(pe, winnerAfter, m) {
                t.kind = .aliased; t.otherPE = winnerAfter; t.seqAfter = peSeqAfter
                emit(t)
            } else if summarize(m, pe: winnerAfter)?.sticky == true {
                t.kind = .stickyConflict; t.otherPE = winnerAfter; t.seqBefore = macs[m].winnerSeq; t.seqAfter = peSeqAfter
                emit(t)
            } else {
                t.kind = .rejected; t.otherPE = winnerAfter; t.seqBefore = macs[m].winnerSeq; t.seqAfter = peSeqAfter
                t.tie = peSeqAfter == macs[m].winnerSeq
                emit(t)
            }
            return slot
        }
        // The same PE again: a refresh (MOB-13), a new IP for the MAC, or a sequence change.
        if peSeqAfter != peSeqBefore || isRefresh {
            t.kind = .updated; t.seqBefore = peSeqBefore; t.seqAfter = peSeqAfter
            t.wrap = SequenceOrder.isWrap(from: peSeqBefore, to: peSeqAfter)
            t.otherPE = winnerAfter
            emit(t)
        }
        if winnerAfter != winnerBefore && winnerBefore >= 0 && winnerAfter >= 0 && !sameSegment(winnerBefore, winnerAfter, m) {
            emitMove(m, from: winnerBefore, to: winnerAfter, seqBefore: winnerSeqBefore, seqAfter: macs[m].winnerSeq, template: t)
        }
        return slot
    }

    /// MOB-13: the route repeated at the same observation point with nothing changed (a route
    /// refresh, a RIB snapshot repeating the updates before it). What `announce` would do for
    /// it, without walking the MAC's routes three times: the time and source are renewed and the
    /// refresh is reported; sequences, winner and bindings stay as they are.
    private func refresh(slot: Int32, mac: Int32, pe: Int32, op: Int32, ip: IPAddress?, time: Int64, source: SourceRef) {
        routes[Int(slot)].lastUpdate = time
        routes[Int(slot)].source = source.packed
        let m = Int(mac)
        let peSeq = summarize(m, pe: pe)!.seq
        // The source as the slot keeps it, as `announce` reports it.
        var t = Transition(kind: .updated, time: time, mac: mac, pe: pe, source: SourceRef(packed: source.packed))
        t.observation = op
        t.ip = ip
        t.sticky = routes[Int(slot)].sticky
        t.seqBefore = peSeq; t.seqAfter = peSeq
        t.wrap = SequenceOrder.isWrap(from: peSeq, to: peSeq)
        t.otherPE = macs[m].winner
        emit(t)
    }

    private func emitMove(_ m: Int, from: Int32, to: Int32, seqBefore: UInt32, seqAfter: UInt32, template: Transition) {
        var t = template
        t.kind = .moved
        t.pe = to
        t.otherPE = from
        t.seqBefore = seqBefore
        t.seqAfter = seqAfter
        t.tie = seqBefore == seqAfter
        t.wrap = SequenceOrder.isWrap(from: seqBefore, to: seqAfter)
        macs[m].moves += 1
        macs[m].lastChange = t.time
        emit(t)
        if let old = summarize(m, pe: from) {
            var superseded = template
            superseded.kind = .superseded
            superseded.pe = from
            superseded.otherPE = to
            superseded.seqBefore = old.seq
            superseded.seqAfter = seqAfter
            superseded.ip = nil
            emit(superseded)
        }
    }

    /// MOB-8: two PEs on the same non-zero ESI are one multi-homed attachment.
    private func sameSegment(_ a: Int32, _ b: Int32, _ m: Int) -> Bool {
        guard a >= 0, b >= 0, let first = summarize(m, pe: a), let second = summarize(m, pe: b) else { return false }
        return !first.esi.isZero && first.esi == second.esi
    }

    /// MOB-3/4/6: sticky first, then the newest sequence, then the lowest PE address.
    private func recomputeWinner(_ m: Int) {
        var best: (pe: Int32, seq: UInt32, sticky: Bool)?
        var s = macs[m].firstRoute
        while s >= 0 {
            // One PE's group is contiguous: fold it, then compare it with the best so far.
            let pe = peOf(routes[Int(s)])
            var seq = routes[Int(s)].seq, sticky = routes[Int(s)].sticky
            s = routes[Int(s)].next
            while s >= 0 && peOf(routes[Int(s)]) == pe {
                if SequenceOrder.newer(routes[Int(s)].seq, than: seq) { seq = routes[Int(s)].seq }
                if routes[Int(s)].sticky { sticky = true }
                s = routes[Int(s)].next
            }
            guard let current = best else { best = (pe, seq, sticky); continue }
            if sticky != current.sticky {
                if sticky { best = (pe, seq, sticky) }
                continue
            }
            if seq != current.seq {
                if SequenceOrder.newer(seq, than: current.seq) { best = (pe, seq, sticky) }
            } else if pes[Int(pe)].address < pes[Int(current.pe)].address {
                best = (pe, seq, sticky)
            }
        }
        macs[m].winner = best?.pe ?? -1
        macs[m].winnerSeq = best?.seq ?? 0
    }

    /// The MAC's departure list, made on first use.
    private func departureList(_ m: Int) -> Int32 {
        if macs[m].departures >= 0 { return macs[m].departures }
        let list = departureLists.add([])
        if Int(list) == departureListOwners.count { departureListOwners.append(Int32(m)) } else { departureListOwners[Int(list)] = Int32(m) }
        macs[m].departures = list
        return list
    }

    /// ID-3: an announcement from `pe` that repeats, at another observation point and within
    /// the copy lag, an advertisement that has just been withdrawn everywhere it was seen.
    private func isLateCopy(_ m: Int, pe: Int32, seq: UInt32, op: Int32, time: Int64) -> Bool {
        let list = macs[m].departures
        guard list >= 0 else { return false }
        return departureLists[Int(list)].contains {
            $0.pe == pe && $0.observation != op && time - $0.time <= options.copyLag && !SequenceOrder.newer(seq, than: $0.seq)
        }
    }

    /// MOB-14: the last other PE that owned the MAC when its advertisement ended, within the window.
    private func departedOwner(_ m: Int, notPE pe: Int32, time: Int64) -> Departure? {
        let list = macs[m].departures
        guard list >= 0, let last = departureLists[Int(list)].last(where: { $0.wasOwner && $0.pe != pe }) else { return nil }
        return time - last.time <= options.moveWindow ? last : nil
    }

    private func recordDeparture(_ m: Int, _ departure: Departure) {
        let list = Int(departureList(m))
        departureLists[list].removeAll { $0.pe == departure.pe }
        if departureLists[list].count >= Self.departuresKept { departureLists[list].removeFirst() }
        departureLists[list].append(departure)
    }

    private func removeObservation(_ s: Int32, kind: Transition.Kind, time: Int64, source: SourceRef, op: Int32) {
        if routes[Int(s)].next == RouteSlot.lateCopy { routes.release(s); return }
        routes[Int(s)].observations -= 1
        guard routes[Int(s)].observations <= 0 else { return }
        let removed = routes[Int(s)]
        let m = Int(removed.mac), pe = peOf(removed)
        let removedESI = summarize(m, pe: pe)?.esi ?? .zero
        // Unlink; the group's advertisement time moves to its next slot if this one led it.
        var previous: Int32 = -1, cursor = macs[m].firstRoute
        while cursor >= 0 && cursor != s { previous = cursor; cursor = routes[Int(cursor)].next }
        guard cursor == s else { return }
        if previous < 0 { macs[m].firstRoute = removed.next } else { routes[Int(previous)].next = removed.next }
        let ledGroup = previous < 0 || peOf(routes[Int(previous)]) != pe
        if ledGroup, removed.next >= 0, peOf(routes[Int(removed.next)]) == pe {
            routes[Int(removed.next)].advertLastChange = removed.advertLastChange
        }
        routes.release(s)
        let groupRemains = (previous >= 0 && peOf(routes[Int(previous)]) == pe) || (removed.next >= 0 && peOf(routes[Int(removed.next)]) == pe)
        guard !groupRemains else { return }
        let winnerBefore = macs[m].winner
        let winnerSeqBefore = macs[m].winnerSeq
        recordDeparture(m, Departure(pe: pe, seq: removed.seq, observation: op, time: time, wasOwner: winnerBefore == pe))
        recomputeWinner(m)
        macs[m].lastChange = time
        var t = Transition(kind: kind, time: time, mac: removed.mac, pe: pe, source: source)
        t.seqBefore = removed.seq
        t.otherPE = macs[m].winner
        emit(t)
        // The owner left and another PE's route with the same sequence takes over: the PE that
        // tied without incrementing now has the MAC (W-13), a move unless the two PEs share the
        // MAC's Ethernet segment. Falling back to a route the owner had superseded is no move:
        // that route is stale and about to be withdrawn (its PE saw the higher sequence).
        let winnerAfter = macs[m].winner
        if winnerBefore == pe, winnerAfter >= 0, let next = summarize(m, pe: winnerAfter),
           !SequenceOrder.newer(winnerSeqBefore, than: next.seq), removedESI.isZero || next.esi != removedESI {
            var template = t
            template.detail = "after \(kind.rawValue)"
            emitMove(m, from: pe, to: winnerAfter, seqBefore: winnerSeqBefore, seqAfter: macs[m].winnerSeq, template: template)
        }
    }

    /// Binds `ip` in domain `bd` to `mac`: the binding's index and the MAC it named before (nil
    /// for a new binding).
    private func bindIP(_ ip: IPAddress, bd: Int32, mac: Int32) -> (id: Int32, previousMAC: Int32?) {
        let hash = hasher.hash(ip.high ^ UInt64(UInt32(bitPattern: bd)) << 32, ip.low ^ (ip.isIPv6 ? 1 << 63 : 0))
        if let id = ipBindingIndex.find(hash, { binding(ipBindings[Int($0)], is: ip) && macs[Int(ipBindings[Int($0)].mac)].bd == bd }) {
            let previous = ipBindings[Int(id)].mac
            ipBindings[Int(id)].mac = mac
            return (id, previous)
        }
        ipBindings.append(IPBinding(address: addressWord(for: ip), mac: mac, isIPv6: ip.isIPv6))
        let id = Int32(ipBindings.count - 1)
        ipBindingIndex.insert(id, hash: hash)
        return (id, nil)
    }

    // MARK: - VPN host routes (evidence for STALE-HOST-ROUTE)

    /// Hash of an address alone (PEs, VPN host routes).
    private func hostIPHash(_ ip: IPAddress) -> UInt64 { hasher.hash(ip.high, ip.low ^ (ip.isIPv6 ? 1 << 63 : 0)) }

    private func hostEntryHash(op: Int32, pathID: UInt32, rd: UInt64, ip: IPAddress) -> UInt64 {
        hasher.hash(UInt64(UInt32(bitPattern: op)) << 32 | UInt64(pathID), rd, ip.high, ip.low ^ (ip.isIPv6 ? 1 << 63 : 0), 0)
    }

    private func processHostRoute(_ event: RouteEvent, rd: RouteDistinguisher, prefix: IPPrefix, _ prefetched: PrefetchTarget) {
        let op = prefetched.observation >= 0 ? prefetched.observation : internObservation(event.observation)
        let pathID = event.entry.pathID ?? 0
        let rdWord = rd.word
        let ip = prefix.address
        let path = internPath(op: op, pathID: pathID)
        let hash = prefetched.hash != 0 ? prefetched.hash : hostEntryHash(op: op, pathID: pathID, rd: rdWord, ip: ip)
        let existing = hostRIBIndex.find(hash) { id in
            let entry = hostEntries[Int(id)]
            return entry.path == path && traits[Int(entry.traits)].rd == rdWord && hostSlot(entry.slot, is: ip)
        }
        if event.isWithdraw {
            guard let existing else { return }
            let slot = hostEntries[Int(existing)].slot
            dropHostEntry(existing, hash: hash)
            dropHostObservation(slot)
            return
        }
        guard let pe = identifyPE(event, rd: rd) else { return }
        if let existing {
            let slot = hostEntries[Int(existing)].slot
            if hostSlots[Int(slot)].pe == pe { hostSlots[Int(slot)].lastUpdate = event.time; return }
            dropHostEntry(existing, hash: hash)
            dropHostObservation(slot)
        }
        let slot = addHostObservation(ip, pe: pe, time: event.time)
        let traitID = internTraits(RouteTraits(nextHop: nil, esi: .zero, label1: 0, pe: pe, rd: rdWord))
        hostRIBIndex.insert(hostEntries.add(HostRIBEntry(traits: traitID, slot: slot, path: path)), hash: hash)
    }

    private func dropHostEntry(_ id: Int32, hash: UInt64) {
        hostRIBIndex.remove(id, hash: hash)
        hostEntries[Int(id)].path = -1
        hostEntries.release(id)
    }

    private func addHostObservation(_ ip: IPAddress, pe: Int32, time: Int64) -> Int32 {
        let ipHash = hostIPHash(ip)
        let head = hostHeads.find(ipHash) { hostSlot($0, is: ip) }
        var last: Int32 = -1, cursor = head ?? -1
        while cursor >= 0 {
            if hostSlots[Int(cursor)].pe == pe {
                hostSlots[Int(cursor)].observations += 1
                hostSlots[Int(cursor)].lastUpdate = time
                return cursor
            }
            last = cursor
            cursor = hostSlots[Int(cursor)].next
        }
        let slot = hostSlots.add(HostRouteSlot(lastUpdate: time, address: addressWord(for: ip), isIPv6: ip.isIPv6, pe: pe))
        if last >= 0 { hostSlots[Int(last)].next = slot } else { hostHeads.insert(slot, hash: ipHash) }
        return slot
    }

    private func dropHostObservation(_ slot: Int32) {
        hostSlots[Int(slot)].observations -= 1
        guard hostSlots[Int(slot)].observations <= 0 else { return }
        let ip = ipOf(hostSlots[Int(slot)]), next = hostSlots[Int(slot)].next
        let ipHash = hostIPHash(ip)
        guard let head = hostHeads.find(ipHash, { hostSlot($0, is: ip) }) else { return }
        if head == slot {
            hostHeads.remove(slot, hash: ipHash)
            if next >= 0 { hostHeads.insert(next, hash: ipHash) }
        } else {
            var previous = head
            while hostSlots[Int(previous)].next != slot && hostSlots[Int(previous)].next >= 0 { previous = hostSlots[Int(previous)].next }
            hostSlots[Int(previous)].next = next
        }
        if ip.isIPv6 { ipv6Rows.release(Int32(hostSlots[Int(slot)].address)) }
        hostSlots.release(slot)
    }

    /// PEs that currently attract traffic for `ip` through a VPNv4/VPNv6 host route.
    public func hostRoutePEs(_ ip: IPAddress) -> [HostRouteState] {
        var result: [HostRouteState] = []
        var cursor = firstHostSlot(of: ip)
        while cursor >= 0 {
            let slot = hostSlots[Int(cursor)]
            result.append(HostRouteState(pe: slot.pe, observations: slot.observations, lastUpdate: slot.lastUpdate))
            cursor = slot.next
        }
        return result
    }

    /// Whether `pe` advertises a VPN host route for `ip`: `hostRoutePEs` without the array.
    public func hostRoute(_ ip: IPAddress, isAdvertisedBy pe: Int32) -> Bool {
        var cursor = firstHostSlot(of: ip)
        while cursor >= 0 && hostSlots[Int(cursor)].pe != pe { cursor = hostSlots[Int(cursor)].next }
        return cursor >= 0
    }

    /// The first of `ip`'s host route slots (one per PE, chained), -1 when it has none.
    private func firstHostSlot(of ip: IPAddress) -> Int32 {
        hostHeads.find(hostIPHash(ip)) { hostSlot($0, is: ip) } ?? -1
    }

    // MARK: - Sessions (MOB-12)

    private func processSession(_ event: SessionEvent) {
        let lostObservations: Set<Int32>
        let reason: String
        switch event.kind {
        case .established, .stateChange, .monitoringStarted: return
        case .endOfRIB: counters.endOfRIBs += 1; return
        case .down(let why):
            let session = event.observation.session
            lostObservations = Set(observations.indices.filter { observations[$0].session == session }.map(Int32.init))
            reason = why
        case .monitoringEnded(let why):
            lostObservations = Set(observations.indices.filter { observations[$0].router == event.observation.router }.map(Int32.init))
            reason = why
        }
        counters.sessionLosses += 1
        // The peer itself may be a PE (BMP on route reflectors reports each PE's session).
        var downPE: Int32?
        if case .down = event.kind {
            downPE = peID(of: event.observation.peerIP) ?? peID(of: event.observation.peerBGPID)
        }
        if let downPE {
            pes[Int(downPE)].sessionsDown += 1
            var t = Transition(kind: .peerDown, time: event.time, mac: -1, pe: downPE, source: event.source)
            t.detail = reason
            t.observation = internObservation(event.observation)
            emit(t)
        }
        guard !lostObservations.isEmpty else { return }
        let lostPaths = Set(paths.indices.filter { lostObservations.contains(paths[$0].op) }.map(Int32.init))
        let lost = (0..<ribEntries.highWater).filter { ribEntries[$0].path >= 0 && lostPaths.contains(ribEntries[$0].path) }
        // Deterministic order: by MAC index, then PE, then observation point and path id.
        func order(_ id: Int) -> (Int32, Int32, Int32, UInt32) {
            let entry = ribEntries[id]
            return (routes[Int(entry.slot)].mac, peOf(routes[Int(entry.slot)]), paths[Int(entry.path)].op, paths[Int(entry.path)].pathID)
        }
        for id in lost.sorted(by: { order($0) < order($1) }) {
            let entry = ribEntries[id]
            let slot = routes[Int(entry.slot)]
            let state = macs[Int(slot.mac)]
            let path = paths[Int(entry.path)]
            let key = RIBKey(op: path.op, pathID: path.pathID, rd: rdOf(slot), tag: bds[Int(state.bd)].ethernetTag, mac: state.mac, ip: ipOf(slot))
            dropRIBEntry(Int32(id), hash: ribHash(key))
            removeObservation(entry.slot, kind: .flushed, time: event.time, source: event.source, op: path.op)
        }
        for id in 0..<hostEntries.highWater where hostEntries[id].path >= 0 && lostPaths.contains(hostEntries[id].path) {
            let entry = hostEntries[id]
            let path = paths[Int(entry.path)]
            dropHostEntry(Int32(id), hash: hostEntryHash(op: path.op, pathID: path.pathID, rd: traits[Int(entry.traits)].rd, ip: ipOf(hostSlots[Int(entry.slot)])))
            dropHostObservation(entry.slot)
        }
    }

    private func emit(_ t: Transition) { onTransition(t) }

    // MARK: - Queries

    public func macState(bd: Int32, mac: MACAddress) -> MACState? {
        findMAC(mac, bd: bd).id.map { macs[Int($0)] }
    }

    /// What `pe` advertises for MAC `mac` (an index into `macs`), nil when it advertises nothing.
    public func advert(mac: Int32, pe: Int32) -> PEAdvertisement? {
        guard mac >= 0, pe >= 0 else { return nil }
        return summarize(Int(mac), pe: pe)
    }

    /// Every PE's advertisement for MAC `mac`, in the order the PEs first advertised it.
    public func adverts(mac: Int32) -> [PEAdvertisement] {
        var result: [PEAdvertisement] = []
        forEachAdvert(mac: mac) { result.append($0) }
        return result
    }

    /// `adverts(mac:)` without an array: the final write visits every MAC.
    public func forEachAdvert(mac: Int32, _ body: (PEAdvertisement) throws -> Void) rethrows {
        var s = macs[Int(mac)].firstRoute
        while s >= 0 {
            let pe = peOf(routes[Int(s)])
            if let advert = summarize(Int(mac), pe: pe) { try body(advert) }
            while s >= 0 && peOf(routes[Int(s)]) == pe { s = routes[Int(s)].next }
        }
    }

    /// The IP address of each MAC+IP route of MAC `mac` (of PE `pe` only, if given).
    public func forEachIP(mac: Int32, pe: Int32? = nil, _ body: (IPAddress) throws -> Void) rethrows {
        var s = macs[Int(mac)].firstRoute
        while s >= 0 {
            if pe == nil || peOf(routes[Int(s)]) == pe, let ip = ipOf(routes[Int(s)]) { try body(ip) }
            s = routes[Int(s)].next
        }
    }

    /// The routes (MAC-only and MAC+IP) `pe` advertises for MAC `mac`.
    public func routes(mac: Int32, pe: Int32) -> [RouteState] {
        var result: [RouteState] = []
        var s = macs[Int(mac)].firstRoute
        while s >= 0 {
            if peOf(routes[Int(s)]) == pe { result.append(routeState(routes[Int(s)])) }
            s = routes[Int(s)].next
        }
        return result
    }

    /// The route of `pe` for MAC `mac` that carries `ip` (nil: the MAC-only route).
    public func route(mac: Int32, pe: Int32, ip: IPAddress?) -> RouteState? {
        routeSlot(mac: mac, pe: pe, ip: ip).map { routeState(routes[Int($0)]) }
    }

    /// A route keeps its count of MAC Mobility communities in 5 bits: a count of 31 means "31 or more".
    public static let maximumCountedMobilityCommunities = 31

    /// How many MAC Mobility communities the last update of that route carried (MOB-9), 0 when
    /// there is no such route: `route(mac:pe:ip:)` without building the whole state.
    public func mobilityCommunities(mac: Int32, pe: Int32, ip: IPAddress?) -> Int {
        routeSlot(mac: mac, pe: pe, ip: ip).map { routes[Int($0)].mobilityCommunities } ?? 0
    }

    private func routeSlot(mac: Int32, pe: Int32, ip: IPAddress?) -> Int32? {
        var s = macs[Int(mac)].firstRoute
        while s >= 0 {
            if peOf(routes[Int(s)]) == pe && slot(routes[Int(s)], carries: ip) { return s }
            s = routes[Int(s)].next
        }
        return nil
    }

    /// MOB-11 evidence: `pe` advertises the MAC's routes with more than one sequence number.
    public func hasMixedSequences(mac: Int32, pe: Int32) -> Bool {
        var first: UInt32?
        var s = macs[Int(mac)].firstRoute
        while s >= 0 {
            let slot = routes[Int(s)]
            if peOf(slot) == pe {
                if let first, first != slot.seq { return true }
                first = slot.seq
            }
            s = slot.next
        }
        return false
    }

    /// Releases the departure lists of MACs not withdrawn anywhere since `time` (MOB-14 looks
    /// back one window, ID-3 one copy lag), so memory follows the MACs withdrawn lately.
    public func forgetDepartures(before time: Int64) {
        for list in departureListOwners.indices where departureListOwners[list] >= 0 {
            guard (departureLists[list].last?.time ?? .min) < time else { continue }
            departureLists[list] = []
            departureLists.release(Int32(list))
            macs[Int(departureListOwners[list])].departures = -1
            departureListOwners[list] = -1
        }
    }

    /// Routes carried per observation point and path id (a route seen twice counts twice).
    public var liveObservations: Int { ribIndex.count }

    /// MACs `pe` still advertises (with a route last updated at or before `since`, if given).
    public func liveAdvertisements(of pe: Int32, since: Int64? = nil) -> [Int32] {
        var result: [Int32] = []
        for m in macs.indices {
            var s = macs[m].firstRoute
            while s >= 0 {
                let slot = routes[Int(s)]
                if peOf(slot) == pe && (since.map { slot.lastUpdate <= $0 } ?? true) { result.append(Int32(m)); break }
                s = slot.next
            }
        }
        return result
    }

    /// Bytes of memory the route state has touched, per table, for `make bench`'s bytes-per-route
    /// figure: tables up to their high-water mark (capacity beyond it is never written, so never
    /// resident), hash indexes in full.
    public var stateBytesByTable: [(table: String, bytes: Int)] {
        [("route slots", routes.highWater * MemoryLayout<RouteSlot>.stride),
         ("MACs", macs.count * MemoryLayout<MACState>.stride),
         ("departures", (0..<departureLists.highWater).reduce(departureLists.highWater * MemoryLayout<[Departure]>.stride) { total, i in
             let kept = departureLists[i].capacity
             return total + (kept > 0 ? 32 + kept * MemoryLayout<Departure>.stride : 0) }),
         ("RIB entries", ribEntries.highWater * MemoryLayout<RIBEntry>.stride),
         ("RIB index", ribIndex.bucketCount * 8),
         ("MAC index", macIndex.bucketCount * 8),
         ("IP bindings", ipBindings.count * MemoryLayout<IPBinding>.stride + ipv6Rows.highWater * MemoryLayout<IPv6Row>.stride
                          + ipBindingIndex.bucketCount * 8),
         ("host routes", hostSlots.highWater * MemoryLayout<HostRouteSlot>.stride + hostEntries.highWater * MemoryLayout<HostRIBEntry>.stride
            + (hostHeads.bucketCount + hostRIBIndex.bucketCount) * 8),
         ("traits and domains", traits.count * MemoryLayout<RouteTraits>.stride + (traitsIndex.bucketCount + bdIndex.bucketCount) * 8)]
    }

    public var stateBytes: Int { stateBytesByTable.reduce(0) { $0 + $1.bytes } }
}
