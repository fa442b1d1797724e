import EVPNModel
import Replay

/// STALE-AFTER-MOVE (RFC 7432 §15.1, MOB-5): the old PE still advertises the MAC G seconds after
/// another PE won it with a strictly higher sequence; §15.1 asks it to withdraw. Not reported
/// while the MAC flaps through that PE: the DUP-MAC-FLAP finding carries it.
/// Threshold: `staleGrace` (G).
struct StaleAfterMove: Detector {
    static let rule = Rule.staleAfterMove

    func onMove(_ t: Transition, _ sides: MoveSides, in detection: Detection) {
        guard sides.old != nil else { return }
        detection.arm(
            .staleAfterMove, after: detection.thresholds.staleGrace, t, pe: t.otherPE, otherPE: t.pe, seq: t.seqAfter)
    }

    func fire(_ timer: Timer, in detection: Detection) {
        let engine = detection.engine, thresholds = detection.thresholds
        let state = engine.macs[timer.mac.index]
        // A tie is SEQ-TIE's business: only a strictly higher sequence asks for a withdrawal.
        guard let old = engine.advert(mac: timer.mac, pe: timer.pe), state.winner != timer.pe,
            old.lastChange <= timer.reference,
            SequenceOrder.newer(state.winnerSeq, than: old.seq)
        else { return }
        if let flap = detection.openFlap(mac: timer.mac), detection.findings[flap].pes.contains(timer.pe),
            TimeSpan.between(detection.findings[flap].lastTime, timer.due) <= thresholds.window
        {
            return
        }
        var items = detection.recent(thresholds.recentEvidence, of: timer.mac)
            .filter { $0.time >= timer.reference - thresholds.window }.suffix(4).map { $0 }
        let source = engine.routes(mac: timer.mac, pe: timer.pe).first?.source ?? timer.source
        items.append(
            Evidence(
                time: timer.due, pe: timer.pe, seq: old.seq, sticky: old.sticky, esi: old.esi, ip: nil,
                event: "still-advertised", source: source, observation: .none))
        let pe = detection.pe
        detection.report(
            .staleAfterMove, mac: timer.mac, pes: [timer.pe, state.winner], time: timer.reference,
            detail:
                "\(pe(timer.pe)) still advertises seq \(old.seq) \(TimeSpan.between(timer.reference, timer.due)) "
                + "after \(pe(state.winner)) won with seq \(state.winnerSeq)",
            evidence: items)
    }
}
