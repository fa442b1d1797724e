import Analysis
import EVPNModel
import MRT
import BGPWire
import ByteStreams
import Replay
import TestSupport
import Testing

/// Anomalies of the catalogue (docs/evpn-mobility.md §5) beyond the worked examples.

@Test("DUP-IP-FLAP (MOB-7 applied to IPs): an IP changing MAC more than 5 times in 180 s")
func duplicateIP() throws {
    var steps: [Step] = []
    for k in 0..<7 {
        let mac = k % 2 == 0 ? "aa:aa:aa:00:00:01" : "aa:aa:aa:00:00:02"
        steps.append(Step(at: Double(k * 10), pe: 1 + k % 2, mac: mac, seq: UInt32(k), ip: "10.0.0.9"))
    }
    let run = try analyze(steps)
    #expect(run.findings(.dupIPFlap).count == 1)
    #expect(run.findings(.dupIPFlap).first?.ip == IPAddress("10.0.0.9"))
    #expect(run.findings(.ipMoveNewMAC).reduce(0) { $0 + $1.count } == 6)
}

@Test("MAC-IP-SEQ-MISMATCH (MOB-11): one PE's MAC-only and MAC+IP routes disagree for longer than the grace")
func macIPSequenceMismatch() throws {
    // Both routes with seq 1, then the MAC-only route alone is raised to 2.
    let withIP = Step(at: 0, pe: 1, mac: m, seq: 1, ip: "10.0.0.5")
    let macOnly = Step(at: 0.5, pe: 1, mac: m, seq: 2)
    let run = try analyze([withIP, macOnly, Step(at: 100, pe: 1, mac: m, keepalive: true)])
    #expect(run.rules.contains("MAC-IP-SEQ-MISMATCH"))
    let brief = try analyze([
        withIP, macOnly, Step(at: 5, pe: 1, mac: m, seq: 2, ip: "10.0.0.5"),
        Step(at: 100, pe: 1, mac: m, keepalive: true),
    ])
    #expect(!brief.rules.contains("MAC-IP-SEQ-MISMATCH"))
}

@Test("ESI-INCONSISTENT: PEs on one ESI disagree on the sequence")
func esiInconsistent() throws {
    let esi = ESI("00:11:22:33:44:55:66:77:88:02")!
    let run = try analyze([Step(at: 0, pe: 1, mac: m, seq: 1, esi: esi), Step(at: 1, pe: 2, mac: m, seq: 4, esi: esi)])
    #expect(run.rules == ["ESI-INCONSISTENT"])
    #expect(run.transitions(.moved).isEmpty)
}

@Test("SEQ-BUMP-NO-MOVE: a PE raises the sequence of a MAC nobody else advertises")
func bumpWithoutMove() throws {
    let run = try analyze([Step(at: 0, pe: 1, mac: m, seq: 1), Step(at: 10, pe: 1, mac: m, seq: 2)])
    #expect(run.rules == ["SEQ-BUMP-NO-MOVE"])
}

@Test("FP-6 a TABLE_DUMP_V2 snapshot repeating the update stream adds no finding")
func snapshotRepeatsUpdates() throws {
    let updates = try mrtDump(cleanMove)
    let snapshot = try ribSnapshot(
        [Step(at: 60, pe: 2, mac: m, seq: 1, ip: "10.0.0.11")], at: 60, collectorID: collectorIP,
        peer: MRTEncoder.Peer(bgpID: rr1, ip: rr1, asn: 65000), cluster: rr1, name: "bview.bz2", compression: .bzip2)
    let run = try analyze([snapshot, updates])
    #expect(run.transitions(.moved).count == 1)
    #expect(run.transitions(.updated).count == 2)  // the two repeated routes are refreshes
    #expect(run.analyzer.findings.isEmpty)
    #expect(!run.firstRoutes(m).isEmpty && run.firstRoutes(m).allSatisfy { $0.observations == 1 })
}
