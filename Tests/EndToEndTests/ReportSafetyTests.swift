import BGPWire
import BMP
import ByteStreams
import EVPNModel
import Foundation
import Reports
import Store
import Testing

@Test func networkStringsCannotBreakOrInjectMarkdown() throws {
    let hostileName = "<img src=x onerror=alert(1)>|`x`"
    let hostileDescr = "[click](javascript:alert(1)) **bold**\n# heading"
    let directory = scratch()
    let path = directory + "/hostile.bmp"
    let writer = try CompressedWriter(path: path, compression: .plain)
    writer.write(BMPEncoder.initiation(sysName: hostileName, sysDescr: hostileDescr))
    let peer = IPAddress("10.255.255.1")!
    var u = UpdateMessage()
    u.attributes.origin = 0
    u.attributes.extendedCommunities = [.routeTarget(.as2(65000, 1))]
    u.reach = MPReach(
        family: .evpn, nextHop: peer,
        nlri: [NLRIEntry(nlri: .evpn(.macIP(MACIPAdvertisement(rd: .ipv4(peer.v4, 1), mac: MACAddress(1)))))])
    writer.write(
        BMPEncoder.routeMonitoring(
            BMPEncoder.PeerHeader(address: peer, asn: 65000, bgpID: peer, time: 1_795_485_600_000_000),
            update: BGPEncoder.update(u)))
    try writer.close()
    let result = try evpnscope(["analyze", path, "--db", directory + "/a.sqlite", "--report", directory + "/r.md"])
    #expect(result.status == 0, "\(result.stderr)")
    let report = try String(contentsOfFile: directory + "/r.md", encoding: .utf8)
    #expect(report.contains("## BMP monitored routers"))
    #expect(report.contains("&lt;img src=x onerror=alert(1)&gt;\\|\\`x\\`"))
    #expect(report.contains("\\[click\\](javascript:alert(1)) \\*\\*bold\\*\\* \\# heading"))
    #expect(!report.contains("<img"))
    #expect(!report.contains("\n# heading"))
    // Every table row still has its columns: no cell was split by a `|` from the network.
    let row = try #require(report.split(separator: "\n").first { $0.contains("onerror") })
    #expect(row.replacingOccurrences(of: "\\|", with: "").filter { $0 == "|" }.count == 4)
    #expect(markdownEscaped("a|b\nc") == "a\\|b c")
}
