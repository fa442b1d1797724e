import EVPNModel
import Replay

/// STALE-HOST-ROUTE (RFC 9721): after a MAC moved, a VPNv4/VPNv6 host route for one of its IPs
/// still points at the old PE G seconds later, so routed traffic goes to the wrong site.
/// Threshold: `hostRouteGrace` (G).
struct StaleHostRoute: Detector {
    static let rule = Rule.staleHostRoute

    func onMove(_ t: Transition, _ sides: MoveSides, in detection: Detection) {
        // The MAC+IP routes of a move usually follow its MAC-only route: their IPs are read when the timer fires.
        detection.arm(
            .staleHostRoute, after: detection.thresholds.hostRouteGrace, t, pe: t.otherPE, otherPE: t.pe,
            seq: t.seqAfter)
    }

    func fire(_ timer: Timer, in detection: Detection) {
        let engine = detection.engine
        let state = engine.macs[timer.mac.index]
        guard state.winner != timer.pe, let winner = engine.advert(mac: timer.mac, pe: state.winner) else { return }
        // One of these per move: the winner's IPs gathered without building route states.
        var ips: [IPAddress] = []
        engine.forEachIP(mac: timer.mac, pe: winner.pe) { if !ips.contains($0) { ips.append($0) } }
        if ips.count > 1 { ips.sort() }
        let pe = detection.pe
        for ip in ips where engine.hostRoute(ip, isAdvertisedBy: timer.pe) {
            let stillThere = Evidence(
                time: timer.due, pe: timer.pe, seq: 0, sticky: false, esi: .zero, ip: ip,
                event: "host-route-still-present", source: timer.source, observation: .none)
            detection.report(
                .staleHostRoute, mac: timer.mac, pes: [timer.pe, timer.otherPE], ip: ip, time: timer.reference,
                detail: "VPN host route \(ip)/\(ip.bitLength) still points at \(pe(timer.pe)) "
                    + "\(TimeSpan.between(timer.reference, timer.due)) after the MAC moved to \(pe(timer.otherPE))",
                evidence: detection.recent(2, of: timer.mac) + [stillThere])
        }
    }
}
