import EVPNModel
import Replay

/// Groups findings that share a PE set and overlap in time into incidents, names the likely
/// cause and the next step (docs/evpn-mobility.md §5, "Incidents").
struct IncidentBuilder {
    let thresholds: Thresholds
    let engine: ReplayEngine

    private final class Cluster {
        var pes: [Int32]
        var findings: [Int] = []
        var first: Int64
        var last: Int64
        init(pes: [Int32], first: Int64, last: Int64) { self.pes = pes; self.first = first; self.last = last }
    }

    func build(_ findings: inout [Finding]) -> [Incident] {
        var clusters: [Cluster] = []
        var open: [[Int32]: Cluster] = [:]
        for (index, finding) in findings.enumerated() {
            let key = Array(Set(finding.pes.filter { $0 >= 0 })).sorted()
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
            let macs = Array(Set(members.compactMap(\.mac))).sorted()
            let bds = Array(Set(members.map(\.bd).filter { $0 >= 0 })).sorted()
            let (title, cause, next) = describe(rules: Set(rules), members: members, macCount: macs.count, pes: cluster.pes)
            incidents.append(Incident(id: 0, title: title, severity: severity, firstTime: cluster.first, lastTime: cluster.last,
                                      pes: cluster.pes, bds: bds, findingIDs: members.map(\.id), macs: macs, rules: rules,
                                      cause: cause, nextStep: next))
        }
        incidents.sort { a, b in
            if a.severity != b.severity { return a.severity > b.severity }
            if a.firstTime != b.firstTime { return a.firstTime < b.firstTime }
            return a.pes.lexicographicallyPrecedes(b.pes)
        }
        for i in incidents.indices {
            incidents[i].id = i + 1
            for findingID in incidents[i].findingIDs { findings[findingID - 1].incident = i + 1 }
        }
        return incidents
    }

    private func names(_ pes: [Int32]) -> String { pes.map { engine.pes[Int($0)].address.description }.joined(separator: " and ") }

    private func describe(rules: Set<Rule>, members: [Finding], macCount: Int, pes: [Int32]) -> (String, String, String) {
        let flapMACs = Set(members.filter { $0.rule == .dupMACFlap }.compactMap(\.mac)).count
        let between = names(pes)
        if flapMACs >= thresholds.loopMinimumMACs {
            return ("Layer-2 loop or bridged backdoor: \(flapMACs) MACs flapping between \(between)",
                    "Many MACs moving back and forth between the same PEs at the same time means frames from one segment reach the other: a layer-2 loop, a bridged backdoor link between the sites, or a mis-cabled multi-homed switch without a shared ESI.",
                    "Check STP and LACP on the access switches behind \(between); look for a link that bridges the two sites outside EVPN; enable duplicate-address freeze (`dup-addr-detection freeze`) while investigating.")
        }
        if flapMACs > 0 {
            return ("Duplicate MAC flapping between \(between)",
                    "One MAC keeps moving between two PEs on different Ethernet segments: two hosts share the MAC (cloned VM, static MAC reuse), or a multi-homed host is attached without a common ESI.",
                    "Find the hosts behind the MAC on both PEs (`show evpn mac vni all` / `show mac address-table address`); remove the duplicate or configure the shared ESI; clear the duplicate-address state afterwards.")
        }
        if rules.contains(.stickyMoved) || rules.contains(.stickyConflict) {
            return ("Sticky (static) MAC advertised elsewhere: \(between)",
                    "A MAC configured as static on one PE is being learned or configured on another PE (RFC 7432 §15.2): a host moved onto a segment where its MAC is pinned, or two PEs pin the same MAC.",
                    "Check the static MAC configuration on \(between); remove the stale static entry or move the host back.")
        }
        if rules.contains(.stalePeerDown) {
            return ("PE failure with routes left behind: \(between)",
                    "A PE's BGP session went down, but some observation points still carry its MAC routes past the restart time: traffic to those MACs is black-holed toward a dead PE.",
                    "Check the route reflector or monitored router that still holds the routes (graceful-restart timers, stuck sessions); clear the stale routes; verify the PE's state.")
        }
        if rules.contains(.staleHostRoute) {
            return ("Host routes still pointing at the old PE after a move: \(between)",
                    "The MAC/IP moved, but VPN host routes (/32, /128) for its IPs still lead to the old PE, so routed traffic is black-holed there.",
                    "Check the old PE's host-route generation (ARP/ND table, `advertise-host-routes`); clear ARP for the moved IPs on the old PE.")
        }
        if rules.contains(.staleAfterMove) {
            return ("Old PE did not withdraw after a move: \(between)",
                    "After a MAC moved with a higher sequence number, the old PE kept advertising it (RFC 7432 §15.1 requires a withdrawal): remote PEs running older software or a stuck MAC entry may still send traffic there.",
                    "On the old PE, check the MAC table and the EVPN database for the MAC (`show evpn mac`); clear the stale entry; check for a software bug if it recurs.")
        }
        if rules.contains(.dupIPFlap) || rules.contains(.ipMoveNewMAC) {
            return ("IP address moved to a different MAC: \(between)",
                    "An IP is now announced with another MAC: a VM was re-created with a new MAC (harmless), or two hosts use the same IP (duplicate IP, ARP flapping).",
                    "Confirm which host owns the IP; if both are live, fix the duplicate address.")
        }
        if rules.contains(.esiInconsistent) {
            return ("Multi-homing inconsistency: \(between)",
                    "PEs that share an Ethernet segment disagree about a MAC (different sequence numbers or ESIs).",
                    "Compare the ESI configuration and the EVPN MAC tables of \(between).")
        }
        let list = rules.map(\.rawValue).sorted().joined(separator: ", ")
        return ("Sequence-number anomaly (\(list)): \(between)",
                "MAC Mobility sequence numbers broke RFC 7432 §15 rules: a PE did not increment on a move, restarted its counter, or two PEs claim the same sequence, so PEs may disagree on where the MAC lives.",
                "Compare the MAC Mobility sequence on \(between) (`show bgp l2vpn evpn route-type 2`); upgrade or fix the PE that does not follow the rules; clear the MAC to resynchronise.")
    }
}
