import EVPNModel
import Replay

/// SEQ-WRAP (MOB-10): the sequence reached 2^32-1, or fell from the top of the range to a small
/// value (serial-number arithmetic says newer; RFC 7432 defines no wrap), on a PE's own
/// re-advertisement or on a move.
struct SeqWrap: Detector {
    static let rule = Rule.seqWrap

    /// A re-advertisement the sequence rules judge as a wrap or the last number, not a decrease or bump.
    static func applies(to t: Transition) -> Bool { t.wrap || t.seqAfter == UInt32.max }

    func onMove(_ t: Transition, _ sides: MoveSides, in detection: Detection) {
        guard !t.tie, t.wrap else { return }
        detection.report(
            .seqWrap, mac: t.mac, pes: [t.otherPE, t.pe], time: t.time,
            detail: "sequence wrapped from \(t.seqBefore) to \(t.seqAfter) on a move to \(detection.pe(t.pe))",
            evidence: detection.recent(2, of: t.mac))
    }

    func observe(_ t: Transition, in detection: Detection) {
        guard t.kind == .updated, t.seqAfter != t.seqBefore, Self.applies(to: t) else { return }
        let pe = detection.pe(t.pe)
        detection.report(
            .seqWrap, mac: t.mac, pes: [t.pe], time: t.time,
            detail: t.wrap
                ? "\(pe) wrapped the sequence from \(t.seqBefore) to \(t.seqAfter)"
                : "\(pe) reached the last sequence number \(t.seqAfter)",
            evidence: detection.recent(2, of: t.mac))
    }
}
