import EVPNModel
import Replay

/// SEQ-TIE (RFC 7432 §15.1, MOB-4): two PEs on different ESIs keep advertising one MAC with the
/// same highest sequence for G seconds; receivers pick the lower address, and one PE should have
/// incremented. Judged G after the tie: if the holder withdrew meanwhile, the tie was a move
/// without an increment (SEQ-MISSING-ON-MOVE, W-13). Threshold: `staleGrace` (G).
struct SeqTie: Detector {
    static let rule = Rule.seqTie

    /// A tie the newcomer won on the lower address, the old owner still advertising.
    func onMove(_ t: Transition, _ sides: MoveSides, in detection: Detection) {
        guard t.tie, sides.old != nil else { return }
        detection.arm(.seqTie, after: detection.thresholds.staleGrace, t, pe: t.otherPE, otherPE: t.pe, seq: t.seqAfter)
    }

    /// A tie the holder kept.
    func observe(_ t: Transition, in detection: Detection) {
        guard t.kind == .rejected, t.tie else { return }
        detection.arm(.seqTie, after: detection.thresholds.staleGrace, t, pe: t.otherPE, otherPE: t.pe, seq: t.seqAfter)
    }

    func fire(_ timer: Timer, in detection: Detection) {
        let engine = detection.engine, pe = detection.pe
        guard let holder = engine.advert(mac: timer.mac, pe: timer.pe),
            let challenger = engine.advert(mac: timer.mac, pe: timer.otherPE),
            holder.seq == timer.seq, challenger.seq == timer.seq
        else { return }
        let winner = engine.macs[timer.mac.index].winner
        detection.report(
            .seqTie, mac: timer.mac, pes: [timer.pe, timer.otherPE], time: timer.reference,
            detail: "\(pe(timer.pe)) and \(pe(timer.otherPE)) both still advertise the MAC with seq \(timer.seq) "
                + "\(TimeSpan.between(timer.reference, timer.due)) later; \(pe(winner)) holds it on the lower "
                + "address",
            evidence: detection.recent(4, of: timer.mac).filter {
                $0.time >= timer.reference - detection.thresholds.window
            })
    }
}
