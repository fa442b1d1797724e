import EVPNModel
import Replay

/// STICKY-MOVED (RFC 7432 §15.2, MOB-6): a MAC one PE advertises as sticky (static) is
/// advertised by another PE; the sticky route keeps winning.
struct StickyMoved: Detector {
    static let rule = Rule.stickyMoved

    func observe(_ t: Transition, in detection: Detection) {
        guard t.kind == .stickyConflict, detection.engine.advert(mac: t.mac, pe: t.pe)?.sticky != true else { return }
        detection.report(
            .stickyMoved, mac: t.mac, pes: [t.otherPE, t.pe], time: t.time,
            detail:
                "sticky MAC of \(detection.pe(t.otherPE)) advertised by \(detection.pe(t.pe)) with seq \(t.seqAfter)",
            evidence: detection.recent(4, of: t.mac))
    }
}
