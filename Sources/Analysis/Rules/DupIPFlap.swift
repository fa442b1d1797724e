import EVPNModel
import Replay

/// DUP-IP-FLAP (RFC 7432 §15.1 applied to IPs, RFC 9721): one IP's MAC+IP binding changed MAC
/// more than N times within M seconds. Thresholds: `maxMoves`, `window`.
final class DupIPFlap: Detector {
    static let rule = Rule.dupIPFlap
    /// Times the IP changed MAC within the window.
    private var changeTimes: [IPAddress: [Int64]] = [:]

    func observe(_ t: Transition, in detection: Detection) {
        guard t.kind == .ipMoved, let ip = t.ip else { return }
        let thresholds = detection.thresholds
        var times = changeTimes[ip] ?? []
        times.append(t.time)
        times = times.filter { $0 >= t.time - thresholds.window }
        changeTimes[ip] = times
        guard times.count > thresholds.maxMoves else { return }
        detection.report(
            .dupIPFlap, mac: t.mac, pes: [t.pe], ip: ip, time: t.time, since: times[0],
            detail: "\(ip) changed MAC \(times.count) times in \(TimeSpan.between(times[0], t.time))",
            evidence: [detection.evidence(t, event: "ip-moved")])
    }

    /// Drops IPs quiet since before `time`.
    func forget(before time: Int64) {
        changeTimes = changeTimes.filter { ($0.value.last ?? .min) >= time }
    }
}
