import EVPNModel
import Replay

/// SEQ-BUMP-NO-MOVE (RFC 7432 §15.1): a PE raised its own sequence for a MAC no other PE
/// advertises and that did not move within the window (a bump right after a move is the move's).
/// Threshold: `window`; the moves are DUP-MAC-FLAP's history.
struct SeqBumpNoMove: Detector {
    static let rule = Rule.seqBumpNoMove
    let moves: MoveHistory

    func observe(_ t: Transition, in detection: Detection) {
        guard t.kind == .updated, t.seqAfter > t.seqBefore, !SeqWrap.applies(to: t),
            detection.engine.adverts(mac: t.mac).count == 1,
            moves.moves(of: t.mac).allSatisfy({ TimeSpan.between($0.time, t.time) > detection.thresholds.window })
        else { return }
        detection.report(
            .seqBumpNoMove, mac: t.mac, pes: [t.pe], time: t.time,
            detail:
                "\(detection.pe(t.pe)) raised the seq from \(t.seqBefore) to \(t.seqAfter) with no other PE "
                + "advertising the MAC",
            evidence: detection.recent(2, of: t.mac))
    }
}
