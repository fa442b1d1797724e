import EVPNModel

/// Sessions (MOB-12): a lost session flushes the routes learnt over it.
extension ReplayEngine {
    func processSession(_ event: SessionEvent) {
        let lostObservations: Set<Int32>
        let reason: String
        switch event.kind {
        case .established:
            if event.observation.table != .mrt, let sameSession = Self.inMRTTerms(event).first {
                bmpSessionsInMRTTerms[event.observation.session] = sameSession
            }
            return
        case .stateChange, .monitoringStarted: return
        case .ribSnapshotStarted, .ribSnapshotEnded: processSnapshotBoundary(event); return
        case .endOfRIB: counters.endOfRIBs += 1; return
        case .down(let why):
            // The session as BMP and as MRT name it: a reflector that streams BMP and writes an
            // MRT dump loses the routes of both when the session drops.
            let session = event.observation.session
            let sameSessions = Self.inMRTTerms(event)
            lostObservations = Set(
                observations.indices.filter {
                    let point = observations[$0]
                    guard point.session != session else { return true }
                    return sameSessions.contains(point.session)
                        || bmpSessionsInMRTTerms[point.session].map(sameSessions.contains) == true
                }.map(Int32.init))
            reason = why
        case .monitoringEnded(let why):
            lostObservations = Set(
                observations.indices.filter { observations[$0].router == event.observation.router }.map(Int32.init))
            reason = why
        }
        counters.sessionLosses += 1
        // The peer itself may be a PE (BMP on route reflectors reports each PE's session).
        var downPE: PEID?
        if case .down = event.kind {
            downPE = peID(of: event.observation.peerIP) ?? peID(of: event.observation.peerBGPID)
        }
        if let downPE {
            pes[downPE.index].sessionsDown += 1
            var t = Transition(kind: .peerDown, time: event.time, mac: .none, pe: downPE, source: event.source)
            t.detail = reason
            t.observation = ObservationID(internObservation(event.observation))
            emit(t)
        }
        guard !lostObservations.isEmpty else { return }
        let lost = entries(at: lostObservations)
        dropRIBEntries(lost.macIP, kind: .flushed, time: event.time, source: event.source)
        dropHostEntries(lost.hosts)
    }

    /// The MAC/IP and host-route RIB entries held at observation points `points` (any add-path
    /// id), those `keep` accepts (`host`: a host-route entry's id).
    func entries(
        at points: Set<Int32>, where keep: (_ id: Int32, _ host: Bool) -> Bool = { _, _ in true }
    ) -> (macIP: [Int], hosts: [Int]) {
        let held = Set(paths.indices.filter { points.contains(paths[$0].op) }.map(Int32.init))
        let macIP = (0..<ribEntries.highWater).filter {
            ribEntries[$0].path >= 0 && held.contains(ribEntries[$0].path) && keep(Int32($0), false)
        }
        let hosts = (0..<hostEntries.highWater).filter {
            hostEntries[$0].path >= 0 && held.contains(hostEntries[$0].path) && keep(Int32($0), true)
        }
        return (macIP, hosts)
    }

    /// Drops host-route entries `ids` (a session's flush, a snapshot's withdrawal).
    func dropHostEntries(_ ids: [Int]) {
        for id in ids {
            let entry = hostEntries[id]
            let path = paths[Int(entry.path)]
            dropHostEntry(
                Int32(id),
                hash: hostEntryHash(
                    op: path.op, pathID: path.pathID, rd: traits[Int(entry.traits)].rd,
                    ip: ipOf(hostSlots[Int(entry.slot)])))
            dropHostObservation(entry.slot)
        }
    }

    /// Drops MAC/IP RIB entries `ids` as `kind` (a session's flush, a snapshot's withdrawal), in
    /// a deterministic order: by MAC index, then PE, then observation point and path id.
    func dropRIBEntries(_ ids: [Int], kind: Transition.Kind, time: Int64, source: SourceRef) {
        func order(_ id: Int) -> (Int32, Int32, Int32, UInt32) {
            let entry = ribEntries[id]
            return (
                routes[Int(entry.slot)].mac, peOf(routes[Int(entry.slot)]), paths[Int(entry.path)].op,
                paths[Int(entry.path)].pathID
            )
        }
        for id in ids.sorted(by: { order($0) < order($1) }) {
            let entry = ribEntries[id]
            let slot = routes[Int(entry.slot)]
            let state = macTable[Int(slot.mac)]
            let path = paths[Int(entry.path)]
            let key = RIBKey(
                op: path.op, pathID: path.pathID, rd: rdOf(slot), tag: bds[Int(state.bd)].ethernetTag, mac: state.mac,
                ip: ipOf(slot))
            dropRIBEntry(Int32(id), hash: ribHash(key))
            removeObservation(entry.slot, kind: kind, time: time, source: source, op: path.op, seqHere: entry.seq)
        }
    }

    /// A session event's session as MRT names it: an MRT dump's own; for a BMP global-instance
    /// session, as a BGP4MP dump names it (router = the Peer Up's local address), then as a RIB
    /// snapshot does (router = the collector's BGP identifier, often a loopback, not the session's
    /// address); none for a BMP session in a VRF (MRT does not say which VRF) or without a Peer Up.
    static func inMRTTerms(_ event: SessionEvent) -> [SessionKey] {
        if event.observation.table == .mrt { return [event.observation.session] }
        guard event.observation.distinguisher == 0 else { return [] }
        let routers = [event.localAddress.map { ObservationPoint.mrtRouter(localAddress: $0) }, event.localBGPID?.v4]
        var keys: [SessionKey] = []
        for case let router? in routers where !keys.contains(where: { $0.router == router }) {
            keys.append(SessionKey(router: router, distinguisher: 0, peerIP: event.observation.peerIP))
        }
        return keys
    }
}
