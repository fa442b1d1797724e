import EVPNModel
import Replay

/// STALE-PEER-DOWN (RFC 7432 §9.2.2, graceful restart RFC 4724): a PE's MAC routes are still
/// present at an observation point longer than the restart time after its session went down.
/// Threshold: `restartTime`.
final class StalePeerDown: Detector {
    static let rule = Rule.stalePeerDown
    /// PEs with a check pending, and when it is due: one check per PE at a time.
    private var pendingChecks: [PEID: Int64] = [:]

    func observe(_ t: Transition, in detection: Detection) {
        guard t.kind == .peerDown else { return }
        if let pending = pendingChecks[t.pe], pending >= t.time { return }
        let delay = detection.thresholds.restartTime
        pendingChecks[t.pe] = t.time + delay
        detection.arm(.stalePeerDown, after: delay, t, pe: t.pe, otherPE: .none, seq: 0)
    }

    func fire(_ timer: Timer, in detection: Detection) {
        let engine = detection.engine
        pendingChecks[timer.pe] = nil
        let stale = engine.liveAdvertisements(of: timer.pe, since: timer.reference)
        guard !stale.isEmpty else { return }
        let sample = stale.prefix(detection.thresholds.evidenceLimit).compactMap { index -> Evidence? in
            let state = engine.macs[index.index]
            guard let advert = engine.advert(mac: index, pe: timer.pe) else { return nil }
            let routes = engine.routes(mac: index, pe: timer.pe)
            return Evidence(
                time: routes.map(\.lastUpdate).max() ?? timer.reference, pe: timer.pe, seq: advert.seq,
                sticky: advert.sticky,
                esi: advert.esi, ip: nil, event: "still-advertised \(state.mac)",
                source: routes.first?.source ?? timer.source,
                observation: .none)
        }
        // Where the routes are still held: the inputs (dumps, BMP streams) that still carry them.
        let holders = Set(stale.compactMap { engine.routes(mac: $0, pe: timer.pe).first?.source.input }).sorted()
        let sessionDown = Evidence(
            time: timer.reference, pe: timer.pe, seq: 0, sticky: false, esi: .zero, ip: nil, event: "session-down",
            source: timer.source, observation: .none)
        let index = detection.report(
            .stalePeerDown, mac: .none, pes: [timer.pe], time: timer.reference,
            detail: "\(stale.count) MAC routes of \(detection.pe(timer.pe)) still present "
                + "\(TimeSpan.between(timer.reference, timer.due)) after its session went down"
                + ", held in the dumps of input(s) " + holders.map { "#\($0)" }.joined(separator: ", "),
            evidence: [sessionDown] + sample, count: stale.count)
        let states = stale.map { engine.macs[$0.index] }
        detection.findings[index].coveredMACs = Array(Set(detection.findings[index].coveredMACs + states.map(\.mac)))
            .sorted()
        detection.findings[index].coveredBDs = Array(Set(detection.findings[index].coveredBDs + states.map(\.bd)))
            .sorted()
    }
}
