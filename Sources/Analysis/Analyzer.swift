import EVPNModel
import Replay

/// Runs the detectors of the anomaly catalogue over the replay engine's transitions. Checks
/// that need "G seconds later" (stale routes) are timers fired as input time passes them.
public final class Analyzer {
    public let engine: ReplayEngine
    public let thresholds: Thresholds
    public private(set) var findings: [Finding] = []
    /// Every move is handed here as it happens (the store writes it); nothing is kept, so
    /// memory does not grow with the number of updates.
    public var onMove: (Transition) -> Void = { _ in }
    public private(set) var moveCount = 0

    private struct FindingKey: Hashable { var rule: Rule; var mac: Int32; var pes: [Int32]; var ip: IPAddress? }
    private var openFindings: [FindingKey: Int] = [:]
    private let recentEvidence: EvidenceLog
    private var ipMoveTimes: [IPAddress: [Int64]] = [:]
    private var timers = TimerQueue()
    private var pendingPeerChecks: [Int32: Int64] = [:]

    public init(engine: ReplayEngine, thresholds: Thresholds = Thresholds()) {
        self.engine = engine
        self.thresholds = thresholds
        recentEvidence = EvidenceLog(horizon: thresholds.evidenceHorizon)
        engine.useMobilityThresholds(maxMoves: thresholds.maxMoves, window: thresholds.window)
        engine.onTransition = { [unowned self] in self.handle($0) }
    }

    /// Feeds one item: fires the timers it passes, then replays it.
    /// `prefetched`: the engine's read-ahead target for this item (see `EngineLookahead`).
    public func process(_ item: FeedItem, prefetched: ReplayEngine.PrefetchTarget = .none) {
        advance(to: item.time)
        engine.process(item, prefetched: prefetched)
    }

    /// Fires every timer due at or before `time`.
    public func advance(to time: Int64) {
        while let timer = timers.pop(dueBy: time) { fire(timer) }
    }

    /// Ends the run: checks due by the end of the data fire; later ones cannot be judged.
    /// `window`: keep only findings whose span overlaps it (`--since`/`--until`).
    public func finish(window: ClosedRange<Int64>? = nil) -> [Incident] {
        advance(to: engine.now)
        if let window { findings.removeAll { $0.lastTime < window.lowerBound || $0.firstTime > window.upperBound } }
        findings.sort { a, b in
            let pa = a.pes.map(String.init).joined(separator: ","), pb = b.pes.map(String.init).joined(separator: ",")
            return (a.firstTime, a.rule.rawValue, a.mac?.value ?? 0, a.ip?.low ?? 0, pa) < (b.firstTime, b.rule.rawValue, b.mac?.value ?? 0, b.ip?.low ?? 0, pb)
        }
        for i in findings.indices { findings[i].id = i + 1 }
        let incidents = IncidentBuilder(thresholds: thresholds, engine: engine).build(&findings)
        return incidents
    }

    // MARK: - Transitions

    private func evidence(_ t: Transition, event: String? = nil) -> Evidence {
        evidence(t, event: event, advert: t.mac >= 0 ? engine.advert(mac: t.mac, pe: t.pe) : nil)
    }

    /// `advert`: what `t.pe` advertises for the MAC now, when the caller has it already.
    private func evidence(_ t: Transition, event: String? = nil, advert: PEAdvertisement?) -> Evidence {
        var esi = ESI.zero, sticky = t.sticky
        if let advert { esi = advert.esi; sticky = advert.sticky }
        let seq = t.kind == .superseded || t.kind == .withdrawn || t.kind == .flushed ? t.seqBefore : t.seqAfter
        return Evidence(time: t.time, pe: t.pe, seq: seq, sticky: sticky, esi: esi, ip: t.ip,
                        event: event ?? t.kind.rawValue, source: t.source, observation: t.observation)
    }

    private func remember(_ t: Transition) {
        recentEvidence.append(mac: t.mac, evidence(t), kind: t.kind)
    }

    private func remember(_ t: Transition, advert: PEAdvertisement?) {
        recentEvidence.append(mac: t.mac, evidence(t, advert: advert), kind: t.kind)
    }

    /// A rule's open finding for a MAC is one per PE set, except a flap: one per MAC, naming
    /// every PE it went through (a MAC that went .12 → .5 → .7 → .13 is one duplicate).
    private func findingKey(_ rule: Rule, mac: Int32, pes: [Int32], ip: IPAddress?) -> FindingKey {
        FindingKey(rule: rule, mac: mac, pes: rule == .dupMACFlap ? [] : pes.sorted(), ip: ip)
    }

    @discardableResult
    private func report(_ rule: Rule, mac: Int32, pes: [Int32], ip: IPAddress? = nil, time: Int64, since: Int64? = nil, detail: String,
                        evidence: [Evidence], severity: Severity? = nil, count: Int = 1) -> Int {
        let key = findingKey(rule, mac: mac, pes: pes, ip: ip)
        if let index = openFindings[key], time - findings[index].lastTime <= thresholds.window {
            if rule == .dupMACFlap { findings[index].pes = Array(Set(findings[index].pes + pes)).sorted() }
            findings[index].lastTime = max(findings[index].lastTime, time)
            findings[index].count = rule == .dupMACFlap || rule == .dupIPFlap ? findings[index].count + 1 : findings[index].count + count
            findings[index].detail = detail
            if let severity, severity > findings[index].severity { findings[index].severity = severity }
            for item in evidence where findings[index].evidence.count < thresholds.evidenceLimit * 2 {
                if !findings[index].evidence.contains(where: { $0.time == item.time && $0.pe == item.pe && $0.event == item.event }) {
                    findings[index].evidence.append(item)
                }
            }
            return index
        }
        let state = mac >= 0 ? engine.macs[Int(mac)] : nil
        findings.append(Finding(rule: rule, severity: severity ?? rule.defaultSeverity, bd: state?.bd ?? -1, mac: state?.mac, ip: ip,
                                pes: pes, firstTime: min(since ?? time, time), lastTime: time, count: count, detail: detail, evidence: evidence))
        openFindings[key] = findings.count - 1
        return findings.count - 1
    }

    private func pe(_ id: Int32) -> String { id >= 0 ? engine.pes[Int(id)].address.description : "?" }

    private var transitionsSinceSweep = 0

    /// Move times only matter within the detection window: forget MACs and IPs that have been
    /// quiet longer, so memory follows the active ones, not every one ever seen.
    private func sweepMoves(now: Int64) {
        let horizon = now - thresholds.evidenceHorizon
        engine.forgetMoves(before: horizon)
        ipMoveTimes = ipMoveTimes.filter { ($0.value.last ?? .min) >= horizon }
    }

    private func handle(_ t: Transition) {
        transitionsSinceSweep += 1
        if transitionsSinceSweep >= 262_144 {
            transitionsSinceSweep = 0
            sweepMoves(now: t.time)
        }
        switch t.kind {
        case .moved: handleMove(t)
        case .learned:
            remember(t)
            checkRoute(t)
        case .updated:
            if t.seqAfter != t.seqBefore { remember(t) }
            handleUpdate(t)
            checkRoute(t)
        case .rejected:
            remember(t)
            handleRejected(t)
            checkRoute(t)
        case .stickyConflict:
            remember(t)
            let bothSticky = engine.advert(mac: t.mac, pe: t.pe)?.sticky == true
            report(bothSticky ? .stickyConflict : .stickyMoved, mac: t.mac, pes: [t.otherPE, t.pe], time: t.time,
                   detail: bothSticky ? "\(pe(t.pe)) and \(pe(t.otherPE)) both advertise the MAC as sticky"
                       : "sticky MAC of \(pe(t.otherPE)) advertised by \(pe(t.pe)) with seq \(t.seqAfter)",
                   evidence: recentEvidence.last(4, of: t.mac))
        case .aliased:
            remember(t)
            checkESI(t)
        case .superseded, .withdrawn, .flushed:
            remember(t)
        case .ipMoved: handleIPMove(t)
        case .peerDown:
            let due = t.time + thresholds.restartTime
            if let pending = pendingPeerChecks[t.pe], pending >= t.time { return }
            pendingPeerChecks[t.pe] = due
            timers.push(Timer(due: due, kind: .peerDown, mac: -1, pe: t.pe, otherPE: -1, reference: t.time, seq: 0, ip: nil, source: t.source))
        }
    }

    private func handleMove(_ t: Transition) {
        // What the two PEs advertise now: each read walks the MAC's routes, so once.
        let old = engine.advert(mac: t.mac, pe: t.otherPE), new = engine.advert(mac: t.mac, pe: t.pe)
        remember(t, advert: new)
        // MOB-7: the N-th move within M seconds (inclusive, as FRR's dad_count >= max_moves).
        let windowStart = t.time - thresholds.window
        let recent = engine.recentMoves(mac: t.mac).filter { $0.time >= windowStart }
        if recent.count >= thresholds.maxMoves {
            // The PEs it moved to in the window and the one it just left (the owner before the
            // window's first move is outside the window).
            let involved = Array(Set(recent.map(\.to) + [t.otherPE])).sorted()
            let index = report(.dupMACFlap, mac: t.mac, pes: involved, time: t.time, since: recent[0].time, detail: "",
                               evidence: recentEvidence.last(thresholds.recentEvidence, of: t.mac).filter { $0.time >= windowStart && $0.event == "moved" })
            // The history holds the last N moves; each later move of the same flap adds one to the finding.
            let moves = thresholds.maxMoves - 1 + findings[index].count
            let flapPEs = findings[index].pes
            let among = flapPEs.count == 2 ? "between \(pe(flapPEs[0])) and \(pe(flapPEs[1]))"
                : "among \(flapPEs.count) PEs (\(flapPEs.map(pe).joined(separator: ", "))), last \(pe(t.otherPE)) → \(pe(t.pe))"
            findings[index].detail = "\(moves) moves in \(Timestamp.duration(t.time - findings[index].firstTime)) \(among)"
        }
        if t.tie {
            if old != nil {
                // MOB-4: still a tie only if neither withdraws within G; if the old PE does, the
                // move happened without an increment (SEQ-MISSING-ON-MOVE), judged then.
                timers.push(Timer(due: t.time + thresholds.staleGrace, kind: .tieAfterMove, mac: t.mac, pe: t.otherPE, otherPE: t.pe,
                                  reference: t.time, seq: t.seqAfter, ip: nil, source: t.source))
            } else if let new, new.lastChange >= t.time - thresholds.staleGrace {
                // The old PE withdrew: the new one took the MAC with the same sequence (W-13).
                reportMissingIncrement(mac: t.mac, from: t.otherPE, to: t.pe, seq: t.seqAfter, time: t.time)
            }
        } else if t.wrap {
            report(.seqWrap, mac: t.mac, pes: [t.otherPE, t.pe], time: t.time,
                   detail: "sequence wrapped from \(t.seqBefore) to \(t.seqAfter) on a move to \(pe(t.pe))",
                   evidence: recentEvidence.last(2, of: t.mac))
        } else if t.seqAfter > t.seqBefore && t.seqAfter - t.seqBefore > thresholds.jumpInfo {
            let delta = t.seqAfter - t.seqBefore
            report(.seqJump, mac: t.mac, pes: [t.otherPE, t.pe], time: t.time,
                   detail: "move to \(pe(t.pe)) raised seq from \(t.seqBefore) to \(t.seqAfter) (+\(delta))",
                   evidence: recentEvidence.last(2, of: t.mac), severity: delta > thresholds.jumpMinor ? .minor : .info)
        }
        if let old, let new, old.sticky && new.sticky {
            report(.stickyConflict, mac: t.mac, pes: [t.otherPE, t.pe], time: t.time,
                   detail: "\(pe(t.pe)) and \(pe(t.otherPE)) both advertise the MAC as sticky", evidence: recentEvidence.last(2, of: t.mac))
        }
        if let old, let new, !old.esi.isZero, !new.esi.isZero, old.esi != new.esi {
            report(.esiInconsistent, mac: t.mac, pes: [t.otherPE, t.pe], time: t.time,
                   detail: "the MAC is advertised with two non-zero ESIs: \(old.esi) at \(pe(t.otherPE)) and \(new.esi) at \(pe(t.pe))",
                   evidence: recentEvidence.last(2, of: t.mac))
        }
        if old != nil {
            timers.push(Timer(due: t.time + thresholds.staleGrace, kind: .staleAfterMove, mac: t.mac, pe: t.otherPE, otherPE: t.pe,
                              reference: t.time, seq: t.seqAfter, ip: nil, source: t.source))
        }
        // The MAC+IP routes of a move usually follow its MAC-only route: their IPs are read when the timer fires.
        timers.push(Timer(due: t.time + thresholds.hostRouteGrace, kind: .hostRoute, mac: t.mac, pe: t.otherPE, otherPE: t.pe,
                          reference: t.time, seq: t.seqAfter, ip: nil, source: t.source))
        moveCount += 1
        onMove(t)
    }

    private func handleUpdate(_ t: Transition) {
        guard t.seqAfter != t.seqBefore else { return }
        if t.wrap || t.seqAfter == UInt32.max {
            report(.seqWrap, mac: t.mac, pes: [t.pe], time: t.time,
                   detail: t.wrap ? "\(pe(t.pe)) wrapped the sequence from \(t.seqBefore) to \(t.seqAfter)" : "\(pe(t.pe)) reached the last sequence number \(t.seqAfter)",
                   evidence: recentEvidence.last(2, of: t.mac))
        } else if t.seqAfter < t.seqBefore {
            report(.seqDecrease, mac: t.mac, pes: [t.pe], time: t.time,
                   detail: "\(pe(t.pe)) re-advertised the MAC with seq \(t.seqAfter) after \(t.seqBefore)",
                   evidence: recentEvidence.last(2, of: t.mac))
        } else if engine.adverts(mac: t.mac).count == 1 && engine.recentMoves(mac: t.mac).allSatisfy({ t.time - $0.time > thresholds.window }) {
            report(.seqBumpNoMove, mac: t.mac, pes: [t.pe], time: t.time,
                   detail: "\(pe(t.pe)) raised the seq from \(t.seqBefore) to \(t.seqAfter) with no other PE advertising the MAC",
                   evidence: recentEvidence.last(2, of: t.mac))
        }
    }

    /// SEQ-MISSING-ON-MOVE for a move whose new PE did not raise the old PE's sequence.
    private func reportMissingIncrement(mac: Int32, from: Int32, to: Int32, seq: UInt32, time: Int64) {
        report(.seqMissingOnMove, mac: mac, pes: [from, to], time: time,
               detail: "\(pe(to)) took the MAC from \(pe(from)) without raising seq \(seq) (MOB-2 asks for \(seq &+ 1))",
               evidence: recentEvidence.last(3, of: mac))
    }

    private func handleRejected(_ t: Transition) {
        if t.tie {
            // MOB-4: a tie is SEQ-TIE only when both PEs keep advertising for G (W-5); if the
            // holder withdraws first, the move that follows says what happened (W-13).
            timers.push(Timer(due: t.time + thresholds.staleGrace, kind: .seqTie, mac: t.mac, pe: t.otherPE, otherPE: t.pe,
                              reference: t.time, seq: t.seqAfter, ip: nil, source: t.source))
        } else if !SequenceOrder.newer(t.seqAfter, than: t.seqBefore) {
            report(.seqMissingOnMove, mac: t.mac, pes: [t.otherPE, t.pe], time: t.time,
                   detail: "\(pe(t.pe)) advertised the MAC with seq \(t.seqAfter), not above \(pe(t.otherPE))'s \(t.seqBefore): \(pe(t.otherPE)) keeps it",
                   evidence: recentEvidence.last(2, of: t.mac))
        }
        if let winner = engine.advert(mac: t.mac, pe: t.otherPE), let new = engine.advert(mac: t.mac, pe: t.pe), !winner.esi.isZero, !new.esi.isZero, winner.esi != new.esi {
            report(.esiInconsistent, mac: t.mac, pes: [t.otherPE, t.pe], time: t.time,
                   detail: "the MAC is advertised with two non-zero ESIs", evidence: recentEvidence.last(2, of: t.mac))
        }
    }

    private func checkESI(_ t: Transition) {
        guard let mine = engine.advert(mac: t.mac, pe: t.pe), let other = engine.advert(mac: t.mac, pe: t.otherPE), mine.seq != other.seq else { return }
        report(.esiInconsistent, mac: t.mac, pes: [t.otherPE, t.pe], time: t.time,
               detail: "PEs on ESI \(mine.esi) disagree on the seq: \(mine.seq) at \(pe(t.pe)), \(other.seq) at \(pe(t.otherPE))",
               evidence: recentEvidence.last(2, of: t.mac))
    }

    /// Route-level checks after any announcement of a PE's route.
    private func checkRoute(_ t: Transition) {
        if engine.mobilityCommunities(mac: t.mac, pe: t.pe, ip: t.ip) > 1, let route = engine.route(mac: t.mac, pe: t.pe, ip: t.ip) {
            report(.seqMultiCommunity, mac: t.mac, pes: [t.pe], ip: t.ip, time: t.time,
                   detail: "\(pe(t.pe)) sent \(route.mobilityCommunities >= ReplayEngine.maximumCountedMobilityCommunities ? "\(route.mobilityCommunities) or more" : "\(route.mobilityCommunities)") MAC Mobility communities in one route; the highest seq \(route.seq) is used",
                   evidence: [evidence(t)])
        }
        if t.kind != .rejected, engine.hasMixedSequences(mac: t.mac, pe: t.pe) {
            timers.push(Timer(due: t.time + thresholds.staleGrace, kind: .seqMismatch, mac: t.mac, pe: t.pe, otherPE: -1,
                              reference: t.time, seq: 0, ip: nil, source: t.source))
        }
    }

    private func handleIPMove(_ t: Transition) {
        guard let ip = t.ip else { return }
        let oldMAC = engine.macs[Int(t.otherMAC)].mac
        let newMAC = engine.macs[Int(t.mac)].mac
        report(.ipMoveNewMAC, mac: t.mac, pes: [t.pe], ip: ip, time: t.time,
               detail: "\(ip) moved from MAC \(oldMAC) to \(newMAC) at \(pe(t.pe))", evidence: [evidence(t, event: "ip-moved")])
        var times = ipMoveTimes[ip] ?? []
        times.append(t.time)
        times = times.filter { $0 >= t.time - thresholds.window }
        ipMoveTimes[ip] = times
        if times.count > thresholds.maxMoves {
            report(.dupIPFlap, mac: t.mac, pes: [t.pe], ip: ip, time: t.time, since: times[0],
                   detail: "\(ip) changed MAC \(times.count) times in \(Timestamp.duration(t.time - times[0]))", evidence: [evidence(t, event: "ip-moved")])
        }
    }

    // MARK: - Timers

    private func fire(_ timer: Timer) {
        switch timer.kind {
        case .staleAfterMove:
            let state = engine.macs[Int(timer.mac)]
            // MOB-5 asks for a withdrawal only when a strictly higher sequence won (a tie is SEQ-TIE's business).
            guard let old = engine.advert(mac: timer.mac, pe: timer.pe), state.winner != timer.pe, old.lastChange <= timer.reference,
                  SequenceOrder.newer(state.winnerSeq, than: old.seq) else { return }
            // A flapping MAC explains its own stale routes; the flap finding carries them.
            if let flap = openFindings[findingKey(.dupMACFlap, mac: timer.mac, pes: [], ip: nil)], findings[flap].pes.contains(timer.pe),
               timer.due - findings[flap].lastTime <= thresholds.window { return }
            var items = recentEvidence.last(thresholds.recentEvidence, of: timer.mac).filter { $0.time >= timer.reference - thresholds.window }.suffix(4).map { $0 }
            items.append(Evidence(time: timer.due, pe: timer.pe, seq: old.seq, sticky: old.sticky, esi: old.esi, ip: nil,
                                  event: "still-advertised", source: engine.routes(mac: timer.mac, pe: timer.pe).first?.source ?? timer.source, observation: -1))
            report(.staleAfterMove, mac: timer.mac, pes: [timer.pe, state.winner], time: timer.reference,
                   detail: "\(pe(timer.pe)) still advertises seq \(old.seq) \(Timestamp.duration(timer.due - timer.reference)) after \(pe(state.winner)) won with seq \(state.winnerSeq)",
                   evidence: items)
        case .hostRoute:
            let state = engine.macs[Int(timer.mac)]
            guard state.winner != timer.pe, let winner = engine.advert(mac: timer.mac, pe: state.winner) else { return }
            // One of these per move: the winner's IPs gathered without building route states.
            var ips: [IPAddress] = []
            engine.forEachIP(mac: timer.mac, pe: winner.pe) { if !ips.contains($0) { ips.append($0) } }
            if ips.count > 1 { ips.sort() }
            for ip in ips {
                guard engine.hostRoute(ip, isAdvertisedBy: timer.pe) else { continue }
                report(.staleHostRoute, mac: timer.mac, pes: [timer.pe, timer.otherPE], ip: ip, time: timer.reference,
                   detail: "VPN host route \(ip)/\(ip.bitLength) still points at \(pe(timer.pe)) \(Timestamp.duration(timer.due - timer.reference)) after the MAC moved to \(pe(timer.otherPE))",
                   evidence: recentEvidence.last(2, of: timer.mac) + [Evidence(time: timer.due, pe: timer.pe, seq: 0, sticky: false, esi: .zero, ip: ip,
                                                                                 event: "host-route-still-present", source: timer.source, observation: -1)])
            }
        case .peerDown:
            pendingPeerChecks[timer.pe] = nil
            let stale = engine.liveAdvertisements(of: timer.pe, since: timer.reference)
            guard !stale.isEmpty else { return }
            let sample = stale.prefix(thresholds.evidenceLimit).compactMap { index -> Evidence? in
                let state = engine.macs[Int(index)]
                guard let advert = engine.advert(mac: index, pe: timer.pe) else { return nil }
                let routes = engine.routes(mac: index, pe: timer.pe)
                return Evidence(time: routes.map(\.lastUpdate).max() ?? timer.reference, pe: timer.pe, seq: advert.seq, sticky: advert.sticky,
                                esi: advert.esi, ip: nil, event: "still-advertised \(state.mac)", source: routes.first?.source ?? timer.source, observation: -1)
            }
            // Where the routes are still held: the inputs (dumps, BMP streams) that still carry them.
            let holders = Set(stale.compactMap { engine.routes(mac: $0, pe: timer.pe).first?.source.input }).sorted()
            let index = report(.stalePeerDown, mac: -1, pes: [timer.pe], time: timer.reference,
                   detail: "\(stale.count) MAC routes of \(pe(timer.pe)) still present \(Timestamp.duration(timer.due - timer.reference)) after its session went down"
                       + ", held in the dumps of input(s) " + holders.map { "#\($0)" }.joined(separator: ", "),
                   evidence: [Evidence(time: timer.reference, pe: timer.pe, seq: 0, sticky: false, esi: .zero, ip: nil, event: "session-down",
                                       source: timer.source, observation: -1)] + sample, count: stale.count)
            let states = stale.map { engine.macs[Int($0)] }
            findings[index].coveredMACs = Array(Set(findings[index].coveredMACs + states.map(\.mac))).sorted()
            findings[index].coveredBDs = Array(Set(findings[index].coveredBDs + states.map(\.bd))).sorted()
        case .seqTie, .tieAfterMove:
            let holder = engine.advert(mac: timer.mac, pe: timer.pe), challenger = engine.advert(mac: timer.mac, pe: timer.otherPE)
            if let holder, let challenger, holder.seq == timer.seq, challenger.seq == timer.seq {
                let winner = engine.macs[Int(timer.mac)].winner
                report(.seqTie, mac: timer.mac, pes: [timer.pe, timer.otherPE], time: timer.reference,
                       detail: "\(pe(timer.pe)) and \(pe(timer.otherPE)) both still advertise the MAC with seq \(timer.seq) "
                           + "\(Timestamp.duration(timer.due - timer.reference)) later; \(pe(winner)) holds it on the lower address",
                       evidence: recentEvidence.last(4, of: timer.mac).filter { $0.time >= timer.reference - thresholds.window })
            } else if timer.kind == .tieAfterMove, holder == nil, challenger?.seq == timer.seq {
                reportMissingIncrement(mac: timer.mac, from: timer.pe, to: timer.otherPE, seq: timer.seq, time: timer.reference)
            }
        case .seqMismatch:
            guard engine.hasMixedSequences(mac: timer.mac, pe: timer.pe) else { return }
            let routes = engine.routes(mac: timer.mac, pe: timer.pe)
            let detail = routes.map { "\($0.ip.map { "\($0)" } ?? "MAC-only"): seq \($0.seq)" }.joined(separator: ", ")
            report(.macIPSeqMismatch, mac: timer.mac, pes: [timer.pe], time: timer.reference,
                   detail: "\(pe(timer.pe)) advertises the MAC's routes with different seqs (\(detail))",
                   evidence: routes.map { Evidence(time: $0.lastUpdate, pe: timer.pe, seq: $0.seq, sticky: $0.sticky, esi: $0.esi, ip: $0.ip,
                                                          event: "advertised", source: $0.source, observation: -1) })
        }
    }
}

struct Timer {
    enum Kind: Int, CaseIterable { case staleAfterMove, hostRoute, peerDown, seqMismatch, seqTie, tieAfterMove }
    var due: Int64
    var kind: Kind
    var mac: Int32
    var pe: Int32
    var otherPE: Int32
    var reference: Int64
    var seq: UInt32
    var ip: IPAddress?
    var source: SourceRef
    var order = 0
}

/// Timers in firing order: by due time, then by insertion (deterministic). Each kind's delay is
/// fixed, so a kind's timers arrive in due order as input time advances: they wait in a queue
/// per kind, and the next timer is the earliest of a few queue heads, not a heap path of swaps
/// of 80-byte timers. A timer due before the last of its kind (input time went back) waits in
/// a heap instead.
struct TimerQueue {
    private var queues = [[Timer]](repeating: [], count: Timer.Kind.allCases.count)
    private var heads = [Int](repeating: 0, count: Timer.Kind.allCases.count)
    private var late = TimerHeap()
    private var inserted = 0

    var count: Int { zip(queues, heads).reduce(late.count) { $0 + $1.0.count - $1.1 } }

    mutating func push(_ timer: Timer) {
        var t = timer
        inserted += 1
        t.order = inserted
        let k = t.kind.rawValue
        if heads[k] < queues[k].count, t.due < queues[k][queues[k].count - 1].due {
            late.push(t)
        } else {
            queues[k].append(t)
        }
    }

    /// The earliest timer if it is due at or before `time`, removed.
    mutating func pop(dueBy time: Int64) -> Timer? {
        var best = -1  // a queue, or queues.count for the heap
        var bestKey = (time, Int.max)
        for k in queues.indices where heads[k] < queues[k].count {
            let t = queues[k][heads[k]]
            if (t.due, t.order) <= bestKey { best = k; bestKey = (t.due, t.order) }
        }
        if let t = late.peek(), (t.due, t.order) <= bestKey { best = queues.count }
        if best < 0 { return nil }
        if best == queues.count { return late.pop() }
        let timer = queues[best][heads[best]]
        heads[best] += 1
        if heads[best] == queues[best].count {
            queues[best].removeAll(keepingCapacity: true); heads[best] = 0
        } else if heads[best] >= 4096 && heads[best] * 2 >= queues[best].count {
            queues[best].removeFirst(heads[best]); heads[best] = 0  // memory stays bounded by the live timers
        }
        return timer
    }
}

/// A binary min-heap on (due, insertion order), for timers that arrive out of due order.
struct TimerHeap {
    private var items: [Timer] = []
    private func less(_ a: Timer, _ b: Timer) -> Bool { (a.due, a.order) < (b.due, b.order) }
    var count: Int { items.count }
    func peek() -> Timer? { items.first }
    mutating func push(_ timer: Timer) {
        items.append(timer)
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard less(items[i], items[parent]) else { break }
            items.swapAt(i, parent); i = parent
        }
    }
    mutating func pop() -> Timer? {
        guard !items.isEmpty else { return nil }
        items.swapAt(0, items.count - 1)
        let top = items.removeLast()
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            var smallest = i
            if l < items.count && less(items[l], items[smallest]) { smallest = l }
            if r < items.count && less(items[r], items[smallest]) { smallest = r }
            if smallest == i { break }
            items.swapAt(i, smallest); i = smallest
        }
        return top
    }
}
