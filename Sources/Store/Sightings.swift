import EVPNModel

/// One advertisement is one route-event row, however many observation points saw it (ID-3):
/// a route reflector's dump, each PE's dump and a BMP station's pre-policy, post-policy and
/// Loc-RIB tables all carry a copy, and storing each copy made the database 5–6 times larger
/// than what happened. Copies arrive close together, so an event waits here for `window` (the
/// engine's copy lag, 1 s) while later copies add their observation point to its `seenAt`.
/// At most `capacity` events wait: a burst (a whole RIB at one timestamp) costs extra rows,
/// never memory beyond that bound.
struct SightingMerger {
    struct Sighting {
        var event: RouteEvent
        var observation: Int32?
        /// Every observation point that carried this advertisement, the first one first.
        var seenAt: InlineList<UInt32>
        /// The route's hash, kept: hashing an NLRI again on the way out cost as much as the lookup.
        var routeHash: Int
    }

    let window: Int64
    let capacity: Int
    /// Waiting sightings in arrival (time) order; `head` is the oldest still waiting.
    private var queue: [Sighting?] = []
    private var head = 0
    /// Route hash → absolute position in `queue` (`dropped` + index) of the route's latest
    /// waiting event: a copy joins only that one, so a withdrawal and a new announcement of the
    /// route in between are never folded into an earlier row.
    private var waiting: [Int: Int] = [:]
    private var dropped = 0

    init(window: Int64, capacity: Int = 65_536) {
        self.window = window
        self.capacity = capacity
        waiting.reserveCapacity(capacity)
    }

    /// Adds one sighting; `emit` receives the sightings whose window has closed, in time order.
    mutating func add(_ event: RouteEvent, observation: Int32?, emit: (Sighting) throws -> Void) rethrows {
        try release(before: event.time - window, emit: emit)
        let hash = Self.routeHash(event)
        if let position = waiting[hash], var earlier = queue[position - dropped], Self.sameAdvertisement(earlier.event, event) {
            if let observation, !earlier.seenAt.contains(UInt32(bitPattern: observation)) {
                earlier.seenAt.append(UInt32(bitPattern: observation))
                queue[position - dropped] = earlier
            }
            return
        }
        if queue.count - head >= capacity { try releaseOldest(emit: emit) }
        var seenAt = InlineList<UInt32>()
        if let observation { seenAt.append(UInt32(bitPattern: observation)) }
        waiting[hash] = dropped + queue.count
        queue.append(Sighting(event: event, observation: observation, seenAt: seenAt, routeHash: hash))
    }

    /// Emits every waiting sighting (end of the run, or before other rows must follow them).
    mutating func flush(emit: (Sighting) throws -> Void) rethrows {
        while head < queue.count { try releaseOldest(emit: emit) }
    }

    private mutating func release(before time: Int64, emit: (Sighting) throws -> Void) rethrows {
        // Reads the oldest's time in place: a copy of the sighting would retain its event.
        while head < queue.count, let oldest = queue[head]?.event.time, oldest < time { try releaseOldest(emit: emit) }
    }

    private mutating func releaseOldest(emit: (Sighting) throws -> Void) rethrows {
        guard let sighting = queue[head] else { return }
        queue[head] = nil
        if waiting[sighting.routeHash] == dropped + head { waiting[sighting.routeHash] = nil }
        head += 1
        // Compact now and then, so the queue's storage follows what waits, not what passed.
        if head >= 4096 && head * 2 >= queue.count {
            queue.removeFirst(head)
            dropped += head
            head = 0
        }
        try emit(sighting)
    }

    private static func routeHash(_ event: RouteEvent) -> Int { event.entry.nlri.hashValue }

    /// What makes two events one advertisement: the route, announce or withdraw, and the
    /// attributes its originator sets. A reflector's CLUSTER_LIST and the AS path a session adds
    /// differ from copy to copy of an EVPN route, so they are left out there; other families
    /// are one advertisement only with every attribute equal (a RIS peer's path is its own).
    private static func sameAdvertisement(_ a: RouteEvent, _ b: RouteEvent) -> Bool {
        guard a.entry.nlri == b.entry.nlri, a.isWithdraw == b.isWithdraw, a.nextHop == b.nextHop else { return false }
        if case .evpn = a.entry.nlri {
            return a.attributes.originatorID == b.attributes.originatorID && a.attributes.extendedCommunities == b.attributes.extendedCommunities
        }
        return a.attributes == b.attributes
    }
}
