import Containers
import EVPNModel

/// ID-1 and ID-2: which PE originated a route, which broadcast domain it belongs to, and the
/// observation points and attributes interned on the way.
extension ReplayEngine {
    func internPE(_ address: IPAddress, _ rule: PEKeyRule, _ time: Int64) -> Int32 {
        let id: Int32
        if let last = lastPE, last.address == address {
            id = last.id
        } else if let known = peID(of: address) {
            id = known.raw
        } else {
            id = Int32(pes.count)
            pes.append(PEInfo(address: address, source: rule, firstSeen: time, lastSeen: time))
            peIndex.insert(id, hash: hostIPHash(address))
        }
        lastPE = (address, id)
        if time > pes[Int(id)].lastSeen { pes[Int(id)].lastSeen = time }
        return id
    }

    public func peID(of address: IPAddress) -> PEID? {
        peIndex.find(hostIPHash(address)) { pes[Int($0)].address == address }.map(PEID.init)
    }

    /// The event just replayed is nearly always at one of the two most recent points: those
    /// are answered without hashing (SipHash over the point cost a run storing 13 M events ~1 s).
    public func observationID(of observation: ObservationPoint) -> ObservationID? {
        (cachedObservationID(observation) ?? observationIndex[observation]).map(ObservationID.init)
    }

    func identifyPE(_ event: RouteEvent, rd: RouteDistinguisher) -> Int32? {
        for rule in peRules {
            let address: IPAddress?
            switch rule {
            case .rd:
                address = rd.routerIP
                if let address, let originator = event.attributes.originatorID, originator != address {
                    counters.peConflicts += 1
                    if counters.firstPEConflict == nil {
                        counters.firstPEConflict = (address, originator, event.source)
                    }
                }
            case .originator: address = event.attributes.originatorID
            case .nexthop: address = event.nextHop.flatMap { $0 == IPAddress(v4: 0) ? nil : $0 }
            // The BGP identifier where the input carries it (BMP, RIB dumps), else the peer address (BGP4MP).
            case .peer:
                address = event.observation.peerBGPID.isZero ? event.observation.peerIP : event.observation.peerBGPID
            }
            if let address { return internPE(address, rule, event.time) }
        }
        counters.noPEIdentified += 1
        return nil
    }

    /// ID-2, without building the target list: routes of one domain carry the same set of
    /// route targets, so the domain is found by an order-independent hash of the set.
    func internBD(_ event: RouteEvent, rd: RouteDistinguisher, tag: UInt32) -> Int32 {
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
        bdKeys.append(
            BDKey(
                ethernetTag: tag, rdNumber: rdNumber, firstTarget: Int32(bdTargets.count),
                targetCount: Int32(targets.count)))
        bdTargets.append(contentsOf: targets)
        bdIndex.insert(id, hash: hash)
        return id
    }

    /// Takes the event, not its attributes: an argument read out of the event would be a copy.
    func findBD(_ event: RouteEvent, rd: RouteDistinguisher, tag: UInt32) -> (hash: UInt64, id: Int32?) {
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
            return known.allSatisfy { i in
                event.attributes.extendedCommunities.contains { $0.isRouteTarget && $0.raw == bdTargets[i] }
            }
        }
        return (hash, found)
    }

    func internObservation(_ op: ObservationPoint) -> Int32 {
        if let id = recentObservation(op) { return id }
        let id: Int32
        if let known = observationIndex[op] {
            id = known
        } else {
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
    func recentObservation(_ op: ObservationPoint) -> Int32? {
        guard let id = cachedObservationID(op) else { return nil }
        if id != lastObservation?.id { swap(&lastObservation, &previousObservation) }
        return id
    }

    /// The id of `op` when it is one of the two most recent observation points (no lookup).
    @inline(__always)
    func cachedObservationID(_ op: ObservationPoint) -> Int32? {
        if let last = lastObservation, last.point == op { return last.id }
        if let previous = previousObservation, previous.point == op { return previous.id }
        return nil
    }

    func internTraits(_ value: RouteTraits) -> Int32 {
        let hop = value.nextHop
        let hash = hasher.hash(
            hop?.high ?? 0, (hop?.low ?? 0) ^ (hop == nil ? 0 : hop!.isIPv6 ? 2 : 1) << 62, value.esi.low,
            UInt64(value.esi.high) << 32 | UInt64(value.label1), value.rd ^ UInt64(UInt32(bitPattern: value.pe)) << 16)
        if let id = traitsIndex.find(hash, { traits[Int($0)] == value }) { return id }
        let id = Int32(traits.count)
        traits.append(value)
        traitsIndex.insert(id, hash: hash)
        return id
    }
}
