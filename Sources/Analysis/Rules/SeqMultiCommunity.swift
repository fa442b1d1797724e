import EVPNModel
import Replay

/// SEQ-MULTI-COMMUNITY (RFC 7432 §7.7): one route carried more than one MAC Mobility extended
/// community; the highest sequence is used.
struct SeqMultiCommunity: Detector {
    static let rule = Rule.seqMultiCommunity

    func observe(_ t: Transition, in detection: Detection) {
        guard t.kind == .learned || t.kind == .updated || t.kind == .rejected else { return }
        let engine = detection.engine
        guard engine.mobilityCommunities(mac: t.mac, pe: t.pe, ip: t.ip) > 1,
            let route = engine.route(mac: t.mac, pe: t.pe, ip: t.ip)
        else { return }
        // The engine counts communities up to a cap: at the cap, "or more".
        let counted =
            route.mobilityCommunities >= ReplayEngine.maximumCountedMobilityCommunities
            ? "\(route.mobilityCommunities) or more" : "\(route.mobilityCommunities)"
        detection.report(
            .seqMultiCommunity, mac: t.mac, pes: [t.pe], ip: t.ip, time: t.time,
            detail:
                "\(detection.pe(t.pe)) sent \(counted) MAC Mobility communities in one route; the highest seq "
                + "\(route.seq) is used",
            evidence: [detection.evidence(t)])
    }
}
