import Containers
import EVPNModel
import Replay

/// The observation points that carried one advertisement: the first, then the others in
/// ascending order. Points 0–63 (nearly always all of them) are bits of one word, so adding a
/// sixth router's copy allocates nothing.
struct ObservationSet {
    private(set) var first: UInt32?
    private var low: UInt64 = 0
    private var high: [UInt32] = []

    init(_ first: Int32?) {
        if let first { insert(UInt32(bitPattern: first)) }
    }

    var count: Int { low.nonzeroBitCount + high.count }

    mutating func insert(_ id: UInt32) {
        if first == nil { first = id }
        if id < 64 { low |= 1 << UInt64(id) } else if !high.contains(id) { high.append(id) }
    }

    /// The first one first, then the rest ascending.
    func forEach(_ body: (UInt32) -> Void) {
        guard let first else { return }
        body(first)
        var bits = low
        while bits != 0 {
            let id = UInt32(bits.trailingZeroBitCount)
            bits &= bits - 1
            if id != first { body(id) }
        }
        // Nearly always empty: sorting it anyway allocated an array per stored event.
        if !high.isEmpty { for id in high.sorted() where id != first { body(id) } }
    }
}

/// One advertisement is one route-event row, however many observation points saw it (ID-3):
/// a route reflector's dump, each PE's dump and a BMP station's pre-policy, post-policy and
/// Loc-RIB tables all carry a copy, and storing each copy made the database 5–6 times larger
/// than what happened. Copies arrive close together, so an event waits here for `window` (the
/// engine's copy lag, 1 s) while later copies add their observation point to its `seenAt`.
/// At most `capacity` events wait: a burst (a whole RIB at one timestamp) costs extra rows,
/// never memory beyond that bound. 8192 waiting events are ~4 MB; 65,536 (32 MB) left the
/// replay's tables less of the cache, and its thread, the run's bound, ~0.5 s slower on the
/// 1 M MAC fabric, whose copies arrive a few events apart.
struct SightingMerger {
    /// Receives one advertisement's event and every observation point that carried it, the
    /// first one first.
    typealias Emit = (consuming RouteEvent, ObservationSet) throws -> Void

    let window: TimeSpan
    let capacity: Int
    // The waiting sightings, oldest at `head`, in a ring of `capacity` slots kept as separate
    // arrays: reading a time or a hash must not copy (and retain) a whole sighting.
    private var events: [RouteEvent?]
    private var seenAt: [ObservationSet]
    private var times: [Int64]
    private var hashes: [UInt64]
    private var head = 0, count = 0
    /// Route hash → the slot of the route's latest waiting event: a copy joins only that one, so
    /// a withdrawal and a new announcement of the route in between are never folded into an
    /// earlier row. The engine's open-addressing index under its word hasher: a Dictionary
    /// hashed with SipHash was a visible part of a run that stores every event.
    private let waiting = IDIndex()
    private let hasher = WordHasher()

    init(window: TimeSpan, capacity: Int = 8192) {
        self.window = window
        self.capacity = capacity
        events = Array(repeating: nil, count: capacity)
        seenAt = Array(repeating: ObservationSet(nil), count: capacity)
        times = Array(repeating: 0, count: capacity)
        hashes = Array(repeating: 0, count: capacity)
    }

    /// Requests the index bucket that `add` will probe for `event`: called a few events ahead,
    /// so the probe finds it in the cache (it missed there on nearly every event of a large run).
    func prefetch(_ event: RouteEvent) { waiting.prefetch(routeHash(event)) }

    /// How many sightings ahead of the oldest one `releaseOldest` requests its index bucket.
    private static let releaseLookahead = 8

    /// Adds one sighting; `emit` receives the advertisements whose window has closed, in time order.
    mutating func add(
        _ event: consuming RouteEvent, observation: Int32?, emit: Emit
    ) rethrows {
        try release(before: event.time - window, emit: emit)
        let hash = routeHash(event)
        if let slot = latest(of: event, hash: hash) {
            if waiting(slot, { Self.sameAttributes($0, event) }) {
                if let observation { seenAt[slot].insert(UInt32(bitPattern: observation)) }
                return
            }
            waiting.remove(Int32(slot), hash: hash)
        }
        if count == capacity { try releaseOldest(emit: emit) }
        let slot = (head + count) % capacity
        times[slot] = event.time
        events[slot] = consume event  // moved in: its last use, so no retain
        seenAt[slot] = ObservationSet(observation)
        hashes[slot] = hash
        count += 1
        waiting.insert(Int32(slot), hash: hash)
    }

    /// Emits every waiting sighting (end of the run, or before other rows must follow them).
    mutating func flush(emit: Emit) rethrows {
        while count > 0 { try releaseOldest(emit: emit) }
    }

    private func latest(of event: RouteEvent, hash: UInt64) -> Int? {
        waiting.find(hash) { slot in
            hashes[Int(slot)] == hash && waiting(Int(slot)) { Self.sameRoute($0.entry.nlri, event.entry.nlri) }
        }
        .map(Int.init)
    }

    /// Reads the event waiting in `slot` where it is: a copy out of the ring would retain and
    /// release it for every comparison.
    private func waiting<Result>(_ slot: Int, _ body: (RouteEvent) -> Result) -> Result {
        Unmanaged.passUnretained(events[slot].unsafelyUnwrapped)._withUnsafeGuaranteedRef(body)
    }

    /// MAC/IP routes compared as such: the enum's synthesized `==` took several times longer.
    private static func sameRoute(_ a: NLRI, _ b: NLRI) -> Bool {
        if case .evpn(.macIP(let x)) = a, case .evpn(.macIP(let y)) = b { return x == y }
        return a == b
    }

    private mutating func release(before time: Int64, emit: Emit) rethrows {
        while count > 0 && times[head] < time { try releaseOldest(emit: emit) }
    }

    private mutating func releaseOldest(emit: Emit) rethrows {
        let slot = head
        if count > Self.releaseLookahead { waiting.prefetch(hashes[(head + Self.releaseLookahead) % capacity]) }
        // Moved out, not copied: a copy would retain the event and release it again.
        var event: RouteEvent?
        swap(&event, &events[slot])
        var list = ObservationSet(nil)
        swap(&list, &seenAt[slot])
        waiting.remove(Int32(slot), hash: hashes[slot])  // gone already when a newer event of the route took over
        head = (head + 1) % capacity
        count -= 1
        try emit((consume event)!, list)
    }

    /// MAC/IP and VPN routes, nearly every event, by their words (MAC, RD, IP, tag; RD,
    /// prefix) through the engine's word hasher; other routes by their Hashable hash.
    private func routeHash(_ event: RouteEvent) -> UInt64 {
        switch event.entry.nlri {
        case .evpn(.macIP(let route)):
            let ip = route.ip.map { $0.high ^ $0.low &* 0x9E37_79B9_7F4A_7C15 } ?? 0
            return hasher.hash(route.mac.value ^ UInt64(route.ethernetTag) << 48, route.rd.word ^ ip)
        case .vpn(let rd, let prefix, let label):
            let address = prefix.address.high ^ prefix.address.low &* 0x9E37_79B9_7F4A_7C15
            return hasher.hash(address ^ UInt64(prefix.length) << 56, rd.word ^ UInt64(label) << 40)
        default:
            return UInt64(bitPattern: Int64(event.entry.nlri.hashValue))
        }
    }

    /// What makes two events one advertisement: the route, announce or withdraw, and the
    /// attributes its originator sets. A reflector's CLUSTER_LIST and the AS path a session adds
    /// differ from copy to copy of an EVPN route, so they are left out there; other families
    /// are one advertisement only with every attribute equal (a RIS peer's path is its own).
    /// `latest(of:hash:)` has matched the route already.
    private static func sameAttributes(_ a: RouteEvent, _ b: RouteEvent) -> Bool {
        guard a.isWithdraw == b.isWithdraw, a.nextHop == b.nextHop else { return false }
        if case .evpn = a.entry.nlri {
            return a.attributes.originatorID == b.attributes.originatorID
                && a.attributes.extendedCommunities == b.attributes.extendedCommunities
        }
        return a.attributes == b.attributes
    }
}
