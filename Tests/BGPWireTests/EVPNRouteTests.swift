import EVPNModel
import Testing
@testable import BGPWire

/// The worked example of docs/evpn-wire-format.md §6, byte for byte.
let seedRouteBytes: [UInt8] = [
    0x02, 0x28,
    0x00, 0x01, 0x0a, 0xff, 0xff, 0x01, 0xa0, 0x28,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0,
    0x30, 0xaa, 0xaa, 0xaa, 0x11, 0x11, 0x11,
    0x20, 0x0a, 0x00, 0x00, 0x0b,
    0x05, 0xdd, 0x20,
    0x05, 0xdd, 0x70,
]

func decodeEVPN(_ bytes: [UInt8]) throws -> EVPNRoute {
    try bytes.withUnsafeBytes { raw in
        var cursor = ByteCursor(raw)
        let route = try EVPNRouteCodec.decode(&cursor)
        #expect(cursor.isAtEnd)
        return route
    }
}

@Test func seedMACIPRouteDecodesEveryField() throws {
    guard case .macIP(let route) = try decodeEVPN(seedRouteBytes) else { Issue.record("not a MAC/IP route"); return }
    #expect(route.rd.description == "10.255.255.1:41000")
    #expect(route.rd.routerIP == IPAddress("10.255.255.1"))
    #expect(route.esi.isZero)
    #expect(route.ethernetTag == 0)
    #expect(route.mac.description == "aa:aa:aa:11:11:11")
    #expect(route.ip?.description == "10.0.0.11")
    #expect(route.label1 >> 4 == 24018)
    #expect(route.label2.map { $0 >> 4 } == 24023)
    var writer = ByteWriter()
    EVPNRouteCodec.encode(.macIP(route), into: &writer)
    #expect(writer.bytes == seedRouteBytes)
}

@Test func seedMPReachAttributeMatchesTheCheatSheet() throws {
    let route = try decodeEVPN(seedRouteBytes)
    var update = UpdateMessage()
    update.reach = MPReach(family: .evpn, nextHop: IPAddress("10.255.255.2"), nlri: [NLRIEntry(nlri: .evpn(route))])
    var w = ByteWriter()
    BGPEncoder.writeAttributes(update.attributes, options: DecodeOptions(), into: &w, reach: update.reach)
    #expect(Array(w.bytes.prefix(10)) == [0x90, 0x0e, 0x00, 0x33, 0x00, 0x19, 0x46, 0x04, 0x0a, 0xff])
    #expect(w.bytes.count == 4 + 0x33)
}

@Test func macMobilityCommunityBytes() {
    #expect(ExtendedCommunity.macMobility(sequence: 3).raw == 0x0600_0000_0000_0003)
    #expect(ExtendedCommunity.macMobility(sequence: 3, sticky: true).raw == 0x0600_0100_0000_0003)
    let sticky = ExtendedCommunity(raw: 0x0600_0100_0000_0003).macMobility
    #expect(sticky == ExtendedCommunity.MACMobility(sequence: 3, sticky: true))
    #expect(RouteTarget.as2(12345, 41000).raw == 0x0002_3039_0000_a028)
    #expect(ExtendedCommunity(raw: 0x0002_3039_0000_a028).description == "rt:12345:41000")
}

@Test func allRouteTypesDecode() throws {
    let rd = RouteDistinguisher.as2(65000, 100)
    let esi = ESI("01:00:11:22:33:44:55:00:00:01")!
    let routes: [EVPNRoute] = [
        .ethernetAD(EthernetAutoDiscovery(rd: rd, esi: esi, ethernetTag: 0xFFFF_FFFF, label: 100 << 4)),
        .macIP(
            MACIPAdvertisement(
                rd: .as4(4_200_000_000, 7), mac: MACAddress("00:50:56:aa:bb:cc")!, ip: IPAddress("2001:db8::11"),
                label1: 10100)),
        .inclusiveMulticast(
            InclusiveMulticastRoute(rd: rd, ethernetTag: 10, originatingIP: IPAddress("10.255.255.3")!)),
        .ethernetSegment(EthernetSegmentRoute(rd: rd, esi: esi, originatingIP: IPAddress("2001:db8::3")!)),
        .ipPrefix(
            IPPrefixRoute(
                rd: rd, esi: .zero, ethernetTag: 0, prefix: IPPrefix(address: IPAddress("192.0.2.0")!, length: 24),
                gateway: IPAddress("0.0.0.0")!, label: 5000)),
        .unknown(type: 9, bytes: [1, 2, 3]),
    ]
    for route in routes {
        var w = ByteWriter()
        EVPNRouteCodec.encode(route, into: &w)
        #expect(try decodeEVPN(w.bytes) == route)
    }
    #expect(esi.type == 1)
    #expect(esi.description == "01:00:11:22:33:44:55:00:00:01")
}

@Test func malformedMACIPRouteIsRejectedWithOffset() {
    var bad = seedRouteBytes
    bad[2 + 8 + 10 + 4] = 40  // MAC length must be 48
    #expect(throws: DecodeError.self) { try decodeEVPN(bad) }
    var short = seedRouteBytes
    short[1] = 0x40  // length past the end of the buffer
    do { _ = try decodeEVPN(short); Issue.record("expected an error") } catch let error as DecodeError {
        #expect(error.offset == 2)
        #expect(error.context.contains("EVPN route type 2"))
    } catch { Issue.record("unexpected \(error)") }
}

/// The number writers behind every decoded line and stored row, against the standard library's
/// text: each length of decimal (1 to 20 digits, both sides of every power of ten) and dotted
/// quads with one-, two- and three-digit octets.
@Test func decimalsAndDottedQuadsMatchTheStandardLibrarysText() {
    var values: [UInt64] = [0, 9, 10, 99, 100, UInt64.max, UInt64.max - 1, 1_795_485_600_000_000]
    var power: UInt64 = 1
    for _ in 0..<19 {
        power *= 10
        values += [power - 1, power, power + 1]
    }
    var random = SystemRandomNumberGenerator()
    for _ in 0..<2_000 {
        values.append(UInt64.random(in: 0...UInt64.max, using: &random) >> UInt64.random(in: 0...63, using: &random))
    }
    var buffer = [UInt8](repeating: 0, count: 24)
    for value in values {
        let length = buffer.withUnsafeMutableBufferPointer { writeDecimal(value, to: $0.baseAddress!) }
        #expect(String(decoding: buffer[..<length], as: UTF8.self) == String(value))
    }
    for address: UInt32 in [0, 0x0A00_0001, 0xFFFF_FFFF, 0x6463_0A09]
        + (0..<2_000).map({ _ in UInt32.random(in: 0...UInt32.max) })
    {
        let length = buffer.withUnsafeMutableBufferPointer { writeDottedQuad(address, to: $0.baseAddress!) }
        let expected = [24, 16, 8, 0].map { String(address >> UInt32($0) & 0xFF) }.joined(separator: ".")
        #expect(String(decoding: buffer[..<length], as: UTF8.self) == expected)
    }
}
