import EVPNModel
import Replay

/// SEQ-DECREASE (RFC 7432 §15.1): a PE re-advertised a MAC with a lower sequence than before,
/// with no wrap. Judged per observation point from the PE's own successive advertisements (the
/// engine's `.updated`), so a copy arriving late through another path is never a decrease.
struct SeqDecrease: Detector {
    static let rule = Rule.seqDecrease

    func observe(_ t: Transition, in detection: Detection) {
        guard t.kind == .updated, t.seqAfter < t.seqBefore, !SeqWrap.applies(to: t) else { return }
        detection.report(
            .seqDecrease, mac: t.mac, pes: [t.pe], time: t.time,
            detail: "\(detection.pe(t.pe)) re-advertised the MAC with seq \(t.seqAfter) after \(t.seqBefore)",
            evidence: detection.recent(2, of: t.mac))
    }
}
