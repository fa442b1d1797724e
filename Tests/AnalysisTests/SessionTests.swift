@testable import Analysis
import BGPWire
import BMP
import ByteStreams
import EVPNModel
import Foundation
import Ingest
import MRT
import Replay
import TestSupport
import Testing

/// W-10: PE3 advertises 50 MACs seen through two BMP-monitored reflectors; its session goes down.
func peFailureStreams(secondRouterReportsDown: Bool) throws -> [String] {
    var paths: [String] = []
    for (name, local, reportsDown) in [("rr1", rr1, true), ("rr2", rr2, secondRouterReportsDown)] {
        let path = temporaryPath("\(name).bmp.gz")
        let writer = try CompressedWriter(path: path, compression: .gzip)
        writer.write(BMPEncoder.initiation(sysName: name, sysDescr: "reflector"))
        let peer = BMPEncoder.PeerHeader(address: peAddress(3), asn: 65000, bgpID: peAddress(3), time: epoch)
        var sent = OpenMessage(myAS: 65000, bgpID: reflectorID(local)), received = sent
        sent.fourByteAS = true
        received.bgpID = peAddress(3); received.fourByteAS = true
        // Each reflector's own end of its session with PE3 (MOB-12 ties sessions by their ends).
        writer.write(BMPEncoder.peerUp(peer, localAddress: local, sentOpen: sent, receivedOpen: received))
        for i in 0..<50 {
            var header = peer
            header.time = epoch + Int64(i) * 1000
            let step = Step(at: 0, pe: 3, mac: MACAddress(0x0200_0000_3000 + UInt64(i)).description)
            writer.write(BMPEncoder.routeMonitoring(header, update: BGPEncoder.update(step.update(cluster: nil))))
        }
        var down = peer
        down.time = epoch + 100_000_000
        if reportsDown {
            writer.write(BMPEncoder.peerDown(down, reason: 3, data: BGPEncoder.frame(type: 3, body: [6, 2])))
        }
        var later = peer
        later.time = epoch + 400_000_000
        writer.write(BMPEncoder.statistics(later, counters: [(0, 1)]))
        try writer.close()
        paths.append(path)
    }
    return paths
}

@Test("W-10 PE failure (MOB-12): session down everywhere flushes, no finding")
func w10CleanFailure() throws {
    let run = try analyze(try peFailureStreams(secondRouterReportsDown: true))
    #expect(run.transitions(.flushed).count == 50)
    #expect(run.analyzer.findings.isEmpty)
    #expect(run.engine.liveRoutes == 0)
}

@Test("W-10 STALE-PEER-DOWN: one observation point keeps the dead PE's routes past the restart time")
func w10StalePeerDown() throws {
    let run = try analyze(try peFailureStreams(secondRouterReportsDown: false))
    #expect(run.rules == ["STALE-PEER-DOWN"])
    let finding = try #require(run.findings(.stalePeerDown).first)
    #expect(finding.pes == [run.pe(3)])
    #expect(finding.count == 50)
    #expect(run.incidents.count == 1)
    #expect(run.incidents[0].title.hasPrefix("PE failure"))
}

/// W-10's 50 routes as a reflector's own MRT dump writes them (BGP4MP, local address `local`,
/// on PE3's session): GoBGP's `[[mrt-dump]]` beside its BMP stream, as in the interop test.
func pe3SessionDump(local: IPAddress, name: String) throws -> String {
    let steps = (0..<50).map { i in
        Step(at: Double(i) / 1000, pe: 3, mac: MACAddress(0x0200_0000_3000 + UInt64(i)).description)
    }
    return try routerDump(steps, local: local, peer: nil, name: name, extendedTime: true)
}

/// A reflector's BGP identifier: a loopback, not the address its sessions run from.
func reflectorID(_ local: IPAddress) -> IPAddress { IPAddress(v4: 0xC000_0200 | local.v4 & 0xFF) }

/// A reflector's RIB snapshot (TABLE_DUMP_V2, named by `collectorID`) holding PE3's 50 MACs.
func pe3Snapshot(collectorID: IPAddress, name: String) throws -> String {
    let steps = (0..<50).map { i in Step(at: 50, pe: 3, mac: MACAddress(0x0200_0000_3000 + UInt64(i)).description) }
    return try ribSnapshot(
        steps, at: 50, collectorID: collectorID,
        peer: MRTEncoder.Peer(bgpID: peAddress(3), ip: peAddress(3), asn: 65000),
        name: name)
}

@Test(
    """
    MOB-12 a reflector's BMP Peer Down also empties its RIB snapshot of the session, the snapshot named by the \
    reflector's BGP identifier (its Peer Up's sent OPEN), not by the session's address; another's is kept
    """
)
func bmpPeerDownAlsoEmptiesTheSameRoutersRIBSnapshot() throws {
    let bmp = try peFailureStreams(secondRouterReportsDown: true)[0]  // rr1
    #expect(reflectorID(rr1) != rr1)
    let same = try analyze([bmp, try pe3Snapshot(collectorID: reflectorID(rr1), name: "rr1-bview.mrt")])
    #expect(same.rules.isEmpty, "\(same.analyzer.findings.map(\.detail))")
    #expect(same.engine.liveRoutes == 0)

    let other = try analyze([bmp, try pe3Snapshot(collectorID: reflectorID(rr2), name: "rr2-bview.mrt")])
    #expect(other.rules == ["STALE-PEER-DOWN"])
    #expect(other.findings(.stalePeerDown).first?.count == 50)
}

@Test(
    """
    MOB-12 one session in two formats: a reflector's BMP Peer Down empties its MRT dump of the same session \
    and an MRT state change its BMP tables (no STALE-PEER-DOWN); another reflector's dump that saw no failure \
    keeps the routes (STALE-PEER-DOWN)
    """
)
func bmpPeerDownAlsoEmptiesTheSameSessionsMRTDump() throws {
    let bmp = try peFailureStreams(secondRouterReportsDown: true)[0]  // rr1, Peer Up from local address rr1
    let same = try analyze([bmp, try pe3SessionDump(local: rr1, name: "rr1-updates.mrt")])
    #expect(same.rules.isEmpty)
    #expect(same.engine.liveRoutes == 0)
    #expect(same.transitions(.flushed).count == 50)

    let other = try analyze([bmp, try pe3SessionDump(local: rr2, name: "rr2-updates.mrt")])
    #expect(other.rules == ["STALE-PEER-DOWN"])
    #expect(other.findings(.stalePeerDown).first?.count == 50)

    // The other way round: rr2's BMP stream says nothing of the failure, its MRT dump of the
    // session records it (Established → Idle), and rr2's BMP tables of PE3 are emptied too.
    let stateChange = temporaryPath("rr2-state.mrt")
    let writer = try CompressedWriter(path: stateChange, compression: .plain)
    writer.write(
        MRTEncoder.bgp4mpStateChange(
            time: epoch + 100_000_000, peerAS: 65000, localAS: 65000, peerIP: peAddress(3), localIP: rr2, old: 6, new: 1
        )
    )
    try writer.close()
    let reverse = try analyze(try peFailureStreams(secondRouterReportsDown: false) + [stateChange])
    #expect(reverse.rules.isEmpty)
    #expect(reverse.engine.liveRoutes == 0)
}

@Test("FP-4 pre- and post-policy tables of one peer are one advertisement (ID-3)")
func prePostPolicy() throws {
    let path = temporaryPath("prepost.bmp")
    let writer = try CompressedWriter(path: path, compression: .plain)
    for step in cleanMove where !step.keepalive {
        for flags: UInt8 in [0, 0x40] {
            let header = BMPEncoder.PeerHeader(
                flags: flags, address: peAddress(step.pe), asn: 65000, bgpID: peAddress(step.pe), time: step.time)
            writer.write(BMPEncoder.routeMonitoring(header, update: BGPEncoder.update(step.update(cluster: nil))))
        }
    }
    let end = BMPEncoder.PeerHeader(address: peAddress(1), asn: 65000, bgpID: peAddress(1), time: epoch + 300_000_000)
    writer.write(BMPEncoder.statistics(end, counters: [(0, 1)]))
    try writer.close()
    let run = try analyze([path])
    #expect(run.engine.observations.count == 4)  // two peers × two tables
    #expect(run.transitions(.moved).count == 1)
    #expect(run.analyzer.findings.isEmpty)
}

@Test(
    """
    MOB-7 move histories (DUP-MAC-FLAP's): quiet MACs' histories are forgotten, active ones kept, a forgotten MAC \
    starts afresh
    """
)
func quietMoveHistoriesAreForgottenAndActiveOnesKept() throws {
    let a = "aa:00:00:00:00:0a", b = "aa:00:00:00:00:0b"
    let path = try mrtDump([
        Step(at: 0, pe: 1, mac: a), Step(at: 0, pe: 1, mac: b),
        Step(at: 10, pe: 2, mac: a, seq: 1), Step(at: 20, pe: 2, mac: b, seq: 1),
        Step(at: 100, pe: 1, mac: a, seq: 2), Step(at: 110, pe: 1, mac: b, seq: 2),
    ])
    let inputs = try InputSet(paths: [path])
    let engine = ReplayEngine()
    let flap = DupMACFlap(thresholds: Thresholds())
    engine.onTransition = { if $0.kind == .moved { flap.history.record($0) } }
    var swept = false
    while let item = inputs.next() {
        if !swept && item.time >= epoch + 100_000_000 {
            flap.history.forget(before: epoch + 15_000_000)  // A last moved at 10 s, B at 20 s
            swept = true
        }
        engine.process(item)
    }
    func moveTimes(_ text: String) -> [Int64] {
        flap.history.moves(of: MACID(index: engine.macs.firstIndex { $0.mac == MACAddress(text)! }!)).map(\.time)
    }
    #expect(moveTimes(a) == [epoch + 100_000_000])
    #expect(moveTimes(b) == [epoch + 20_000_000, epoch + 110_000_000])
    flap.history.forget(before: epoch + 105_000_000)
    #expect(moveTimes(a).isEmpty)
    #expect(moveTimes(b) == [epoch + 20_000_000, epoch + 110_000_000])
    #expect(flap.history.count == 1)
}
