import Containers
import EVPNModel

/// Read-ahead: the hash buckets and chains an item will touch, loaded before it is replayed
/// (`EngineLookahead`), so the cache misses of several items overlap.
extension ReplayEngine {
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
    public func prefetchBucket(_ item: FeedItem?) -> PrefetchTarget {
        guard let route = item?.unretainedRoute else { return .none }
        return route._withUnsafeGuaranteedRef { prefetchBucket(of: $0) }
    }

    private func prefetchBucket(of event: RouteEvent) -> PrefetchTarget {
        guard let op = cachedObservationID(event.observation) else { return .none }
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
            // The IP's PE list, read when a PE takes the route.
            if !event.isWithdraw { hostHeads.prefetch(hostIPHash(prefix.address)) }
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
            if target.macHash != 0, let mac = macIndex.find(target.macHash, { _ in true }) {
                macTable.prefetch(Int(mac))
            }
            return prefetchEntry(ribIndex, target.hash, in: ribEntries)
        case (1, true): return prefetchEntry(hostRIBIndex, target.hash, in: hostEntries)
        case (2, false): return prefetchSlot(of: cursor, in: ribEntries, \.slot, from: routes)
        case (2, true): return prefetchSlot(of: cursor, in: hostEntries, \.slot, from: hostSlots)
        case (_, true): return -1  // a host route slot leads nowhere further
        default:
            guard cursor >= 0, Int(cursor) < routes.highWater else { return -1 }
            let mac = routes[Int(cursor)].mac
            macTable.prefetch(Int(mac))
            return mac
        }
    }

    /// The first entry `index` holds under `hash` (the first tag match), requested from `entries`.
    func prefetchEntry<Entry>(_ index: IDIndex, _ hash: UInt64, in entries: RecyclingTable<Entry>) -> Int32 {
        guard let entry = index.find(hash, { _ in true }) else { return -1 }
        entries.prefetch(Int(entry))
        return entry
    }

    /// The slot entry `cursor` names, requested from `slots`.
    func prefetchSlot<Entry, Slot>(
        of cursor: Int32, in entries: RecyclingTable<Entry>, _ slot: (Entry) -> Int32,
        from slots: RecyclingTable<Slot>
    ) -> Int32 {
        guard cursor >= 0, Int(cursor) < entries.highWater else { return -1 }
        let found = slot(entries[Int(cursor)])
        slots.prefetch(Int(found))
        return found
    }
}
