import Analysis
import EVPNModel
import Ingest
import Replay
import TestSupport
import Testing

/// docs/evpn-mobility.md §6: each trap produces no finding.
let cleanMove = [
    Step(at: 0, pe: 1, mac: m, ip: "10.0.0.11"), Step(at: 10, pe: 2, mac: m, seq: 1, ip: "10.0.0.11"),
    Step(at: 10.5, pe: 1, mac: m, ip: "10.0.0.11", withdraw: true), Step(at: 200, pe: 1, mac: m, keepalive: true),
]

@Test("FP-2 two route reflectors (ID-3): one advertisement seen twice is one move")
func twoReflectors() throws {
    let run = try analyze(cleanMove, viaBothReflectors: true)
    #expect(run.transitions(.moved).count == 1)
    #expect(run.analyzer.findings.isEmpty)
    #expect(run.engine.observations.count == 2)
}

@Test("FP-3 add-path: two paths of one route at one observation point")
func addPathPaths() throws {
    let run = try analyze(cleanMove, viaBothReflectors: true, addPath: true)
    #expect(run.transitions(.moved).count == 1)
    #expect(run.transitions(.withdrawn).count == 1)
    #expect(run.analyzer.findings.isEmpty)
    #expect(run.adverts(m).count == 1)
}

@Test("FP-5 route refresh / graceful restart (MOB-13): re-announcing the same sequence is no move")
func refreshIsNoMove() throws {
    var steps = cleanMove
    for k in 0..<5 { steps.append(Step(at: 30 + Double(k), pe: 2, mac: m, seq: 1, ip: "10.0.0.11")) }
    let run = try analyze(steps)
    #expect(run.transitions(.moved).count == 1)
    #expect(run.transitions(.updated).count >= 5)
    #expect(run.analyzer.findings.isEmpty)
}

@Test(
    """
    MOB-13: a repeat at the same observation point renews the route's time and is reported as a refresh; a changed \
    attribute is applied
    """
)
func refreshRenewsTheRoute() throws {
    let ip = "10.0.0.11"
    let run = try analyze([
        Step(at: 0, pe: 1, mac: m, seq: 3, ip: ip), Step(at: 5, pe: 1, mac: m, seq: 3, ip: ip),
        Step(at: 6, pe: 1, mac: m, seq: 3, sticky: true, ip: ip),
        Step(at: 7, pe: 1, mac: m, seq: 3, sticky: true, ip: ip),
    ])
    let updates = run.transitions(.updated).filter { $0.ip == IPAddress(ip) }
    #expect(
        updates.map(\.time) == [
            Step(at: 5, pe: 1, mac: m).time, Step(at: 6, pe: 1, mac: m).time, Step(at: 7, pe: 1, mac: m).time,
        ])
    #expect(
        updates.allSatisfy {
            $0.seqBefore == 3 && $0.seqAfter == 3 && $0.otherPE == run.pe(1) && $0.observation.exists && !$0.wrap
        })
    #expect(updates.map(\.sticky) == [false, true, true])
    let route = try #require(run.firstRoutes(m).first { $0.ip == IPAddress(ip) })
    #expect(route.firstSeen == Step(at: 0, pe: 1, mac: m).time && route.lastUpdate == Step(at: 7, pe: 1, mac: m).time)
    #expect(route.sticky && route.seq == 3 && route.observations == 1)
    #expect(run.transitions(.moved).isEmpty && run.state(m)?.winnerSeq == 3)
}

@Test("FP-7 one MAC in two broadcast domains (ID-2) is two MACs")
func twoBroadcastDomains() throws {
    let run = try analyze([
        Step(at: 0, pe: 1, mac: m, routeTarget: 41000), Step(at: 5, pe: 2, mac: m, routeTarget: 41001),
    ])
    #expect(run.engine.macs.count == 2)
    #expect(run.transitions(.moved).isEmpty)
    #expect(run.analyzer.findings.isEmpty)
}

@Test("FP-8 one MAC with many IPs (MOB-11) is normal")
func manyIPs() throws {
    let steps = (1...20).map { Step(at: Double($0), pe: 1, mac: m, ip: "10.0.0.\($0)") }
    let run = try analyze(steps)
    #expect(run.analyzer.findings.isEmpty)
    #expect(run.firstRoutes(m).count == 21)
}

@Test("Property: replaying an announcement twice changes nothing")
func idempotentAnnouncement() throws {
    let once = try analyze([Step(at: 0, pe: 1, mac: m, seq: 3)])
    let twice = try analyze([Step(at: 0, pe: 1, mac: m, seq: 3), Step(at: 1, pe: 1, mac: m, seq: 3)])
    #expect(once.state(m)?.winner == twice.state(m)?.winner)
    #expect(once.state(m)?.winnerSeq == twice.state(m)?.winnerSeq)
    #expect(twice.firstRoutes(m).first?.observations == 1)
    #expect(twice.analyzer.findings.isEmpty)
}

@Test("Property: a withdrawn MAC leaves no advertisement and no live route")
func withdrawnLeavesNoState() throws {
    let run = try analyze([
        Step(at: 0, pe: 1, mac: m, ip: "10.0.0.1"), Step(at: 1, pe: 2, mac: m, seq: 1, ip: "10.0.0.1"),
        Step(at: 2, pe: 1, mac: m, ip: "10.0.0.1", withdraw: true),
        Step(at: 3, pe: 2, mac: m, ip: "10.0.0.1", withdraw: true),
    ])
    #expect(run.state(m) != nil && run.adverts(m).isEmpty)
    #expect(run.state(m)?.winner == PEID.none)
    #expect(run.engine.liveRoutes == 0)
}

@Test("Property: re-ordering events of unrelated MACs changes no MAC's result; output is deterministic")
func unrelatedOrderDoesNotMatter() throws {
    var random = SplitMix(seed: 42)
    var perMAC: [[Step]] = []
    for i in 0..<20 {
        let mac = MACAddress(0x0200_0000_2000 + UInt64(i)).description
        var steps: [Step] = []
        var owner = 1 + random.below(4)
        for k in 0..<(2 + random.below(6)) {
            let next = k == 0 ? owner : 1 + random.below(4)
            steps.append(Step(at: Double(k * 10), pe: next, mac: mac, seq: UInt32(k)))
            if next != owner && k > 0 && random.below(2) == 0 {
                steps.append(Step(at: Double(k * 10) + 1, pe: owner, mac: mac, withdraw: true))
            }
            owner = next
        }
        perMAC.append(steps)
    }
    func summary(_ run: Run) -> [String] {
        run.engine.macs.map {
            "\($0.mac) \(run.engine.pes[max($0.winner.index, 0)].address) \($0.winnerSeq) \($0.moves)"
        }.sorted()
            + run.analyzer.findings.map { "\($0.rule.rawValue) \($0.mac?.description ?? "")" }.sorted()
    }
    // Same times, but unrelated MACs interleaved differently inside each instant.
    let forward = try analyze(perMAC.flatMap { $0 })
    let backward = try analyze(perMAC.reversed().flatMap { $0 })
    #expect(summary(forward) == summary(backward))
    let again = try analyze(perMAC.flatMap { $0 })
    #expect(
        forward.transitions.map { "\($0.kind) \($0.time) \($0.mac) \($0.pe) \($0.seqAfter)" }
            == again.transitions.map { "\($0.kind) \($0.time) \($0.mac) \($0.pe) \($0.seqAfter)" })
}

@Test(
    """
    Property: the engine's read-ahead (its loads, and the ids and hashes it hands on) passes every item in order \
    and changes no transition
    """
)
func lookaheadChangesNothing() throws {
    var random = SplitMix(seed: 11)
    var steps: [Step] = []
    for k in 0..<400 {
        let mac = MACAddress(0x0200_0000_3000 + UInt64(random.below(40))).description
        // Two domains: a domain's first route reaches the read-ahead before the engine knows it.
        steps.append(
            Step(
                at: Double(k), pe: 1 + random.below(4), mac: mac, seq: UInt32(random.below(6)),
                ip: random.below(2) == 0 ? "10.1.0.\(random.below(40))" : nil, withdraw: random.below(5) == 0,
                routeTarget: 41000 + UInt32(random.below(2)),
                hostRoute: random.below(4) == 0 ? "10.9.0.\(random.below(8))" : nil))
    }
    let path = try mrtDump(steps, viaBothReflectors: true)
    let direct = try analyze([path])
    let readAhead = try analyze([path], lookahead: true)
    func lines(_ run: Run) -> [String] {
        run.transitions.map {
            "\($0.kind) \($0.time) \($0.mac) \($0.pe) \($0.otherPE) \($0.seqBefore) \($0.seqAfter) \($0.source.offset)"
        }
    }
    #expect(direct.transitions.count > 400)
    #expect(lines(readAhead) == lines(direct))
    #expect(
        readAhead.engine.counters.announcements + readAhead.engine.counters.withdrawals
            == direct.engine.counters.announcements + direct.engine.counters.withdrawals)
    #expect(readAhead.rules == direct.rules)
    // VPN host routes make no transitions: their state is compared directly.
    func hostRoutes(_ run: Run) -> [String] {
        (0..<8).map { i in
            run.engine.hostRoutePEs(IPAddress("10.9.0.\(i)")!).map { "\($0.pe)/\($0.observations)" }.joined(
                separator: " ")
        }
    }
    #expect(hostRoutes(readAhead) == hostRoutes(direct) && hostRoutes(direct).contains { !$0.isEmpty })
}

@Test("The read-ahead's chain reaches the RIB entry, route slot and MAC of every route already known")
func lookaheadChainReachesKnownRoutes() throws {
    let macs = (0..<64).map { MACAddress(0x0200_0000_4000 + UInt64($0)).description }
    let path = try mrtDump(
        macs.enumerated().map { Step(at: Double($0.offset), pe: 1 + $0.offset % 3, mac: $0.element, seq: 1) })
    let run = try analyze([path])
    // The same announcements again: each names a route the engine now holds.
    let again = try InputSet(paths: [path])
    var checked = 0
    while let item = again.next() {
        guard case .route(let event) = item.payload, case .evpn(.macIP(let route)) = event.entry.nlri else { continue }
        let target = run.engine.prefetchBucket(item)
        let entry = run.engine.prefetchChain(target, stage: 1, cursor: -1)
        let slot = run.engine.prefetchChain(target, stage: 2, cursor: entry)
        let mac = run.engine.prefetchChain(target, stage: 3, cursor: slot)
        #expect(target.hash != 0 && !target.hostRoute && entry >= 0 && slot >= 0, "chain of \(route.mac) stopped")
        #expect(mac == run.macIndex(route.mac.description)?.raw)
        checked += 1
    }
    #expect(checked == macs.count)
}

@Test("The read-ahead's chain reaches the host RIB entry and host route slot of every VPN host route already known")
func lookaheadChainReachesKnownHostRoutes() throws {
    let steps = (0..<48).map {
        Step(at: Double($0), pe: 1 + $0 % 3, mac: m, hostRoute: "10.9.\($0 / 200).\($0 % 200 + 1)")
    }
    let path = try mrtDump(steps)
    let run = try analyze([path])
    let again = try InputSet(paths: [path])
    var checked = 0
    while let item = again.next() {
        guard case .route(let event) = item.payload, case .vpn(_, let prefix, _) = event.entry.nlri else { continue }
        let target = run.engine.prefetchBucket(item)
        let entry = run.engine.prefetchChain(target, stage: 1, cursor: -1)
        let slot = run.engine.prefetchChain(target, stage: 2, cursor: entry)
        #expect(target.hash != 0 && target.hostRoute && entry >= 0 && slot >= 0, "chain of \(prefix) stopped")
        #expect(run.engine.hostRoutePEs(prefix.address).count == 1)
        checked += 1
    }
    #expect(checked == steps.count)
}

@Test("Property (MOB-8): PEs on one ESI never produce a move, whatever their order and sequences")
func multiHomedNeverMoves() throws {
    var random = SplitMix(seed: 7)
    let esi = ESI("00:aa:bb:cc:dd:ee:ff:00:00:01")!
    var steps: [Step] = []
    for k in 0..<60 {
        steps.append(
            Step(
                at: Double(k), pe: 1 + random.below(3), mac: m, seq: UInt32(random.below(3)), esi: esi,
                withdraw: random.below(4) == 0))
    }
    let run = try analyze(steps)
    #expect(run.transitions(.moved).isEmpty)
    #expect(run.findings(.dupMACFlap).isEmpty)
}
