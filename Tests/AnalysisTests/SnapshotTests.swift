import Analysis
import EVPNModel
import Foundation
import MRT
import Testing

@testable import Replay
@testable import TestSupport

/// A router's periodic RIB snapshots (`SnapshotState`): one file holding them one after another
/// (GoBGP appends each table dump to its file), or one file each (rotated dumps).
func periodicSnapshots(
    _ snapshots: [(at: Double, steps: [Step])], collectorID: IPAddress = collectorIP, peer: IPAddress = rr1,
    name: String, oneFile: Bool = true
) throws -> [String] {
    let files = try snapshots.enumerated().map { index, snapshot in
        try ribSnapshot(
            snapshot.steps, at: snapshot.at, collectorID: collectorID,
            peer: MRTEncoder.Peer(bgpID: peer, ip: peer, asn: 65000), name: "\(name)-\(index).mrt")
    }
    guard oneFile else { return files }
    let path = temporaryPath("\(name).mrt")
    var bytes = Data()
    for file in files { bytes.append(try Data(contentsOf: URL(fileURLWithPath: file))) }
    try bytes.write(to: URL(fileURLWithPath: path))
    return [path]
}

@Test(
    """
    MOB-2 from table dumps alone: a route the router's previous snapshot held and the next one lacks was \
    withdrawn (the old PE's withdrawal after a move), so the move is found and no STALE-AFTER-MOVE follows; \
    the same in one file and in rotated files
    """
)
func periodicSnapshotsWithdrawWhatTheNextOneLacks() throws {
    let mac = "02:00:00:00:51:01"
    let snapshots: [(at: Double, steps: [Step])] = [
        (10, [Step(at: 10, pe: 1, mac: mac)]),
        (70, [Step(at: 70, pe: 2, mac: mac, seq: 1)]),
        (130, [Step(at: 130, pe: 2, mac: mac, seq: 1)]),
    ]
    for oneFile in [true, false] {
        let run = try analyze(try periodicSnapshots(snapshots, name: "periodic-\(oneFile)", oneFile: oneFile))
        let moves = run.transitions(.moved)
        #expect(moves.map { [$0.otherPE, $0.pe] } == [[run.pe(1), run.pe(2)]])
        #expect(moves.map(\.seqAfter) == [1])
        #expect(run.rules.isEmpty, "one file: \(oneFile): \(run.analyzer.findings.map(\.detail))")
        #expect(run.engine.liveRoutes == 1)
        #expect(run.engine.counters.ribSnapshots == 3)
        #expect(run.engine.counters.snapshotWithdrawals == 1)
        #expect(run.state(mac)?.winner == run.pe(2))
    }
}

@Test(
    """
    FP-6 a snapshot beside an update stream: a route an update put at the snapshot's observation point is the \
    updates' to withdraw, not the next snapshot's, and the first snapshot withdraws nothing
    """
)
func snapshotLeavesTheUpdatesRoutesToTheUpdates() throws {
    let snapshotMAC = "02:00:00:00:52:01", updateMAC = "02:00:00:00:52:02"
    let updates = try mrtDump([Step(at: 5, pe: 1, mac: updateMAC), Step(at: 20, pe: 3, mac: "02:00:00:00:52:03")])
    let snapshots = try periodicSnapshots(
        [(10, [Step(at: 10, pe: 1, mac: snapshotMAC)]), (70, [Step(at: 70, pe: 1, mac: snapshotMAC)])],
        name: "beside-updates")
    let run = try analyze([updates] + snapshots)
    #expect(run.engine.counters.ribSnapshots == 2)
    #expect(run.engine.counters.snapshotWithdrawals == 0)
    #expect(run.engine.liveRoutes == 3)
    #expect(run.rules.isEmpty, "\(run.analyzer.findings.map(\.detail))")
}

@Test(
    """
    MOB-2 a snapshot cut short by damage withdraws nothing (the routes it did not reach may still be there); \
    the same snapshot whole withdraws the route it lacks
    """
)
func damagedSnapshotWithdrawsNothing() throws {
    let gone = "02:00:00:00:53:01", kept = "02:00:00:00:53:02", later = "02:00:00:00:53:03"
    let snapshots: [(at: Double, steps: [Step])] = [
        (10, [Step(at: 10, pe: 1, mac: gone), Step(at: 10, pe: 1, mac: kept)]),
        (70, [Step(at: 70, pe: 1, mac: kept), Step(at: 70, pe: 1, mac: later)]),
    ]
    let whole = try periodicSnapshots(snapshots, name: "whole")
    let wholeRun = try analyze(whole)
    #expect(wholeRun.engine.counters.snapshotWithdrawals == 1)
    #expect(wholeRun.engine.liveRoutes == 2)

    // The last entry loses its last bytes: the second snapshot ends in damage.
    let cut = temporaryPath("cut.mrt")
    let bytes = try Data(contentsOf: URL(fileURLWithPath: whole[0]))
    try bytes.prefix(bytes.count - 5).write(to: URL(fileURLWithPath: cut))
    let cutRun = try analyze([cut])
    #expect(cutRun.engine.counters.ribSnapshots == 2)
    #expect(cutRun.engine.counters.snapshotWithdrawals == 0)
    #expect(cutRun.engine.liveRoutes == 2)  // `gone` and `kept`; `later` was cut off
    #expect(cutRun.state(gone) != nil)
}

@Test(
    """
    ID-3 snapshots whose collector ID is 0.0.0.0 (GoBGP's table dumps) are told apart by their file: one PE's \
    next snapshot does not withdraw another PE's own routes
    """
)
func anonymousCollectorsSnapshotsAreTheirFilesOwn() throws {
    let zero = IPAddress(v4: 0)
    let first = try periodicSnapshots(
        [(10, [Step(at: 10, pe: 1, mac: "02:00:00:00:54:01")]), (70, [Step(at: 70, pe: 1, mac: "02:00:00:00:54:01")])],
        collectorID: zero, peer: zero, name: "anonymous-pe1")
    let second = try periodicSnapshots(
        [(10, [Step(at: 10, pe: 2, mac: "02:00:00:00:54:02")]), (70, [Step(at: 70, pe: 2, mac: "02:00:00:00:54:02")])],
        collectorID: zero, peer: zero, name: "anonymous-pe2")
    let run = try analyze(first + second)
    #expect(run.engine.counters.ribSnapshots == 4)
    #expect(run.engine.counters.snapshotWithdrawals == 0)
    #expect(run.engine.liveRoutes == 2)
    #expect(Set(run.engine.observations.map(\.router)).count == 2)
}

@Test(
    """
    STALE-HOST-ROUTE from table dumps: a VPN host route the previous snapshot held and the next one lacks was \
    withdrawn too, so it is no stale host route after its MAC+IP moved
    """
)
func periodicSnapshotsWithdrawHostRoutesTheNextOneLacks() throws {
    let mac = "02:00:00:00:55:01", ip = "10.0.55.1"
    let snapshots: [(at: Double, steps: [Step])] = [
        (10, [Step(at: 10, pe: 1, mac: mac, ip: ip), Step(at: 10, pe: 1, mac: mac, hostRoute: ip)]),
        (70, [Step(at: 70, pe: 2, mac: mac, seq: 1, ip: ip), Step(at: 70, pe: 2, mac: mac, hostRoute: ip)]),
        (130, [Step(at: 130, pe: 2, mac: mac, seq: 1, ip: ip), Step(at: 130, pe: 2, mac: mac, hostRoute: ip)]),
    ]
    let run = try analyze(try periodicSnapshots(snapshots, name: "host-routes"))
    #expect(run.transitions(.moved).count == 1)
    #expect(run.rules.isEmpty, "\(run.analyzer.findings.map(\.detail))")
    // PE1's MAC, MAC+IP and host route.
    #expect(run.engine.counters.snapshotWithdrawals == 3)
}
