import Analysis
import EVPNModel
import Replay
import TestSupport
import Testing

/// docs/evpn-mobility.md §7, each example built into real MRT bytes and run through the decoders.
let m = "aa:aa:aa:11:11:11"

/// PE2 and PE3 advertising `m` in turn every 20 s with increasing sequence numbers (W-3).
func alternating(_ count: Int) -> [Step] {
    var steps: [Step] = []
    for k in 0..<count {
        let pe: Int = k % 2 == 0 ? 2 : 3
        steps.append(Step(at: Double(20 * k), pe: pe, mac: m, seq: UInt32(k + 1)))
    }
    return steps
}

@Test("W-1 clean move (MOB-2, MOB-3, MOB-5): learned, moved 0→1, superseded, withdrawn, no finding")
func w1CleanMove() throws {
    let run = try analyze([
        Step(at: 0, pe: 1, mac: m), Step(at: 10, pe: 2, mac: m, seq: 1), Step(at: 11, pe: 1, mac: m, withdraw: true),
        Step(at: 120, pe: 3, mac: "00:00:00:00:00:01", keepalive: true),
    ])
    #expect(run.transitions(.learned).map(\.pe) == [run.pe(1)])
    let move = try #require(run.transitions(.moved).first)
    #expect(move.otherPE == run.pe(1) && move.pe == run.pe(2) && move.seqBefore == 0 && move.seqAfter == 1)
    #expect(run.transitions(.superseded).map(\.pe) == [run.pe(1)])
    #expect(run.transitions(.withdrawn).map(\.pe) == [run.pe(1)])
    #expect(run.state(m)?.winner == run.pe(2))
    #expect(run.adverts(m).count == 1)
    #expect(run.analyzer.findings.isEmpty)
}

@Test("W-2 STALE-AFTER-MOVE (MOB-5): the old PE never withdraws")
func w2StaleAfterMove() throws {
    let run = try analyze([
        Step(at: 0, pe: 1, mac: m), Step(at: 10, pe: 2, mac: m, seq: 1),
        Step(at: 60, pe: 1, mac: m, keepalive: true),
    ])
    #expect(run.rules == ["STALE-AFTER-MOVE"])
    let finding = try #require(run.findings(.staleAfterMove).first)
    #expect(Set(finding.pes) == [run.pe(1), run.pe(2)])
    #expect(finding.mac == MACAddress(m))
    #expect(finding.firstTime == epoch + 10_000_000)
    #expect(finding.evidence.contains { $0.event == "still-advertised" && $0.pe == run.pe(1) && $0.seq == 0 })
}

@Test("W-2 boundary: a withdrawal inside the grace period is no finding")
func w2WithdrawInsideGrace() throws {
    let run = try analyze([
        Step(at: 0, pe: 1, mac: m), Step(at: 10, pe: 2, mac: m, seq: 1), Step(at: 39, pe: 1, mac: m, withdraw: true),
        Step(at: 60, pe: 1, mac: m, keepalive: true),
    ])
    #expect(run.analyzer.findings.isEmpty)
}

@Test("W-3 DUP-MAC-FLAP (MOB-7): the 5th move (t=100) opens it, the 6th adds to it")
func w3DuplicateMAC() throws {
    let steps = alternating(7)
    let run = try analyze(steps)
    #expect(run.transitions(.moved).count == 6)
    let flap = try #require(run.findings(.dupMACFlap).first)
    #expect(run.findings(.dupMACFlap).count == 1)
    #expect(flap.count == 2)
    #expect(flap.lastTime == epoch + 120_000_000)
    #expect(flap.firstTime == epoch + 20_000_000)
    #expect(Set(flap.pes) == [run.pe(2), run.pe(3)])
    #expect(flap.evidence.filter { $0.event == "moved" }.count == 6)
    #expect(run.incidents.count == 1)
    #expect(run.incidents[0].title.hasPrefix("Duplicate MAC"))
}

@Test("W-3 boundary (MOB-7, inclusive): 4 moves in the window are no duplicate, the 5th is")
func w3FiveMovesIsAFlap() throws {
    let four = try analyze(alternating(5))
    #expect(four.transitions(.moved).count == 4)
    #expect(four.findings(.dupMACFlap).isEmpty)
    let five = try analyze(alternating(6))
    let flap = try #require(five.findings(.dupMACFlap).first)
    #expect(flap.firstTime == epoch + 20_000_000 && flap.lastTime == epoch + 100_000_000)
    #expect(flap.detail.hasPrefix("5 moves in 1m20s"))
}

@Test("W-4 loop (MOB-7): 300 MACs flapping between PE2 and PE3 are one layer-2 loop incident")
func w4Loop() throws {
    var steps: [Step] = []
    for i in 0..<300 {
        let mac = MACAddress(0x0200_0000_1000 + UInt64(i)).description
        for k in 0..<7 {
            let pe: Int = k % 2 == 0 ? 2 : 3
            let at: Double = Double(k) * 15 + Double(i) * 0.001
            steps.append(Step(at: at, pe: pe, mac: mac, seq: UInt32(k)))
        }
    }
    let run = try analyze(steps)
    #expect(run.findings(.dupMACFlap).count == 300)
    #expect(run.incidents.count == 1)
    let incident = try #require(run.incidents.first)
    #expect(incident.title.hasPrefix("Layer-2 loop"))
    #expect(incident.macs.count == 300)
    #expect(incident.severity == .critical)
    #expect(Set(incident.pes) == [run.pe(2), run.pe(3)])
}

@Test("W-5 SEQ-TIE (MOB-4): equal sequence on different ESIs, the lower address wins")
func w5Tie() throws {
    let run = try analyze([
        Step(at: 0, pe: 1, mac: m, seq: 3), Step(at: 5, pe: 2, mac: m, seq: 3),
        Step(at: 100, pe: 1, mac: m, keepalive: true),
    ])
    #expect(run.rules == ["SEQ-TIE"])
    #expect(run.state(m)?.winner == run.pe(1))
    // The same tie arriving in the other order moves the MAC to the lower address, still one SEQ-TIE and no stale
    // finding.
    let reversed = try analyze([
        Step(at: 0, pe: 2, mac: m, seq: 3), Step(at: 5, pe: 1, mac: m, seq: 3),
        Step(at: 100, pe: 1, mac: m, keepalive: true),
    ])
    #expect(reversed.rules == ["SEQ-TIE"])
    #expect(reversed.state(m)?.winner == reversed.pe(1))
}

@Test("W-6 SEQ-DECREASE: a PE lowers its own sequence without a move")
func w6Decrease() throws {
    let run = try analyze([Step(at: 0, pe: 1, mac: m, seq: 4), Step(at: 5, pe: 1, mac: m, seq: 2)])
    #expect(run.rules == ["SEQ-DECREASE"])
    #expect(run.findings(.seqDecrease).first?.pes == [run.pe(1)])
}

@Test("W-7 SEQ-MISSING-ON-MOVE (MOB-3): a move without increment leaves the MAC where it was")
func w7MissingIncrement() throws {
    let run = try analyze([Step(at: 0, pe: 1, mac: m, seq: 2), Step(at: 5, pe: 2, mac: m)])
    #expect(run.rules == ["SEQ-MISSING-ON-MOVE"])
    #expect(run.state(m)?.winner == run.pe(1))
    #expect(run.transitions(.rejected).count == 1)
}

@Test(
    """
    W-8 STICKY-MOVED and STICKY-CONFLICT (MOB-6): a higher sequence does not take a sticky MAC; two sticky PEs \
    conflict
    """
)
func w8Sticky() throws {
    let run = try analyze([Step(at: 0, pe: 1, mac: m, seq: 0, sticky: true), Step(at: 5, pe: 2, mac: m, seq: 1)])
    #expect(run.rules == ["STICKY-MOVED"])
    #expect(run.state(m)?.winner == run.pe(1))
    let both = try analyze([
        Step(at: 0, pe: 1, mac: m, seq: 0, sticky: true), Step(at: 5, pe: 2, mac: m, seq: 0, sticky: true),
    ])
    #expect(both.rules == ["STICKY-CONFLICT"])
}

@Test("W-9 aliasing (MOB-8, FP-1): two PEs on one ESI are no move")
func w9MultiHoming() throws {
    let esi = ESI("00:11:22:33:44:55:66:77:88:01")!
    let run = try analyze([
        Step(at: 0, pe: 1, mac: m, seq: 0, esi: esi), Step(at: 1, pe: 2, mac: m, seq: 0, esi: esi),
        Step(at: 50, pe: 1, mac: m, withdraw: true), Step(at: 51, pe: 1, mac: m, seq: 0, esi: esi),
        Step(at: 300, pe: 1, mac: m, keepalive: true),
    ])
    #expect(run.transitions(.aliased).count >= 1)
    #expect(run.transitions(.moved).isEmpty)
    #expect(run.analyzer.findings.isEmpty)
}

@Test("W-11 SEQ-WRAP (MOB-10): from the top of the range to 0 is newer, not a decrease")
func w11Wrap() throws {
    let run = try analyze([
        Step(at: 0, pe: 1, mac: m, seq: UInt32.max), Step(at: 10, pe: 2, mac: m, seq: 0),
        Step(at: 10.1, pe: 1, mac: m, withdraw: true),
    ])
    #expect(run.rules == ["SEQ-WRAP"])
    #expect(run.state(m)?.winner == run.pe(2))
    #expect(run.transitions(.moved).first?.wrap == true)
}

@Test("W-12 STALE-HOST-ROUTE: a VPNv4 /32 still points at the old PE after the move")
func w12HostRoute() throws {
    let ip = "10.0.0.11"
    var steps = [
        Step(at: 0, pe: 1, mac: m, ip: ip), Step(at: 0, pe: 1, mac: m, hostRoute: ip),
        Step(at: 10, pe: 2, mac: m, seq: 1, ip: ip), Step(at: 10, pe: 2, mac: m, hostRoute: ip),
        Step(at: 11, pe: 1, mac: m, ip: ip, withdraw: true), Step(at: 70, pe: 1, mac: m, keepalive: true),
    ]
    let stale = try analyze(steps)
    #expect(stale.rules == ["STALE-HOST-ROUTE"])
    #expect(stale.findings(.staleHostRoute).first?.ip == IPAddress(ip))
    steps.append(Step(at: 12, pe: 1, mac: m, withdraw: true, hostRoute: ip))
    #expect(try analyze(steps).analyzer.findings.isEmpty)
}

@Test("STALE-HOST-ROUTE over IPv6: VPNv6 /128 host routes are kept per PE and released on withdrawal")
func staleIPv6HostRoute() throws {
    let ip = "2001:db8::11", neighbour = "2001:db8::12"
    var steps = [
        Step(at: 0, pe: 1, mac: m, ip: ip), Step(at: 0, pe: 1, mac: m, hostRoute: ip),
        Step(at: 1, pe: 3, mac: "aa:aa:aa:33:33:33", hostRoute: neighbour),
        Step(at: 10, pe: 2, mac: m, seq: 1, ip: ip), Step(at: 10, pe: 2, mac: m, hostRoute: ip),
        Step(at: 11, pe: 1, mac: m, ip: ip, withdraw: true), Step(at: 70, pe: 1, mac: m, keepalive: true),
    ]
    let stale = try analyze(steps)
    #expect(stale.rules == ["STALE-HOST-ROUTE"])
    #expect(stale.findings(.staleHostRoute).first?.ip == IPAddress(ip))
    #expect(stale.engine.hostRoutePEs(IPAddress(ip)!).map(\.pe).sorted() == [stale.pe(1), stale.pe(2)])
    #expect(stale.engine.hostRoutePEs(IPAddress(neighbour)!).map(\.pe) == [stale.pe(3)])
    // PE 1 withdraws its host route; the neighbour's row, then a re-announcement, must not mix.
    steps.append(Step(at: 12, pe: 1, mac: m, withdraw: true, hostRoute: ip))
    steps.append(Step(at: 13, pe: 1, mac: "aa:aa:aa:44:44:44", hostRoute: "2001:db8::13"))
    let clean = try analyze(steps)
    #expect(clean.analyzer.findings.isEmpty)
    #expect(clean.engine.hostRoutePEs(IPAddress(ip)!).map(\.pe) == [clean.pe(2)])
    #expect(clean.engine.hostRoutePEs(IPAddress(neighbour)!).map(\.pe) == [clean.pe(3)])
    #expect(clean.engine.hostRoutePEs(IPAddress("2001:db8::13")!).map(\.pe) == [clean.pe(1)])
}

@Test("SEQ-MULTI-COMMUNITY (MOB-9): the highest of several sequences is used")
func multipleMobilityCommunities() throws {
    let run = try analyze([Step(at: 0, pe: 1, mac: m, seq: 5, mobilityCommunities: 2)])
    #expect(run.rules == ["SEQ-MULTI-COMMUNITY"])
    #expect(run.state(m)?.winnerSeq == 5)
}

@Test("SEQ-MULTI-COMMUNITY (MOB-9): the community with the highest seq decides sticky, whatever the order")
func mobilityCommunityOrderDoesNotMatter() {
    func mobility(_ communities: [(UInt32, Bool)]) -> ExtendedCommunity.MACMobility? {
        var attributes = PathAttributes()
        for (seq, sticky) in communities {
            attributes.extendedCommunities.append(.macMobility(sequence: seq, sticky: sticky))
        }
        return attributes.macMobility
    }
    // A sticky community of a lower seq does not make the route sticky, in either order.
    #expect(mobility([(5, true), (7, false)]) == .init(sequence: 7, sticky: false))
    #expect(mobility([(7, false), (5, true)]) == .init(sequence: 7, sticky: false))
    // Of two communities of the highest seq, a sticky one makes the route sticky, in either order.
    #expect(mobility([(7, true), (7, false)]) == .init(sequence: 7, sticky: true))
    #expect(mobility([(7, false), (7, true)]) == .init(sequence: 7, sticky: true))
}

@Test("SEQ-MULTI-COMMUNITY (MOB-9): a count past what a route keeps (31) is said as 31 or more, not as 31")
func manyMobilityCommunities() throws {
    let run = try analyze([Step(at: 0, pe: 1, mac: m, seq: 100, mobilityCommunities: 40)])
    let finding = try #require(run.findings(.seqMultiCommunity).first)
    #expect(finding.detail.contains("sent 31 or more MAC Mobility communities"), "\(finding.detail)")
    let few = try analyze([Step(at: 0, pe: 1, mac: m, seq: 100, mobilityCommunities: 3)])
    #expect(try #require(few.findings(.seqMultiCommunity).first).detail.contains("sent 3 MAC Mobility communities"))
}

@Test("SEQ-JUMP: a move that skips sequence numbers")
func sequenceJump() throws {
    let run = try analyze([
        Step(at: 0, pe: 1, mac: m, seq: 1), Step(at: 5, pe: 2, mac: m, seq: 5000),
        Step(at: 5.1, pe: 1, mac: m, withdraw: true),
    ])
    let jump = try #require(run.findings(.seqJump).first)
    #expect(jump.severity == .minor)
    #expect(run.rules == ["SEQ-JUMP"])
}

@Test("IP-MOVE-NEW-MAC (MOB-11): an IP re-appears behind a new MAC")
func ipMovesToNewMAC() throws {
    let run = try analyze([
        Step(at: 0, pe: 1, mac: m, ip: "10.0.0.7"), Step(at: 5, pe: 1, mac: m, ip: "10.0.0.7", withdraw: true),
        Step(at: 6, pe: 1, mac: "aa:aa:aa:22:22:22", seq: 1, ip: "10.0.0.7"),
    ])
    #expect(run.rules == ["IP-MOVE-NEW-MAC"])
    #expect(run.findings(.ipMoveNewMAC).first?.mac == MACAddress("aa:aa:aa:22:22:22"))
}

@Test(
    "W-13 move without increment, then withdrawal (GoBGP's first move carries seq 0): SEQ-MISSING-ON-MOVE, no SEQ-TIE")
func w13MoveWithoutIncrementThenWithdrawal() throws {
    let run = try analyze([
        Step(at: 0, pe: 1, mac: m), Step(at: 1, pe: 2, mac: m, seq: 0), Step(at: 1.2, pe: 1, mac: m, withdraw: true),
        Step(at: 40, pe: 1, mac: m, seq: 1), Step(at: 40.1, pe: 2, mac: m, withdraw: true),
        Step(at: 100, pe: 3, mac: m, keepalive: true),
    ])
    let moves = run.transitions(.moved)
    #expect(moves.map { [$0.otherPE, $0.pe] } == [[run.pe(1), run.pe(2)], [run.pe(2), run.pe(1)]])
    #expect(moves[0].detail == "after withdrawn" && moves[0].seqBefore == 0 && moves[0].seqAfter == 0)
    #expect(run.rules == ["SEQ-MISSING-ON-MOVE"])
    let finding = try #require(run.findings(.seqMissingOnMove).first)
    #expect(finding.detail == "10.255.255.2 took the MAC from 10.255.255.1 without raising seq 0 (MOB-2 asks for 1)")
    #expect(finding.firstTime == epoch + 1_200_000)
    #expect(run.state(m)?.winner == run.pe(1))
    // PE2 (lower address than PE3) takes the MAC at once on the tie; PE3's withdrawal inside G makes it the same
    // finding.
    let immediate = try analyze([
        Step(at: 0, pe: 3, mac: m), Step(at: 1, pe: 2, mac: m, seq: 0), Step(at: 1.2, pe: 3, mac: m, withdraw: true),
        Step(at: 100, pe: 3, mac: m, keepalive: true),
    ])
    #expect(immediate.rules == ["SEQ-MISSING-ON-MOVE"])
    #expect(
        immediate.findings(.seqMissingOnMove).first?.detail.hasPrefix("10.255.255.2 took the MAC from 10.255.255.3")
            == true)
}

@Test("IP-MOVE-NEW-MAC (MOB-11) with IPv6: an IPv6 address re-appears behind a new MAC")
func ipv6MovesToNewMAC() throws {
    let v6 = "2001:db8::7"
    let run = try analyze([
        Step(at: 0, pe: 1, mac: m, ip: v6), Step(at: 5, pe: 1, mac: m, ip: v6, withdraw: true),
        Step(at: 6, pe: 1, mac: "aa:aa:aa:22:22:22", seq: 1, ip: v6),
    ])
    #expect(run.rules == ["IP-MOVE-NEW-MAC"])
    let moved = try #require(run.transitions(.ipMoved).first)
    #expect(moved.ip == IPAddress(v6))
    #expect(moved.otherMAC == run.macIndex(m))
    // Each step's UPDATE carries the MAC-only route beside the MAC+IP one, as PEs send them.
    #expect(Set(run.firstRoutes("aa:aa:aa:22:22:22").map(\.ip)) == [nil, IPAddress(v6)])
}

@Test(
    """
    MOB-11: one MAC's MAC-only, IPv4 and IPv6 routes through both reflectors are three routes; withdrawing the IPv6 \
    update at both leaves the IPv4 route
    """
)
func ipv6RouteBesideIPv4() throws {
    let v6 = IPAddress("2001:db8::7")!, v6Neighbour = IPAddress("2001:db8::8")!, v4 = IPAddress("10.0.0.7")!
    let announced = [
        Step(at: 0, pe: 1, mac: m), Step(at: 0.1, pe: 1, mac: m, ip: "10.0.0.7"),
        Step(at: 0.2, pe: 1, mac: m, ip: v6.description),
    ]
    let before = try analyze(announced, viaBothReflectors: true)
    let index = try #require(before.macIndex(m))
    #expect(Set(before.firstRoutes(m).map(\.ip)) == [nil, v4, v6])
    #expect(before.firstRoutes(m).allSatisfy { $0.observations == 2 })
    #expect(before.engine.route(mac: index, pe: before.pe(1), ip: v6)?.ip == v6)
    // Another address of the same family, and the IPv4 address whose low word matches nothing, name no route.
    #expect(before.engine.route(mac: index, pe: before.pe(1), ip: v6Neighbour) == nil)
    #expect(before.engine.route(mac: index, pe: before.pe(1), ip: IPAddress(v6High: 0, v6Low: UInt64(v4.v4))) == nil)

    // The withdrawn UPDATE names the MAC-only route too (each step carries it beside the MAC+IP route).
    let after = try analyze(
        announced + [Step(at: 3, pe: 1, mac: m, ip: v6.description, withdraw: true)], viaBothReflectors: true)
    #expect(after.firstRoutes(m).map(\.ip) == [v4])
    #expect(after.firstRoutes(m).first?.observations == 2)
    #expect(after.transitions(.ipMoved).isEmpty)
    #expect(after.rules.isEmpty)
}

@Test("A withdrawal of a route never announced is counted, not replayed (a dump that starts mid-stream)")
func withdrawalOfAnUnknownRouteIsCounted() throws {
    let run = try analyze([Step(at: 0, pe: 1, mac: m), Step(at: 1, pe: 2, mac: "aa:aa:aa:33:33:33", withdraw: true)])
    #expect(run.engine.counters.unknownWithdrawals == 1)
    #expect(run.engine.counters.withdrawals == 1)
    #expect(run.engine.counters.announcements == 1)
    #expect(run.transitions.map(\.kind) == [.learned])
    let described = Dictionary(uniqueKeysWithValues: run.engine.counters.described)
    #expect(described["engine.unknown-withdrawals"] == "1" && described["engine.mac-ip-announcements"] == "1")
}
