import BGPWire
import EVPNModel
import Foundation
import Ingest
import MRT
import Testing

/// GoBGP 3.10's TABLE_DUMP_V2 gives the routes a speaker originates itself the peer index one past
/// its PEER_INDEX_TABLE (recorded from gobgpd in GoBGPInteropTests). Such an entry is the
/// router's own route, seen from peer 0.0.0.0; an index beyond it, or any RIB entry before a
/// PEER_INDEX_TABLE, is damage at the entry's offset.
@Test func ribEntryOnePastThePeerTableIsTheRoutersOwnRoute() throws {
    let time: Int64 = 1_795_485_600_000_000
    let reflector = IPAddress("192.0.2.1")!
    let table = MRTEncoder.peerIndexTable(
        time: time, collectorID: IPAddress("192.0.2.9")!, viewName: "",
        peers: [MRTEncoder.Peer(bgpID: reflector, ip: reflector, asn: 65000)])
    func rib(_ mac: String, peerIndex: UInt16, sequence: UInt32) -> [UInt8] {
        var attributes = PathAttributes()
        attributes.origin = 2
        attributes.extendedCommunities.append(.routeTarget(.as2(65000, 100)))
        let route = MACIPAdvertisement(rd: .ipv4(0xC000_0209, 100), mac: MACAddress(mac)!, label1: 10100)
        return MRTEncoder.ribGeneric(
            time: time, sequence: sequence, family: .evpn, nlri: .evpn(.macIP(route)),
            entries: [
                MRTEncoder.RIBEntry(
                    peerIndex: peerIndex, originated: 0, attributes: attributes, nextHop: IPAddress("192.0.2.9"))
            ])
    }
    func read(_ bytes: [UInt8], _ name: String) throws -> (routes: [RouteEvent], damage: [InputDamage]) {
        let path = NSTemporaryDirectory() + "evpnscope-peer-index-\(name).mrt"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let inputs = try InputSet(paths: [path])
        var routes: [RouteEvent] = []
        while let item = inputs.next() { if case .route(let event) = item.payload { routes.append(event) } }
        return (routes, inputs.files.flatMap(\.damage))
    }

    let learnt = rib("aa:bb:cc:00:00:01", peerIndex: 0, sequence: 0)
    let own = rib("aa:bb:cc:00:00:02", peerIndex: 1, sequence: 1)
    let beyond = rib("aa:bb:cc:00:00:03", peerIndex: 2, sequence: 2)
    let good = try read(table + learnt + own, "good")
    #expect(good.damage.isEmpty, "\(good.damage)")
    #expect(good.routes.map { $0.observation.peerIP } == [reflector, IPAddress(v4: 0)])
    #expect(good.routes.map { $0.observation.peerAS } == [65000, 0])
    guard case .evpn(.macIP(let ownRoute)) = good.routes.last?.entry.nlri else {
        Issue.record("no MAC/IP route at the router's own peer"); return
    }
    #expect(ownRoute.mac == MACAddress("aa:bb:cc:00:00:02"))
    #expect(good.routes.last?.observation.router == 0xC000_0209)

    let bad = try read(table + learnt + beyond, "beyond")
    #expect(bad.routes.count == 1)
    #expect(bad.damage.count == 1)
    // The offset is the entry's, inside the record the message names.
    let recordStart = table.count + learnt.count
    #expect(bad.damage.first.map { $0.offset > recordStart && $0.offset <= recordStart + beyond.count } == true)
    #expect(bad.damage.first?.message.contains("record at \(recordStart):") == true, "\(bad.damage)")
    #expect(bad.damage.first?.message.contains("peer index at most 1") == true, "\(bad.damage)")

    let orphan = try read(own, "orphan")
    #expect(orphan.routes.isEmpty)
    #expect(orphan.damage.first?.message.contains("a PEER_INDEX_TABLE before it") == true, "\(orphan.damage)")
}
