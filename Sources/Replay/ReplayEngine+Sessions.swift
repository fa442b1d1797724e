import EVPNModel

/// Sessions (MOB-12): a lost session flushes the routes learnt over it.
extension ReplayEngine {
    func processSession(_ event: SessionEvent) {
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
        let lostPaths = Set(paths.indices.filter { lostObservations.contains(paths[$0].op) }.map(Int32.init))
        let lost = (0..<ribEntries.highWater).filter {
            ribEntries[$0].path >= 0 && lostPaths.contains(ribEntries[$0].path)
        }
        // Deterministic order: by MAC index, then PE, then observation point and path id.
        func order(_ id: Int) -> (Int32, Int32, Int32, UInt32) {
            let entry = ribEntries[id]
            return (
                routes[Int(entry.slot)].mac, peOf(routes[Int(entry.slot)]), paths[Int(entry.path)].op,
                paths[Int(entry.path)].pathID
            )
        }
        for id in lost.sorted(by: { order($0) < order($1) }) {
            let entry = ribEntries[id]
            let slot = routes[Int(entry.slot)]
            let state = macTable[Int(slot.mac)]
            let path = paths[Int(entry.path)]
            let key = RIBKey(
                op: path.op, pathID: path.pathID, rd: rdOf(slot), tag: bds[Int(state.bd)].ethernetTag, mac: state.mac,
                ip: ipOf(slot))
            dropRIBEntry(Int32(id), hash: ribHash(key))
            removeObservation(entry.slot, kind: .flushed, time: event.time, source: event.source, op: path.op)
        }
        for id in 0..<hostEntries.highWater where hostEntries[id].path >= 0 && lostPaths.contains(hostEntries[id].path)
        {
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
}
