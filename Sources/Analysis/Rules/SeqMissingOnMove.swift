import EVPNModel
import Replay

/// SEQ-MISSING-ON-MOVE (RFC 7432 §15.1, MOB-2): a MAC known at PE A appeared at PE B with a
/// sequence not above A's, whether B then won or not. B won a tie and A withdrew within G: B took
/// the MAC without raising the sequence (GoBGP 3.10 on every first move, W-13); B's lower or
/// equal sequence lost: A keeps the MAC (W-7). Threshold: `staleGrace` (G).
struct SeqMissingOnMove: Detector {
    static let rule = Rule.seqMissingOnMove

    func onMove(_ t: Transition, _ sides: MoveSides, in detection: Detection) {
        guard t.tie else { return }
        let grace = detection.thresholds.staleGrace
        if sides.old != nil {
            // The old owner still advertises: judged G later, when it has withdrawn or not.
            detection.arm(.seqMissingOnMove, after: grace, t, pe: t.otherPE, otherPE: t.pe, seq: t.seqAfter)
        } else if let new = sides.new, new.lastChange >= t.time - grace {
            // The old PE withdrew: the new one took the MAC with the same sequence (W-13).
            report(detection, mac: t.mac, from: t.otherPE, to: t.pe, seq: t.seqAfter, time: t.time)
        }
    }

    func observe(_ t: Transition, in detection: Detection) {
        guard t.kind == .rejected, !t.tie, !SequenceOrder.newer(t.seqAfter, than: t.seqBefore) else { return }
        let pe = detection.pe
        detection.report(
            .seqMissingOnMove, mac: t.mac, pes: [t.otherPE, t.pe], time: t.time,
            detail: "\(pe(t.pe)) advertised the MAC with seq \(t.seqAfter), not above \(pe(t.otherPE))'s "
                + "\(t.seqBefore): \(pe(t.otherPE)) keeps it",
            evidence: detection.recent(2, of: t.mac))
    }

    /// G after a tied move: the old owner withdrew and the new one still holds the tied sequence.
    func fire(_ timer: Timer, in detection: Detection) {
        let engine = detection.engine
        guard engine.advert(mac: timer.mac, pe: timer.pe) == nil,
            engine.advert(mac: timer.mac, pe: timer.otherPE)?.seq == timer.seq
        else { return }
        report(detection, mac: timer.mac, from: timer.pe, to: timer.otherPE, seq: timer.seq, time: timer.reference)
    }

    private func report(_ detection: Detection, mac: MACID, from: PEID, to: PEID, seq: UInt32, time: Int64) {
        let pe = detection.pe
        detection.report(
            .seqMissingOnMove, mac: mac, pes: [from, to], time: time,
            detail: "\(pe(to)) took the MAC from \(pe(from)) without raising seq \(seq) (MOB-2 asks for \(seq &+ 1))",
            evidence: detection.recent(3, of: mac))
    }
}
