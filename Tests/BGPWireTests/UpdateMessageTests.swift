import EVPNModel
import Testing
@testable import BGPWire

func decodeMessage(_ bytes: [UInt8], _ options: DecodeOptions = DecodeOptions()) throws -> UpdateMessage {
    try bytes.withUnsafeBytes { raw in
        var cursor = ByteCursor(raw)
        guard case .update(let update) = try BGPMessage.decode(&cursor, options: options) else {
            throw DecodeError(context: "test", expected: "UPDATE", offset: 0)
        }
        return update
    }
}

/// A deterministic generator (xorshift) so property tests replay identically.
struct TestRandom {
    var state: UInt64
    mutating func next() -> UInt64 { state ^= state << 13; state ^= state >> 7; state ^= state << 17; return state }
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}

func randomUpdate(_ r: inout TestRandom) -> UpdateMessage {
    var u = UpdateMessage()
    u.attributes.origin = UInt8(r.below(3))
    u.attributes.asPath = [
        ASPathSegment(kind: .sequence, asns: (0..<r.below(5)).map { _ in UInt32(truncatingIfNeeded: r.next()) })
    ]
    if r.below(2) == 0 { u.attributes.localPref = UInt32(truncatingIfNeeded: r.next()) }
    if r.below(2) == 0 { u.attributes.med = UInt32(truncatingIfNeeded: r.next()) }
    if r.below(2) == 0 {
        u.attributes.originatorID = IPAddress(v4: UInt32(truncatingIfNeeded: r.next()));
        u.attributes.clusterList = [1, 2]
    }
    // Up to eight: past the inline four too.
    u.attributes.communities = InlineList((0..<r.below(8)).map { _ in UInt32(truncatingIfNeeded: r.next()) })
    u.attributes.largeCommunities = (0..<r.below(2)).map { _ in
        LargeCommunity(global: 1, local1: UInt32(r.below(99)), local2: 3)
    }
    u.attributes.extendedCommunities = [.routeTarget(.as2(65000, UInt32(r.below(1000)))), .encapsulation(8)]
    if r.below(2) == 0 {
        u.attributes.extendedCommunities.append(
            .macMobility(sequence: UInt32(truncatingIfNeeded: r.next()), sticky: r.below(2) == 0))
    }
    if r.below(4) == 0 { u.attributes.other = [RawAttribute(flags: 0xC0, type: 99, value: [1, 2, 3])] }
    var nlri: [NLRIEntry] = []
    for _ in 0..<(1 + r.below(4)) {
        let mac = MACAddress(r.next())
        let ip: IPAddress? = [
            nil, IPAddress(v4: UInt32(truncatingIfNeeded: r.next())), IPAddress(v6High: r.next(), v6Low: r.next()),
        ][r.below(3)]
        let route = MACIPAdvertisement(
            rd: .ipv4(UInt32(truncatingIfNeeded: r.next()), UInt16(r.below(65535))),
            esi: r.below(3) == 0 ? ESI(high: 0x0100, low: r.next()) : .zero,
            ethernetTag: UInt32(r.below(5000)), mac: mac, ip: ip, label1: UInt32(r.below(1 << 24)),
            label2: r.below(2) == 0 ? UInt32(r.below(1 << 24)) : nil)
        nlri.append(NLRIEntry(nlri: .evpn(.macIP(route))))
    }
    u.reach = MPReach(family: .evpn, nextHop: IPAddress(v4: UInt32(truncatingIfNeeded: r.next())), nlri: nlri)
    if r.below(2) == 0 {
        u.unreach = MPUnreach(
            family: .evpn,
            nlri: [
                NLRIEntry(
                    nlri: .evpn(
                        .inclusiveMulticast(
                            InclusiveMulticastRoute(
                                rd: .as2(1, 2), ethernetTag: 0, originatingIP: IPAddress(v4: 7)))))
            ])
    }
    if r.below(2) == 0 {
        u.attributes.nextHop = IPAddress(v4: UInt32(truncatingIfNeeded: r.next()))
        u.announced = [NLRIEntry(nlri: .prefix(IPPrefix(address: IPAddress(v4: 0x0A00_0000), length: 8)))]
        u.withdrawn = [NLRIEntry(nlri: .prefix(IPPrefix(address: IPAddress(v4: 0xC000_0200), length: 24)))]
    }
    return u
}

@Test func decodeOfEncodeIsIdentityOverGeneratedUpdates() throws {
    var r = TestRandom(state: 0x9E37_79B9_7F4A_7C15)
    for _ in 0..<500 {
        let update = randomUpdate(&r)
        for options in [DecodeOptions(fourByteAS: true), DecodeOptions(fourByteAS: true, addPath: .all)] {
            var withPaths = update
            if !options.addPath.isEmpty {
                withPaths.reach?.nlri = update.reach!.nlri.enumerated().map {
                    NLRIEntry(pathID: UInt32($0.offset + 1), nlri: $0.element.nlri)
                }
                withPaths.announced = update.announced.map { NLRIEntry(pathID: 9, nlri: $0.nlri) }
                withPaths.withdrawn = update.withdrawn.map { NLRIEntry(pathID: 9, nlri: $0.nlri) }
                withPaths.unreach?.nlri = update.unreach?.nlri.map { NLRIEntry(pathID: 3, nlri: $0.nlri) } ?? []
            }
            let decoded = try decodeMessage(BGPEncoder.update(withPaths, options: options), options)
            #expect(decoded == withPaths)
        }
    }
}

@Test func twoByteASPathAndAS4PathMerge() throws {
    var u = UpdateMessage()
    u.attributes.origin = 0
    u.attributes.asPath = [ASPathSegment(kind: .sequence, asns: [65001, 23456, 23456])]
    u.attributes.nextHop = IPAddress("192.0.2.1")
    u.announced = [NLRIEntry(nlri: .prefix(IPPrefix(address: IPAddress("198.51.100.0")!, length: 24)))]
    var as4 = ByteWriter()
    as4.u8(2); as4.u8(2); as4.u32(4_200_000_001); as4.u32(4_200_000_002)
    u.attributes.other = [RawAttribute(flags: 0xC0, type: 17, value: as4.bytes)]
    var bytes = BGPEncoder.update(u, options: DecodeOptions(fourByteAS: false))
    let decoded = try decodeMessage(bytes, DecodeOptions(fourByteAS: false))
    #expect(decoded.attributes.asPath == [ASPathSegment(kind: .sequence, asns: [65001, 4_200_000_001, 4_200_000_002])])
    // RFC 7606: a malformed ORIGIN (value 7) makes the UPDATE treat-as-withdraw, never fatal.
    let originValueIndex = 19 + 2 + 2 + 3
    #expect(bytes[originValueIndex] == 0)
    bytes[originValueIndex] = 7
    let damaged = try decodeMessage(bytes, DecodeOptions(fourByteAS: false))
    #expect(damaged.action == .treatAsWithdraw)
    #expect(damaged.errors.first?.attributeType == 1)
}

@Test func malformedCommunitiesAndAggregatorFollowRFC7606() throws {
    var u = UpdateMessage()
    u.attributes.origin = 0
    u.attributes.nextHop = IPAddress("192.0.2.1")
    u.announced = [NLRIEntry(nlri: .prefix(IPPrefix(address: IPAddress("198.51.100.0")!, length: 24)))]
    u.attributes.other = [RawAttribute(flags: 0xC0, type: 7, value: [1, 2, 3])]  // AGGREGATOR of 3 bytes
    let discarded = try decodeMessage(BGPEncoder.update(u))
    #expect(discarded.action == .attributeDiscard)
    #expect(discarded.announced.count == 1)
    // EXTENDED_COMMUNITIES not a multiple of 8.
    u.attributes.other = [RawAttribute(flags: 0xC0, type: 16, value: [1, 2, 3])]
    #expect(try decodeMessage(BGPEncoder.update(u)).action == .treatAsWithdraw)
}

@Test func openCapabilitiesGiveAddPathPerDirection() throws {
    var router = OpenMessage(myAS: 4_200_000_000, bgpID: IPAddress("10.0.0.1")!)
    router.fourByteAS = true
    router.multiprotocol = [.evpn]
    router.addPath = [.evpn: 1]
    var peer = OpenMessage(myAS: 65002, bgpID: IPAddress("10.0.0.2")!)
    peer.addPath = [.evpn: 3, .ipv4Unicast: 2]
    let bytes = router.encode()
    let decoded = try bytes.withUnsafeBytes { raw -> OpenMessage in
        var c = ByteCursor(raw)
        guard case .open(let open) = try BGPMessage.decode(&c, options: DecodeOptions()) else {
            throw DecodeError(context: "", expected: "OPEN", offset: 0)
        }
        return open
    }
    #expect(decoded == router)
    let families = OpenMessage.addPathFamilies(sender: peer, receiver: router)
    #expect(families.contains(.evpn))
    #expect(!families.contains(.ipv4Unicast))
    #expect(!OpenMessage.addPathFamilies(sender: router, receiver: peer).contains(.evpn))
}

/// RFC 4724 §2: End-of-RIB is an UPDATE with nothing in it (IPv4 unicast) or with only an empty
/// MP_UNREACH_NLRI (any other family); anything else in the message makes it an ordinary UPDATE.
@Test func endOfRIBIsAnEmptyUpdateOrALoneEmptyMPUnreach() throws {
    let ipv4 = try decodeMessage(BGPEncoder.update(UpdateMessage()))
    #expect(ipv4.endOfRIB == .ipv4Unicast)

    var evpn = UpdateMessage()
    evpn.unreach = MPUnreach(family: .evpn, nlri: [])
    #expect(try decodeMessage(BGPEncoder.update(evpn)).endOfRIB == .evpn)

    var withdrawal = evpn
    withdrawal.unreach?.nlri = [
        NLRIEntry(
            nlri: .evpn(
                .inclusiveMulticast(
                    InclusiveMulticastRoute(rd: .as2(1, 2), ethernetTag: 0, originatingIP: IPAddress(v4: 7)))))
    ]
    #expect(try decodeMessage(BGPEncoder.update(withdrawal)).endOfRIB == nil)

    var withAttribute = evpn
    withAttribute.attributes.origin = 0
    #expect(try decodeMessage(BGPEncoder.update(withAttribute)).endOfRIB == nil)

    var announcement = UpdateMessage()
    announcement.attributes.origin = 0
    announcement.reach = MPReach(family: .evpn, nextHop: IPAddress(v4: 1), nlri: withdrawal.unreach!.nlri)
    #expect(try decodeMessage(BGPEncoder.update(announcement)).endOfRIB == nil)

    // It reaches the replay as a session event of its family, and routes never do.
    var items: [FeedItem] = []
    try decodeMessage(BGPEncoder.update(evpn)).appendEvents(
        time: 5, source: SourceRef(input: 0, offset: 0),
        observation: ObservationPoint(
            router: 0, table: .mrt, peerIP: IPAddress(v4: 9), peerAS: 65000, peerBGPID: IPAddress(v4: 9)), into: &items)
    #expect(items.count == 1)
    if case .session(let event) = items.first?.payload, case .endOfRIB(let family) = event.kind {
        #expect(family == .evpn)
    } else {
        Issue.record("no End-of-RIB event")
    }
}

@Test func inlineListsKeepOrderPastTheInlineFourAndCompareByElements() {
    var list = InlineList<UInt32>()
    for value in 1...7 as ClosedRange<UInt32> { list.append(value * 10) }
    #expect(list.count == 7)
    #expect(Array(list) == [10, 20, 30, 40, 50, 60, 70])
    #expect(list[3] == 40 && list[4] == 50)
    let literal: InlineList<UInt32> = [10, 20, 30, 40, 50, 60, 70]
    #expect(list == literal && list.hashValue == literal.hashValue)
    var shorter = literal
    shorter.removeAll()
    for value in [10, 20, 30, 40, 50, 60] as [UInt32] { shorter.append(value) }
    #expect(shorter != list)
    shorter.append(71)
    #expect(shorter != list)  // same length, last element differs
}

@Test func attributesWithAnEmptyBoxEqualAndHashAsNone() {
    // Writing a seldom-carried attribute makes its box even when the value written is empty:
    // such attributes must still equal, and hash as, attributes without one.
    var boxed = PathAttributes()
    boxed.med = nil
    boxed.communities.removeAll()
    #expect(boxed == PathAttributes() && PathAttributes() == boxed)
    #expect(boxed.hashValue == PathAttributes().hashValue)
    boxed.med = 10
    #expect(boxed != PathAttributes())
    var other = PathAttributes()
    other.med = 10
    #expect(boxed == other && boxed.hashValue == other.hashValue)
}

@Test func aMessageResetForEachUpdateDecodesWhatAFreshMessageDoes() throws {
    // The MRT and BMP readers decode every UPDATE into one message, reset in between (NLRI
    // storage kept, empty lists untouched): nothing of one UPDATE may leak into the next, and
    // the events already made from earlier ones must keep their routes and attributes.
    var r = TestRandom(state: 0x5151_2024)
    var reused = UpdateMessage()
    var earlier: [(events: [FeedItem], fresh: UpdateMessage)] = []
    for round in 0..<300 {
        var update = randomUpdate(&r)
        if round % 3 == 0 { update.attributes.med = nil; update.attributes.pmsiTunnel = nil; update.reach = nil }
        if round % 3 == 1 {
            update.attributes.atomicAggregate = true
            update.attributes.aggregatorAS = 64512; update.attributes.aggregatorIP = IPAddress(v4: 0x0A00_0001)
            update.attributes.pmsiTunnel = PMSITunnel(flags: 0, tunnelType: 6, label: 100, tunnelID: [10, 0, 0, 1])
        }
        let bytes = BGPEncoder.update(update)
        let fresh = try decodeMessage(bytes)
        reused.reset()
        #expect(reused == UpdateMessage())
        _ = try bytes.withUnsafeBytes { raw in
            var cursor = ByteCursor(raw)
            return try BGPMessage.decodeUpdate(&cursor, options: DecodeOptions(), into: &reused)
        }
        #expect(reused == fresh)
        var events: [FeedItem] = []
        reused.appendEvents(
            time: 1, source: SourceRef(input: 0, offset: 0),
            observation: ObservationPoint(
                router: 0, table: .mrt, peerIP: IPAddress(v4: 1), peerAS: 1, peerBGPID: IPAddress(v4: 1)), into: &events
        )
        earlier.append((events, fresh))
    }
    for (events, fresh) in earlier {
        let routes = events.compactMap { item -> RouteEvent? in
            if case .route(let event) = item.payload { return event } else { return nil }
        }
        let nlri = fresh.withdrawn + (fresh.unreach?.nlri ?? []) + fresh.announced + (fresh.reach?.nlri ?? [])
        #expect(routes.map(\.entry) == nlri)
        for event in routes where !event.isWithdraw { #expect(event.attributes == fresh.attributes) }
    }
}
