import Containers
import EVPNModel

/// VPN host routes (/32, /128): kept per IP and PE as evidence for STALE-HOST-ROUTE.
extension ReplayEngine {
    /// Hash of an address alone (PEs, VPN host routes).
    func hostIPHash(_ ip: IPAddress) -> UInt64 { hasher.hash(ip.high, ip.low ^ (ip.isIPv6 ? 1 << 63 : 0)) }

    func hostEntryHash(op: Int32, pathID: UInt32, rd: UInt64, ip: IPAddress) -> UInt64 {
        hasher.hash(
            UInt64(UInt32(bitPattern: op)) << 32 | UInt64(pathID), rd, ip.high, ip.low ^ (ip.isIPv6 ? 1 << 63 : 0), 0)
    }

    func processHostRoute(_ event: RouteEvent, rd: RouteDistinguisher, prefix: IPPrefix, _ prefetched: PrefetchTarget) {
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
            if hostSlots[Int(slot)].pe == pe {
                hostSlots[Int(slot)].lastUpdate = event.time
                noteAnnouncement(existing, event, op: op, host: true)
                return
            }
            dropHostEntry(existing, hash: hash)
            dropHostObservation(slot)
        }
        let slot = addHostObservation(ip, pe: pe, time: event.time)
        let traitID = internTraits(RouteTraits(nextHop: nil, esi: .zero, label1: 0, pe: pe, rd: rdWord))
        let id = hostEntries.add(HostRIBEntry(traits: traitID, slot: slot, path: path))
        hostRIBIndex.insert(id, hash: hash)
        noteAnnouncement(id, event, op: op, host: true)
    }

    func dropHostEntry(_ id: Int32, hash: UInt64) {
        hostRIBIndex.remove(id, hash: hash)
        hostEntries[Int(id)].path = -1
        hostEntries.release(id)
    }

    func addHostObservation(_ ip: IPAddress, pe: Int32, time: Int64) -> Int32 {
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
        let slot = hostSlots.add(
            HostRouteSlot(lastUpdate: time, address: addressWord(for: ip), isIPv6: ip.isIPv6, pe: pe))
        if last >= 0 { hostSlots[Int(last)].next = slot } else { hostHeads.insert(slot, hash: ipHash) }
        return slot
    }

    func dropHostObservation(_ slot: Int32) {
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
            while hostSlots[Int(previous)].next != slot && hostSlots[Int(previous)].next >= 0 {
                previous = hostSlots[Int(previous)].next
            }
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
            result.append(
                HostRouteState(pe: PEID(slot.pe), observations: slot.observations, lastUpdate: slot.lastUpdate))
            cursor = slot.next
        }
        return result
    }

    /// Whether `pe` advertises a VPN host route for `ip`: `hostRoutePEs` without the array.
    public func hostRoute(_ ip: IPAddress, isAdvertisedBy pe: PEID) -> Bool {
        var cursor = firstHostSlot(of: ip)
        while cursor >= 0 && hostSlots[Int(cursor)].pe != pe.raw { cursor = hostSlots[Int(cursor)].next }
        return cursor >= 0
    }

    /// The first of `ip`'s host route slots (one per PE, chained), -1 when it has none.
    func firstHostSlot(of ip: IPAddress) -> Int32 {
        hostHeads.find(hostIPHash(ip)) { hostSlot($0, is: ip) } ?? -1
    }
}
