import EVPNModel
import Replay

/// Notes about the inputs, not the fabric (docs/rules.md, data quality): an analysis that finds
/// nothing must say whether the fabric was clean or the data could not have shown it.
public enum DataQualityRule: String, Sendable, CaseIterable {
    case withdrawOnly = "DQ-WITHDRAW-ONLY"
    case coarseTime = "DQ-COARSE-TIME"
    case timeBackwards = "DQ-TIME-BACKWARDS"
    case peConflict = "DQ-PE-CONFLICT"
    case noEVPN = "DQ-NO-EVPN"
    case noPE = "DQ-NO-PE"
}

public struct DataQualityNote: Sendable {
    public var rule: DataQualityRule
    /// The input file or observation point the note is about ("all inputs" for run-wide notes).
    public var subject: String
    public var count: Int
    /// Where to look first: an input and byte offset, when there is one.
    public var input: Int32?
    public var offset: Int64?
    public var detail: String
}

/// What one input's reader counted, for the notes about time.
public struct InputTimes: Sendable {
    public var id: Int32
    public var path: String
    public var stats: ReaderStats
    public init(id: Int32, path: String, stats: ReaderStats) { self.id = id; self.path = path; self.stats = stats }
}

public enum DataQuality {
    /// DQ-WITHDRAW-ONLY: at least this many MAC/IP events at one observation point …
    public static let withdrawOnlyMinimumEvents = 10
    /// … of which at least this share are withdrawals of routes it never announced.
    public static let withdrawOnlyShare = 0.9

    public static func assess(engine: ReplayEngine, inputs: [InputTimes]) -> [DataQualityNote] {
        var notes: [DataQualityNote] = []
        let counters = engine.counters
        if counters.evpnRoutes == 0 {
            notes.append(
                DataQualityNote(
                    rule: .noEVPN, subject: "all inputs", count: 0, input: nil, offset: nil,
                    detail: "no l2vpn-evpn route in any input: nothing about MAC mobility can be concluded "
                        + "(\(counters.otherFamilyEvents) route events of other families)"))
        }
        for (id, counts) in engine.observationCounts.enumerated() {
            let events = counts.announcements + counts.withdrawals
            guard events >= withdrawOnlyMinimumEvents,
                Double(counts.unknownWithdrawals) >= withdrawOnlyShare * Double(events)
            else { continue }
            notes.append(
                DataQualityNote(
                    rule: .withdrawOnly, subject: describe(engine.observations[id]), count: counts.unknownWithdrawals,
                    input: counts.firstSource?.input, offset: counts.firstSource?.offset,
                    detail:
                        "\(counts.unknownWithdrawals) of \(events) MAC/IP route events are withdrawals of routes "
                        + "never announced "
                        + "here (FRR 8.4.4's BMP sends EVPN announcements as MP_UNREACH): this observation point "
                        + "shows no MAC"
                ))
        }
        if counters.noPEIdentified > 0 {
            notes.append(
                DataQualityNote(
                    rule: .noPE, subject: "all inputs", count: counters.noPEIdentified, input: nil, offset: nil,
                    detail:
                        "\(counters.noPEIdentified) MAC/IP announcements name no PE (no type-1 RD, ORIGINATOR_ID, "
                        + "next hop "
                        + "or peer identifier): they are left out of mobility"))
        }
        if counters.peConflicts > 0, let first = counters.firstPEConflict {
            notes.append(
                DataQualityNote(
                    rule: .peConflict, subject: "all inputs", count: counters.peConflicts, input: first.source.input,
                    offset: first.source.offset,
                    detail:
                        "\(counters.peConflicts) routes carry a type-1 RD naming one PE and an ORIGINATOR_ID naming "
                        + "another "
                        + "(first: RD \(first.rd), ORIGINATOR_ID \(first.originator)); the RD was used (--pe-key "
                        + "changes it)"
                ))
        }
        for input in inputs {
            if input.stats.coarseUpdates > 1 {
                notes.append(
                    DataQualityNote(
                        rule: .coarseTime, subject: input.path, count: input.stats.coarseUpdates, input: input.id,
                        offset: 0,
                        detail:
                            "\(input.stats.coarseUpdates) BGP4MP records with one-second timestamps: the order of "
                            + "events "
                            + "inside one second is unknown (MOB-15) and durations under a second cannot be measured"))
            }
            if input.stats.timeStepsBack > 0 {
                notes.append(
                    DataQualityNote(
                        rule: .timeBackwards, subject: input.path, count: input.stats.timeStepsBack, input: input.id,
                        offset: input.stats.firstStepBackOffset,
                        detail:
                            "time goes back by more than a second \(input.stats.timeStepsBack) time(s): the clock "
                            + "stepped "
                            + "or files were joined out of order, so windows may be wrong"))
            }
        }
        return notes
    }

    /// True when no input can support a conclusion: no EVPN route at all, or every observation
    /// point that carried MAC/IP routes is withdraw-only.
    public static func isBlind(_ notes: [DataQualityNote], engine: ReplayEngine) -> Bool {
        if notes.contains(where: { $0.rule == .noEVPN }) { return true }
        let carrying = engine.observationCounts.filter { $0.announcements + $0.withdrawals > 0 }.count
        let withdrawOnly = notes.filter { $0.rule == .withdrawOnly }.count
        return carrying > 0 && withdrawOnly == carrying
    }

    public static func describe(_ op: ObservationPoint) -> String {
        // An MRT observation point's router is the collector's own address (BGP4MP's local IP).
        let at = op.table == .mrt ? "collector \(IPAddress(v4: op.router))" : "BMP router \(op.router)"
        return "\(op.table.name) peer \(op.peerIP) AS\(op.peerAS) at \(at)"
    }
}
