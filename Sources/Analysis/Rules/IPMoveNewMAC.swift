import EVPNModel
import Replay

/// IP-MOVE-NEW-MAC (RFC 9721, MOB-11): an IP's MAC+IP binding moved to a different MAC.
struct IPMoveNewMAC: Detector {
    static let rule = Rule.ipMoveNewMAC

    func observe(_ t: Transition, in detection: Detection) {
        guard t.kind == .ipMoved, let ip = t.ip else { return }
        let oldMAC = detection.engine.macs[t.otherMAC.index].mac
        let newMAC = detection.engine.macs[t.mac.index].mac
        detection.report(
            .ipMoveNewMAC, mac: t.mac, pes: [t.pe], ip: ip, time: t.time,
            detail: "\(ip) moved from MAC \(oldMAC) to \(newMAC) at \(detection.pe(t.pe))",
            evidence: [detection.evidence(t, event: "ip-moved")])
    }
}
