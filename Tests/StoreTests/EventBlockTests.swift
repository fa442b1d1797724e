import EVPNModel
import Foundation
import Store
import TestSupport
import Testing

/// Events of every NLRI kind the decoders produce, with the fields a block keeps per event or
/// per shape: IPv6 addresses, add-path ids, sticky and non-sticky sequences, withdrawals.
private func sampleEvents() -> [RouteEvent] {
    let rd = RouteDistinguisher.ipv4(0x0AFF_FF01, 41000)
    let peer = ObservationPoint(
        router: 0, table: .mrt, peerIP: IPAddress("10.255.255.1")!, peerAS: 65000, peerBGPID: IPAddress("10.255.255.1")!
    )
    var attributes = PathAttributes()
    attributes.extendedCommunities = [
        ExtendedCommunity(raw: RouteTarget.as2(65000, 41000).raw), .macMobility(sequence: 7, sticky: true),
    ]
    attributes.originatorID = IPAddress("10.255.255.9")
    var plain = PathAttributes()
    plain.extendedCommunities = [.macMobility(sequence: 300_000)]
    let v6 = IPAddress("2001:db8::1:2")!
    let routes: [(NLRIEntry, AddressFamily, PathAttributes, IPAddress?, Bool)] = [
        (
            NLRIEntry(
                nlri: .evpn(
                    .macIP(
                        MACIPAdvertisement(
                            rd: rd, mac: MACAddress(0x02AA_BBCC_DDEE), ip: IPAddress("10.0.0.1"), label1: 10)))),
            .evpn, attributes, IPAddress("10.255.255.1"), false
        ),
        (
            NLRIEntry(
                pathID: 77,
                nlri: .evpn(
                    .macIP(
                        MACIPAdvertisement(
                            rd: rd, esi: ESI(high: 0x0001, low: 42), ethernetTag: 5, mac: MACAddress(0x02AA_BBCC_DDEF),
                            ip: v6, label1: 10)))),
            .evpn, plain, v6, false
        ),
        (
            NLRIEntry(
                nlri: .evpn(
                    .macIP(MACIPAdvertisement(rd: rd, mac: MACAddress(0x02AA_BBCC_DDEE), ip: nil, label1: 10)))),
            .evpn, PathAttributes(), nil, true
        ),
        (
            NLRIEntry(
                nlri: .evpn(
                    .inclusiveMulticast(
                        InclusiveMulticastRoute(rd: rd, ethernetTag: 9, originatingIP: IPAddress("10.255.255.1")!)))),
            .evpn, attributes, IPAddress("10.255.255.1"), false
        ),
        (
            NLRIEntry(
                nlri: .evpn(
                    .ethernetSegment(EthernetSegmentRoute(rd: rd, esi: ESI(high: 0x0300, low: 1), originatingIP: v6)))),
            .evpn, PathAttributes(), v6, false
        ),
        (
            NLRIEntry(
                nlri: .evpn(
                    .ipPrefix(
                        IPPrefixRoute(
                            rd: rd, esi: .zero, ethernetTag: 0, prefix: IPPrefix(address: v6, length: 64),
                            gateway: IPAddress(v4: 0), label: 3)))),
            .evpn, attributes, IPAddress("10.255.255.1"), false
        ),
        (NLRIEntry(nlri: .evpn(.unknown(type: 11, bytes: [1, 2, 3]))), .evpn, PathAttributes(), nil, false),
        (
            NLRIEntry(nlri: .prefix(IPPrefix(address: IPAddress("192.0.2.0")!, length: 24))), .ipv4Unicast,
            PathAttributes(), IPAddress("192.0.2.254"), false
        ),
        (
            NLRIEntry(
                pathID: 3,
                nlri: .vpn(rd: rd, prefix: IPPrefix(address: IPAddress("10.9.0.0")!, length: 16), label: 99)),
            .vpnv4, attributes, nil, true
        ),
    ]
    var events: [RouteEvent] = []
    var time: Int64 = 1_795_485_600_000_000
    for round in 0..<2000 {
        for (index, route) in routes.enumerated() {
            // Times and offsets both ways: the deltas are signed.
            time += index == 3 ? -1_500 : 2_000
            events.append(
                RouteEvent(
                    time: time,
                    source: SourceRef(input: Int32(round % 3), offset: Int64((round * 9 + index) * 100 % 7919)),
                    observation: peer, isWithdraw: route.4, family: route.1, entry: route.0,
                    attributes: route.4 ? PathAttributes() : route.2, nextHop: route.4 ? nil : route.3))
        }
    }
    return events
}

/// Stores `events` (observation ids cycling 0...4, folding off: each event its own row) and
/// returns the database.
private func store(_ events: [RouteEvent], eventRows: Bool) throws -> (Database, String) {
    let path = Scratch.directory("store") + "/blocks.sqlite"
    let writer = try AnalysisWriter(path: path, copyWindow: .seconds(0), eventRows: eventRows)
    for (index, event) in events.enumerated() {
        try writer.addEvent(event, observationID: index % 7 == 0 ? nil : Int32(index % 5))
    }
    try writer.commit()
    return (try Database(path: path, readOnly: true), path)
}

@Test("compact route events (ID-3 rows): blocks read back field for field as the route_events table stores them")
func compactBlocksHoldWhatTheTableHolds() throws {
    let events = sampleEvents()
    let (db, _) = try store(events, eventRows: true)
    let table = try db.rows(
        "SELECT \(StoredRouteEvent.columnNames.joined(separator: ", ")) FROM route_events ORDER BY rowid")
    var stored: [StoredRouteEvent] = []
    try StoredEvents(db: db).forEach { stored.append($0) }
    #expect(table.count == events.count && stored.count == events.count)
    #expect(try db.rows("SELECT count(*), sum(events) FROM route_event_blocks")[0] == ["2", "18000"])  // 16,384 a block
    for (index, (event, row)) in zip(stored, table).enumerated() where event.columnTexts != row {
        Issue.record("event \(index): \(event.columnTexts) vs \(row)")
        break
    }
    // Typed values, not only their text.
    let first = try #require(stored.first)
    #expect(first.mac == MACAddress(0x02AA_BBCC_DDEE) && first.mobility == .init(sequence: 7, sticky: true))
    #expect(first.routeTargets == [RouteTarget.as2(65000, 41000)] && first.originator == IPAddress("10.255.255.9"))
    #expect(
        stored[1].pathID == 77 && stored[1].ip == IPAddress("2001:db8::1:2") && stored[1].mobility?.sequence == 300_000)
    #expect(stored[2].isWithdraw && stored[2].mobility == nil && stored[2].nextHop == nil)
    #expect(stored[4].ip == IPAddress("2001:db8::1:2") && stored[4].esi == ESI(high: 0x0300, low: 1))
    #expect(stored[5].prefix?.description == "2001:db8::1:2/64" && stored[6].routeType == 11)
    #expect(stored[8].family == .vpnv4 && stored[8].pathID == 3 && stored[8].rd != nil)
}

@Test("a MAC's events and a time window come from the blocks that hold them")
func lookupsByMACAndTime() throws {
    let events = sampleEvents()
    let (db, _) = try store(events, eventRows: false)
    #expect(try db.rows("SELECT count(*) FROM route_events")[0][0] == "0")
    var found: [StoredRouteEvent] = []
    try StoredEvents(db: db).forEach(mac: MACAddress(0x02AA_BBCC_DDEF)) { found.append($0) }
    #expect(found.count == 2000 && found.allSatisfy { $0.mac == MACAddress(0x02AA_BBCC_DDEF) })
    var none = 0
    try StoredEvents(db: db).forEach(mac: MACAddress(0x0200_0000_0001)) { _ in none += 1 }
    #expect(none == 0)
    let since = events[16000].time, until = events[16800].time
    var window: [Int64] = []
    try StoredEvents(db: db).forEach(since: since, until: until) { window.append($0.time) }
    #expect(window.count == events.filter { $0.time >= since && $0.time <= until }.count && window.count > 700)
}

@Test("a damaged block is an error naming the database and the block, never a crash")
func damagedBlocksAreErrors() throws {
    let (_, path) = try store(Array(sampleEvents().prefix(50)), eventRows: false)
    let writable = try Database(path: path)
    for damage in [
        "substr(data, 1, 20)", "x'01ffffffff0f'", "x'02'", "randomblob(200)", "x''",
        "x'01' || substr(data, 2, 3) || x'00' || substr(data, 6)",
    ] {
        try writable.execute("UPDATE route_event_blocks SET data = \(damage)")
        #expect(throws: EventBlockError.self) { try StoredEvents(db: writable).forEach { _ in } }
    }
}
