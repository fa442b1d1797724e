import EVPNModel

/// One line per feed item for `evpnscope decode`: JSON (for jq and diffs against other
/// decoders) or `|`-separated text in the spirit of `bgpdump -m`.
public struct EventFormatter {
    public enum Format: String { case jsonl, text }
    let format: Format
    let fileNames: [Int32: String]

    public init(format: Format, files: [InputFile]) {
        self.format = format
        var names: [Int32: String] = [:]
        for file in files { names[file.index] = file.path }
        fileNames = names
    }

    private typealias Field = (String, String)  // key, JSON-encoded value

    public func line(_ item: FeedItem) -> String? {
        var fields: [Field] = []
        func text(_ key: String, _ value: String) { fields.append((key, jsonString(value))) }
        func number<T: BinaryInteger>(_ key: String, _ value: T) { fields.append((key, String(value))) }
        func observation(_ op: ObservationPoint, _ time: Int64, _ source: SourceRef) {
            number("time_us", time)
            text("time", Timestamp.format(time))
            text("file", fileNames[source.input] ?? "?")
            number("offset", source.offset)
            text("table", op.table.name)
            if op.router != 0 { number("router", op.router) }
            if op.distinguisher != 0 { number("peer_distinguisher", op.distinguisher) }
            text("peer_ip", op.peerIP.description)
            number("peer_as", op.peerAS)
            text("peer_bgp_id", op.peerBGPID.description)
        }
        switch item {
        case .heartbeat:
            return nil
        case .session(let event):
            observation(event.observation, event.time, event.source)
            switch event.kind {
            case .established: text("event", "session-up")
            case .down(let reason): text("event", "session-down"); text("reason", reason)
            case .monitoringEnded(let reason): text("event", "monitoring-ended"); text("reason", reason)
            case .endOfRIB(let family): text("event", "end-of-rib"); text("family", family.description)
            }
        case .route(let event):
            observation(event.observation, event.time, event.source)
            text("event", event.isWithdraw ? "withdraw" : "announce")
            if event.treatedAsWithdraw { fields.append(("treat_as_withdraw", "true")) }
            text("family", event.family.description)
            number("afi", event.family.afi)
            number("safi", event.family.safi)
            if let pathID = event.entry.pathID { number("path_id", pathID) }
            switch event.entry.nlri {
            case .prefix(let prefix): text("prefix", prefix.description)
            case .vpn(let rd, let prefix, let label):
                text("rd", rd.description); text("prefix", prefix.description); number("label", label >> 4)
            case .evpn(let route):
                number("route_type", route.routeType)
                if let rd = route.rd { text("rd", rd.description) }
                switch route {
                case .ethernetAD(let r):
                    text("esi", r.esi.description); number("eth_tag", r.ethernetTag); number("label1", r.label)
                case .macIP(let r):
                    text("esi", r.esi.description); number("eth_tag", r.ethernetTag); text("mac", r.mac.description)
                    if let ip = r.ip { text("ip", ip.description) }
                    number("label1", r.label1)
                    if let label2 = r.label2 { number("label2", label2) }
                case .inclusiveMulticast(let r):
                    number("eth_tag", r.ethernetTag); text("originating_ip", r.originatingIP.description)
                case .ethernetSegment(let r):
                    text("esi", r.esi.description); text("originating_ip", r.originatingIP.description)
                case .ipPrefix(let r):
                    text("esi", r.esi.description); number("eth_tag", r.ethernetTag); text("prefix", r.prefix.description)
                    text("gateway", r.gateway.description); number("label1", r.label)
                case .unknown(_, let bytes):
                    text("raw", bytes.map { String($0, radix: 16) }.joined(separator: " "))
                }
            }
            if !event.isWithdraw {
                let a = event.attributes
                if let nextHop = event.nextHop { text("next_hop", nextHop.description) }
                if let origin = a.origin { text("origin", ["IGP", "EGP", "INCOMPLETE"][Int(origin)]) }
                text("as_path", formatASPath(a.asPath))
                if let med = a.med { number("med", med) }
                if let localPref = a.localPref { number("local_pref", localPref) }
                if a.atomicAggregate { fields.append(("atomic_aggregate", "true")) }
                if let asn = a.aggregatorAS, let ip = a.aggregatorIP { text("aggregator", "\(asn) \(ip)") }
                if !a.communities.isEmpty {
                    fields.append(("communities", "[" + a.communities.map { jsonString("\($0 >> 16):\($0 & 0xFFFF)") }.joined(separator: ",") + "]"))
                }
                if !a.largeCommunities.isEmpty {
                    fields.append(("large_communities", "[" + a.largeCommunities.map { jsonString($0.description) }.joined(separator: ",") + "]"))
                }
                let targets = a.routeTargets
                if !targets.isEmpty { fields.append(("route_targets", "[" + targets.map { jsonString($0.description) }.joined(separator: ",") + "]")) }
                let others = a.extendedCommunities.filter { !$0.isRouteTarget }
                if !others.isEmpty { fields.append(("ext_communities", "[" + others.map { jsonString($0.description) }.joined(separator: ",") + "]")) }
                if let mobility = a.macMobility {
                    number("mm_seq", mobility.sequence)
                    fields.append(("mm_sticky", mobility.sticky ? "true" : "false"))
                    if a.macMobilityCount > 1 { number("mm_count", a.macMobilityCount) }
                }
                if let originator = a.originatorID { text("originator_id", originator.description) }
                if !a.clusterList.isEmpty {
                    fields.append(("cluster_list", "[" + a.clusterList.map { jsonString(IPAddress(v4: $0).description) }.joined(separator: ",") + "]"))
                }
                if let pmsi = a.pmsiTunnel { number("pmsi_tunnel_type", pmsi.tunnelType); number("pmsi_label", pmsi.label >> 4) }
            }
        }
        switch format {
        case .jsonl:
            return "{" + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}"
        case .text:
            return fields.map { key, value in
                let plain = value.hasPrefix("\"") ? String(value.dropFirst().dropLast()) : value
                return "\(key)=\(plain)"
            }.joined(separator: "|")
        }
    }
}
