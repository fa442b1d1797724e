import EVPNModel

/// Rebuilds what every PE advertised and what a PE applying RFC 7432 §15 would install, from
/// time-ordered feed items, and reports each change as a `Transition`.
///
/// Layout for speed and memory: every live (PE, BD, MAC, IP) route is one fixed-size slot in
/// `routes`, chained per MAC and grouped by PE, so no MAC owns a heap object of its own; the
/// per-observation RIB maps a compact key to a slot. Attributes shared by many routes (RD,
/// next hop, ESI, label) are interned once.
public final class ReplayEngine {
    public struct Options: Sendable {
        /// Force one ID-1 rule; nil applies them in the spec's order of preference.
        public var peKey: PEKeyRule?
        public var bdKey: BDKeyRule
        /// Move times kept per MAC (MOB-7 needs N+1 of them).
        public var moveHistory: Int
        public init(peKey: PEKeyRule? = nil, bdKey: BDKeyRule = .rt, moveHistory: Int = 16) {
            self.peKey = peKey; self.bdKey = bdKey; self.moveHistory = moveHistory
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
    }

    public let options: Options
    public private(set) var pes: [PEInfo] = []
    public private(set) var bds: [BroadcastDomain] = []
    public private(set) var macs: [MACState] = []
    public private(set) var observations: [ObservationPoint] = []
    public private(set) var counters = Counters()
    public private(set) var now: Int64 = 0
    public private(set) var firstTime: Int64?
    /// Live (PE, BD, MAC, IP) routes: one per PE however many observation points carry it (ID-3).
    public private(set) var liveRoutes = 0
    /// Receives every transition, in order.
    public var onTransition: (Transition) -> Void = { _ in }

    private let peRules: [PEKeyRule]
    private var peIndex: [IPAddress: Int32] = [:]
    private var bdIndex: [BDKey: Int32] = [:]
    private var lastBD: (targets: [RouteTarget], rd: RouteDistinguisher, tag: UInt32, id: Int32)?
    private var macIndex: [MACKey: Int32] = [:]
    private var observationIndex: [ObservationPoint: Int32] = [:]
    private var lastObservation: (point: ObservationPoint, id: Int32)?
    private var rib: [RIBKey: RIBEntry] = [:]
    private var routes: [RouteSlot] = []
    private var freeRoutes: Int32 = -1
    private var traits: [RouteTraits] = []
    private var traitsIndex: [RouteTraits: Int32] = [:]
    private var ipBindings: [IPKey: Int32] = [:]
    private var hostRIB: [HostRIBKey: HostRIBEntry] = [:]
    private var hostRoutes: [IPAddress: [HostRouteState]] = [:]

    private struct BDKey: Hashable { var targets: [RouteTarget]; var rdNumber: UInt32; var tag: UInt32 }
    private struct MACKey: Hashable { var bd: Int32; var mac: MACAddress }
    private struct IPKey: Hashable { var bd: Int32; var ip: IPAddress }
    private struct HostRIBKey: Hashable { var op: Int32, pathID: UInt32, rd: RouteDistinguisher, prefix: IPPrefix }
    private struct HostRIBEntry { var pe: Int32; var ip: IPAddress }

    /// One route as one observation point (and add-path id) carries it: the NLRI's fields packed
    /// into machine words so hashing and comparing touch six words.
    private struct RIBKey: Hashable {
        var rd: UInt64, mac: UInt64, ipHigh: UInt64, ipLow: UInt64, opPath: UInt64, tag: UInt32

        init(op: Int32, pathID: UInt32, rd: RouteDistinguisher, tag: UInt32, mac: MACAddress, ip: IPAddress?) {
            self.rd = UInt64(rd.type) << 48 | rd.value
            self.mac = mac.value | (ip == nil ? 0 : 1 << 48) | (ip?.isIPv6 == true ? 1 << 49 : 0)
            ipHigh = ip?.high ?? 0
            ipLow = ip?.low ?? 0
            opPath = UInt64(UInt32(bitPattern: op)) << 32 | UInt64(pathID)
            self.tag = tag
        }
        var op: Int32 { Int32(truncatingIfNeeded: opPath >> 32) }
        var pathID: UInt32 { UInt32(truncatingIfNeeded: opPath) }
    }
    private struct RIBEntry { var slot: Int32; var seq: UInt32 }

    /// The parts of a route that are the same for most of a PE's routes in one domain.
    private struct RouteTraits: Hashable {
        var rd: RouteDistinguisher
        var nextHop: IPAddress?
        var esi: ESI
        var label1: UInt32
    }

    private struct RouteSlot {
        static let sticky: UInt8 = 1, hasIP: UInt8 = 2, ipv6: UInt8 = 4
        var ipHigh: UInt64 = 0, ipLow: UInt64 = 0
        var firstSeen: Int64, lastUpdate: Int64
        /// Meaningful on the first slot of a PE's group: the advertisement's last sequence change.
        var advertLastChange: Int64
        var sourceOffset: Int64
        var sourceInput: Int32
        var mac: Int32, pe: Int32
        var next: Int32 = -1
        var seq: UInt32
        var traits: Int32
        var observations: Int32 = 1
        var flags: UInt8 = 0
        var mobilityCommunities: UInt8

        var sticky: Bool { flags & Self.sticky != 0 }
        var ip: IPAddress? {
            guard flags & Self.hasIP != 0 else { return nil }
            return flags & Self.ipv6 != 0 ? IPAddress(v6High: ipHigh, v6Low: ipLow) : IPAddress(v4: UInt32(truncatingIfNeeded: ipLow))
        }
        func carries(_ ip: IPAddress?) -> Bool {
            guard let ip else { return flags & Self.hasIP == 0 }
            return flags & Self.hasIP != 0 && ipHigh == ip.high && ipLow == ip.low && (flags & Self.ipv6 != 0) == ip.isIPv6
        }
        mutating func setIP(_ ip: IPAddress?) {
            flags &= ~(Self.hasIP | Self.ipv6)
            guard let ip else { ipHigh = 0; ipLow = 0; return }
            ipHigh = ip.high; ipLow = ip.low
            flags |= Self.hasIP | (ip.isIPv6 ? Self.ipv6 : 0)
        }
        var source: SourceRef { SourceRef(input: sourceInput, offset: sourceOffset) }
    }

    public init(options: Options = Options()) {
        self.options = options
        peRules = options.peKey.map { [$0] } ?? [.rd, .originator, .nexthop, .peer]
    }

    // MARK: - Feed

    public func process(_ item: FeedItem) {
        let time = item.time
        if time > now { now = time }
        if firstTime == nil { firstTime = time }
        switch item {
        case .heartbeat: break
        case .session(let event): processSession(event)
        case .route(let event): processRoute(event)
        }
    }

    private func processRoute(_ event: RouteEvent) {
        switch event.entry.nlri {
        case .evpn(let route):
            switch route {
            case .macIP(let r): processMACIP(event, r)
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
            processHostRoute(event, rd: rd, prefix: prefix)
        default:
            counters.otherFamilyEvents += 1
        }
    }

    // MARK: - Identification (ID-1, ID-2)

    private func internPE(_ address: IPAddress, _ rule: PEKeyRule, _ time: Int64) -> Int32 {
        if let id = peIndex[address] {
            if time > pes[Int(id)].lastSeen { pes[Int(id)].lastSeen = time }
            return id
        }
        let id = Int32(pes.count)
        pes.append(PEInfo(address: address, source: rule, firstSeen: time, lastSeen: time))
        peIndex[address] = id
        return id
    }

    public func peID(of address: IPAddress) -> Int32? { peIndex[address] }
    public func observationID(of observation: ObservationPoint) -> Int32? { observationIndex[observation] }

    private func identifyPE(_ event: RouteEvent, rd: RouteDistinguisher) -> Int32? {
        for rule in peRules {
            let address: IPAddress?
            switch rule {
            case .rd: address = rd.routerIP
            case .originator: address = event.attributes.originatorID
            case .nexthop: address = event.nextHop.flatMap { $0 == IPAddress(v4: 0) ? nil : $0 }
            case .peer: address = event.observation.peerBGPID
            }
            if let address { return internPE(address, rule, event.time) }
        }
        counters.noPEIdentified += 1
        return nil
    }

    private func internBD(_ attributes: PathAttributes, rd: RouteDistinguisher, tag: UInt32) -> Int32 {
        // Routes of one UPDATE share their targets: compare with the last domain before hashing.
        if let last = lastBD, last.tag == tag {
            switch options.bdKey {
            case .rt: if last.targets == attributes.routeTargets { return last.id }
            case .rdNumber: if last.rd.assignedNumber == rd.assignedNumber { return last.id }
            }
        }
        let key: BDKey
        switch options.bdKey {
        case .rt: key = BDKey(targets: attributes.routeTargets.sorted(), rdNumber: 0, tag: tag)
        case .rdNumber: key = BDKey(targets: [], rdNumber: rd.assignedNumber, tag: tag)
        }
        let id: Int32
        if let known = bdIndex[key] { id = known } else {
            id = Int32(bds.count)
            let label: String
            switch options.bdKey {
            case .rt: label = (key.targets.isEmpty ? "no-rt" : key.targets.map { "rt:\($0)" }.joined(separator: ",")) + " tag \(tag)"
            case .rdNumber: label = "rd-number \(key.rdNumber) tag \(tag)"
            }
            bds.append(BroadcastDomain(routeTargets: key.targets, rdNumber: options.bdKey == .rdNumber ? key.rdNumber : nil, ethernetTag: tag, label: label))
            bdIndex[key] = id
        }
        lastBD = (attributes.routeTargets, rd, tag, id)
        return id
    }

    private func internObservation(_ op: ObservationPoint) -> Int32 {
        // Consecutive events nearly always share their observation point: skip the hash.
        if let last = lastObservation, last.point == op { return last.id }
        if let id = observationIndex[op] { lastObservation = (op, id); return id }
        let id = Int32(observations.count)
        observations.append(op)
        observationIndex[op] = id
        lastObservation = (op, id)
        return id
    }

    private func internTraits(_ value: RouteTraits) -> Int32 {
        if let id = traitsIndex[value] { return id }
        let id = Int32(traits.count)
        traits.append(value)
        traitsIndex[value] = id
        return id
    }

    // MARK: - Route table

    private func allocateRoute(_ slot: RouteSlot) -> Int32 {
        liveRoutes += 1
        if freeRoutes >= 0 {
            let index = freeRoutes
            freeRoutes = routes[Int(index)].next
            routes[Int(index)] = slot
            return index
        }
        routes.append(slot)
        return Int32(routes.count - 1)
    }

    /// Where `pe`'s routes for MAC `m` sit in its chain: the group's first and last slot, the
    /// slot carrying `ip`, and the chain's last slot.
    private func locate(_ m: Int, pe: Int32, ip: IPAddress?) -> (head: Int32, tail: Int32, route: Int32, chainTail: Int32) {
        var head: Int32 = -1, tail: Int32 = -1, route: Int32 = -1, chainTail: Int32 = -1
        var s = macs[m].firstRoute
        while s >= 0 {
            let slot = routes[Int(s)]
            if slot.pe == pe {
                if head < 0 { head = s }
                tail = s
                if slot.carries(ip) { route = s }
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
            guard slot.pe == pe else {
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
        return RouteState(ip: slot.ip, seq: slot.seq, sticky: slot.sticky, esi: shared.esi, nextHop: shared.nextHop, label1: shared.label1,
                          rd: shared.rd, observations: slot.observations, firstSeen: slot.firstSeen, lastUpdate: slot.lastUpdate,
                          source: slot.source, mobilityCommunities: Int(slot.mobilityCommunities))
    }

    // MARK: - MAC/IP routes

    private func processMACIP(_ event: RouteEvent, _ r: MACIPAdvertisement) {
        let op = internObservation(event.observation)
        let key = RIBKey(op: op, pathID: event.entry.pathID ?? 0, rd: r.rd, tag: r.ethernetTag, mac: r.mac, ip: r.ip)
        if event.isWithdraw {
            counters.withdrawals += 1
            guard let entry = rib.removeValue(forKey: key) else { counters.unknownWithdrawals += 1; return }
            removeObservation(entry, kind: .withdrawn, time: event.time, source: event.source)
            return
        }
        counters.announcements += 1
        guard let pe = identifyPE(event, rd: r.rd) else { return }
        let bd = internBD(event.attributes, rd: r.rd, tag: r.ethernetTag)
        let macKey = MACKey(bd: bd, mac: r.mac)
        let mac: Int32
        if let existing = macIndex[macKey] { mac = existing } else {
            mac = Int32(macs.count)
            macs.append(MACState(bd: bd, mac: r.mac, firstSeen: event.time, lastChange: event.time))
            macIndex[macKey] = mac
        }
        let mobility = event.attributes.macMobility
        let seq = mobility?.sequence ?? 0
        var previousSeq: UInt32?
        if let old = rib[key] {
            let slot = routes[Int(old.slot)]
            if slot.mac == mac && slot.pe == pe && slot.carries(r.ip) {
                previousSeq = old.seq
            } else {
                removeObservation(old, kind: .withdrawn, time: event.time, source: event.source)
            }
        }
        let traitID = internTraits(RouteTraits(rd: r.rd, nextHop: event.nextHop, esi: r.esi, label1: r.label1))
        var incoming = RouteSlot(firstSeen: event.time, lastUpdate: event.time, advertLastChange: event.time, sourceOffset: event.source.offset,
                                 sourceInput: event.source.input, mac: mac, pe: pe, seq: seq, traits: traitID,
                                 mobilityCommunities: UInt8(clamping: event.attributes.macMobilityCount))
        incoming.setIP(r.ip)
        if mobility?.sticky == true { incoming.flags |= RouteSlot.sticky }
        let slot = announce(mac: mac, route: incoming, previousSeqAtObservation: previousSeq, op: op)
        rib[key] = RIBEntry(slot: slot, seq: seq)
        if let ip = r.ip { bindIP(ip, bd: bd, mac: mac, pe: pe, time: event.time, source: event.source) }
    }

    /// Applies one announcement to the MAC's routes and returns the slot now holding it.
    private func announce(mac: Int32, route incoming: RouteSlot, previousSeqAtObservation: UInt32?, op: Int32) -> Int32 {
        let m = Int(mac), pe = incoming.pe, time = incoming.lastUpdate, source = incoming.source
        let winnerBefore = macs[m].winner
        let winnerSeqBefore = macs[m].winnerSeq
        let place = locate(m, pe: pe, ip: incoming.ip)
        let isNewAdvert = place.head < 0
        let peSeqBefore = isNewAdvert ? 0 : summarize(m, pe: pe)!.seq
        var isRefresh = false
        let slot: Int32
        if place.route >= 0 {
            slot = place.route
            var route = routes[Int(slot)]
            if previousSeqAtObservation == nil { route.observations += 1 }
            // A lagging observation point repeating an older sequence does not roll the route back.
            if previousSeqAtObservation != nil || SequenceOrder.newer(incoming.seq, than: route.seq) { route.seq = incoming.seq }
            isRefresh = previousSeqAtObservation == incoming.seq || (previousSeqAtObservation == nil && route.seq == incoming.seq)
            route.flags = incoming.flags
            route.traits = incoming.traits
            route.lastUpdate = time
            route.sourceInput = incoming.sourceInput; route.sourceOffset = incoming.sourceOffset
            route.mobilityCommunities = incoming.mobilityCommunities
            routes[Int(slot)] = route
        } else {
            slot = allocateRoute(incoming)
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
        t.ip = incoming.ip
        t.sticky = incoming.sticky

        if isNewAdvert {
            if winnerBefore < 0 {
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
        macs[m].moveTimes.append(t.time)
        if macs[m].moveTimes.count > options.moveHistory { macs[m].moveTimes.removeFirst(macs[m].moveTimes.count - options.moveHistory) }
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
            let pe = routes[Int(s)].pe
            var seq = routes[Int(s)].seq, sticky = routes[Int(s)].sticky
            s = routes[Int(s)].next
            while s >= 0 && routes[Int(s)].pe == pe {
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

    private func removeObservation(_ entry: RIBEntry, kind: Transition.Kind, time: Int64, source: SourceRef) {
        let s = entry.slot
        routes[Int(s)].observations -= 1
        guard routes[Int(s)].observations <= 0 else { return }
        let removed = routes[Int(s)]
        let m = Int(removed.mac), pe = removed.pe
        let removedESI = summarize(m, pe: pe)?.esi ?? .zero
        // Unlink; the group's advertisement time moves to its next slot if this one led it.
        var previous: Int32 = -1, cursor = macs[m].firstRoute
        while cursor >= 0 && cursor != s { previous = cursor; cursor = routes[Int(cursor)].next }
        guard cursor == s else { return }
        if previous < 0 { macs[m].firstRoute = removed.next } else { routes[Int(previous)].next = removed.next }
        let ledGroup = previous < 0 || routes[Int(previous)].pe != pe
        if ledGroup, removed.next >= 0, routes[Int(removed.next)].pe == pe {
            routes[Int(removed.next)].advertLastChange = removed.advertLastChange
        }
        routes[Int(s)].next = freeRoutes
        routes[Int(s)].observations = 0
        freeRoutes = s
        liveRoutes -= 1
        let groupRemains = (previous >= 0 && routes[Int(previous)].pe == pe) || (removed.next >= 0 && routes[Int(removed.next)].pe == pe)
        guard !groupRemains else { return }
        let winnerBefore = macs[m].winner
        let winnerSeqBefore = macs[m].winnerSeq
        recomputeWinner(m)
        macs[m].lastChange = time
        var t = Transition(kind: kind, time: time, mac: removed.mac, pe: pe, source: source)
        t.seqBefore = removed.seq
        t.otherPE = macs[m].winner
        emit(t)
        // The owner left and another PE's route takes over: remote PEs now send the MAC's
        // traffic elsewhere, which is a move whatever the sequence numbers said (unless the
        // two PEs share the MAC's Ethernet segment).
        let winnerAfter = macs[m].winner
        if winnerBefore == pe, winnerAfter >= 0, let next = summarize(m, pe: winnerAfter),
           removedESI.isZero || next.esi != removedESI {
            var template = t
            template.detail = "after \(kind.rawValue)"
            emitMove(m, from: pe, to: winnerAfter, seqBefore: winnerSeqBefore, seqAfter: macs[m].winnerSeq, template: template)
        }
    }

    private func bindIP(_ ip: IPAddress, bd: Int32, mac: Int32, pe: Int32, time: Int64, source: SourceRef) {
        let key = IPKey(bd: bd, ip: ip)
        if let previous = ipBindings.updateValue(mac, forKey: key), previous != mac {
            var t = Transition(kind: .ipMoved, time: time, mac: mac, pe: pe, source: source)
            t.ip = ip
            t.otherMAC = previous
            emit(t)
        }
    }

    // MARK: - VPN host routes (evidence for STALE-HOST-ROUTE)

    private func processHostRoute(_ event: RouteEvent, rd: RouteDistinguisher, prefix: IPPrefix) {
        let op = internObservation(event.observation)
        let key = HostRIBKey(op: op, pathID: event.entry.pathID ?? 0, rd: rd, prefix: prefix)
        if event.isWithdraw {
            guard let entry = hostRIB.removeValue(forKey: key) else { return }
            dropHostObservation(entry)
            return
        }
        guard let pe = identifyPE(event, rd: rd) else { return }
        if let old = hostRIB[key] {
            if old.pe == pe { touchHost(prefix.address, pe: pe, time: event.time, add: false); return }
            dropHostObservation(old)
        }
        hostRIB[key] = HostRIBEntry(pe: pe, ip: prefix.address)
        touchHost(prefix.address, pe: pe, time: event.time, add: true)
    }

    private func touchHost(_ ip: IPAddress, pe: Int32, time: Int64, add: Bool) {
        var list = hostRoutes[ip] ?? []
        if let i = list.firstIndex(where: { $0.pe == pe }) {
            if add { list[i].observations += 1 }
            list[i].lastUpdate = time
        } else {
            list.append(HostRouteState(pe: pe, observations: 1, lastUpdate: time))
        }
        hostRoutes[ip] = list
    }

    private func dropHostObservation(_ entry: HostRIBEntry) {
        guard var list = hostRoutes[entry.ip], let i = list.firstIndex(where: { $0.pe == entry.pe }) else { return }
        list[i].observations -= 1
        if list[i].observations <= 0 { list.remove(at: i) }
        hostRoutes[entry.ip] = list.isEmpty ? nil : list
    }

    /// PEs that currently attract traffic for `ip` through a VPNv4/VPNv6 host route.
    public func hostRoutePEs(_ ip: IPAddress) -> [HostRouteState] { hostRoutes[ip] ?? [] }

    // MARK: - Sessions (MOB-12)

    private func processSession(_ event: SessionEvent) {
        let lostObservations: Set<Int32>
        let reason: String
        switch event.kind {
        case .established: return
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
            downPE = peIndex[event.observation.peerIP] ?? peIndex[event.observation.peerBGPID]
        }
        if let downPE {
            pes[Int(downPE)].sessionsDown += 1
            var t = Transition(kind: .peerDown, time: event.time, mac: -1, pe: downPE, source: event.source)
            t.detail = reason
            t.observation = internObservation(event.observation)
            emit(t)
        }
        guard !lostObservations.isEmpty else { return }
        let lost = rib.filter { lostObservations.contains($0.key.op) }.map { (key: $0.key, entry: $0.value, slot: routes[Int($0.value.slot)]) }
        // Deterministic order: by MAC index, then PE, then observation point and path id.
        let ordered = lost.sorted { ($0.slot.mac, $0.slot.pe, $0.key.op, $0.key.pathID) < ($1.slot.mac, $1.slot.pe, $1.key.op, $1.key.pathID) }
        for route in ordered {
            rib.removeValue(forKey: route.key)
            removeObservation(route.entry, kind: .flushed, time: event.time, source: event.source)
        }
        for (key, entry) in hostRIB where lostObservations.contains(key.op) {
            hostRIB.removeValue(forKey: key)
            dropHostObservation(entry)
        }
    }

    private func emit(_ t: Transition) { onTransition(t) }

    // MARK: - Queries

    public func macState(bd: Int32, mac: MACAddress) -> MACState? { macIndex[MACKey(bd: bd, mac: mac)].map { macs[Int($0)] } }

    /// What `pe` advertises for MAC `mac` (an index into `macs`), nil when it advertises nothing.
    public func advert(mac: Int32, pe: Int32) -> PEAdvertisement? {
        guard mac >= 0, pe >= 0 else { return nil }
        return summarize(Int(mac), pe: pe)
    }

    /// Every PE's advertisement for MAC `mac`, in the order the PEs first advertised it.
    public func adverts(mac: Int32) -> [PEAdvertisement] {
        var result: [PEAdvertisement] = []
        var s = macs[Int(mac)].firstRoute
        while s >= 0 {
            let pe = routes[Int(s)].pe
            if let advert = summarize(Int(mac), pe: pe) { result.append(advert) }
            while s >= 0 && routes[Int(s)].pe == pe { s = routes[Int(s)].next }
        }
        return result
    }

    /// The routes (MAC-only and MAC+IP) `pe` advertises for MAC `mac`.
    public func routes(mac: Int32, pe: Int32) -> [RouteState] {
        var result: [RouteState] = []
        var s = macs[Int(mac)].firstRoute
        while s >= 0 {
            if routes[Int(s)].pe == pe { result.append(routeState(routes[Int(s)])) }
            s = routes[Int(s)].next
        }
        return result
    }

    /// The route of `pe` for MAC `mac` that carries `ip` (nil: the MAC-only route).
    public func route(mac: Int32, pe: Int32, ip: IPAddress?) -> RouteState? {
        var s = macs[Int(mac)].firstRoute
        while s >= 0 {
            if routes[Int(s)].pe == pe && routes[Int(s)].carries(ip) { return routeState(routes[Int(s)]) }
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
            if slot.pe == pe {
                if let first, first != slot.seq { return true }
                first = slot.seq
            }
            s = slot.next
        }
        return false
    }

    /// Releases the move history of MACs that have not moved since `time` (MOB-7 only looks
    /// back one window), so memory follows the MACs moving now, not every MAC that ever moved.
    public func forgetMoves(before time: Int64) {
        for m in macs.indices where !macs[m].moveTimes.isEmpty && macs[m].moveTimes.last! < time { macs[m].moveTimes = [] }
    }

    /// Routes carried per observation point and path id (a route seen twice counts twice).
    public var liveObservations: Int { rib.count }

    /// MACs `pe` still advertises (with a route last updated at or before `since`, if given).
    public func liveAdvertisements(of pe: Int32, since: Int64? = nil) -> [Int32] {
        var result: [Int32] = []
        for m in macs.indices {
            var s = macs[m].firstRoute
            while s >= 0 {
                let slot = routes[Int(s)]
                if slot.pe == pe && (since.map { slot.lastUpdate <= $0 } ?? true) { result.append(Int32(m)); break }
                s = slot.next
            }
        }
        return result
    }

    /// Bytes held by the route state (capacity of its tables times their element sizes), for
    /// `make bench`'s bytes-per-route figure. Dictionary overhead is estimated from capacity.
    public var stateBytes: Int {
        func table<K, V>(_ d: [K: V]) -> Int { d.capacity * (MemoryLayout<K>.stride + MemoryLayout<V>.stride) * 4 / 3 }
        return routes.capacity * MemoryLayout<RouteSlot>.stride + macs.capacity * MemoryLayout<MACState>.stride
            + macs.reduce(0) { $0 + ($1.moveTimes.capacity > 0 ? 32 + $1.moveTimes.capacity * 8 : 0) }
            + table(rib) + table(macIndex) + table(ipBindings) + table(traitsIndex) + traits.capacity * MemoryLayout<RouteTraits>.stride
    }
}
