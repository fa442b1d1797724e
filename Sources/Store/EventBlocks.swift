import CZlib
import Containers
import EVPNModel

/// Route events stored as compressed blocks of `EventBlockEncoder.capacity` events: one
/// advertisement costs a few bytes instead of a ~150-byte row and its index entries, which made
/// the default database 33 times the size of a .bz2 input. Inside a block each field is a stream
/// of its own (times as deltas, the MACs side by side, ...) and what a PE repeats on every route
/// (family, RD, ESI, next hop, route targets, originator) is one entry of the block's shape table.
/// A block row also carries a Bloom filter of its MACs, so looking a MAC up decompresses only
/// the few blocks that may hold it.
enum EventBlockFormat {
    static let version: UInt8 = 1
    static let filterBytes = EventBlockEncoder.capacity / 2

    /// The filter's three bit positions for a MAC: 8 bits per distinct MAC when, as usual, a
    /// MAC has two routes in a block (MAC only, MAC+IP), ~3 % false positives.
    static func filterBits(_ mac: MACAddress) -> (Int, Int, Int) {
        let h = (mac.value ^ 0x5bd1_e995) &* 0x9E37_79B9_7F4A_7C15
        let mask = UInt64(filterBytes * 8 - 1)
        return (Int(h & mask), Int((h >> 21) & mask), Int((h >> 42) & mask))
    }

    enum Stream: Int, CaseIterable { case times, sources, sightings, shapes, macs, addresses, numbers, shapeTable }

    /// Everything of an event that a PE repeats from route to route.
    struct Shape: Equatable {
        enum Kind: UInt8 { case prefix, vpn, evpn }
        var kind: Kind
        var isWithdraw: Bool
        var family: AddressFamily
        var routeType: UInt8 = 0
        var rd: RouteDistinguisher?
        var esi: ESI?
        var ethernetTag: UInt32?
        var address: IPAddress?
        var nextHop: IPAddress?
        var targets = InlineList<ExtendedCommunity>()
        var originator: IPAddress?
        var hasMobility = false
        var sticky = false
        var hasPathID = false
        /// A type 2 route: a MAC, and an IP or none, per event.
        var hasMAC = false
        /// A prefix per event (unicast, VPN, type 5).
        var hasPrefix = false

        /// The fields folded into one word: hashing each field on its own was a tenth of the
        /// writer thread's time. Equality still compares every field.
        var word: UInt64 {
            func mix(_ h: UInt64, _ v: UInt64) -> UInt64 { WordHasher.fold(h ^ v, 0x9E37_79B9_7F4A_7C15) }
            var h =
                UInt64(kind.rawValue) | UInt64(isWithdraw ? 1 : 0) << 8 | UInt64(family.afi) << 16
                | UInt64(family.safi) << 32 | UInt64(routeType) << 40
            h = mix(h, rd?.word ?? 0)
            h = mix(h, esi.map { $0.low ^ UInt64($0.high) << 48 } ?? 0)
            h = mix(h, UInt64(ethernetTag ?? 0))
            h = mix(h, address.map { $0.high ^ $0.low } ?? 0)
            h = mix(h, nextHop.map { $0.high ^ $0.low } ?? 0)
            h = mix(h, originator.map { $0.high ^ $0.low } ?? 0)
            for target in targets { h = mix(h, target.raw) }
            return h
        }
    }
}

/// Collects events into one block at a time (on the database writer's thread).
struct EventBlockEncoder {
    static let capacity = 16_384

    struct Block {
        var firstTime: Int64, lastTime: Int64, events: Int, filter: [UInt8], data: [UInt8]
    }

    private(set) var count = 0
    // One array per stream (`EventBlockFormat.Stream`): appending through an array of arrays
    // checked both levels' uniqueness for every byte.
    private var times: [UInt8] = [], sources: [UInt8] = [], sightings: [UInt8] = [], shapeRefs: [UInt8] = []
    private var macs: [UInt8] = [], addresses: [UInt8] = [], numbers: [UInt8] = [], shapeTable: [UInt8] = []
    private func stream(_ stream: EventBlockFormat.Stream) -> [UInt8] {
        switch stream {
        case .times: return times
        case .sources: return sources
        case .sightings: return sightings
        case .shapes: return shapeRefs
        case .macs: return macs
        case .addresses: return addresses
        case .numbers: return numbers
        case .shapeTable: return shapeTable
        }
    }
    /// The block's shapes in table order, found by their folded word: a Dictionary keyed by the
    /// shape hashed it again with SipHash and copied it, a quarter of the writer's work.
    private var shapes: [EventBlockFormat.Shape] = []
    private let shapeIndex = IDIndex()
    /// Seeded, so crafted input cannot put many shapes on one probe chain.
    private let shapeHasher = WordHasher()
    private var filter = [UInt8](repeating: 0, count: EventBlockFormat.filterBytes)
    private var firstTime: Int64 = .max, lastTime: Int64 = .min
    private var baseTime: Int64 = 0, previousTime: Int64 = 0, previousOffset: Int64 = 0

    var isFull: Bool { count >= Self.capacity }

    mutating func append(_ event: RouteEvent, seenAt: ObservationSet) {
        if count == 0 { baseTime = event.time; previousTime = event.time; previousOffset = 0 }
        firstTime = min(firstTime, event.time)
        lastTime = max(lastTime, event.time)
        times.appendSigned(event.time - previousTime)
        previousTime = event.time
        sources.appendVarint(UInt64(UInt32(bitPattern: event.source.input)))
        sources.appendSigned(event.source.offset - previousOffset)
        previousOffset = event.source.offset
        sightings.appendVarint(UInt64(seenAt.count))
        seenAt.forEach { sightings.appendVarint(UInt64($0)) }

        var shape = EventBlockFormat.Shape(kind: .prefix, isWithdraw: event.isWithdraw, family: event.family)
        var mac: MACAddress?, ip: IPAddress?, prefix: IPPrefix?
        switch event.entry.nlri {
        case .prefix(let p): prefix = p
        case .vpn(let rd, let p, _): shape.kind = .vpn; shape.rd = rd; prefix = p
        case .evpn(let route):
            shape.kind = .evpn
            shape.routeType = route.routeType
            shape.rd = route.rd
            switch route {
            case .macIP(let r): shape.esi = r.esi; shape.ethernetTag = r.ethernetTag; mac = r.mac; ip = r.ip
            case .ethernetAD(let r): shape.esi = r.esi; shape.ethernetTag = r.ethernetTag
            case .inclusiveMulticast(let r): shape.ethernetTag = r.ethernetTag; shape.address = r.originatingIP
            case .ethernetSegment(let r): shape.esi = r.esi; shape.address = r.originatingIP
            case .ipPrefix(let r): shape.esi = r.esi; shape.ethernetTag = r.ethernetTag; prefix = r.prefix
            case .unknown: break
            }
        }
        shape.hasMAC = mac != nil
        shape.hasPrefix = prefix != nil
        var mobility: ExtendedCommunity.MACMobility?
        if !event.isWithdraw {
            mobility = event.attributes.macMobility
            shape.nextHop = event.nextHop
            for community in event.attributes.extendedCommunities where community.isRouteTarget {
                shape.targets.append(community)
            }
        }
        shape.originator = event.attributes.originatorID
        shape.hasMobility = mobility != nil
        shape.sticky = mobility?.sticky ?? false
        shape.hasPathID = event.entry.pathID != nil

        let word = shapeHasher.hash(shape.word, 0)
        let index: Int
        if let known = shapeIndex.find(word, { shapes[Int($0)] == shape }) {
            index = Int(known)
        } else {
            index = shapes.count
            shapeIndex.insert(Int32(index), hash: word)
            shapeTable.append(shape)
            shapes.append(shape)
        }
        shapeRefs.appendVarint(UInt64(index))
        if let mac {
            var shift: UInt64 = 48
            while shift > 0 {
                shift -= 8
                macs.append(UInt8(truncatingIfNeeded: mac.value >> shift))
            }
            let bits = EventBlockFormat.filterBits(mac)
            filter[bits.0 >> 3] |= 1 << UInt8(bits.0 & 7)
            filter[bits.1 >> 3] |= 1 << UInt8(bits.1 & 7)
            filter[bits.2 >> 3] |= 1 << UInt8(bits.2 & 7)
            addresses.append(optional: ip)
        }
        if let prefix {
            addresses.append(optional: prefix.address)
            addresses.append(prefix.length)
        }
        if let mobility { numbers.appendVarint(UInt64(mobility.sequence)) }
        if let pathID = event.entry.pathID { numbers.appendVarint(UInt64(pathID)) }
        count += 1
    }

    /// The block so far, compressed, and an empty encoder for the next one. Each stream is
    /// deflated on its own, at level 1: a field's values resemble each other more than the next
    /// field's (3.1 instead of 3.9 bytes per event on the bench fabric at level 6), and level 6
    /// cost seconds of a run for little less.
    mutating func finish() -> Block {
        var data: [UInt8] = [EventBlockFormat.version]
        data.appendVarint(UInt64(count))
        data.appendVarint(UInt64(bitPattern: baseTime))
        var compressed: [[UInt8]] = []
        for stream in EventBlockFormat.Stream.allCases.map(stream) {
            var length = compressBound(uLong(stream.count))
            var out = [UInt8](repeating: 0, count: Int(length))
            let result = stream.withUnsafeBufferPointer { input in
                compress2(&out, &length, input.baseAddress, uLong(input.count), 1)
            }
            precondition(result == Z_OK, "zlib compress2 failed with \(result)")  // only on memory exhaustion
            out.removeLast(out.count - Int(length))
            data.appendVarint(UInt64(stream.count))
            data.appendVarint(UInt64(out.count))
            compressed.append(out)
        }
        for stream in compressed { data.append(contentsOf: stream) }
        let block = Block(firstTime: firstTime, lastTime: lastTime, events: count, filter: filter, data: data)
        self = EventBlockEncoder()
        return block
    }
}

/// A block that does not decode: a database written by another version, or damaged.
public struct EventBlockError: Error, CustomStringConvertible {
    public let description: String
}

/// Reads blocks back.
public enum EventBlockDecoder {
    public static func mayContain(_ mac: MACAddress, filter: [UInt8]) -> Bool {
        guard filter.count == EventBlockFormat.filterBytes else { return true }
        let bits = EventBlockFormat.filterBits(mac)
        return [bits.0, bits.1, bits.2].allSatisfy { filter[$0 >> 3] & (1 << UInt8($0 & 7)) != 0 }
    }

    public static func decode(_ data: [UInt8]) throws -> [StoredRouteEvent] {
        guard data.first == EventBlockFormat.version else {
            throw EventBlockError(description: "route event block of an unknown version")
        }
        var header = BlockCursor(data[...])
        header.position = 1
        // Every event takes at least a byte of the times stream, which a byte of deflate
        // expands to at most ~1032: a count beyond that is damage, not a reason to allocate.
        let count = try header.count(atMost: data.count * 1032)
        var time = Int64(bitPattern: try header.varint())
        var sizes: [(raw: Int, compressed: Int)] = []
        for _ in EventBlockFormat.Stream.allCases {
            sizes.append((try header.count(atMost: data.count * 1032), try header.count(atMost: data.count)))
        }
        var streams: [BlockCursor] = []
        var position = header.position
        for size in sizes {
            guard size.compressed <= data.count - position else {
                throw EventBlockError(description: "route event block stream overruns the block")
            }
            var raw = [UInt8](repeating: 0, count: max(size.raw, 1))
            var length = uLong(size.raw)
            let result = raw.withUnsafeMutableBufferPointer { out in
                data.withUnsafeBufferPointer {
                    uncompress(out.baseAddress, &length, $0.baseAddress! + position, uLong(size.compressed))
                }
            }
            raw.removeLast(raw.count - size.raw)
            guard result == Z_OK, length == size.raw else {
                throw EventBlockError(description: "route event block does not decompress (zlib \(result))")
            }
            streams.append(BlockCursor(raw[...]))
            position += size.compressed
        }
        typealias S = EventBlockFormat.Stream
        var shapes: [EventBlockFormat.Shape] = []
        while !streams[S.shapeTable.rawValue].atEnd { shapes.append(try streams[S.shapeTable.rawValue].shape()) }

        var events: [StoredRouteEvent] = []
        events.reserveCapacity(count)
        var offset: Int64 = 0
        for _ in 0..<count {
            time &+= try streams[S.times.rawValue].signed()
            let input = Int32(truncatingIfNeeded: try streams[S.sources.rawValue].varint())
            offset &+= try streams[S.sources.rawValue].signed()
            let seen = try streams[S.sightings.rawValue].varint()
            guard seen <= 1 << 16 else {
                throw EventBlockError(description: "route event block lists \(seen) observation points for one event")
            }
            var seenAt: [UInt32] = []
            for _ in 0..<seen { seenAt.append(UInt32(truncatingIfNeeded: try streams[S.sightings.rawValue].varint())) }
            let index = try streams[S.shapes.rawValue].count(atMost: shapes.count - 1)
            let shape = shapes[index]
            var event = StoredRouteEvent(
                time: time, source: SourceRef(input: input, offset: offset), seenAt: seenAt,
                isWithdraw: shape.isWithdraw,
                family: shape.family, routeType: shape.kind == .evpn ? shape.routeType : nil, rd: shape.rd,
                esi: shape.esi,
                ethernetTag: shape.ethernetTag, mac: nil, ip: shape.address, prefix: nil, nextHop: shape.nextHop,
                mobility: nil,
                routeTargets: shape.targets.map { RouteTarget(raw: $0.raw) }, originator: shape.originator, pathID: nil)
            if shape.hasMAC {
                var value: UInt64 = 0
                for _ in 0..<6 { value = value << 8 | UInt64(try streams[S.macs.rawValue].byte()) }
                event.mac = MACAddress(value)
                event.ip = try streams[S.addresses.rawValue].optionalAddress()
            }
            if shape.hasPrefix {
                guard let address = try streams[S.addresses.rawValue].optionalAddress() else {
                    throw EventBlockError(description: "route event block has a prefix without an address")
                }
                event.prefix = IPPrefix(address: address, length: try streams[S.addresses.rawValue].byte())
            }
            if shape.hasMobility {
                event.mobility = .init(
                    sequence: UInt32(truncatingIfNeeded: try streams[S.numbers.rawValue].varint()), sticky: shape.sticky
                )
            }
            if shape.hasPathID { event.pathID = UInt32(truncatingIfNeeded: try streams[S.numbers.rawValue].varint()) }
            events.append(event)
        }
        return events
    }
}

// MARK: Byte-level encoding

extension Array where Element == UInt8 {
    mutating func appendVarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 { append(UInt8(truncatingIfNeeded: v) | 0x80); v >>= 7 }
        append(UInt8(v))
    }

    mutating func appendSigned(_ value: Int64) { appendVarint(UInt64(bitPattern: (value << 1) ^ (value >> 63))) }

    /// 0 for none, 4 or 6 and the address's bytes.
    mutating func append(optional address: IPAddress?) {
        guard let address else { return append(0) }
        if address.isIPv6 {
            append(6); appendVarint(address.high); appendVarint(address.low)
        } else {
            append(4); appendVarint(UInt64(address.v4))
        }
    }

    mutating func append(_ shape: EventBlockFormat.Shape) {
        var flags: UInt16 = shape.isWithdraw ? 1 : 0
        if shape.rd != nil { flags |= 1 << 1 }
        if shape.esi != nil { flags |= 1 << 2 }
        if shape.ethernetTag != nil { flags |= 1 << 3 }
        if shape.hasMobility { flags |= 1 << 4 }
        if shape.sticky { flags |= 1 << 5 }
        if shape.hasPathID { flags |= 1 << 6 }
        if shape.hasMAC { flags |= 1 << 7 }
        if shape.hasPrefix { flags |= 1 << 8 }
        appendVarint(UInt64(flags))
        append(shape.kind.rawValue)
        appendVarint(UInt64(shape.family.afi))
        append(shape.family.safi)
        append(shape.routeType)
        if let rd = shape.rd { appendVarint(rd.word) }
        if let esi = shape.esi { appendVarint(UInt64(esi.high)); appendVarint(esi.low) }
        if let tag = shape.ethernetTag { appendVarint(UInt64(tag)) }
        append(optional: shape.address)
        append(optional: shape.nextHop)
        append(optional: shape.originator)
        appendVarint(UInt64(shape.targets.count))
        for target in shape.targets { appendVarint(target.raw) }
    }
}

/// Reads a stream of a block; every read checks the bounds (a database may be damaged).
struct BlockCursor {
    let bytes: ArraySlice<UInt8>
    var position: Int
    init(_ bytes: ArraySlice<UInt8>) { self.bytes = bytes; position = bytes.startIndex }

    var atEnd: Bool { position >= bytes.endIndex }

    mutating func byte() throws -> UInt8 {
        guard position < bytes.endIndex else { throw EventBlockError(description: "route event block ends early") }
        defer { position += 1 }
        return bytes[position]
    }

    mutating func varint() throws -> UInt64 {
        var value: UInt64 = 0, shift: UInt64 = 0
        while true {
            let b = try byte()
            guard shift < 64 else { throw EventBlockError(description: "route event block has an overlong number") }
            value |= UInt64(b & 0x7F) << shift
            if b < 0x80 { return value }
            shift += 7
        }
    }

    /// A count or index, at most `limit`.
    mutating func count(atMost limit: Int) throws -> Int {
        let value = try varint()
        guard limit >= 0, value <= UInt64(limit) else {
            throw EventBlockError(description: "route event block has \(value) where at most \(limit) fits")
        }
        return Int(value)
    }

    mutating func signed() throws -> Int64 {
        let v = try varint()
        return Int64(bitPattern: v >> 1) ^ -Int64(bitPattern: v & 1)
    }

    mutating func optionalAddress() throws -> IPAddress? {
        switch try byte() {
        case 0: return nil
        case 4: return IPAddress(v4: UInt32(truncatingIfNeeded: try varint()))
        case 6: return IPAddress(v6High: try varint(), v6Low: try varint())
        case let other: throw EventBlockError(description: "route event block has address kind \(other)")
        }
    }

    mutating func shape() throws -> EventBlockFormat.Shape {
        let flags = try varint()
        guard let kind = EventBlockFormat.Shape.Kind(rawValue: try byte()) else {
            throw EventBlockError(description: "route event block has an unknown route kind")
        }
        let afi = UInt16(truncatingIfNeeded: try varint())
        var shape = EventBlockFormat.Shape(
            kind: kind, isWithdraw: flags & 1 != 0, family: AddressFamily(afi: afi, safi: try byte()))
        shape.routeType = try byte()
        if flags & (1 << 1) != 0 { shape.rd = RouteDistinguisher(word: try varint()) }
        if flags & (1 << 2) != 0 { shape.esi = ESI(high: UInt16(truncatingIfNeeded: try varint()), low: try varint()) }
        if flags & (1 << 3) != 0 { shape.ethernetTag = UInt32(truncatingIfNeeded: try varint()) }
        shape.hasMobility = flags & (1 << 4) != 0
        shape.sticky = flags & (1 << 5) != 0
        shape.hasPathID = flags & (1 << 6) != 0
        shape.hasMAC = flags & (1 << 7) != 0
        shape.hasPrefix = flags & (1 << 8) != 0
        shape.address = try optionalAddress()
        shape.nextHop = try optionalAddress()
        shape.originator = try optionalAddress()
        let targets = try varint()
        guard targets <= 4096 else {
            throw EventBlockError(description: "route event block lists \(targets) route targets")
        }
        for _ in 0..<targets { shape.targets.append(ExtendedCommunity(raw: try varint())) }
        return shape
    }
}
