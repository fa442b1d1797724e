import EVPNModel
import Replay

/// DUP-MAC-FLAP (RFC 7432 §15.1 duplicate detection, MOB-7): one MAC moved N times within M
/// seconds. The N-th move opens the finding; later moves within M seconds of the last add to it.
/// One finding per MAC and flap, naming every PE the MAC went to.
/// Thresholds: `maxMoves` (N, inclusive as FRR's `dad_count >= max_moves`), `window` (M).
final class DupMACFlap: Detector {
    static let rule = Rule.dupMACFlap
    /// The MAC's last N moves: sized from N, so a limit of N always has N moves to look at.
    let history: MoveHistory

    init(thresholds: Thresholds) { history = MoveHistory(keep: max(thresholds.maxMoves, 1)) }

    func onMove(_ t: Transition, _ sides: MoveSides, in detection: Detection) {
        let thresholds = detection.thresholds
        let windowStart = t.time - thresholds.window
        let recent = history.record(t).filter { $0.time >= windowStart }
        guard recent.count >= thresholds.maxMoves else { return }
        // The PEs it moved to in the window and the one it just left (the owner before the
        // window's first move is outside the window).
        let involved = Array(Set(recent.map(\.to) + [t.otherPE])).sorted()
        let evidence = detection.recent(thresholds.recentEvidence, of: t.mac).filter {
            $0.time >= windowStart && $0.event == "moved"
        }
        let index = detection.report(
            .dupMACFlap, mac: t.mac, pes: involved, time: t.time, since: recent[0].time, detail: "",
            evidence: evidence)
        // The history holds the last N moves; each later move of the same flap adds one to the finding.
        let finding = detection.findings[index]
        let moves = thresholds.maxMoves - 1 + finding.count
        let pe = detection.pe
        let among =
            finding.pes.count == 2
            ? "between \(pe(finding.pes[0])) and \(pe(finding.pes[1]))"
            : "among \(finding.pes.count) PEs (\(finding.pes.map(pe).joined(separator: ", "))), last "
                + "\(pe(t.otherPE)) → \(pe(t.pe))"
        detection.findings[index].detail =
            "\(moves) moves in \(TimeSpan.between(finding.firstTime, t.time)) \(among)"
    }
}

/// One move of a MAC as DUP-MAC-FLAP keeps it (the flap names its PEs).
public struct RecordedMove: Sendable, Equatable {
    public var time: Int64
    public var from: PEID
    public var to: PEID
}

/// The last moves of the MACs that moved lately, oldest first. Quiet MACs are forgotten
/// (`forget(before:)`), so memory follows the MACs moving now, not every MAC that ever moved.
final class MoveHistory {
    private let keep: Int
    private var movesByMAC: [MACID: [RecordedMove]] = [:]

    init(keep: Int) { self.keep = keep }

    /// Adds the move of `t` and returns the MAC's moves (one hash lookup: a flap is judged on every move).
    @discardableResult
    func record(_ t: Transition) -> [RecordedMove] {
        Self.append(
            RecordedMove(time: t.time, from: t.otherPE, to: t.pe), to: &movesByMAC[t.mac, default: []], keep: keep)
    }

    private static func append(_ move: RecordedMove, to moves: inout [RecordedMove], keep: Int) -> [RecordedMove] {
        moves.append(move)
        if moves.count > keep { moves.removeFirst(moves.count - keep) }
        return moves
    }

    func moves(of mac: MACID) -> [RecordedMove] { movesByMAC[mac] ?? [] }

    /// Drops the MACs whose last move is before `time` (no rule looks back that far).
    func forget(before time: Int64) {
        movesByMAC = movesByMAC.filter { ($0.value.last?.time ?? .min) >= time }
    }

    var count: Int { movesByMAC.count }
}
