import EVPNModel
import Replay

/// STICKY-CONFLICT (RFC 7432 §15.2, MOB-6): two PEs both advertise one MAC as sticky.
struct StickyConflict: Detector {
    static let rule = Rule.stickyConflict

    func onMove(_ t: Transition, _ sides: MoveSides, in detection: Detection) {
        guard let old = sides.old, let new = sides.new, old.sticky && new.sticky else { return }
        report(t, in: detection, evidence: detection.recent(2, of: t.mac))
    }

    func observe(_ t: Transition, in detection: Detection) {
        guard t.kind == .stickyConflict, detection.engine.advert(mac: t.mac, pe: t.pe)?.sticky == true else { return }
        report(t, in: detection, evidence: detection.recent(4, of: t.mac))
    }

    private func report(_ t: Transition, in detection: Detection, evidence: [Evidence]) {
        detection.report(
            .stickyConflict, mac: t.mac, pes: [t.otherPE, t.pe], time: t.time,
            detail: "\(detection.pe(t.pe)) and \(detection.pe(t.otherPE)) both advertise the MAC as sticky",
            evidence: evidence)
    }
}
