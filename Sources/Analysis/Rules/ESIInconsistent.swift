import EVPNModel
import Replay

/// ESI-INCONSISTENT (RFC 7432 §8 and §15, MOB-8): PEs on one Ethernet segment disagree on a MAC's
/// sequence, or the MAC is advertised with two different non-zero ESIs.
struct ESIInconsistent: Detector {
    static let rule = Rule.esiInconsistent

    func onMove(_ t: Transition, _ sides: MoveSides, in detection: Detection) {
        guard let old = sides.old, let new = sides.new, !old.esi.isZero, !new.esi.isZero, old.esi != new.esi else {
            return
        }
        detection.report(
            .esiInconsistent, mac: t.mac, pes: [t.otherPE, t.pe], time: t.time,
            detail: "the MAC is advertised with two non-zero ESIs: \(old.esi) at \(detection.pe(t.otherPE)) "
                + "and \(new.esi) at \(detection.pe(t.pe))",
            evidence: detection.recent(2, of: t.mac))
    }

    func observe(_ t: Transition, in detection: Detection) {
        let engine = detection.engine
        switch t.kind {
        case .rejected:
            guard let winner = engine.advert(mac: t.mac, pe: t.otherPE), let new = engine.advert(mac: t.mac, pe: t.pe),
                !winner.esi.isZero, !new.esi.isZero, winner.esi != new.esi
            else { return }
            detection.report(
                .esiInconsistent, mac: t.mac, pes: [t.otherPE, t.pe], time: t.time,
                detail: "the MAC is advertised with two non-zero ESIs", evidence: detection.recent(2, of: t.mac))
        case .aliased:
            // Two PEs of one segment: they should carry the same sequence.
            guard let mine = engine.advert(mac: t.mac, pe: t.pe), let other = engine.advert(mac: t.mac, pe: t.otherPE),
                mine.seq != other.seq
            else { return }
            detection.report(
                .esiInconsistent, mac: t.mac, pes: [t.otherPE, t.pe], time: t.time,
                detail: "PEs on ESI \(mine.esi) disagree on the seq: \(mine.seq) at \(detection.pe(t.pe)), "
                    + "\(other.seq) at \(detection.pe(t.otherPE))",
                evidence: detection.recent(2, of: t.mac))
        default:
            return
        }
    }
}
