import EVPNModel

/// One line per feed item for `evpnscope decode`: JSON (for jq and diffs against other
/// decoders) or `key=value|…` text. Lines are built as bytes in a reused buffer: formatting
/// must not cost more than decoding.
public struct EventFormatter {
    public enum Format: String { case jsonl, text }
    let format: Format
    /// Each input's name as printed, by input index.
    private var fileNames: [[UInt8]] = []
    private let unknownFileName: [UInt8]
    private var lastSecond: Int64 = .min
    /// The last line's observation fields and attribute fields as text, reused while lines come
    /// from one record with the same peer and attributes (an UPDATE with many prefixes).
    private var observationKey: (time: Int64, source: SourceRef, point: ObservationPoint)?
    private var observationText: [UInt8] = []
    private var attributesKey: (source: SourceRef, nextHop: IPAddress?, attributes: PathAttributes)?
    private var attributesText: [UInt8] = []
    private var secondText: [UInt8] = []
    /// The peer fields (table, router, peer address, AS and id) of the last two observation
    /// points: route reflectors' copies of one update alternate between two.
    private var peerTexts: [(point: ObservationPoint, text: [UInt8])] = []
    /// BMP monitored routers' sysNames by router key, from their Initiation messages (which come
    /// before their routes in the stream).
    private var routerNames: [UInt32: String] = [:]

    public init(format: Format, files: [InputFile]) {
        self.format = format
        unknownFileName = Array((format == .jsonl ? "\"?\"" : "?").utf8)
        fileNames = [[UInt8]](repeating: unknownFileName, count: (files.map { Int($0.index) }.max() ?? -1) + 1)
        for file in files {
            fileNames[Int(file.index)] = Array((format == .jsonl ? jsonString(file.path) : file.path).utf8)
        }
    }

    /// Learns what later lines need from an item, printed or not: a BMP router's sysName. Every
    /// item of the inputs goes through here, also those a filter leaves out.
    public mutating func note(_ item: FeedItem) {
        guard case .session(let event) = item.payload, case .monitoringStarted(let sysName?) = event.kind,
            routerNames[event.observation.router] != sysName
        else { return }
        routerNames[event.observation.router] = sysName
        peerTexts.removeAll()
        observationKey = nil
    }

    /// The line as a String (tests, small outputs).
    public mutating func line(_ item: FeedItem) -> String? {
        note(item)
        let buffer = OutputBuffer(capacity: 512)
        guard write(item, into: buffer) else { return nil }
        return String(decoding: buffer.bytes, as: UTF8.self)
    }

    /// Appends the line (without newline) to `out`; false for items that print nothing.
    public mutating func write(_ item: FeedItem, into out: OutputBuffer) -> Bool {
        if case .heartbeat = item.payload { return false }
        // A snapshot's boundaries are the reader's bookkeeping, not records of their own.
        if case .session(let event) = item.payload, event.kind.isRIBSnapshotBoundary { return false }
        var w = LineWriter(json: format == .jsonl, out: out)
        w.open()
        switch item.payload {
        case .heartbeat:
            break
        case .session(let event):
            observation(&w, event.observation, event.time, event.source)
            switch event.kind {
            case .established: w.string("event", "session-up")
            case .down(let reason): w.string("event", "session-down"); w.string("reason", reason)
            case .monitoringStarted: w.string("event", "monitoring-started")
            case .monitoringEnded(let reason): w.string("event", "monitoring-ended"); w.string("reason", reason)
            case .endOfRIB(let family): w.string("event", "end-of-rib"); w.string("family", family.description)
            case .stateChange: w.string("event", "session-state")
            case .ribSnapshotStarted, .ribSnapshotEnded: break
            }
            if let states = event.states {
                w.number("old_state", UInt64(states.old))
                w.number("new_state", UInt64(states.new))
            }
        case .route(let event):
            observation(&w, event.observation, event.time, event.source)
            w.literal("event", event.isWithdraw ? "withdraw" : "announce")
            if event.isRIBEntry { w.raw("rib_entry", "true") }
            if event.treatedAsWithdraw { w.raw("treat_as_withdraw", "true") }
            w.literal("family", event.family.description)
            w.number("afi", UInt64(event.family.afi))
            w.number("safi", UInt64(event.family.safi))
            if let pathID = event.entry.pathID { w.number("path_id", UInt64(pathID)) }
            let vxlan = event.attributes.extendedCommunities.contains { $0.encapsulationTunnelType == 8 }
            // A 24-bit label field is a VNI under VXLAN (RFC 8365), an MPLS label (value >> 4) otherwise.
            func label(_ key: StaticString, _ raw: UInt32) {
                w.number(key, UInt64(vxlan || event.isWithdraw ? raw : raw >> 4))
            }
            switch event.entry.nlri {
            case .prefix(let prefix): w.prefix("prefix", prefix)
            case .vpn(let rd, let prefix, let raw):
                w.rd("rd", rd); w.prefix("prefix", prefix); w.number("label", UInt64(raw >> 4))
            case .evpn(let route):
                w.number("route_type", UInt64(route.routeType))
                if let rd = route.rd { w.rd("rd", rd) }
                switch route {
                case .ethernetAD(let r):
                    w.esi("esi", r.esi); w.number("eth_tag", UInt64(r.ethernetTag)); label("label1", r.label)
                case .macIP(let r):
                    w.esi("esi", r.esi); w.number("eth_tag", UInt64(r.ethernetTag)); w.mac("mac", r.mac)
                    if let ip = r.ip { w.ip("ip", ip) }
                    label("label1", r.label1)
                    if let label2 = r.label2 { label("label2", label2) }
                case .inclusiveMulticast(let r):
                    w.number("eth_tag", UInt64(r.ethernetTag)); w.ip("originating_ip", r.originatingIP)
                case .ethernetSegment(let r):
                    w.esi("esi", r.esi); w.ip("originating_ip", r.originatingIP)
                case .ipPrefix(let r):
                    w.esi("esi", r.esi); w.number("eth_tag", UInt64(r.ethernetTag)); w.prefix("prefix", r.prefix)
                    w.ip("gateway", r.gateway); label("label1", r.label)
                case .unknown(_, let bytes):
                    w.string("raw", bytes.map { String($0, radix: 16) }.joined(separator: " "))
                }
            }
            if !event.isWithdraw {
                if let key = attributesKey, key.source == event.source, key.nextHop == event.nextHop,
                    key.attributes == event.attributes
                {
                    w.appendFields(attributesText)
                } else {
                    let start = out.count
                    attributes(&w, event)
                    Self.keep(&attributesText, out, from: start)
                    attributesKey = (event.source, event.nextHop, event.attributes)
                }
            }
        }
        w.close()
        return true
    }

    /// Copies what was just written from `start` into a cache's text, reusing its storage: the
    /// observation and attribute caches miss for most routes (an UPDATE carries ~1.2), so a new
    /// array each time would be one allocation per route.
    private static func keep(_ text: inout [UInt8], _ out: OutputBuffer, from start: Int) {
        text.removeAll(keepingCapacity: true)
        text.append(contentsOf: UnsafeBufferPointer(start: out.base + start, count: out.count - start))
    }

    private mutating func observation(_ w: inout LineWriter, _ op: ObservationPoint, _ time: Int64, _ source: SourceRef)
    {
        if let key = observationKey, key.time == time, key.source == source, key.point == op {
            w.appendFields(observationText)
            return
        }
        let start = w.out.count
        formatObservation(&w, op, time, source)
        Self.keep(&observationText, w.out, from: start)
        observationKey = (time, source, op)
    }

    private mutating func formatObservation(
        _ w: inout LineWriter, _ op: ObservationPoint, _ time: Int64, _ source: SourceRef
    ) {
        // 0 is no time at all: a BMP Initiation at the start of a stream.
        if time != 0 { formatTime(&w, time) }
        w.key("file")
        w.out.append(
            contentsOf: fileNames.indices.contains(Int(source.input)) ? fileNames[Int(source.input)] : unknownFileName)
        w.number("byte_offset", UInt64(source.offset))
        formatPeer(&w, op)
    }

    private mutating func formatTime(_ w: inout LineWriter, _ time: Int64) {
        w.number("time_us", UInt64(bitPattern: time))
        let second = time >= 0 ? time / 1_000_000 : (time - 999_999) / 1_000_000
        if second != lastSecond {
            lastSecond = second
            secondText = Array(Timestamp.format(second * 1_000_000).dropLast().utf8)  // without the Z
        }
        w.key("time")
        w.quote()
        w.out.append(contentsOf: secondText)
        let fraction = time - second * 1_000_000
        if fraction != 0 {
            w.out.append(UInt8(ascii: "."))
            var divisor: Int64 = 100_000
            while divisor > 0 { w.out.append(UInt8(48 + fraction / divisor % 10)); divisor /= 10 }
        }
        w.out.append(UInt8(ascii: "Z"))
        w.quote()
    }

    private mutating func formatPeer(_ w: inout LineWriter, _ op: ObservationPoint) {
        if let cached = peerTexts.firstIndex(where: { $0.point == op && $0.point.peerBGPID == op.peerBGPID }) {
            w.appendFields(peerTexts[cached].text)
            return
        }
        let start = w.out.count
        w.literal("table_name", op.table.name)
        if op.router != 0 { w.number("router", UInt64(op.router)) }
        if let name = routerNames[op.router] { w.string("router_name", name) }
        if op.distinguisher != 0 { w.number("peer_distinguisher", op.distinguisher) }
        w.ip("peer_ip", op.peerIP)
        w.number("peer_as", UInt64(op.peerAS))
        // BGP4MP carries no BGP identifier: the key is left out rather than guessed.
        if !op.peerBGPID.isZero { w.ip("peer_bgp_id", op.peerBGPID) }
        var text = peerTexts.count == 2 ? peerTexts.removeFirst().text : []
        Self.keep(&text, w.out, from: start)
        peerTexts.append((op, text))
    }

    private func attributes(_ w: inout LineWriter, _ event: RouteEvent) {
        let a = event.attributes
        if let nextHop = event.nextHop { w.ip("next_hop", nextHop) }
        if let origin = a.origin { w.literal("origin", origin == 0 ? "IGP" : origin == 1 ? "EGP" : "INCOMPLETE") }
        w.key("as_path")
        w.quote()
        var first = true
        for segment in a.asPath {
            if !first { w.out.append(32) }
            first = false
            let (open, close): (UInt8?, UInt8?) =
                segment.kind == .sequence
                ? (nil, nil) : segment.kind == .set ? (123, 125) : segment.kind == .confedSequence ? (40, 41) : (91, 93)
            if let open { w.out.append(open) }
            for (i, asn) in segment.asns.enumerated() {
                if i > 0 { w.out.append(32) }
                w.digits(UInt64(asn))
            }
            if let close { w.out.append(close) }
        }
        w.quote()
        if let med = a.med { w.number("med", UInt64(med)) }
        if let localPref = a.localPref { w.number("local_pref", UInt64(localPref)) }
        if a.atomicAggregate { w.raw("atomic_aggregate", "true") }
        if let asn = a.aggregatorAS, let ip = a.aggregatorIP { w.string("aggregator", "\(asn) \(ip)") }
        if !a.communities.isEmpty {
            w.list("communities", a.communities) { w, c in
                w.digits(UInt64(c >> 16)); w.out.append(58); w.digits(UInt64(c & 0xFFFF))
            }
        }
        if !a.largeCommunities.isEmpty {
            w.list("large_communities", a.largeCommunities) { w, c in
                w.digits(UInt64(c.global)); w.out.append(58); w.digits(UInt64(c.local1)); w.out.append(58);
                w.digits(UInt64(c.local2))
            }
        }
        if a.extendedCommunities.contains(where: \.isRouteTarget) {
            w.list("route_targets", a.extendedCommunities, where: \.isRouteTarget) { w, c in
                w.routeTarget(RouteTarget(raw: c.raw))
            }
        }
        if a.extendedCommunities.contains(where: { !$0.isRouteTarget }) {
            w.list("ext_communities", a.extendedCommunities, where: { !$0.isRouteTarget }) { w, c in
                w.out.append(c.description)
            }
        }
        if let mobility = a.macMobility {
            w.number("seq", UInt64(mobility.sequence))
            w.raw("sticky", mobility.sticky ? "true" : "false")
            if a.macMobilityCount > 1 { w.number("mm_count", UInt64(a.macMobilityCount)) }
        }
        if let originator = a.originatorID { w.ip("originator_id", originator) }
        if !a.clusterList.isEmpty { w.list("cluster_list", a.clusterList) { w, id in w.ipv4(id) } }
        if let pmsi = a.pmsiTunnel {
            w.number("pmsi_tunnel_type", UInt64(pmsi.tunnelType)); w.number("pmsi_label", UInt64(pmsi.label >> 4))
        }
    }
}

/// Growable byte storage written through a raw pointer: appending a digit must cost a store,
/// not an Array uniqueness check.
public final class OutputBuffer {
    public private(set) var base: UnsafeMutablePointer<UInt8>
    public var count = 0
    private var capacity: Int

    public init(capacity: Int = 1 << 17) {
        self.capacity = capacity
        base = .allocate(capacity: capacity)
    }
    deinit { base.deallocate() }

    @inline(__always) func reserve(_ extra: Int) {
        if count + extra > capacity {
            let bigger = max(capacity * 2, count + extra)
            let moved = UnsafeMutablePointer<UInt8>.allocate(capacity: bigger)
            moved.update(from: base, count: count)
            base.deallocate()
            base = moved
            capacity = bigger
        }
    }
    @inline(__always) public func append(_ byte: UInt8) { reserve(1); base[count] = byte; count += 1 }
    @inline(__always) func append(_ bytes: UnsafeRawBufferPointer) {
        reserve(bytes.count)
        if let source = bytes.baseAddress {
            (base + count).update(from: source.assumingMemoryBound(to: UInt8.self), count: bytes.count)
        }
        count += bytes.count
    }
    @inline(__always) func append(contentsOf bytes: [UInt8]) { bytes.withUnsafeBytes { append($0) } }
    @inline(__always) func append(_ text: StaticString) {
        append(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }
    @inline(__always) func append(_ text: String) {
        var text = text
        text.withUTF8 { append(UnsafeRawBufferPointer($0)) }
    }
    public var bytes: UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(start: base, count: count) }
    public func removeAll() { count = 0 }
}

/// Byte-level line building shared by both formats: JSON (`{"k":v,…}`) and text (`k=v|…`).
struct LineWriter {
    let json: Bool
    let out: OutputBuffer
    private var fields = 0

    init(json: Bool, out: OutputBuffer) { self.json = json; self.out = out }

    /// Fields formatted earlier (with their separators), copied in.
    mutating func appendFields(_ text: [UInt8]) {
        guard !text.isEmpty else { return }
        out.append(contentsOf: text)
        fields += 1
    }

    @inline(__always) mutating func open() { if json { out.append(123) } }
    @inline(__always) mutating func close() { if json { out.append(125) } }
    @inline(__always) mutating func quote() { if json { out.append(34) } }

    @inline(__always) mutating func key(_ key: StaticString) {
        let length = key.utf8CodeUnitCount
        out.reserve(length + 72)  // the key, its punctuation and any short value
        var p = out.base + out.count
        if fields > 0 { p.pointee = json ? 44 : 124; p += 1 }
        fields += 1
        if json { p.pointee = 34; p += 1 }
        // Keys are a few bytes: a loop the compiler unrolls beats a call to memmove.
        let source = key.utf8Start
        for i in 0..<length { p[i] = source[i] }
        p += length
        if json { p[0] = 34; p[1] = 58; p += 2 } else { p.pointee = 61; p += 1 }
        out.count = p - out.base
    }

    @inline(__always) mutating func digits(_ value: UInt64) {
        out.reserve(20)
        out.count += writeDecimal(value, to: out.base + out.count)
    }

    @inline(__always) mutating func number(_ key: StaticString, _ value: UInt64) { self.key(key); digits(value) }
    mutating func raw(_ key: StaticString, _ value: StaticString) { self.key(key); out.append(value) }

    /// A value known to need no escaping.
    mutating func literal(_ key: StaticString, _ value: String) {
        self.key(key); quote(); out.append(value); quote()
    }

    mutating func string(_ key: StaticString, _ value: String) {
        self.key(key)
        out.append(json ? jsonString(value) : value)
    }

    mutating func ipv4(_ value: UInt32) {
        out.reserve(15)
        out.count += writeDottedQuad(value, to: out.base + out.count)
    }

    private mutating func hexBytes(_ value: UInt64, count: Int) {
        out.reserve(count * 3)
        out.count += writeColonHex(value, bytes: count, to: out.base + out.count)
    }

    mutating func ipValue(_ ip: IPAddress) {
        if ip.isIPv6 { out.append(ip.description) } else { ipv4(ip.v4) }
    }

    mutating func ip(_ key: StaticString, _ ip: IPAddress) { self.key(key); quote(); ipValue(ip); quote() }

    mutating func prefix(_ key: StaticString, _ prefix: IPPrefix) {
        self.key(key); quote(); ipValue(prefix.address); out.append(47); digits(UInt64(prefix.length)); quote()
    }

    mutating func mac(_ key: StaticString, _ mac: MACAddress) {
        self.key(key); quote(); hexBytes(mac.value, count: 6); quote()
    }

    mutating func esi(_ key: StaticString, _ esi: ESI) {
        self.key(key); quote()
        hexBytes(UInt64(esi.high), count: 2); out.append(58); hexBytes(esi.low, count: 8)
        quote()
    }

    mutating func rd(_ key: StaticString, _ rd: RouteDistinguisher) {
        self.key(key); quote()
        switch rd.type {
        case 0: digits(rd.value >> 32); out.append(58); digits(rd.value & 0xFFFF_FFFF)
        case 1: ipv4(UInt32(truncatingIfNeeded: rd.value >> 16)); out.append(58); digits(rd.value & 0xFFFF)
        case 2: digits(rd.value >> 16); out.append(58); digits(rd.value & 0xFFFF)
        default: out.append(rd.description)
        }
        quote()
    }

    mutating func routeTarget(_ target: RouteTarget) {
        let value = target.raw & 0xFFFF_FFFF_FFFF
        switch UInt8(truncatingIfNeeded: target.raw >> 56) & 0x3F {
        case 0: digits(value >> 32); out.append(58); digits(value & 0xFFFF_FFFF)
        case 1: ipv4(UInt32(truncatingIfNeeded: value >> 16)); out.append(58); digits(value & 0xFFFF)
        case 2: digits(value >> 16); out.append(58); digits(value & 0xFFFF)
        default: out.append(target.description)
        }
    }

    /// A JSON array of strings (in both formats: lists stay parseable).
    mutating func list<Items: Sequence>(
        _ key: StaticString, _ items: Items, where included: (Items.Element) -> Bool = { _ in true },
        _ element: (inout LineWriter, Items.Element) -> Void
    ) {
        self.key(key)
        out.append(91)
        var first = true
        for item in items where included(item) {
            if !first { out.append(44) }
            first = false
            out.append(34); element(&self, item); out.append(34)
        }
        out.append(93)
    }
}
