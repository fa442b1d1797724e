import EVPNModel
import Replay

/// SEQ-JUMP (RFC 7432 §15.1, MOB-2): a move raised the sequence by more than one over the previous
/// owner's. Thresholds: `jumpInfo` (more is info), `jumpMinor` (more is minor).
struct SeqJump: Detector {
    static let rule = Rule.seqJump

    func onMove(_ t: Transition, _ sides: MoveSides, in detection: Detection) {
        let thresholds = detection.thresholds
        guard !t.tie, !t.wrap, t.seqAfter > t.seqBefore, t.seqAfter - t.seqBefore > thresholds.jumpInfo else { return }
        let delta = t.seqAfter - t.seqBefore
        detection.report(
            .seqJump, mac: t.mac, pes: [t.otherPE, t.pe], time: t.time,
            detail: "move to \(detection.pe(t.pe)) raised seq from \(t.seqBefore) to \(t.seqAfter) (+\(delta))",
            evidence: detection.recent(2, of: t.mac), severity: delta > thresholds.jumpMinor ? .minor : .info)
    }
}
