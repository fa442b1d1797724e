import EVPNModel

/// Each MAC's route chain read: where a PE's group of routes sits in it, and what the group
/// claims (MOB-11, MOB-8).
extension ReplayEngine {
    /// Where `pe`'s routes for MAC `m` sit in its chain: the group's first and last slot, the
    /// slot carrying `ip`, and the chain's last slot.
    func locate(
        _ m: Int, pe: Int32, ip: IPAddress?, rd: UInt64
    ) -> (head: Int32, tail: Int32, route: Int32, chainTail: Int32) {
        var head: Int32 = -1, tail: Int32 = -1, route: Int32 = -1, chainTail: Int32 = -1
        var s = macTable[m].firstRoute
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

    /// Each of `pe`'s routes for MAC `m`, in chain order (a PE's routes are contiguous there).
    @inline(__always)
    func forEachRoute(_ m: Int, pe: Int32, _ body: (RouteSlot) -> Void) {
        var s = macTable[m].firstRoute
        var inGroup = false
        while s >= 0 {
            let slot = routes[Int(s)]
            s = slot.next
            guard peOf(slot) == pe else {
                if inGroup { return }
                continue
            }
            inGroup = true
            body(slot)
        }
    }

    /// MOB-11 over one PE's group, the sequence alone: what `summarize` gives as `seq`, without
    /// reading each route's shared traits for its ESI (most callers want only this).
    func claimedSeq(_ m: Int, pe: Int32) -> UInt32? {
        var claim: WinnerSelection.Claim?
        forEachRoute(m, pe: pe) { slot in
            if claim == nil {
                claim = WinnerSelection.Claim(seq: slot.seq, sticky: false)
            } else {
                claim!.fold(seq: slot.seq, sticky: false)
            }
        }
        return claim?.seq
    }

    /// MOB-11 and MOB-8 over one PE's group: highest sequence, any sticky, first non-zero ESI.
    func summarize(_ m: Int, pe: Int32) -> PEAdvertisement? {
        var result: PEAdvertisement?
        forEachRoute(m, pe: pe) { slot in
            let esi = traits[Int(slot.traits)].esi
            if var advert = result {
                var claim = WinnerSelection.Claim(seq: advert.seq, sticky: advert.sticky)
                claim.fold(seq: slot.seq, sticky: slot.sticky)
                (advert.seq, advert.sticky) = (claim.seq, claim.sticky)
                if advert.esi.isZero { advert.esi = esi }
                advert.routeCount += 1
                advert.firstSeen = min(advert.firstSeen, slot.firstSeen)
                result = advert
            } else {
                result = PEAdvertisement(
                    pe: PEID(pe), seq: slot.seq, sticky: slot.sticky, esi: esi, routeCount: 1,
                    firstSeen: slot.firstSeen, lastChange: slot.advertLastChange)
            }
        }
        return result
    }
}
