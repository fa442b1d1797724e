import EVPNModel
import Replay

/// Groups findings that share a PE set and overlap in time into incidents, names the likely
/// cause and the next step (docs/evpn-mobility.md §5, "Incidents").
struct IncidentBuilder {
    let thresholds: Thresholds
    let engine: ReplayEngine

    private final class Cluster {
        var pes: [PEID]
        var findings: [Int] = []
        var first: Int64
        var last: Int64
        init(pes: [PEID], first: Int64, last: Int64) { self.pes = pes; self.first = first; self.last = last }
    }

    func build(_ findings: inout [Finding]) -> [Incident] {
        var clusters: [Cluster] = []
        var open: [[PEID]: Cluster] = [:]
        for (index, finding) in findings.enumerated() {
            let key = Array(Set(finding.pes.filter(\.exists))).sorted()
            if let cluster = open[key], finding.firstTime <= cluster.last + thresholds.incidentGap {
                cluster.findings.append(index)
                cluster.last = max(cluster.last, finding.lastTime)
            } else {
                let cluster = Cluster(pes: key, first: finding.firstTime, last: finding.lastTime)
                cluster.findings.append(index)
                clusters.append(cluster)
                open[key] = cluster
            }
        }
        var incidents: [Incident] = []
        for cluster in clusters {
            let members = cluster.findings.map { findings[$0] }
            let rules = Array(Set(members.map(\.rule))).sorted { $0.rawValue < $1.rawValue }
            let severity = members.map(\.severity).max() ?? .info
            let macs = Array(Set(members.compactMap(\.mac) + members.flatMap(\.coveredMACs))).sorted()
            let bds = Array(Set(members.map(\.bd).filter { $0 >= 0 } + members.flatMap(\.coveredBDs))).sorted()
            let (kind, title) = describe(rules: Set(rules), members: members, pes: cluster.pes)
            incidents.append(
                Incident(
                    id: 0, kind: kind, title: title, severity: severity, firstTime: cluster.first,
                    lastTime: cluster.last,
                    pes: cluster.pes, bds: bds, findingIDs: members.map(\.id), macs: macs, rules: rules,
                    impact: macs.count * severity.impactWeight))
        }
        // By impact: a 100-MAC loop comes before a single duplicate MAC, whatever their order in time.
        incidents.sort { a, b in
            if a.impact != b.impact { return a.impact > b.impact }
            if a.lastTime - a.firstTime != b.lastTime - b.firstTime {
                return a.lastTime - a.firstTime > b.lastTime - b.firstTime
            }
            if a.firstTime != b.firstTime { return a.firstTime < b.firstTime }
            return a.pes.lexicographicallyPrecedes(b.pes)
        }
        for i in incidents.indices {
            incidents[i].id = i + 1
            for findingID in incidents[i].findingIDs { findings[findingID - 1].incident = i + 1 }
        }
        return incidents
    }

    /// Every PE, in full: "A and B", "A, B and C".
    private func names(_ pes: [PEID]) -> String {
        let addresses = pes.map { engine.pes[$0.index].address.description }
        guard addresses.count > 2 else { return addresses.joined(separator: " and ") }
        return addresses.dropLast().joined(separator: ", ") + " and " + addresses.last!
    }

    private func describe(rules: Set<Rule>, members: [Finding], pes: [PEID]) -> (kind: IncidentKind, title: String) {
        let flapMACs = Set(members.filter { $0.rule == .dupMACFlap }.compactMap(\.mac)).count
        let names = names(pes)
        let between = pes.count > 2 ? "among \(names)" : "between \(names)"
        if flapMACs >= thresholds.loopMinimumMACs {
            return (.layer2Loop, "Layer-2 loop or bridged backdoor: \(flapMACs) MACs flapping \(between)")
        }
        if flapMACs > 0 { return (.duplicateMAC, "Duplicate MAC flapping \(between)") }
        if rules.contains(.stickyMoved) || rules.contains(.stickyConflict) {
            return (.stickyMAC, "Sticky (static) MAC advertised elsewhere: \(names)")
        }
        if rules.contains(.stalePeerDown) { return (.peerFailure, "PE failure with routes left behind: \(names)") }
        if rules.contains(.staleHostRoute) {
            return (.staleHostRoute, "Host routes still pointing at the old PE after a move: \(names)")
        }
        if rules.contains(.staleAfterMove) {
            return (.staleAfterMove, "Old PE did not withdraw after a move: \(names)")
        }
        if rules.contains(.dupIPFlap) || rules.contains(.ipMoveNewMAC) {
            return (.ipMoved, "IP address moved to a different MAC: \(names)")
        }
        if rules.contains(.esiInconsistent) { return (.multihoming, "Multi-homing inconsistency: \(names)") }
        let list = rules.map(\.rawValue).sorted().joined(separator: ", ")
        return (.sequenceAnomaly, "Sequence-number anomaly (\(list)): \(names)")
    }
}

/// What kind of problem an incident is; its likely cause and next step are the same for every
/// incident of the kind, so the report says them once per kind (docs/evpn-mobility.md §5).
public enum IncidentKind: String, Sendable, CaseIterable {
    case layer2Loop = "layer-2 loop", duplicateMAC = "duplicate MAC", stickyMAC = "sticky MAC", peerFailure =
        "PE failure"
    case staleHostRoute = "stale host route", staleAfterMove = "no withdrawal after a move", ipMoved = "IP moved"
    case multihoming = "multi-homing", sequenceAnomaly = "sequence anomaly"

    public var cause: String {
        switch self {
        case .layer2Loop:
            return
                "Many MACs moving back and forth between the same PEs at the same time means frames from one segment "
                + "reach the other: a layer-2 loop, a bridged backdoor link between the sites, or a mis-cabled "
                + "multi-homed switch without a shared ESI."
        case .duplicateMAC:
            return
                "One MAC keeps moving between PEs on different Ethernet segments: two hosts share the MAC (cloned "
                + "VM, static MAC reuse), or a multi-homed host is attached without a common ESI."
        case .stickyMAC:
            return
                "A MAC configured as static on one PE is being learned or configured on another PE (RFC 7432 §15.2): "
                + "a host moved onto a segment where its MAC is pinned, or two PEs pin the same MAC."
        case .peerFailure:
            return
                "A PE's BGP session went down, but some observation points still carry its MAC routes past the "
                + "restart time: traffic to those MACs is black-holed toward a dead PE."
        case .staleHostRoute:
            return
                "The MAC/IP moved, but VPN host routes (/32, /128) for its IPs still lead to the old PE, so routed "
                + "traffic is black-holed there."
        case .staleAfterMove:
            return
                "After a MAC moved with a higher sequence number, the old PE kept advertising it (RFC 7432 §15.1 "
                + "requires a withdrawal): remote PEs running older software or a stuck MAC entry may still send "
                + "traffic there."
        case .ipMoved:
            return
                "An IP is now announced with another MAC: a VM was re-created with a new MAC (harmless), or two "
                + "hosts use the same IP (duplicate IP, ARP flapping)."
        case .multihoming:
            return "PEs that share an Ethernet segment disagree about a MAC (different sequence numbers or ESIs)."
        case .sequenceAnomaly:
            return
                "MAC Mobility sequence numbers broke RFC 7432 §15 rules: a PE did not increment on a move, restarted "
                + "its counter, or two PEs claim the same sequence, so PEs may disagree on where the MAC lives."
        }
    }

    public var nextStep: String {
        switch self {
        case .layer2Loop:
            return
                "Check STP and LACP on the access switches behind the incident's PEs; look for a link that bridges "
                + "the sites outside EVPN; enable duplicate-address freeze (`dup-addr-detection freeze`) while "
                + "investigating."
        case .duplicateMAC:
            return
                "Find the hosts behind the MAC on each PE (`show evpn mac vni all` / `show mac address-table "
                + "address`); remove the duplicate or configure the shared ESI; clear the duplicate-address "
                + "state afterwards."
        case .stickyMAC:
            return
                "Check the static MAC configuration on the incident's PEs; remove the stale static entry or move the "
                + "host back."
        case .peerFailure:
            return
                "Check the route reflector or monitored router that still holds the routes (graceful-restart timers, "
                + "stuck sessions); clear the stale routes; verify the PE's state."
        case .staleHostRoute:
            return
                "Check the old PE's host-route generation (ARP/ND table, `advertise-host-routes`); clear ARP for the "
                + "moved IPs on the old PE."
        case .staleAfterMove:
            return
                "On the old PE, check the MAC table and the EVPN database for the MAC (`show evpn mac`); clear the "
                + "stale entry; check for a software bug if it recurs."
        case .ipMoved: return "Confirm which host owns the IP; if both are live, fix the duplicate address."
        case .multihoming: return "Compare the ESI configuration and the EVPN MAC tables of the incident's PEs."
        case .sequenceAnomaly:
            return
                "Compare the MAC Mobility sequence on the incident's PEs (`show bgp l2vpn evpn route-type 2`); "
                + "upgrade or fix the PE that does not follow the rules; clear the MAC to resynchronise."
        }
    }
}
