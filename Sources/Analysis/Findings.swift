import Replay
import EVPNModel

public enum Severity: Int, Comparable, Sendable, CaseIterable {
    case info = 0, minor, major, critical
    public static func < (a: Severity, b: Severity) -> Bool { a.rawValue < b.rawValue }
    public var name: String { ["info", "minor", "major", "critical"][rawValue] }
    /// What a MAC of this severity weighs in an incident's impact (MACs × weight): 1, 4, 16, 64.
    public var impactWeight: Int { 1 << (2 * rawValue) }
    public init?(name: String) {
        guard let index = ["info", "minor", "major", "critical"].firstIndex(of: name) else { return nil }
        self.init(rawValue: index)
    }
}

/// The anomaly catalogue of docs/evpn-mobility.md §5.
public enum Rule: String, Sendable, CaseIterable {
    case dupMACFlap = "DUP-MAC-FLAP"
    case dupIPFlap = "DUP-IP-FLAP"
    case staleAfterMove = "STALE-AFTER-MOVE"
    case stalePeerDown = "STALE-PEER-DOWN"
    case staleHostRoute = "STALE-HOST-ROUTE"
    case seqDecrease = "SEQ-DECREASE"
    case seqTie = "SEQ-TIE"
    case seqJump = "SEQ-JUMP"
    case seqMissingOnMove = "SEQ-MISSING-ON-MOVE"
    case seqBumpNoMove = "SEQ-BUMP-NO-MOVE"
    case seqWrap = "SEQ-WRAP"
    case seqMultiCommunity = "SEQ-MULTI-COMMUNITY"
    case macIPSeqMismatch = "MAC-IP-SEQ-MISMATCH"
    case stickyMoved = "STICKY-MOVED"
    case stickyConflict = "STICKY-CONFLICT"
    case ipMoveNewMAC = "IP-MOVE-NEW-MAC"
    case esiInconsistent = "ESI-INCONSISTENT"

    public var defaultSeverity: Severity {
        switch self {
        case .dupMACFlap, .dupIPFlap, .stickyMoved, .stickyConflict: return .critical
        case .staleAfterMove, .stalePeerDown, .staleHostRoute, .seqDecrease, .seqTie, .seqMissingOnMove: return .major
        case .seqBumpNoMove, .seqWrap, .seqMultiCommunity, .macIPSeqMismatch, .esiInconsistent: return .minor
        case .seqJump, .ipMoveNewMAC: return .info
        }
    }
}

/// One advertisement or event quoted as evidence.
public struct Evidence: Sendable {
    public var time: Int64
    public var pe: PEID
    public var seq: UInt32
    public var sticky: Bool
    public var esi: ESI
    public var ip: IPAddress?
    public var event: String
    public var source: SourceRef
    public var observation: ObservationID
}

public struct Finding: Sendable {
    public var id = 0
    public var rule: Rule
    public var severity: Severity
    public var bd: Int32
    public var mac: MACAddress?
    public var ip: IPAddress?
    public var pes: [PEID]
    public var firstTime: Int64
    public var lastTime: Int64
    public var count: Int
    public var detail: String
    public var evidence: [Evidence] = []
    public var incident = 0
    /// The MACs and broadcast domains a finding about many MACs covers (STALE-PEER-DOWN: every
    /// MAC the dead PE still advertises), so its incident lists them.
    public var coveredMACs: [MACAddress] = []
    public var coveredBDs: [Int32] = []
}

public struct Incident: Sendable {
    public var id: Int
    public var kind: IncidentKind
    public var title: String
    public var severity: Severity
    public var firstTime: Int64
    public var lastTime: Int64
    public var pes: [PEID]
    public var bds: [Int32]
    public var findingIDs: [Int]
    public var macs: [MACAddress]
    public var rules: [Rule]
    /// MACs affected × the severity's weight: the report's and the summary's order.
    public var impact: Int
    public var cause: String { kind.cause }
    public var nextStep: String { kind.nextStep }
}

/// Detector thresholds; the defaults are the spec's (RFC 7432 §15.1 for MOB-7).
public struct Thresholds: Sendable {
    public var maxMoves = 5
    public var window = TimeSpan.seconds(180)
    public var staleGrace = TimeSpan.seconds(30)
    public var restartTime = TimeSpan.seconds(120)
    public var hostRouteGrace = TimeSpan.seconds(30)
    public var jumpInfo: UInt32 = 1
    public var jumpMinor: UInt32 = 1000
    public var incidentGap = TimeSpan.seconds(60)
    public var loopMinimumMACs = 3
    public var evidenceLimit = 24
    /// Recent events remembered per MAC to quote when a finding opens (a flap needs N+1 moves).
    public var recentEvidence = 16
    /// How far back a finding may quote evidence: the longest of the windows and graces.
    public var evidenceHorizon: TimeSpan { max(window, staleGrace, hostRouteGrace, restartTime) }
    public init() {}
}
