import EVPNModel

/// The records the engine keeps its state in, packed for memory: route slots, RIB entries,
/// host-route slots, IP bindings and the interned parts they share.
extension ReplayEngine {
    /// What `internBD` compares, kept apart from `bds` so the per-event check copies no arrays;
    /// a domain's route targets are `bdTargets[firstTarget ..< firstTarget + targetCount]`.
    struct BDKey { var ethernetTag: UInt32; var rdNumber: UInt32; var firstTarget: Int32; var targetCount: Int32 }

    /// 8 bytes: `address` is an IPv4 address or an `ipv6Rows` row (bindings are never removed,
    /// so neither are their rows). The binding's domain is its MAC's: it is found by domain and
    /// only ever names MACs of that domain.
    struct IPBinding {
        var address: UInt32
        private var macAndFamily: FlaggedID

        init(address: UInt32, mac: Int32, isIPv6: Bool) {
            self.address = address
            macAndFamily = FlaggedID(mac, isIPv6: isIPv6)
        }

        var isIPv6: Bool { macAndFamily.isIPv6 }
        var mac: Int32 {
            get { macAndFamily.id }
            set { macAndFamily.id = newValue }
        }
    }

    /// A table row id (31 bits) and, in the top bit, whether the record's address is IPv6: the
    /// flag rides in a word the record has anyway.
    struct FlaggedID {
        private var raw: UInt32

        init(_ id: Int32, isIPv6: Bool) { raw = UInt32(bitPattern: id) & 0x7FFF_FFFF | (isIPv6 ? 1 << 31 : 0) }

        var isIPv6: Bool { raw >> 31 != 0 }
        var id: Int32 {
            get { Int32(bitPattern: raw & 0x7FFF_FFFF) }
            set { raw = raw & 1 << 31 | UInt32(bitPattern: newValue) & 0x7FFF_FFFF }
        }
    }

    /// 16 bytes (an `IPAddress` is 24 with its family flag).
    struct IPv6Row { var high: UInt64; var low: UInt64 }

    func addressWord(for ip: IPAddress) -> UInt32 {
        ip.isIPv6 ? UInt32(ipv6Rows.add(IPv6Row(high: ip.high, low: ip.low))) : ip.v4
    }

    func address(_ word: UInt32, isIPv6: Bool) -> IPAddress {
        guard isIPv6 else { return IPAddress(v4: word) }
        let row = ipv6Rows[Int(word)]
        return IPAddress(v6High: row.high, v6Low: row.low)
    }

    @inline(__always) func address(_ word: UInt32, isIPv6: Bool, is ip: IPAddress) -> Bool {
        guard isIPv6 else { return !ip.isIPv6 && word == ip.v4 }
        let row = ipv6Rows[Int(word)]
        return ip.isIPv6 && row.high == ip.high && row.low == ip.low
    }

    func ipOf(_ binding: IPBinding) -> IPAddress { address(binding.address, isIPv6: binding.isIPv6) }

    @inline(__always) func binding(_ binding: IPBinding, is ip: IPAddress) -> Bool {
        address(binding.address, isIPv6: binding.isIPv6, is: ip)
    }

    /// One PE's VPN host route for one IP, however many observation points carry it. 24 bytes:
    /// `address` is an IPv4 address or an `ipv6Rows` row, released with the slot.
    struct HostRouteSlot {
        var lastUpdate: Int64
        var address: UInt32
        private var peAndFamily: FlaggedID
        var observations: Int32 = 1
        /// The next PE's slot for the same IP.
        var next: Int32 = -1

        init(lastUpdate: Int64, address: UInt32, isIPv6: Bool, pe: Int32) {
            self.lastUpdate = lastUpdate
            self.address = address
            peAndFamily = FlaggedID(pe, isIPv6: isIPv6)
        }

        var pe: Int32 { peAndFamily.id }
        var isIPv6: Bool { peAndFamily.isIPv6 }
    }

    func ipOf(_ slot: HostRouteSlot) -> IPAddress { address(slot.address, isIPv6: slot.isIPv6) }

    @inline(__always) func hostSlot(_ slot: Int32, is ip: IPAddress) -> Bool {
        address(hostSlots[Int(slot)].address, isIPv6: hostSlots[Int(slot)].isIPv6, is: ip)
    }

    /// A host route as one observation point (and add-path id) carries it; `path` is -1 while
    /// the entry is free. `traits` holds the route distinguisher (and PE), interned.
    struct HostRIBEntry { var traits: Int32; var slot: Int32; var path: Int32 }

    /// An observation point and add-path id, interned for the RIB entries (12 bytes each, not 16):
    /// few pairs exist, the RIB holds millions of entries.
    struct Path: Hashable { var op: Int32; var pathID: UInt32 }

    func internPath(op: Int32, pathID: UInt32) -> Int32 {
        if pathID == 0, Int(op) < plainPaths.count, plainPaths[Int(op)] >= 0 { return plainPaths[Int(op)] }
        let key = Path(op: op, pathID: pathID)
        if lastPath.key == key { return lastPath.id }
        let id: Int32
        if let known = pathIndex[key] {
            id = known
        } else {
            id = Int32(paths.count)
            paths.append(key)
            pathIndex[key] = id
        }
        if pathID == 0 {
            while plainPaths.count <= Int(op) { plainPaths.append(-1) }
            plainPaths[Int(op)] = id
        } else {
            lastPath = (key, id)
        }
        return id
    }

    /// An NLRI at one observation point and add-path id: what a withdrawal names.
    struct RIBKey {
        var op: Int32, pathID: UInt32, rd: UInt64, tag: UInt32, mac: MACAddress, ip: IPAddress?
    }

    /// One route as one observation point (and add-path id) carries it; its NLRI is read from its
    /// slot. `path` is -1 while the entry is free.
    struct RIBEntry { var slot: Int32; var path: Int32; var seq: UInt32 }

    /// The parts of a route that are the same for most of a PE's routes in one domain, its PE
    /// and route distinguisher included: kept once here, they keep the route slot at 56 bytes.
    /// A VPN host route's traits are its PE and route distinguisher alone.
    struct RouteTraits: Equatable {
        var nextHop: IPAddress?
        var esi: ESI
        var label1: UInt32
        var pe: Int32
        var rd: UInt64
    }

    /// One live (PE, BD, MAC, IP) route, 56 bytes. Declaration order is layout order: the words
    /// first, then the 32-bit fields, with no padding.
    struct RouteSlot {
        var firstSeen: Int64, lastUpdate: Int64
        /// Meaningful on the first slot of a PE's group: the advertisement's last sequence change.
        var advertLastChange: Int64
        /// `SourceRef.packed` of the last update.
        var source: UInt64
        private var ipWord: UInt32
        /// The observation points carrying the route (low 24 bits), the IP's kind (2 bits), sticky
        /// (1 bit) and how many MAC Mobility communities the last update had (5 bits, at most 31).
        private var bits: UInt32
        var mac: Int32
        var next: Int32 = -1
        var seq: UInt32
        /// The PE, route distinguisher, next hop, ESI and label (`traits`).
        var traits: Int32

        static let maxObservations: Int32 = 1 << 24 - 1
        /// `next` of a late copy's slot (ID-3), which is in no MAC's chain: it only answers the
        /// withdrawal that will follow it at its observation point.
        static let lateCopy: Int32 = -2
        private static let ipKindShift: UInt32 = 24, stickyBit: UInt32 = 1 << 26, mobilityShift: UInt32 = 27

        init(
            firstSeen: Int64, lastUpdate: Int64, advertLastChange: Int64, source: UInt64, ip: SlotIP, sticky: Bool,
            mobilityCommunities: Int, mac: Int32, seq: UInt32, traits: Int32
        ) {
            self.firstSeen = firstSeen; self.lastUpdate = lastUpdate; self.advertLastChange = advertLastChange;
            self.source = source
            ipWord = 0; bits = 1  // carried at one observation point
            self.mac = mac; self.seq = seq; self.traits = traits
            self.ip = ip; self.sticky = sticky; self.mobilityCommunities = mobilityCommunities
        }

        var sourceRef: SourceRef { SourceRef(packed: source) }
        var observations: Int32 {
            get { Int32(bits & 0xFF_FFFF) }
            set { bits = bits & ~0xFF_FFFF | UInt32(min(max(newValue, 0), Self.maxObservations)) }
        }
        var ip: SlotIP {
            get { SlotIP(word: ipWord, kind: UInt8(bits >> Self.ipKindShift & 3)) }
            set {
                ipWord = newValue.word;
                bits = bits & ~(3 << Self.ipKindShift) | UInt32(newValue.kind) << Self.ipKindShift
            }
        }
        var sticky: Bool {
            get { bits & Self.stickyBit != 0 }
            set { bits = newValue ? bits | Self.stickyBit : bits & ~Self.stickyBit }
        }
        var mobilityCommunities: Int {
            get { Int(bits >> Self.mobilityShift) }
            set {
                let counted = UInt32(min(max(newValue, 0), ReplayEngine.maximumCountedMobilityCommunities))
                bits = bits & ~(31 << Self.mobilityShift) | counted << Self.mobilityShift
            }
        }
    }

    /// A route's IP in 34 bits: an IPv4 address is kept in the slot, an IPv6 address is named by
    /// its IP binding (every MAC+IP route has one, in the MAC's domain, and bindings stay).
    struct SlotIP {
        var word: UInt32
        var kind: UInt8
        static let none = SlotIP(word: 0, kind: 0)
        static let v4: UInt8 = 1, v6Binding: UInt8 = 2

        init(word: UInt32, kind: UInt8) { self.word = word; self.kind = kind }
        init(_ ip: IPAddress, binding: Int32) {
            self = ip.isIPv6 ? SlotIP(word: UInt32(binding), kind: Self.v6Binding) : SlotIP(word: ip.v4, kind: Self.v4)
        }
    }

    func ipOf(_ slot: RouteSlot) -> IPAddress? {
        switch slot.ip.kind {
        case SlotIP.v4: IPAddress(v4: slot.ip.word)
        case SlotIP.v6Binding: ipOf(ipBindings[Int(slot.ip.word)])
        default: nil
        }
    }

    @inline(__always) func slot(_ slot: RouteSlot, carries ip: IPAddress?) -> Bool {
        guard let ip else { return slot.ip.kind == 0 }
        if ip.isIPv6 { return slot.ip.kind == SlotIP.v6Binding && binding(ipBindings[Int(slot.ip.word)], is: ip) }
        return slot.ip.kind == SlotIP.v4 && slot.ip.word == ip.v4
    }

    @inline(__always) func peOf(_ slot: RouteSlot) -> Int32 { traits[Int(slot.traits)].pe }

    @inline(__always) func rdOf(_ slot: RouteSlot) -> UInt64 { traits[Int(slot.traits)].rd }
}
