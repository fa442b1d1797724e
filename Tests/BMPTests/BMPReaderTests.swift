import BGPWire
import BMP
import ByteStreams
import EVPNModel
import Foundation
import Ingest
import Testing
import TestSupport

let router = IPAddress("10.255.0.1")!
let pe3 = IPAddress("10.255.255.3")!

func bmpFile(_ messages: [[UInt8]], compression: Compression = .gzip) throws -> String {
    let directory = Scratch.directory("bmp")
    let path = directory + "/stream" + CompressedWriter.fileExtension(compression)
    let writer = try CompressedWriter(path: path, compression: compression)
    for message in messages { writer.write(message) }
    try writer.close()
    return path
}

func macRoute(_ mac: String, seq: UInt32, pathID: UInt32? = nil) -> UpdateMessage {
    var u = UpdateMessage()
    u.attributes.origin = 0
    u.attributes.extendedCommunities = [.routeTarget(.as2(65000, 41000)), .macMobility(sequence: seq)]
    let route = MACIPAdvertisement(
        rd: .ipv4(pe3.v4, 41000), mac: MACAddress(mac)!, ip: IPAddress("10.0.0.3"), label1: 10000)
    u.reach = MPReach(family: .evpn, nextHop: pe3, nlri: [NLRIEntry(pathID: pathID, nlri: .evpn(.macIP(route)))])
    return u
}

@Test func everyMessageTypeDecodesWithPeerTablesAndAddPathFromPeerUp() throws {
    let t0: Int64 = 1_795_485_600_000_000
    var local = OpenMessage(myAS: 65000, bgpID: router)
    local.fourByteAS = true; local.multiprotocol = [.evpn]; local.addPath = [.evpn: 1]
    var remote = OpenMessage(myAS: 65000, bgpID: pe3)
    remote.fourByteAS = true; remote.multiprotocol = [.evpn]; remote.addPath = [.evpn: 2]
    let pre = BMPEncoder.PeerHeader(address: pe3, asn: 65000, bgpID: pe3, time: t0 + 1_000_001)
    var post = pre; post.flags = 0x40
    let locRIB = BMPEncoder.PeerHeader(
        type: 3, address: IPAddress(v4: 0), asn: 65000, bgpID: router, time: t0 + 2_000_000)
    let addPath = DecodeOptions(addPath: .all)
    let path = try bmpFile([
        BMPEncoder.initiation(sysName: "rr1 <script>|x", sysDescr: "test router"),
        BMPEncoder.peerUp(pre, localAddress: router, sentOpen: local, receivedOpen: remote),
        BMPEncoder.routeMonitoring(
            pre, update: BGPEncoder.update(macRoute("aa:aa:aa:00:00:03", seq: 2, pathID: 7), options: addPath)),
        BMPEncoder.routeMonitoring(
            post, update: BGPEncoder.update(macRoute("aa:aa:aa:00:00:03", seq: 2, pathID: 7), options: addPath)),
        BMPEncoder.routeMonitoring(locRIB, update: BGPEncoder.update(macRoute("aa:aa:aa:00:00:03", seq: 2))),
        BMPEncoder.statistics(pre, counters: [(0, 5)]),
        BMPEncoder.peerDown(pre, reason: 4),
        BMPEncoder.termination(reason: 0),
    ])
    let inputs = try InputSet(paths: [path])
    var routes: [RouteEvent] = [], sessions: [SessionEvent] = []
    while let item = inputs.next() {
        switch item.payload {
        case .route(let e): routes.append(e)
        case .session(let e): sessions.append(e)
        case .heartbeat: break
        }
    }
    #expect(inputs.damage.isEmpty)
    #expect(inputs.files[0].format == .bmp)
    #expect(routes.map(\.observation.table) == [.adjRIBInPre, .adjRIBInPost, .locRIB])
    #expect(routes[0].entry.pathID == 7)  // add-path negotiated in Peer Up (RFC 7911 §4)
    #expect(routes[2].entry.pathID == nil)
    #expect(routes[0].time == t0 + 1_000_001)
    #expect(routes[0].observation.peerIP == pe3)
    #expect(routes[0].attributes.macMobility?.sequence == 2)
    guard case .evpn(.macIP(let route)) = routes[0].entry.nlri else { Issue.record("not a MAC/IP route"); return }
    #expect(route.mac == MACAddress("aa:aa:aa:00:00:03"))
    #expect(
        sessions.map(\.kind) == [
            .monitoringStarted(sysName: "rr1 <script>|x"), .established,
            .down(reason: "remote system closed the session"),
            .monitoringEnded(reason: "monitoring session terminated: administratively closed"),
        ])
    let reader = try #require(inputs.files[0].reader as? BMPReader)
    #expect(reader.routers.first?.sysName == "rr1 <script>|x")
    #expect(reader.stats.records == 8)
}

/// Issue 20: routers that reconnect send an Initiation each time; the reader keeps one entry per
/// router (the latest) and cuts long names, so a stream of Initiations costs no memory by its size.
@Test func initiationsKeepOneEntryPerRouterWithBoundedText() throws {
    let long = String(repeating: "é", count: 1000)  // 2000 bytes: cut at 256 bytes, on a character
    let messages = (0..<50).flatMap { k in
        [
            BMPEncoder.initiation(sysName: "rr1", sysDescr: "build \(k)"),
            BMPEncoder.initiation(sysName: long + "-\(k % 2)", sysDescr: long),
        ]
    }
    let inputs = try InputSet(paths: [try bmpFile(messages)])
    while inputs.next() != nil {}
    let reader = try #require(inputs.files[0].reader as? BMPReader)
    #expect(reader.routers.count == 3, "rr1 and two long names that differ only past the cut")
    #expect(reader.routers.first?.sysName == "rr1" && reader.routers.first?.sysDescr == "build 49")
    let cut = try #require(reader.routers.last?.sysName)
    #expect(cut == String(repeating: "é", count: 128) + "…")
    #expect(Set(reader.routers.map(\.key)).count == 3)
}

@Test func truncatedBMPKeepsEveryMessageBeforeTheDamage() throws {
    let t0: Int64 = 1_795_485_600_000_000
    let header = BMPEncoder.PeerHeader(address: pe3, asn: 65000, bgpID: pe3, time: t0)
    var messages = (0..<50).map {
        BMPEncoder.routeMonitoring(
            header, update: BGPEncoder.update(macRoute(MACAddress(UInt64(0x0200_0000_0000 + $0)).description, seq: 1)))
    }
    let good = messages.prefix(49).reduce(0) { $0 + $1.count }
    messages[49].removeLast(10)
    let path = try bmpFile(messages, compression: .plain)
    let inputs = try InputSet(paths: [path])
    var count = 0
    while let item = inputs.next() { if case .route = item.payload { count += 1 } }
    #expect(count == 49)
    let damage = try #require(inputs.damage.first)
    #expect(damage.offset == Int64(good))
    #expect(damage.message.contains("truncated BMP message"))
    #expect(!damage.recovered)
}

/// RFC 7854 §4.3–4.5: one walk over an Initiation's TLVs serves the reader and `collect`, which
/// names a router's archive after the sysName wherever the TLV sits and gives up on a TLV that
/// overruns the message before a sysName.
@Test func initiationTLVsNameTheRouter() throws {
    let initiation = BMPEncoder.initiation(sysName: "leaf-7", sysDescr: "FRRouting 8.4.4")
    #expect(InformationTLVs.sysName(ofInitiation: initiation[...]) == "leaf-7")
    // The sysName after a sysDescr, and in a slice that does not start at index 0.
    var descrFirst: [UInt8] = [0xEE, 3, 0, 0, 0, 0, BMPMessageType.initiation]
    for (type, text) in [(BMPInformation.sysDescr, "Junos"), (BMPInformation.sysName, "spine-1")] {
        descrFirst += [0, UInt8(type), 0, UInt8(text.utf8.count)] + Array(text.utf8)
    }
    #expect(InformationTLVs.sysName(ofInitiation: descrFirst.dropFirst()) == "spine-1")
    // A TLV longer than the message before any sysName, a Termination, a bare header: no name.
    let overrun = Array(initiation.prefix(6)) + [0, 1, 0x40, 0, 65, 66]
    #expect(InformationTLVs.sysName(ofInitiation: overrun[...]) == nil)
    #expect(InformationTLVs.sysName(ofInitiation: BMPEncoder.termination(reason: 1)[...]) == nil)
    #expect(InformationTLVs.sysName(ofInitiation: initiation.prefix(6)) == nil)
    // The reader walks the same TLVs: both strings, and the router keyed by its name.
    let inputs = try InputSet(paths: [try bmpFile([initiation])])
    while inputs.next() != nil {}
    let reader = try #require(inputs.files[0].reader as? BMPReader)
    #expect(reader.routers.map(\.sysName) == ["leaf-7"])
    #expect(reader.routers.map(\.sysDescr) == ["FRRouting 8.4.4"])
}

@Test(
    """
    DQ-TIME-BACKWARDS and MOB-12 from BMP: withdrawals sent at a Peer Down stamped with the routes' receive time \\
    (GoBGP) happen when sent and are no clock step; an announcement stamped seconds back is one; the Peer Up's \\
    local address rides on the session's events
    """
)
func withdrawalsStampedWithReceiveTimeAreNoClockStep() throws {
    let t0: Int64 = 1_795_485_600_000_000
    var open = OpenMessage(myAS: 65000, bgpID: pe3)
    open.fourByteAS = true; open.multiprotocol = [.evpn]
    let pre = BMPEncoder.PeerHeader(address: pe3, asn: 65000, bgpID: pe3, time: t0)
    var post = pre; post.flags = 0x40
    var down = pre; down.time = t0 + 5_000_000
    let announcement = macRoute("aa:aa:aa:00:00:03", seq: 0)
    var withdrawal = UpdateMessage()
    withdrawal.unreach = MPUnreach(family: .evpn, nlri: announcement.reach!.nlri)
    let path = try bmpFile([
        BMPEncoder.peerUp(pre, localAddress: router, sentOpen: open, receivedOpen: open),
        BMPEncoder.routeMonitoring(post, update: BGPEncoder.update(announcement)),
        BMPEncoder.peerDown(down, reason: 4),
        BMPEncoder.routeMonitoring(post, update: BGPEncoder.update(withdrawal)),  // stamped t0, sent at t0 + 5 s
        BMPEncoder.routeMonitoring(post, update: BGPEncoder.update(macRoute("aa:aa:aa:00:00:04", seq: 0))),
    ])
    let inputs = try InputSet(paths: [path])
    var routes: [RouteEvent] = [], sessions: [SessionEvent] = []
    while let item = inputs.next() {
        if case .route(let e) = item.payload { routes.append(e) }
        if case .session(let e) = item.payload { sessions.append(e) }
    }
    #expect(routes.map(\.isWithdraw) == [false, true, false])
    #expect(routes.map(\.time) == [t0, t0 + 5_000_000, t0])
    let reader = try #require(inputs.files[0].reader as? BMPReader)
    #expect(reader.stats.timeStepsBack == 1)
    #expect(sessions.map(\.localAddress) == [router, router])
}

@Test(
    """
    DQ-TIME-BACKWARDS: a Peer Up stamped when its session came up, a day before the stream (FRR 8.4 stamps the \\
    host's boot time), neither starts the input's time span nor counts as a clock step
    """
)
func peerUpStampedLongBeforeTheStreamDoesNotStartItsTimeSpan() throws {
    let t0: Int64 = 1_795_485_600_000_000
    var open = OpenMessage(myAS: 65000, bgpID: pe3)
    open.fourByteAS = true; open.multiprotocol = [.evpn]
    let now = BMPEncoder.PeerHeader(address: pe3, asn: 65000, bgpID: pe3, time: t0)
    var dayBefore = now
    dayBefore.time = t0 - 86_400_000_000
    let path = try bmpFile([
        BMPEncoder.peerUp(dayBefore, localAddress: router, sentOpen: open, receivedOpen: open),
        BMPEncoder.routeMonitoring(now, update: BGPEncoder.update(macRoute("aa:aa:aa:00:00:03", seq: 0))),
    ])
    let inputs = try InputSet(paths: [path])
    var kinds: [String] = []
    while let item = inputs.next() {
        if case .session(let e) = item.payload { kinds.append("\(e.kind)") }
        if case .route = item.payload { kinds.append("route") }
    }
    #expect(kinds == ["established", "route"])
    let reader = try #require(inputs.files[0].reader as? BMPReader)
    #expect(reader.stats.firstTime == t0)
    #expect(reader.stats.timeStepsBack == 0)
}
