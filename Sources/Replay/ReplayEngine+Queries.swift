import EVPNModel

/// What detectors, the store and the commands read of the replayed state.
extension ReplayEngine {
    /// Live (PE, BD, MAC, IP) routes: one per PE however many observation points carry it (ID-3).
    public var liveRoutes: Int { routes.liveCount }

    public func macState(bd: Int32, mac: MACAddress) -> MACState? {
        findMAC(mac, bd: bd).id.map { macTable[Int($0)] }
    }

    /// What `pe` advertises for MAC `mac` (an index into `macs`), nil when it advertises nothing.
    public func advert(mac: MACID, pe: PEID) -> PEAdvertisement? {
        guard mac.exists, pe.exists else { return nil }
        return summarize(mac.index, pe: pe.raw)
    }

    /// Every PE's advertisement for MAC `mac`, in the order the PEs first advertised it.
    public func adverts(mac: MACID) -> [PEAdvertisement] {
        var result: [PEAdvertisement] = []
        forEachAdvert(mac: mac) { result.append($0) }
        return result
    }

    /// `adverts(mac:)` without an array: the final write visits every MAC.
    public func forEachAdvert(mac: MACID, _ body: (PEAdvertisement) throws -> Void) rethrows {
        var s = macTable[mac.index].firstRoute
        while s >= 0 {
            let pe = peOf(routes[Int(s)])
            if let advert = summarize(mac.index, pe: pe) { try body(advert) }
            while s >= 0 && peOf(routes[Int(s)]) == pe { s = routes[Int(s)].next }
        }
    }

    /// The IP address of each MAC+IP route of MAC `mac` (of PE `pe` only, if given).
    public func forEachIP(mac: MACID, pe: PEID? = nil, _ body: (IPAddress) throws -> Void) rethrows {
        var s = macTable[mac.index].firstRoute
        while s >= 0 {
            if pe == nil || peOf(routes[Int(s)]) == pe?.raw, let ip = ipOf(routes[Int(s)]) { try body(ip) }
            s = routes[Int(s)].next
        }
    }

    /// The routes (MAC-only and MAC+IP) `pe` advertises for MAC `mac`.
    public func routes(mac: MACID, pe: PEID) -> [RouteState] {
        var result: [RouteState] = []
        var s = macTable[mac.index].firstRoute
        while s >= 0 {
            if peOf(routes[Int(s)]) == pe.raw { result.append(routeState(routes[Int(s)])) }
            s = routes[Int(s)].next
        }
        return result
    }

    /// The route of `pe` for MAC `mac` that carries `ip` (nil: the MAC-only route).
    public func route(mac: MACID, pe: PEID, ip: IPAddress?) -> RouteState? {
        routeSlot(mac: mac.raw, pe: pe.raw, ip: ip).map { routeState(routes[Int($0)]) }
    }

    /// A route keeps its count of MAC Mobility communities in 5 bits: a count of 31 means "31 or more".
    public static let maximumCountedMobilityCommunities = 31

    /// How many MAC Mobility communities the last update of that route carried (MOB-9), 0 when
    /// there is no such route: `route(mac:pe:ip:)` without building the whole state.
    public func mobilityCommunities(mac: MACID, pe: PEID, ip: IPAddress?) -> Int {
        routeSlot(mac: mac.raw, pe: pe.raw, ip: ip).map { routes[Int($0)].mobilityCommunities } ?? 0
    }

    func routeSlot(mac: Int32, pe: Int32, ip: IPAddress?) -> Int32? {
        var s = macTable[Int(mac)].firstRoute
        while s >= 0 {
            if peOf(routes[Int(s)]) == pe && slot(routes[Int(s)], carries: ip) { return s }
            s = routes[Int(s)].next
        }
        return nil
    }

    /// MOB-11 evidence: `pe` advertises the MAC's routes with more than one sequence number.
    public func hasMixedSequences(mac: MACID, pe: PEID) -> Bool {
        var first: UInt32?
        var s = macTable[mac.index].firstRoute
        while s >= 0 {
            let slot = routes[Int(s)]
            if peOf(slot) == pe.raw {
                if let first, first != slot.seq { return true }
                first = slot.seq
            }
            s = slot.next
        }
        return false
    }

    /// Routes carried per observation point and path id (a route seen twice counts twice).
    public var liveObservations: Int { ribIndex.count }

    /// MACs `pe` still advertises (with a route last updated at or before `since`, if given).
    public func liveAdvertisements(of pe: PEID, since: Int64? = nil) -> [MACID] {
        var result: [MACID] = []
        for m in macTable.indices {
            var s = macTable[m].firstRoute
            while s >= 0 {
                let slot = routes[Int(s)]
                if peOf(slot) == pe.raw && (since.map { slot.lastUpdate <= $0 } ?? true) {
                    result.append(MACID(index: m)); break
                }
                s = slot.next
            }
        }
        return result
    }

    /// Bytes of memory the route state has touched, per table, for `make bench`'s bytes-per-route
    /// figure: tables up to their high-water mark (capacity beyond it is never written, so never
    /// resident), hash indexes in full.
    public var stateBytesByTable: [(table: String, bytes: Int)] {
        [
            ("route slots", routes.highWater * MemoryLayout<RouteSlot>.stride),
            ("MACs", macTable.count * MemoryLayout<MACState>.stride),
            (
                "departures",
                (0..<departureLists.highWater).reduce(departureLists.highWater * MemoryLayout<[Departure]>.stride) {
                    total, i in
                    let kept = departureLists[i].capacity
                    return total + (kept > 0 ? 32 + kept * MemoryLayout<Departure>.stride : 0)
                }
            ),
            ("RIB entries", ribEntries.highWater * MemoryLayout<RIBEntry>.stride),
            ("RIB index", ribIndex.bucketCount * 8),
            ("MAC index", macIndex.bucketCount * 8),
            (
                "IP bindings",
                ipBindings.count * MemoryLayout<IPBinding>.stride + ipv6Rows.highWater * MemoryLayout<IPv6Row>.stride
                    + ipBindingIndex.bucketCount * 8
            ),
            (
                "host routes",
                hostSlots.highWater * MemoryLayout<HostRouteSlot>.stride + hostEntries.highWater
                    * MemoryLayout<HostRIBEntry>.stride
                    + (hostHeads.bucketCount + hostRIBIndex.bucketCount) * 8
            ),
            (
                "traits and domains",
                traits.count * MemoryLayout<RouteTraits>.stride + (traitsIndex.bucketCount + bdIndex.bucketCount) * 8
            ),
        ]
    }

    public var stateBytes: Int { stateBytesByTable.reduce(0) { $0 + $1.bytes } }
}
