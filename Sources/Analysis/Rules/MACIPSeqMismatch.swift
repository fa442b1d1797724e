import EVPNModel
import Replay

/// MAC-IP-SEQ-MISMATCH (RFC 9721, MOB-11): one PE's MAC-only and MAC+IP routes of a MAC carried
/// different sequences for longer than G; they should move together. Threshold: `staleGrace` (G).
struct MACIPSeqMismatch: Detector {
    static let rule = Rule.macIPSeqMismatch

    func observe(_ t: Transition, in detection: Detection) {
        guard t.kind == .learned || t.kind == .updated, detection.engine.hasMixedSequences(mac: t.mac, pe: t.pe) else {
            return
        }
        detection.arm(.macIPSeqMismatch, after: detection.thresholds.staleGrace, t, pe: t.pe, otherPE: .none, seq: 0)
    }

    func fire(_ timer: Timer, in detection: Detection) {
        let engine = detection.engine
        guard engine.hasMixedSequences(mac: timer.mac, pe: timer.pe) else { return }
        let routes = engine.routes(mac: timer.mac, pe: timer.pe)
        let detail = routes.map { "\($0.ip.map { "\($0)" } ?? "MAC-only"): seq \($0.seq)" }.joined(separator: ", ")
        detection.report(
            .macIPSeqMismatch, mac: timer.mac, pes: [timer.pe], time: timer.reference,
            detail: "\(detection.pe(timer.pe)) advertises the MAC's routes with different seqs (\(detail))",
            evidence: routes.map {
                Evidence(
                    time: $0.lastUpdate, pe: timer.pe, seq: $0.seq, sticky: $0.sticky, esi: $0.esi,
                    ip: $0.ip, event: "advertised", source: $0.source, observation: .none)
            })
    }
}
