import EVPNModel
import Replay

/// Runs the detectors of the anomaly catalogue (`Rules/`, one per rule) over the replay engine's
/// transitions. Checks that need "G seconds later" (stale routes) are timers fired as input time
/// passes them.
public final class Analyzer {
    public let engine: ReplayEngine
    public let thresholds: Thresholds
    public var findings: [Finding] { detection.findings }
    /// Every move is handed here as it happens (the store writes it); nothing is kept, so
    /// memory does not grow with the number of updates.
    public var onMove: (Transition) -> Void = { _ in }
    public private(set) var moveCount = 0

    private let detection: Detection
    private let dupMACFlap: DupMACFlap
    private let dupIPFlap = DupIPFlap()
    private let staleAfterMove = StaleAfterMove()
    private let stalePeerDown = StalePeerDown()
    private let staleHostRoute = StaleHostRoute()
    private let seqDecrease = SeqDecrease()
    private let seqTie = SeqTie()
    private let seqJump = SeqJump()
    private let seqMissingOnMove = SeqMissingOnMove()
    private let seqBumpNoMove: SeqBumpNoMove
    private let seqWrap = SeqWrap()
    private let seqMultiCommunity = SeqMultiCommunity()
    private let macIPSeqMismatch = MACIPSeqMismatch()
    private let stickyMoved = StickyMoved()
    private let stickyConflict = StickyConflict()
    private let ipMoveNewMAC = IPMoveNewMAC()
    private let esiInconsistent = ESIInconsistent()

    public init(engine: ReplayEngine, thresholds: Thresholds = Thresholds()) {
        self.engine = engine
        self.thresholds = thresholds
        detection = Detection(engine: engine, thresholds: thresholds)
        dupMACFlap = DupMACFlap(thresholds: thresholds)
        seqBumpNoMove = SeqBumpNoMove(moves: dupMACFlap.history)
        engine.useMobilityWindow(thresholds.window)
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
        while let timer = detection.timers.pop(dueBy: time) { fire(timer) }
    }

    /// Ends the run: checks due by the end of the data fire; later ones cannot be judged.
    /// `window`: keep only findings whose span overlaps it (`--since`/`--until`).
    public func finish(window: ClosedRange<Int64>? = nil) -> [Incident] {
        advance(to: engine.now)
        if let window {
            detection.findings.removeAll { $0.lastTime < window.lowerBound || $0.firstTime > window.upperBound }
        }
        detection.findings.sort { a, b in
            let pa = a.pes.map(String.init).joined(separator: ","), pb = b.pes.map(String.init).joined(separator: ",")
            return (a.firstTime, a.rule.rawValue, a.mac?.value ?? 0, a.ip?.low ?? 0, pa)
                < (b.firstTime, b.rule.rawValue, b.mac?.value ?? 0, b.ip?.low ?? 0, pb)
        }
        for i in detection.findings.indices { detection.findings[i].id = i + 1 }
        return IncidentBuilder(thresholds: thresholds, engine: engine).build(&detection.findings)
    }

    // MARK: - Dispatch

    private var transitionsSinceSweep = 0

    /// Move and change times only matter within the detection window: forget MACs and IPs that
    /// have been quiet longer, so memory follows the active ones, not every one ever seen.
    private func forgetQuiet(now: Int64) {
        let horizon = now - thresholds.evidenceHorizon
        engine.forgetDepartures(before: horizon)
        dupMACFlap.history.forget(before: horizon)
        dupIPFlap.forget(before: horizon)
    }

    /// Remembers the transition as evidence, then hands it to the detectors that judge its kind,
    /// in the catalogue's order (a flap before the sequence rules of the same move).
    private func handle(_ t: Transition) {
        transitionsSinceSweep += 1
        if transitionsSinceSweep >= 262_144 {
            transitionsSinceSweep = 0
            forgetQuiet(now: t.time)
        }
        switch t.kind {
        case .moved:
            let sides = MoveSides(
                old: engine.advert(mac: t.mac, pe: t.otherPE), new: engine.advert(mac: t.mac, pe: t.pe))
            detection.recentEvidence.append(mac: t.mac, detection.evidence(t, advert: sides.new), kind: t.kind)
            detectMove(t, sides)
            moveCount += 1
            onMove(t)
            return
        case .updated:
            if t.seqAfter != t.seqBefore { remember(t) }
        case .learned, .rejected, .stickyConflict, .aliased, .superseded, .withdrawn, .flushed:
            remember(t)
            if t.kind == .superseded || t.kind == .withdrawn || t.kind == .flushed { return }  // evidence only
        case .ipMoved, .peerDown:
            break
        }
        detect(t)
    }

    private func remember(_ t: Transition) {
        detection.recentEvidence.append(mac: t.mac, detection.evidence(t), kind: t.kind)
    }

    private func detectMove(_ t: Transition, _ sides: MoveSides) {
        let d = detection
        dupMACFlap.onMove(t, sides, in: d)
        seqTie.onMove(t, sides, in: d)
        seqMissingOnMove.onMove(t, sides, in: d)
        seqWrap.onMove(t, sides, in: d)
        seqJump.onMove(t, sides, in: d)
        stickyConflict.onMove(t, sides, in: d)
        esiInconsistent.onMove(t, sides, in: d)
        staleAfterMove.onMove(t, sides, in: d)
        staleHostRoute.onMove(t, sides, in: d)
    }

    /// The detectors that judge each kind of transition, in the catalogue's order. Each detector
    /// also checks the kind itself; this table only spares the others a call per transition.
    private func detect(_ t: Transition) {
        let d = detection
        switch t.kind {
        case .learned:
            seqMultiCommunity.observe(t, in: d)
            macIPSeqMismatch.observe(t, in: d)
        case .updated:
            seqWrap.observe(t, in: d)
            seqDecrease.observe(t, in: d)
            seqBumpNoMove.observe(t, in: d)
            seqMultiCommunity.observe(t, in: d)
            macIPSeqMismatch.observe(t, in: d)
        case .rejected:
            seqTie.observe(t, in: d)
            seqMissingOnMove.observe(t, in: d)
            esiInconsistent.observe(t, in: d)
            seqMultiCommunity.observe(t, in: d)
        case .stickyConflict:
            stickyMoved.observe(t, in: d)
            stickyConflict.observe(t, in: d)
        case .aliased:
            esiInconsistent.observe(t, in: d)
        case .peerDown:
            stalePeerDown.observe(t, in: d)
        case .ipMoved:
            ipMoveNewMAC.observe(t, in: d)
            dupIPFlap.observe(t, in: d)
        case .moved, .superseded, .withdrawn, .flushed:
            break
        }
    }

    /// A timer goes to its rule's detector: every rule is named here, so a new rule cannot be
    /// left out.
    private func fire(_ timer: Timer) {
        let d = detection
        switch timer.kind.rule {
        case .dupMACFlap: dupMACFlap.fire(timer, in: d)
        case .dupIPFlap: dupIPFlap.fire(timer, in: d)
        case .staleAfterMove: staleAfterMove.fire(timer, in: d)
        case .stalePeerDown: stalePeerDown.fire(timer, in: d)
        case .staleHostRoute: staleHostRoute.fire(timer, in: d)
        case .seqDecrease: seqDecrease.fire(timer, in: d)
        case .seqTie: seqTie.fire(timer, in: d)
        case .seqJump: seqJump.fire(timer, in: d)
        case .seqMissingOnMove: seqMissingOnMove.fire(timer, in: d)
        case .seqBumpNoMove: seqBumpNoMove.fire(timer, in: d)
        case .seqWrap: seqWrap.fire(timer, in: d)
        case .seqMultiCommunity: seqMultiCommunity.fire(timer, in: d)
        case .macIPSeqMismatch: macIPSeqMismatch.fire(timer, in: d)
        case .stickyMoved: stickyMoved.fire(timer, in: d)
        case .stickyConflict: stickyConflict.fire(timer, in: d)
        case .ipMoveNewMAC: ipMoveNewMAC.fire(timer, in: d)
        case .esiInconsistent: esiInconsistent.fire(timer, in: d)
        }
    }
}
