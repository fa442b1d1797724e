import Containers
import EVPNModel

/// MAC/IP advertisement routes (RFC 7432 §7.2): the per-observation RIB, each MAC's route chain,
/// the winner (MOB-3/4/6) and the transitions a change makes.
extension ReplayEngine {
    func routeState(_ slot: RouteSlot) -> RouteState {
        let shared = traits[Int(slot.traits)]
        return RouteState(
            ip: ipOf(slot), seq: slot.seq, sticky: slot.sticky, esi: shared.esi, nextHop: shared.nextHop,
            label1: shared.label1,
            rd: RouteDistinguisher(word: rdOf(slot)), observations: slot.observations, firstSeen: slot.firstSeen,
            lastUpdate: slot.lastUpdate,
            source: slot.sourceRef, mobilityCommunities: slot.mobilityCommunities)
    }

    func ribKey(_ event: RouteEvent, _ r: MACIPAdvertisement, op: Int32) -> RIBKey {
        RIBKey(op: op, pathID: event.entry.pathID ?? 0, rd: r.rd.word, tag: r.ethernetTag, mac: r.mac, ip: r.ip)
    }

    func ribHash(_ key: RIBKey) -> UInt64 {
        let flags: UInt64 = key.ip == nil ? 0 : key.ip!.isIPv6 ? 3 << 48 : 1 << 48
        return hasher.hash(
            UInt64(UInt32(bitPattern: key.op)) << 32 | UInt64(key.pathID), key.rd, key.mac.value | flags,
            (key.ip?.high ?? 0) &+ UInt64(key.tag) &* 0x9E37_79B9_7F4A_7C15, key.ip?.low ?? 0)
    }

    func findRIBEntry(_ key: RIBKey, path: Int32, hash: UInt64) -> Int32? {
        ribIndex.find(hash) { id in
            let entry = ribEntries[Int(id)]
            guard entry.path == path else { return false }
            let slot = routes[Int(entry.slot)]
            let state = macTable[Int(slot.mac)]
            return rdOf(slot) == key.rd && self.slot(slot, carries: key.ip) && state.mac == key.mac
                && bds[Int(state.bd)].ethernetTag == key.tag
        }
    }

    func dropRIBEntry(_ id: Int32, hash: UInt64) {
        ribIndex.remove(id, hash: hash)
        ribEntries[Int(id)].path = -1
        ribEntries.release(id)
    }

    func processMACIP(_ event: RouteEvent, _ r: MACIPAdvertisement, _ prefetched: PrefetchTarget) {
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
            let entry = ribEntries[Int(existing)]
            dropRIBEntry(existing, hash: hash)
            removeObservation(
                entry.slot, kind: .withdrawn, time: event.time, source: event.source, op: op, seqHere: entry.seq)
            return
        }
        // This observation point held a late copy; whatever it says now is its own news.
        if let copy = existing, case let slot = ribEntries[Int(copy)].slot, routes[Int(slot)].next == RouteSlot.lateCopy
        {
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
        if let existing, case let known = routes[Int(ribEntries[Int(existing)].slot)].mac,
            macTable[Int(known)].bd == bd
        {
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
                removeObservation(
                    old.slot, kind: .withdrawn, time: event.time, source: event.source, op: op, seqHere: old.seq)
            }
        }
        let traitID = internTraits(
            RouteTraits(nextHop: event.nextHop, esi: r.esi, label1: r.label1, pe: pe, rd: key.rd))
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
            if slot.seq == seq && slot.traits == traitID && slot.sticky == sticky
                && slot.mobilityCommunities == min(mobilityCommunities, Self.maximumCountedMobilityCommunities)
            {
                refresh(slot: s, mac: mac, pe: pe, op: op, ip: r.ip, time: event.time, source: event.source)
                noteAnnouncement(existing, event, op: op)
                return
            }
        }
        let incoming = RouteSlot(
            firstSeen: event.time, lastUpdate: event.time, advertLastChange: event.time,
            source: event.source.packed, ip: slotIP, sticky: sticky,
            mobilityCommunities: mobilityCommunities, mac: mac,
            seq: seq, traits: traitID)
        guard let slot = announce(mac: mac, route: incoming, ip: r.ip, previousSeqAtObservation: previousSeq, op: op)
        else { return }
        if let existing, previousSeq != nil {
            ribEntries[Int(existing)].seq = seq
            ribEntries[Int(existing)].slot = slot
            noteAnnouncement(existing, event, op: op)
        } else {
            let id = ribEntries.add(RIBEntry(slot: slot, path: path, seq: seq))
            ribIndex.insert(id, hash: hash)
            noteAnnouncement(id, event, op: op)
        }
        if let ip = r.ip, let previous = boundBefore, previous != mac {
            var t = Transition(kind: .ipMoved, time: event.time, mac: MACID(mac), pe: PEID(pe), source: event.source)
            t.ip = ip
            t.otherMAC = MACID(previous)
            emit(t)
        }
    }

    func macHash(_ address: MACAddress, bd: Int32) -> UInt64 {
        hasher.hash(UInt64(UInt32(bitPattern: bd)), address.value)
    }

    /// `hash`: the MAC's hash when already known, or 0.
    func findMAC(_ address: MACAddress, bd: Int32, hash known: UInt64 = 0) -> (hash: UInt64, id: Int32?) {
        let hash = known != 0 ? known : macHash(address, bd: bd)
        return (hash, macIndex.find(hash) { macTable[Int($0)].mac == address && macTable[Int($0)].bd == bd })
    }

    func internMAC(_ address: MACAddress, bd: Int32, time: Int64, hash known: UInt64 = 0) -> Int32 {
        let (hash, found) = findMAC(address, bd: bd, hash: known)
        if let found { return found }
        let mac = Int32(macTable.count)
        macTable.append(MACState(mac: address, firstSeen: time, lastChange: time, bd: bd))
        macIndex.insert(mac, hash: hash)
        return mac
    }

    /// Applies one announcement to the MAC's routes and returns the slot now holding it; nil
    /// (nothing changed) for a copy beyond the slot's count of observation points.
    func announce(
        mac: Int32, route incoming: RouteSlot, ip: IPAddress?, previousSeqAtObservation: UInt32?, op: Int32
    ) -> Int32? {
        let m = Int(mac), pe = peOf(incoming), time = incoming.lastUpdate, source = incoming.sourceRef
        let winnerBefore = macTable[m].winner.raw
        let winnerSeqBefore = macTable[m].winnerSeq
        let place = locate(m, pe: pe, ip: ip, rd: rdOf(incoming))
        // 2^24 copies of one route need 2^24 observation points or add-path ids: crafted input.
        if place.route >= 0 && previousSeqAtObservation == nil
            && routes[Int(place.route)].observations == RouteSlot.maxObservations
        {
            counters.copiesBeyondLimit += 1
            return nil
        }
        let isNewAdvert = place.head < 0
        if isNewAdvert && previousSeqAtObservation == nil
            && isLateCopy(m, pe: pe, seq: incoming.seq, op: op, time: time)
        {
            var copy = incoming
            copy.next = RouteSlot.lateCopy
            return routes.add(copy)
        }
        let peSeqBefore = isNewAdvert ? 0 : claimedSeq(m, pe: pe)!
        var isRefresh = false
        let slot: Int32
        if place.route >= 0 {
            slot = place.route
            var route = routes[Int(slot)]
            if previousSeqAtObservation == nil { route.observations += 1 }
            // A lagging observation point repeating an older sequence does not roll the route back
            // (ID-3); a sequence that falls at one observation point is the PE's own decrease.
            if SequenceOrder.newer(incoming.seq, than: route.seq)
                || previousSeqAtObservation.map({ SequenceOrder.newer($0, than: incoming.seq) }) == true
            {
                route.seq = incoming.seq
            }
            isRefresh =
                previousSeqAtObservation == incoming.seq
                || (previousSeqAtObservation == nil && route.seq == incoming.seq)
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
                macTable[m].firstRoute = slot
            } else {
                routes[Int(slot)].next = routes[Int(after)].next
                routes[Int(after)].next = slot
            }
        }
        let peSeqAfter = claimedSeq(m, pe: pe)!
        if peSeqAfter != peSeqBefore && !isNewAdvert { routes[Int(place.head)].advertLastChange = time }
        recomputeWinner(m)
        let winnerAfter = macTable[m].winner.raw
        var t = Transition(kind: .updated, time: time, mac: MACID(mac), pe: PEID(pe), source: source)
        t.observation = ObservationID(op)
        t.ip = ip
        t.sticky = incoming.sticky

        if isNewAdvert {
            if winnerBefore < 0, let owner = departedOwner(m, notPE: pe, time: time),
                SequenceOrder.newer(peSeqAfter, than: owner.seq)
            {
                // MOB-14: the higher sequence proves the PE saw the withdrawn owner's route.
                var template = t
                template.detail = "across a withdrawal"
                emitMove(m, from: owner.pe, to: pe, seqBefore: owner.seq, seqAfter: peSeqAfter, template: template)
            } else if winnerBefore < 0 {
                t.kind = .learned; t.seqAfter = peSeqAfter
                emit(t)
            } else if winnerAfter == pe {
                if sameSegment(pe, winnerBefore, m) {
                    t.kind = .aliased; t.otherPE = PEID(winnerBefore); t.seqAfter = peSeqAfter
                    emit(t)
                } else if claimedTogether(m, holder: winnerBefore, seq: peSeqAfter, sticky: incoming.sticky, time: time)
                {
                    // MOB-15: both claims date from this timestamp, so neither came first; the
                    // outcome is the other order's: the newcomer learnt it, the holder lost the tie.
                    t.kind = .learned; t.seqAfter = peSeqAfter
                    emit(t)
                    var lost = t
                    lost.kind = .rejected; lost.pe = PEID(winnerBefore); lost.otherPE = PEID(pe); lost.ip = nil
                    lost.seqBefore = peSeqAfter; lost.seqAfter = winnerSeqBefore; lost.tie = true
                    emit(lost)
                } else {
                    emitMove(
                        m, from: winnerBefore, to: pe, seqBefore: winnerSeqBefore, seqAfter: peSeqAfter, template: t)
                }
            } else if sameSegment(pe, winnerAfter, m) {
                t.kind = .aliased; t.otherPE = PEID(winnerAfter); t.seqAfter = peSeqAfter
                emit(t)
            } else if summarize(m, pe: winnerAfter)?.sticky == true {
                t.kind = .stickyConflict; t.otherPE = PEID(winnerAfter); t.seqBefore = macTable[m].winnerSeq;
                t.seqAfter = peSeqAfter
                emit(t)
            } else if SequenceOrder.newer(macTable[m].winnerSeq, than: peSeqAfter),
                learntWithoutMove(m, holder: winnerAfter, at: time)
            {
                // MOB-15 and MOB-2: the holder learnt the MAC in this timestamp with a higher
                // sequence than this PE's, so this PE's claim is the older one, come late in
                // the dump: the other order's move from it.
                emitMove(
                    m, from: pe, to: winnerAfter, seqBefore: peSeqAfter, seqAfter: macTable[m].winnerSeq, template: t)
            } else {
                t.kind = .rejected; t.otherPE = PEID(winnerAfter); t.seqBefore = macTable[m].winnerSeq;
                t.seqAfter = peSeqAfter
                t.tie = peSeqAfter == macTable[m].winnerSeq
                emit(t)
            }
            return slot
        }
        // The same PE again: a refresh (MOB-13), a new IP for the MAC, or a sequence change.
        if peSeqAfter != peSeqBefore || isRefresh {
            t.kind = .updated; t.seqBefore = peSeqBefore; t.seqAfter = peSeqAfter
            t.wrap = SequenceOrder.isWrap(from: peSeqBefore, to: peSeqAfter)
            t.otherPE = PEID(winnerAfter)
            emit(t)
        }
        if winnerAfter != winnerBefore && winnerBefore >= 0 && winnerAfter >= 0
            && !sameSegment(winnerBefore, winnerAfter, m)
        {
            emitMove(
                m, from: winnerBefore, to: winnerAfter, seqBefore: winnerSeqBefore, seqAfter: macTable[m].winnerSeq,
                template: t)
        }
        return slot
    }

    /// MOB-13: the route repeated at the same observation point with nothing changed (a route
    /// refresh, a RIB snapshot repeating the updates before it). What `announce` would do for
    /// it, without walking the MAC's routes three times: the time and source are renewed and the
    /// refresh is reported; sequences, winner and bindings stay as they are.
    func refresh(slot: Int32, mac: Int32, pe: Int32, op: Int32, ip: IPAddress?, time: Int64, source: SourceRef) {
        routes[Int(slot)].lastUpdate = time
        routes[Int(slot)].source = source.packed
        let m = Int(mac)
        let peSeq = claimedSeq(m, pe: pe)!
        // The source as the slot keeps it, as `announce` reports it.
        var t = Transition(
            kind: .updated, time: time, mac: MACID(mac), pe: PEID(pe), source: SourceRef(packed: source.packed))
        t.observation = ObservationID(op)
        t.ip = ip
        t.sticky = routes[Int(slot)].sticky
        t.seqBefore = peSeq; t.seqAfter = peSeq
        t.wrap = SequenceOrder.isWrap(from: peSeq, to: peSeq)
        t.otherPE = macTable[m].winner
        emit(t)
    }

    func emitMove(_ m: Int, from: Int32, to: Int32, seqBefore: UInt32, seqAfter: UInt32, template: Transition) {
        var t = template
        t.kind = .moved
        t.pe = PEID(to)
        t.otherPE = PEID(from)
        t.seqBefore = seqBefore
        t.seqAfter = seqAfter
        t.tie = seqBefore == seqAfter
        t.wrap = SequenceOrder.isWrap(from: seqBefore, to: seqAfter)
        macTable[m].moves += 1
        macTable[m].lastChange = t.time
        emit(t)
        if let old = summarize(m, pe: from) {
            var superseded = template
            superseded.kind = .superseded
            superseded.pe = PEID(from)
            superseded.otherPE = PEID(to)
            superseded.seqBefore = old.seq
            superseded.seqAfter = seqAfter
            superseded.ip = nil
            emit(superseded)
        }
    }

    /// MOB-8: two PEs on the same non-zero ESI are one multi-homed attachment.
    func sameSegment(_ a: Int32, _ b: Int32, _ m: Int) -> Bool {
        guard a >= 0, b >= 0, let first = summarize(m, pe: a), let second = summarize(m, pe: b) else { return false }
        return WinnerSelection.sameSegment(first.esi, second.esi)
    }

    /// The PE a receiver installs (`WinnerSelection`), over the MAC's routes grouped by PE.
    func recomputeWinner(_ m: Int) {
        var best: (pe: Int32, claim: WinnerSelection.Claim)?
        var s = macTable[m].firstRoute
        while s >= 0 {
            // One PE's group is contiguous: fold it, then compare it with the best so far.
            let pe = peOf(routes[Int(s)])
            var claim = WinnerSelection.Claim(seq: routes[Int(s)].seq, sticky: routes[Int(s)].sticky)
            s = routes[Int(s)].next
            while s >= 0 && peOf(routes[Int(s)]) == pe {
                claim.fold(seq: routes[Int(s)].seq, sticky: routes[Int(s)].sticky)
                s = routes[Int(s)].next
            }
            guard let current = best else { best = (pe, claim); continue }
            if WinnerSelection.displaces(
                claim, current.claim, lowerAddress: { pes[Int(pe)].address < pes[Int(current.pe)].address })
            {
                best = (pe, claim)
            }
        }
        macTable[m].winner = PEID(best?.pe ?? -1)
        macTable[m].winnerSeq = best?.claim.seq ?? 0
    }

    /// `seqHere`: the sequence the route had at observation point `op`, which may lag the route's.
    func removeObservation(
        _ s: Int32, kind: Transition.Kind, time: Int64, source: SourceRef, op: Int32, seqHere: UInt32
    ) {
        if routes[Int(s)].next == RouteSlot.lateCopy { routes.release(s); return }
        routes[Int(s)].observations -= 1
        guard routes[Int(s)].observations <= 0 else { return }
        let removed = routes[Int(s)]
        let m = Int(removed.mac), pe = peOf(removed)
        let removedESI = summarize(m, pe: pe)?.esi ?? .zero
        // Unlink; the group's advertisement time moves to its next slot if this one led it.
        var previous: Int32 = -1, cursor = macTable[m].firstRoute
        while cursor >= 0 && cursor != s { previous = cursor; cursor = routes[Int(cursor)].next }
        guard cursor == s else { return }
        if previous < 0 { macTable[m].firstRoute = removed.next } else { routes[Int(previous)].next = removed.next }
        let ledGroup = previous < 0 || peOf(routes[Int(previous)]) != pe
        if ledGroup, removed.next >= 0, peOf(routes[Int(removed.next)]) == pe {
            routes[Int(removed.next)].advertLastChange = removed.advertLastChange
        }
        routes.release(s)
        let groupRemains =
            (previous >= 0 && peOf(routes[Int(previous)]) == pe)
            || (removed.next >= 0 && peOf(routes[Int(removed.next)]) == pe)
        guard !groupRemains else { return }
        let winnerBefore = macTable[m].winner.raw
        let winnerSeqBefore = macTable[m].winnerSeq
        recordDeparture(
            m,
            Departure(
                pe: pe, seq: removed.seq, seqAtLastObservation: seqHere, observation: op, time: time,
                wasOwner: winnerBefore == pe))
        recomputeWinner(m)
        macTable[m].lastChange = time
        var t = Transition(kind: kind, time: time, mac: MACID(removed.mac), pe: PEID(pe), source: source)
        t.seqBefore = removed.seq
        t.otherPE = macTable[m].winner
        emit(t)
        // The owner left and another PE's route with the same sequence takes over: the PE that
        // tied without incrementing now has the MAC (W-13), a move unless the two PEs share the
        // MAC's Ethernet segment. Falling back to a route the owner had superseded is no move:
        // that route is stale and about to be withdrawn (its PE saw the higher sequence).
        let winnerAfter = macTable[m].winner.raw
        if winnerBefore == pe, winnerAfter >= 0, let next = summarize(m, pe: winnerAfter),
            !SequenceOrder.newer(winnerSeqBefore, than: next.seq), removedESI.isZero || next.esi != removedESI
        {
            var template = t
            template.detail = "after \(kind.rawValue)"
            emitMove(
                m, from: pe, to: winnerAfter, seqBefore: winnerSeqBefore, seqAfter: macTable[m].winnerSeq,
                template: template)
        }
    }

    /// Binds `ip` in domain `bd` to `mac`: the binding's index and the MAC it named before (nil
    /// for a new binding).
    func bindIP(_ ip: IPAddress, bd: Int32, mac: Int32) -> (id: Int32, previousMAC: Int32?) {
        let hash = hasher.hash(ip.high ^ UInt64(UInt32(bitPattern: bd)) << 32, ip.low ^ (ip.isIPv6 ? 1 << 63 : 0))
        if let id = ipBindingIndex.find(
            hash, { binding(ipBindings[Int($0)], is: ip) && macTable[Int(ipBindings[Int($0)].mac)].bd == bd })
        {
            let previous = ipBindings[Int(id)].mac
            ipBindings[Int(id)].mac = mac
            return (id, previous)
        }
        ipBindings.append(IPBinding(address: addressWord(for: ip), mac: mac, isIPv6: ip.isIPv6))
        let id = Int32(ipBindings.count - 1)
        ipBindingIndex.insert(id, hash: hash)
        return (id, nil)
    }
}
