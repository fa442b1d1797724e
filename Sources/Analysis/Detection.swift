import EVPNModel
import Replay

/// One rule of the anomaly catalogue (docs/evpn-mobility.md §5): what it does on a move, on any
/// other transition and when one of its timers fires. Each lives in `Rules/`, named after its rule.
/// The analyzer calls every detector in a fixed order (`Analyzer.handle`), so a rule's reports
/// come in the same order whatever the input's size.
protocol Detector {
    /// The rule this detector reports (a few also consult another rule's open finding).
    static var rule: Rule { get }
    /// A winner change; `sides` holds what the old and the new owner advertise now.
    func onMove(_ t: Transition, _ sides: MoveSides, in detection: Detection)
    /// Every transition but a move.
    func observe(_ t: Transition, in detection: Detection)
    /// One of this rule's timers is due.
    func fire(_ timer: Timer, in detection: Detection)
}

extension Detector {
    func onMove(_ t: Transition, _ sides: MoveSides, in detection: Detection) {}
    func observe(_ t: Transition, in detection: Detection) {}
    func fire(_ timer: Timer, in detection: Detection) {}
}

/// What the two PEs of a move advertise right after it. Each read walks the MAC's routes, so the
/// analyzer reads them once for every detector.
struct MoveSides {
    var old: PEAdvertisement?
    var new: PEAdvertisement?
}

/// What every detector works with: the replay state, the thresholds, the recent evidence, the
/// findings so far (one open finding per rule, MAC, PE set and IP) and the timers.
final class Detection {
    let engine: ReplayEngine
    let thresholds: Thresholds
    let recentEvidence: EvidenceLog
    var findings: [Finding] = []
    var timers = TimerQueue()

    private struct FindingKey: Hashable { var rule: Rule; var mac: MACID; var pes: [PEID]; var ip: IPAddress? }
    private var openFindings: [FindingKey: Int] = [:]

    init(engine: ReplayEngine, thresholds: Thresholds) {
        self.engine = engine
        self.thresholds = thresholds
        recentEvidence = EvidenceLog(horizon: thresholds.evidenceHorizon)
    }

    /// A rule's open finding for a MAC is one per PE set, except a flap: one per MAC, naming
    /// every PE it went through (a MAC that went .12 → .5 → .7 → .13 is one duplicate).
    private func findingKey(_ rule: Rule, mac: MACID, pes: [PEID], ip: IPAddress?) -> FindingKey {
        FindingKey(rule: rule, mac: mac, pes: rule == .dupMACFlap ? [] : pes.sorted(), ip: ip)
    }

    /// The open DUP-MAC-FLAP finding of MAC `mac`, if any.
    func openFlap(mac: MACID) -> Int? { openFindings[findingKey(.dupMACFlap, mac: mac, pes: [], ip: nil)] }

    /// Opens a finding, or adds to the open one of the same key if it was last seen within the
    /// window. Returns the finding's index in `findings`.
    @discardableResult
    func report(
        _ rule: Rule, mac: MACID, pes: [PEID], ip: IPAddress? = nil, time: Int64, since: Int64? = nil, detail: String,
        evidence: [Evidence], severity: Severity? = nil, count: Int = 1
    ) -> Int {
        let key = findingKey(rule, mac: mac, pes: pes, ip: ip)
        if let index = openFindings[key], TimeSpan.between(findings[index].lastTime, time) <= thresholds.window {
            if rule == .dupMACFlap { findings[index].pes = Array(Set(findings[index].pes + pes)).sorted() }
            findings[index].lastTime = max(findings[index].lastTime, time)
            findings[index].count =
                rule == .dupMACFlap || rule == .dupIPFlap ? findings[index].count + 1 : findings[index].count + count
            findings[index].detail = detail
            if let severity, severity > findings[index].severity { findings[index].severity = severity }
            for item in evidence where findings[index].evidence.count < thresholds.evidenceLimit * 2 {
                if !findings[index].evidence.contains(where: {
                    $0.time == item.time && $0.pe == item.pe && $0.event == item.event
                }) {
                    findings[index].evidence.append(item)
                }
            }
            return index
        }
        let state = mac.exists ? engine.macs[mac.index] : nil
        findings.append(
            Finding(
                rule: rule, severity: severity ?? rule.defaultSeverity, bd: state?.bd ?? -1, mac: state?.mac, ip: ip,
                pes: pes, firstTime: min(since ?? time, time), lastTime: time, count: count, detail: detail,
                evidence: evidence))
        openFindings[key] = findings.count - 1
        return findings.count - 1
    }

    /// Sets a timer of `kind` for the MAC of `t`, due its rule's delay after `t`.
    func arm(_ kind: Timer.Kind, after delay: TimeSpan, _ t: Transition, pe: PEID, otherPE: PEID, seq: UInt32) {
        timers.push(
            Timer(
                due: t.time + delay, kind: kind, mac: t.mac, pe: pe, otherPE: otherPE,
                reference: t.time, seq: seq, ip: nil, source: t.source))
    }

    /// The PE's address as findings name it.
    func pe(_ id: PEID) -> String { id.exists ? engine.pes[id.index].address.description : "?" }

    func evidence(_ t: Transition, event: String? = nil) -> Evidence {
        evidence(t, event: event, advert: t.mac.exists ? engine.advert(mac: t.mac, pe: t.pe) : nil)
    }

    /// `advert`: what `t.pe` advertises for the MAC now, when the caller has it already.
    func evidence(_ t: Transition, event: String? = nil, advert: PEAdvertisement?) -> Evidence {
        var esi = ESI.zero, sticky = t.sticky
        if let advert { esi = advert.esi; sticky = advert.sticky }
        let seq = t.kind == .superseded || t.kind == .withdrawn || t.kind == .flushed ? t.seqBefore : t.seqAfter
        return Evidence(
            time: t.time, pe: t.pe, seq: seq, sticky: sticky, esi: esi, ip: t.ip,
            event: event ?? t.kind.rawValue, source: t.source, observation: t.observation)
    }

    /// The last `count` events of the MAC, to quote in a finding.
    func recent(_ count: Int, of mac: MACID) -> [Evidence] { recentEvidence.last(count, of: mac) }
}
