import Analysis
import ArgumentParser
import EVPNModel
import Replay

func parseDuration(_ text: String, option: String) throws -> TimeSpan {
    guard let value = Timestamp.parseDuration(text) else {
        throw CLIUsageError(message: "\(option): '\(text)' is not a duration (examples: 180s, 3m, 30)")
    }
    return value
}

func parseMAC(_ text: String, option: String) throws -> MACAddress {
    guard let value = MACAddress(text) else {
        throw CLIUsageError(message: "\(option): '\(text)' is not a MAC address")
    }
    return value
}

func parseIP(_ text: String, option: String) throws -> IPAddress {
    guard let value = IPAddress(text) else { throw CLIUsageError(message: "\(option): '\(text)' is not an IP address") }
    return value
}

func parseTime(_ text: String, option: String) throws -> Int64 {
    guard let value = Timestamp.parse(text) else {
        throw CLIUsageError(message: "\(option): '\(text)' is not a time (2026-11-24T02:14:00Z or epoch seconds)")
    }
    return value
}

/// A time window on the command line (`analyze`, `events`): parsed, and refused when empty.
struct TimeWindowOptions: ParsableArguments {
    @Option(
        help: """
            From this time on (RFC 3339, e.g. 2026-11-24T02:00Z or +01:00, or epoch seconds); earlier input still \
            builds the state.
            """)
    var since: String?

    @Option(help: "Up to this time; analyze replays past it only as long as the detectors' windows need.")
    var until: String?

    func times() throws -> (since: Int64?, until: Int64?) {
        let sinceTime = try since.map { try parseTime($0, option: "--since") }
        let untilTime = try until.map { try parseTime($0, option: "--until") }
        if let sinceTime, let untilTime, sinceTime >= untilTime {
            throw CLIUsageError(
                message: "--since \(Timestamp.format(sinceTime)) is not before --until \(Timestamp.format(untilTime))")
        }
        return (sinceTime, untilTime)
    }
}

/// Replay and detector settings shared by analyze and replay.
struct ReplayOptions: ParsableArguments {
    @Option(
        help: "Originating PE rule (ID-1): rd, originator, nexthop or peer. Default: the spec's order of preference.")
    var peKey: PEKeyRule?

    @Option(help: "Broadcast domain key (ID-2): rt or rd-number.")
    var bdKey: BDKeyRule = .rt

    func engineOptions() throws -> ReplayEngine.Options {
        var options = ReplayEngine.Options()
        options.peKey = peKey
        options.bdKey = bdKey
        return options
    }
}

extension PEKeyRule: ExpressibleByArgument {}
extension BDKeyRule: ExpressibleByArgument {}

struct ThresholdOptions: ParsableArguments {
    @Option(
        help: "Moves of one MAC that make a duplicate (MOB-7): the N-th move within --window reports it (1 to 10000).")
    var maxMoves: Int = 5
    @Option(help: "Duplicate-detection window (MOB-7).")
    var window: String = "180s"
    @Option(help: "How long an old PE may keep advertising after a move before STALE-AFTER-MOVE.")
    var staleGrace: String = "30s"
    @Option(help: "Graceful-restart time before STALE-PEER-DOWN.")
    var restartTime: String = "120s"
    @Option(help: "How long a VPN host route may point at the old PE after a move (STALE-HOST-ROUTE).")
    var hostRouteGrace: String = "30s"
    @Option(help: "Findings this close in time with the same PEs form one incident.")
    var incidentGap: String = "60s"
    @Option(help: "A sequence jump larger than this on a move is minor rather than info (SEQ-JUMP).")
    var jumpMinor: UInt32 = 1000

    func thresholds() throws -> Thresholds {
        var t = Thresholds()
        guard (1...10_000).contains(maxMoves) else {
            throw CLIUsageError(message: "--max-moves must be between 1 and 10000")
        }
        t.maxMoves = maxMoves
        t.window = try parseDuration(window, option: "--window")
        guard t.window > TimeSpan(microseconds: 0) else {
            throw CLIUsageError(message: "--window must be longer than 0 s")
        }
        t.staleGrace = try parseDuration(staleGrace, option: "--stale-grace")
        t.restartTime = try parseDuration(restartTime, option: "--restart-time")
        t.hostRouteGrace = try parseDuration(hostRouteGrace, option: "--host-route-grace")
        t.incidentGap = try parseDuration(incidentGap, option: "--incident-gap")
        t.jumpMinor = jumpMinor
        return t
    }

    var described: [(String, String)] {
        [
            ("threshold.max-moves", "\(maxMoves)"), ("threshold.window", window), ("threshold.stale-grace", staleGrace),
            ("threshold.restart-time", restartTime), ("threshold.host-route-grace", hostRouteGrace),
            ("threshold.incident-gap", incidentGap), ("threshold.jump-minor", "\(jumpMinor)"),
        ]
    }
}
