import EVPNModel

/// `decode --format bgpdump`: the lines of bgpdump 1.6.2's `-m` for every record bgpdump prints
/// (BGP4MP and BGP4MP_ET updates as A/W, state changes as STATE, RIB entries as B; _AP labels for
/// add-path), so that scripts written for bgpdump run unchanged. What bgpdump skips gets lines of
/// the same shape: EVPN routes (the prefix field is the route in brackets, `[2][RD][ESI][tag][MAC]
/// [IP]`, extended communities follow the standard ones), and BMP route monitoring (label `BMP`).
/// Other families bgpdump does not print (VPNv4, flowspec …) are not printed either.
public struct BgpdumpFormatter {
    /// The attribute fields of the last announcement: an UPDATE's prefixes share them.
    private var attributesKey: (source: SourceRef, nextHop: IPAddress?, attributes: PathAttributes)?
    private var attributesText = ""
    /// The time and peer fields of the last line: a record's lines share them.
    private var timeKey: (time: Int64, record: RecordKind)?
    private var timeText = ""
    private var peerKey: ObservationPoint?
    private var peerText = ""

    public init() {}

    /// Appends the line (without newline) to `out`; false for items bgpdump prints nothing for.
    public mutating func write(_ item: FeedItem, into out: OutputBuffer) -> Bool {
        switch item.payload {
        case .heartbeat:
            return false
        case .session(let event):
            guard let states = event.states else { return false }
            out.append(
                Self.label(event.record, addPath: false) + "|" + Self.time(event.time, event.record) + "|STATE|"
                    + Self.peer(event.observation) + "|\(states.old)|\(states.new)")
            return true
        case .route(let event):
            // bgpdump prints nothing for BGP4MP_ENTRY, VPN families or flowspec.
            if event.record == .bgp4mpEntry { return false }
            if case .vpn = event.entry.nlri { return false }
            let addPath = event.entry.pathID != nil
            out.append(Self.label(event.record, addPath: addPath))
            out.append(UInt8(ascii: "|"))
            if timeKey?.time != event.time || timeKey?.record != event.record {
                timeText = Self.time(event.time, event.record)
                timeKey = (event.time, event.record)
            }
            out.append(timeText)
            out.append(event.isWithdraw ? "|W|" : event.isRIBEntry ? "|B|" : "|A|")
            if peerKey != event.observation || peerKey?.peerBGPID != event.observation.peerBGPID {
                peerText = Self.peer(event.observation)
                peerKey = event.observation
            }
            out.append(peerText)
            out.append(UInt8(ascii: "|"))
            Self.writePrefix(event.entry.nlri, into: out)
            if event.isWithdraw { return true }
            if let pathID = event.entry.pathID { out.append("|\(pathID)") }
            if attributesKey?.source != event.source || attributesKey?.nextHop != event.nextHop
                || attributesKey?.attributes != event.attributes
            {
                attributesText = Self.attributeFields(event)
                attributesKey = (event.source, event.nextHop, event.attributes)
            }
            out.append(UInt8(ascii: "|"))
            out.append(attributesText)
            return true
        }
    }

    /// IPv4 prefixes, most of any dump, written digit by digit; the rest as text.
    static func writePrefix(_ nlri: NLRI, into out: OutputBuffer) {
        if case .prefix(let prefix) = nlri, !prefix.address.isIPv6 {
            let v4 = prefix.address.v4
            for shift in [24, 16, 8, 0] as [UInt32] {
                writeDecimal(UInt32(v4 >> shift & 0xFF), into: out)
                out.append(shift == 0 ? UInt8(ascii: "/") : UInt8(ascii: "."))
            }
            writeDecimal(UInt32(prefix.length), into: out)
            return
        }
        out.append(prefix(nlri) ?? "")
    }

    @inline(__always) static func writeDecimal(_ value: UInt32, into out: OutputBuffer) {
        if value >= 100 { out.append(UInt8(48 + value / 100)) }
        if value >= 10 { out.append(UInt8(48 + value / 10 % 10)) }
        out.append(UInt8(48 + value % 10))
    }

    public static func label(_ record: RecordKind, addPath: Bool) -> String {
        let base: String
        switch record {
        case .bmp: base = "BMP"
        case .update: base = "BGP4MP"
        case .updateET: base = "BGP4MP_ET"
        case .tableDump: base = "TABLE_DUMP"
        case .tableDumpV2, .bgp4mpEntry: base = "TABLE_DUMP2"
        }
        return addPath ? base + "_AP" : base
    }

    /// Seconds, and for BGP4MP_ET the microseconds as six digits.
    static func time(_ time: Int64, _ record: RecordKind) -> String {
        let seconds = time >= 0 ? time / 1_000_000 : (time - 999_999) / 1_000_000
        guard record == .updateET else { return String(seconds) }
        let micros = String(time - seconds * 1_000_000)
        return "\(seconds)." + String(repeating: "0", count: 6 - micros.count) + micros
    }

    static func peer(_ point: ObservationPoint) -> String { "\(text(point.peerIP))|\(point.peerAS)" }

    /// An address as bgpdump prints it: IPv4-mapped and IPv4-compatible addresses end dotted
    /// (`::ffff:193.0.0.56`), and the first longest run of zero groups becomes "::" even when it
    /// is a single group (`2001:7f8:30::2:1:0:8447`), unlike RFC 5952.
    public static func text(_ address: IPAddress) -> String {
        guard address.isIPv6 else { return address.description }
        let words = (0..<8).map { i in
            UInt16(truncatingIfNeeded: (i < 4 ? address.high : address.low) >> UInt64(48 - 16 * (i % 4)))
        }
        let low32 = UInt32(truncatingIfNeeded: address.low)
        if address.high == 0 && address.low >> 32 == 0xFFFF { return "::ffff:" + IPAddress(v4: low32).description }
        if address.high == 0 && address.low >> 32 == 0 && low32 > 1 { return "::" + IPAddress(v4: low32).description }
        var best = (start: -1, length: 0)
        var run = (start: -1, length: 0)
        for (i, word) in words.enumerated() {
            if word == 0 {
                run = run.start < 0 ? (i, 1) : (run.start, run.length + 1)
                if run.length > best.length { best = run }
            } else {
                run = (-1, 0)
            }
        }
        func hex(_ range: Range<Int>) -> String { words[range].map { String($0, radix: 16) }.joined(separator: ":") }
        guard best.start >= 0 else { return hex(0..<8) }
        return hex(0..<best.start) + "::" + hex((best.start + best.length)..<8)
    }

    static func prefix(_ nlri: NLRI) -> String? {
        switch nlri {
        case .prefix(let prefix): return "\(text(prefix.address))/\(prefix.length)"
        case .vpn: return nil
        case .evpn(let route): return evpnPrefix(route)
        }
    }

    static func evpnPrefix(_ route: EVPNRoute) -> String {
        switch route {
        case .ethernetAD(let r): return "[1][\(r.rd)][\(r.esi)][\(r.ethernetTag)]"
        case .macIP(let r): return "[2][\(r.rd)][\(r.esi)][\(r.ethernetTag)][\(r.mac)]" + (r.ip.map { "[\($0)]" } ?? "")
        case .inclusiveMulticast(let r): return "[3][\(r.rd)][\(r.ethernetTag)][\(r.originatingIP)]"
        case .ethernetSegment(let r): return "[4][\(r.rd)][\(r.esi)][\(r.originatingIP)]"
        case .ipPrefix(let r): return "[5][\(r.rd)][\(r.esi)][\(r.ethernetTag)][\(r.prefix)][\(r.gateway)]"
        case .unknown(let type, _): return "[\(type)]"
        }
    }

    /// AS path, origin, next hop, local preference, MED, communities, atomic aggregate,
    /// aggregator, and the closing bar — bgpdump prints 0 for an absent local preference or MED,
    /// and no large communities.
    static func attributeFields(_ event: RouteEvent) -> String {
        let a = event.attributes
        var fields = formatASPath(a.asPath, setSeparator: ",")
        // No ORIGIN attribute prints as INCOMPLETE, as bgpdump does.
        fields += "|" + (a.origin == 0 ? "IGP" : a.origin == 1 ? "EGP" : "INCOMPLETE")
        // bgpdump's placeholder for an entry without any next hop.
        fields += "|" + (event.nextHop.map(text) ?? "255.255.255.255")
        fields += "|\(a.localPref ?? 0)|\(a.med ?? 0)|"
        var communities = a.communities.map(communityText)
        if case .evpn = event.entry.nlri { communities += a.extendedCommunities.map(\.description) }
        fields += communities.joined(separator: " ")
        fields += a.atomicAggregate ? "|AG|" : "|NAG|"
        if let asn = a.aggregatorAS, let ip = a.aggregatorIP { fields += "\(asn) \(text(ip))" }
        return fields + "|"
    }

    /// RFC 1997's well-known communities by the names bgpdump prints.
    static func communityText(_ community: UInt32) -> String {
        switch community {
        case 0xFFFF_FF01: return "no-export"
        case 0xFFFF_FF02: return "no-advertise"
        case 0xFFFF_FF03: return "local-AS"
        default: return "\(community >> 16):\(community & 0xFFFF)"
        }
    }
}
