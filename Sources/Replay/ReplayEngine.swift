import EVPNModel

/// Rebuilds what every PE advertised and what a PE applying RFC 7432 §15 would install, from
/// time-ordered feed items, and reports each change as a `Transition`.
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
    /// Receives every transition, in order.
    public var onTransition: (Transition) -> Void = { _ in }

    private var peIndex: [IPAddress: Int32] = [:]
    private var bdIndex: [BDKey: Int32] = [:]
    private var macIndex: [MACKey: Int32] = [:]
    private var observationIndex: [ObservationPoint: Int32] = [:]
    private var rib: [RIBKey: RIBEntry] = [:]
    private var ipBindings: [IPKey: Int32] = [:]
    private var hostRIB: [HostRIBKey: HostRIBEntry] = [:]
    private var hostRoutes: [IPAddress: [HostRouteState]] = [:]

    private struct BDKey: Hashable { var targets: [RouteTarget]; var rdNumber: UInt32; var tag: UInt32 }
    private struct MACKey: Hashable { var bd: Int32; var mac: MACAddress }
    private struct IPKey: Hashable { var bd: Int32; var ip: IPAddress }
    private struct RIBKey: Hashable {
        var op: Int32, pathID: UInt32, rd: RouteDistinguisher, tag: UInt32, mac: MACAddress, ip: IPAddress?
    }
    private struct RIBEntry { var mac: Int32; var pe: Int32; var ip: IPAddress?; var seq: UInt32 }
    private struct HostRIBKey: Hashable { var op: Int32, pathID: UInt32, rd: RouteDistinguisher, prefix: IPPrefix }
    private struct HostRIBEntry { var pe: Int32; var ip: IPAddress }

    public init(options: Options = Options()) { self.options = options }

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
            pes[Int(id)].lastSeen = max(pes[Int(id)].lastSeen, time)
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
        let rules: [PEKeyRule] = options.peKey.map { [$0] } ?? [.rd, .originator, .nexthop, .peer]
        for rule in rules {
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
        let key: BDKey
        switch options.bdKey {
        case .rt: key = BDKey(targets: attributes.routeTargets.sorted(), rdNumber: 0, tag: tag)
        case .rdNumber: key = BDKey(targets: [], rdNumber: rd.assignedNumber, tag: tag)
        }
        if let id = bdIndex[key] { return id }
        let id = Int32(bds.count)
        let label: String
        switch options.bdKey {
        case .rt: label = (key.targets.isEmpty ? "no-rt" : key.targets.map { "rt:\($0)" }.joined(separator: ",")) + " tag \(tag)"
        case .rdNumber: label = "rd-number \(key.rdNumber) tag \(tag)"
        }
        bds.append(BroadcastDomain(routeTargets: key.targets, rdNumber: options.bdKey == .rdNumber ? key.rdNumber : nil, ethernetTag: tag, label: label))
        bdIndex[key] = id
        return id
    }

    private var lastObservation: (point: ObservationPoint, id: Int32)?

    private func internObservation(_ op: ObservationPoint) -> Int32 {
        // Consecutive events nearly always share their observation point: skip the hash.
        if let last = lastObservation, last.point == op { return last.id }
        if let id = observationIndex[op] { lastObservation = (op, id); return id }
        let id = Int32(observations.count)
        observations.append(op)
        observationIndex[op] = id
        return id
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
            if old.mac == mac && old.pe == pe && old.ip == r.ip {
                previousSeq = old.seq
            } else {
                removeObservation(old, kind: .withdrawn, time: event.time, source: event.source)
            }
        }
        rib[key] = RIBEntry(mac: mac, pe: pe, ip: r.ip, seq: seq)
        let route = RouteState(ip: r.ip, seq: seq, sticky: mobility?.sticky ?? false, esi: r.esi, nextHop: event.nextHop,
                               label1: r.label1, rd: r.rd, observations: 1, firstSeen: event.time, lastUpdate: event.time,
                               source: event.source, mobilityCommunities: event.attributes.macMobilityCount)
        announce(mac: mac, pe: pe, route: route, previousSeqAtObservation: previousSeq, op: op, time: event.time, source: event.source)
        if let ip = r.ip { bindIP(ip, bd: bd, mac: mac, pe: pe, time: event.time, source: event.source) }
    }

    private func announce(mac: Int32, pe: Int32, route incoming: RouteState, previousSeqAtObservation: UInt32?,
                          op: Int32, time: Int64, source: SourceRef) {
        let m = Int(mac)
        let winnerBefore = macs[m].winner
        let winnerSeqBefore = macs[m].winnerSeq
        let advertIndex: Int
        let isNewAdvert: Bool
        if let index = macs[m].adverts.firstIndex(where: { $0.pe == pe }) {
            advertIndex = index; isNewAdvert = false
        } else {
            macs[m].adverts.append(PEAdvertisement(pe: pe, routes: [], firstSeen: time, lastChange: time))
            advertIndex = macs[m].adverts.count - 1; isNewAdvert = true
        }
        let peSeqBefore = macs[m].adverts[advertIndex].seq
        var isRefresh = false
        if let routeIndex = macs[m].adverts[advertIndex].routes.firstIndex(where: { $0.ip == incoming.ip }) {
            var route = macs[m].adverts[advertIndex].routes[routeIndex]
            if previousSeqAtObservation == nil { route.observations += 1 }
            // A lagging observation point repeating an older sequence does not roll the route back.
            if previousSeqAtObservation != nil || SequenceOrder.newer(incoming.seq, than: route.seq) { route.seq = incoming.seq }
            isRefresh = previousSeqAtObservation == incoming.seq || (previousSeqAtObservation == nil && route.seq == incoming.seq)
            route.sticky = incoming.sticky; route.esi = incoming.esi; route.nextHop = incoming.nextHop
            route.label1 = incoming.label1; route.lastUpdate = time; route.source = source
            route.mobilityCommunities = incoming.mobilityCommunities
            macs[m].adverts[advertIndex].routes[routeIndex] = route
        } else {
            macs[m].adverts[advertIndex].routes.append(incoming)
        }
        let peSeqAfter = macs[m].adverts[advertIndex].seq
        if peSeqAfter != peSeqBefore && !isNewAdvert { macs[m].adverts[advertIndex].lastChange = time }
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
            } else if macs[m].advert(of: winnerAfter)?.sticky == true {
                t.kind = .stickyConflict; t.otherPE = winnerAfter; t.seqBefore = macs[m].winnerSeq; t.seqAfter = peSeqAfter
                emit(t)
            } else {
                t.kind = .rejected; t.otherPE = winnerAfter; t.seqBefore = macs[m].winnerSeq; t.seqAfter = peSeqAfter
                t.tie = peSeqAfter == macs[m].winnerSeq
                emit(t)
            }
            return
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
        if let old = macs[m].advert(of: from) {
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
        guard a >= 0, b >= 0, let first = macs[m].advert(of: a), let second = macs[m].advert(of: b) else { return false }
        return !first.esi.isZero && first.esi == second.esi
    }

    /// MOB-3/4/6: sticky first, then the newest sequence, then the lowest PE address.
    private func recomputeWinner(_ m: Int) {
        var best: PEAdvertisement?
        for advert in macs[m].adverts {
            guard let current = best else { best = advert; continue }
            if advert.sticky != current.sticky {
                if advert.sticky { best = advert }
                continue
            }
            let (a, b) = (advert.seq, current.seq)
            if a != b {
                if SequenceOrder.newer(a, than: b) { best = advert }
            } else if pes[Int(advert.pe)].address < pes[Int(current.pe)].address {
                best = advert
            }
        }
        macs[m].winner = best?.pe ?? -1
        macs[m].winnerSeq = best?.seq ?? 0
    }

    private func removeObservation(_ entry: RIBEntry, kind: Transition.Kind, time: Int64, source: SourceRef) {
        let m = Int(entry.mac)
        guard let advertIndex = macs[m].adverts.firstIndex(where: { $0.pe == entry.pe }),
              let routeIndex = macs[m].adverts[advertIndex].routes.firstIndex(where: { $0.ip == entry.ip }) else { return }
        macs[m].adverts[advertIndex].routes[routeIndex].observations -= 1
        guard macs[m].adverts[advertIndex].routes[routeIndex].observations <= 0 else { return }
        let seq = macs[m].adverts[advertIndex].routes[routeIndex].seq
        let removedESI = macs[m].adverts[advertIndex].esi
        macs[m].adverts[advertIndex].routes.remove(at: routeIndex)
        guard macs[m].adverts[advertIndex].routes.isEmpty else { return }
        let winnerBefore = macs[m].winner
        let winnerSeqBefore = macs[m].winnerSeq
        macs[m].adverts.remove(at: advertIndex)
        recomputeWinner(m)
        macs[m].lastChange = time
        var t = Transition(kind: kind, time: time, mac: entry.mac, pe: entry.pe, source: source)
        t.seqBefore = seq
        t.otherPE = macs[m].winner
        emit(t)
        // The owner left and another PE's route takes over: remote PEs now send the MAC's
        // traffic elsewhere, which is a move whatever the sequence numbers said (unless the
        // two PEs share the MAC's Ethernet segment).
        let winnerAfter = macs[m].winner
        if winnerBefore == entry.pe, winnerAfter >= 0, let next = macs[m].advert(of: winnerAfter),
           removedESI.isZero || next.esi != removedESI {
            var template = t
            template.detail = "after \(kind.rawValue)"
            emitMove(m, from: entry.pe, to: winnerAfter, seqBefore: winnerSeqBefore, seqAfter: macs[m].winnerSeq, template: template)
        }
    }

    private func bindIP(_ ip: IPAddress, bd: Int32, mac: Int32, pe: Int32, time: Int64, source: SourceRef) {
        let key = IPKey(bd: bd, ip: ip)
        if let previous = ipBindings[key], previous != mac {
            var t = Transition(kind: .ipMoved, time: time, mac: mac, pe: pe, source: source)
            t.ip = ip
            t.otherMAC = previous
            emit(t)
        }
        ipBindings[key] = mac
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
        let lostRoutes = rib.filter { lostObservations.contains($0.key.op) }
        // Deterministic order: by MAC index, then PE, then IP.
        let ordered = lostRoutes.sorted { ($0.value.mac, $0.value.pe, $0.key.op, $0.key.pathID) < ($1.value.mac, $1.value.pe, $1.key.op, $1.key.pathID) }
        for (key, entry) in ordered {
            rib.removeValue(forKey: key)
            removeObservation(entry, kind: .flushed, time: event.time, source: event.source)
        }
        for (key, entry) in hostRIB where lostObservations.contains(key.op) {
            hostRIB.removeValue(forKey: key)
            dropHostObservation(entry)
        }
    }

    private func emit(_ t: Transition) { onTransition(t) }

    // MARK: - Queries

    public func macState(bd: Int32, mac: MACAddress) -> MACState? { macIndex[MACKey(bd: bd, mac: mac)].map { macs[Int($0)] } }

    /// Number of live MAC routes (for memory accounting and summaries).
    public var liveRoutes: Int { rib.count }

    /// Live MAC advertisements of a PE (across all MACs).
    public func liveAdvertisements(of pe: Int32, since: Int64? = nil) -> [Int32] {
        var result: [Int32] = []
        for (i, state) in macs.enumerated() {
            if let advert = state.advert(of: pe), since.map({ s in advert.routes.contains { $0.lastUpdate <= s } }) ?? true {
                result.append(Int32(i))
            }
        }
        return result
    }
}
