import BGPWire
import BMP
import ByteStreams
import EVPNModel
import Foundation
import Store
import Testing
import TestSupport

/// docs/rules.md, data quality (DQ-*): an analysis says when its inputs were blind, through the
/// terminal summary, --json, the data_quality table, the report's first section and exit status 4.

let publicData = repository.deletingLastPathComponent().appendingPathComponent("shared/datasets/public").path

@Test(
    """
    DQ-NO-EVPN and DQ-COARSE-TIME: a unicast-only RIPE dump is exit 4, said at the top of the report, not 'no \
    incident'
    """
)
func unicastOnlyDumpIsBlind() throws {
    let input = publicData + "/ripe-bgpdump/updates.20020722.2238.gz"
    guard FileManager.default.fileExists(atPath: input) else { Issue.record("missing \(input)"); return }
    let dir = scratch()
    let result = try evpnscope(["analyze", input, "--db", dir + "/a.sqlite", "--report", dir + "/r.md"])
    #expect(result.status == 4, "\(result.stderr)")
    #expect(result.stdout.contains("WARNING     these inputs cannot support an analysis"))
    #expect(result.stdout.contains("DQ-NO-EVPN (all inputs)"))
    #expect(result.stdout.contains("DQ-COARSE-TIME (\(input))"))
    let db = try Database(path: dir + "/a.sqlite", readOnly: true)
    #expect(
        try db.rows("SELECT rule FROM data_quality ORDER BY rule").map { $0[0]! } == ["DQ-COARSE-TIME", "DQ-NO-EVPN"])
    let report = try String(contentsOfFile: dir + "/r.md", encoding: .utf8)
    let quality = try #require(report.range(of: "## Data quality"))
    #expect(quality.lowerBound < report.range(of: "## Summary")!.lowerBound)
    #expect(report.contains("**These inputs cannot support an analysis"))
    #expect(report.contains("| DQ-NO-EVPN | all inputs | 0 |"))
    let json = try evpnscope(["analyze", input, "--db", dir + "/b.sqlite", "--report", dir + "/b.md", "--json"])
    let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
    #expect(object?["blind"] as? Bool == true)
    #expect(
        (object?["data_quality"] as? [[String: Any]])?.compactMap { $0["rule"] as? String }.sorted() == [
            "DQ-COARSE-TIME", "DQ-NO-EVPN",
        ])
}

@Test("DQ-WITHDRAW-ONLY: a BMP stream that sends every EVPN announcement as MP_UNREACH (FRR 8.4.4) is blind, exit 4")
func withdrawOnlyBMPIsBlind() throws {
    let t0: Int64 = 1_795_485_600_000_000
    let monitored = IPAddress("10.255.0.1")!, pe = IPAddress("10.255.255.3")!
    var local = OpenMessage(myAS: 65000, bgpID: monitored)
    local.fourByteAS = true; local.multiprotocol = [.evpn]
    var remote = OpenMessage(myAS: 65000, bgpID: pe)
    remote.fourByteAS = true; remote.multiprotocol = [.evpn]
    var messages = [
        BMPEncoder.initiation(sysName: "frr-rr", sysDescr: "FRRouting 8.4.4"),
        BMPEncoder.peerUp(
            BMPEncoder.PeerHeader(address: pe, asn: 65000, bgpID: pe, time: t0), localAddress: monitored,
            sentOpen: local, receivedOpen: remote),
    ]
    for k in 0..<20 {
        var update = UpdateMessage()
        let route = MACIPAdvertisement(
            rd: .ipv4(pe.v4, 100), mac: MACAddress(0x0200_0000_0000 + UInt64(k)), label1: 100)
        update.unreach = MPUnreach(family: .evpn, nlri: [NLRIEntry(nlri: .evpn(.macIP(route)))])
        let header = BMPEncoder.PeerHeader(address: pe, asn: 65000, bgpID: pe, time: t0 + Int64(k) * 1_000_123)
        messages.append(BMPEncoder.routeMonitoring(header, update: BGPEncoder.update(update)))
    }
    let dir = scratch()
    let path = dir + "/frr.bmp"
    let writer = try CompressedWriter(path: path, compression: .plain)
    for message in messages { writer.write(message) }
    try writer.close()
    let result = try evpnscope(["analyze", path, "--db", dir + "/a.sqlite", "--report", dir + "/r.md"])
    #expect(result.status == 4, "\(result.stdout)\(result.stderr)")
    let db = try Database(path: dir + "/a.sqlite", readOnly: true)
    let notes = try db.rows("SELECT rule, subject, count, detail FROM data_quality")
    #expect(notes.map { $0[0]! } == ["DQ-WITHDRAW-ONLY"])
    #expect(notes.first?[1]?.contains("peer 10.255.255.3") == true)
    #expect(notes.first?[2] == "20")
    #expect(
        notes.first?[3]?.hasPrefix("20 of 20 MAC/IP route events are withdrawals of routes never announced") == true)
}

@Test("The demo dataset has no data-quality note, and RFC 7606 discards reach the terminal summary")
func cleanInputsHaveNoNoteAndDiscardsAreSaid() throws {
    let dir = scratch()
    let demo = try evpnscope(["analyze", "datasets/demo/dumps", "--db", dir + "/d.sqlite", "--report", dir + "/d.md"])
    #expect(demo.status == 0, "\(demo.stderr)")
    #expect(demo.stdout.contains("data        no data-quality note"))
    #expect(try String(contentsOfFile: dir + "/d.md", encoding: .utf8).contains("## Data quality\n\nNo note"))
    let bird = publicData + "/mrtparse-samples/bird6_bgp"
    guard FileManager.default.fileExists(atPath: bird) else { Issue.record("missing \(bird)"); return }
    let unicast = try evpnscope(["analyze", bird, "--db", dir + "/b.sqlite", "--report", dir + "/b.md"])
    let db = try Database(path: dir + "/b.sqlite", readOnly: true)
    let discards = try db.rows("SELECT sum(attribute_errors) FROM inputs")[0][0] ?? "0"
    #expect(Int(discards) ?? 0 > 0)
    #expect(unicast.stdout.contains("RFC 7606    \(discards) malformed attribute(s) handled"), "\(unicast.stdout)")
}

@Test("--since/--until: state before the window counts, findings overlapping it are kept, bad windows are usage errors")
func sinceAndUntilKeepTheStateBeforeTheWindow() throws {
    let dir = scratch()
    // The demo's loop: 40 MACs flap from 02:04:00 to 02:05:15; a window from 02:05:00 sees the end of it.
    let windowed = try evpnscope([
        "analyze", "datasets/demo/dumps", "--db", dir + "/w.sqlite", "--report", dir + "/w.md",
        "--since", "2026-11-24T02:05:00Z", "--until", "2026-11-24T02:06:00Z",
    ])
    #expect(windowed.status == 0, "\(windowed.stderr)")
    let db = try Database(path: dir + "/w.sqlite", readOnly: true)
    #expect(try db.rows("SELECT count(*) FROM findings WHERE rule = 'DUP-MAC-FLAP'")[0][0] == "40")
    #expect(
        try db.rows("SELECT count(*) FROM route_events WHERE time_us < 1795485900000000 OR time_us > 1795485960000000")[
            0][0] == "0")
    #expect(
        try db.rows(
            "SELECT count(*) FROM findings WHERE last_time_us < 1795485900000000 OR first_time_us > 1795485960000000")[
                0][0] == "0")
    // The same window written with an offset.
    let offset = try evpnscope([
        "analyze", "datasets/demo/dumps", "--db", dir + "/o.sqlite", "--report", dir + "/o.md",
        "--since", "2026-11-24T03:05:00+01:00", "--until", "2026-11-24T03:06:00+01:00",
    ])
    #expect(offset.status == 0)
    #expect(try findingKeys(Database(path: dir + "/o.sqlite", readOnly: true)) == findingKeys(db))
    let empty = try evpnscope([
        "analyze", "datasets/demo/dumps", "--db", dir + "/e.sqlite", "--report", dir + "/e.md", "--since", "2030-01-01",
    ])
    #expect(empty.stdout.contains("window      no event of the inputs falls between 2030-01-01T00:00:00Z and the end"))
    for bad in [
        ["--since", "2026-11-24T03:00Z", "--until", "2026-11-24T02:00Z"], ["--since", ""], ["--since", "Z"],
        ["--since", "T"],
        ["--since", "inf"], ["--since", "nan"], ["--since", "1e300"], ["--since", "99999999999-01-01"],
        ["--window", "1e300"],
        ["--window", "inf"], ["--window", "0"], ["--max-moves", "0"], ["--max-moves", "10001"],
        ["--since", "2026-13-45"],
        ["--since", "2026-02-31"], ["--since", "2025-02-29"], ["--until", "2026-04-31T00:00Z"],
    ] {
        let result = try evpnscope(
            ["analyze", "datasets/demo/dumps", "--db", dir + "/x.sqlite", "--report", dir + "/x.md"] + bad)
        #expect(result.status == 2, "\(bad): \(result.status) \(result.stderr)")
        // The message names the option the value was given to.
        #expect(result.stderr.contains(bad[bad.count - 2].prefix(7)), "\(bad): \(result.stderr)")
    }
}
