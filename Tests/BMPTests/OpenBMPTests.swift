import BGPWire
import BMP
import ByteStreams
import EVPNModel
import Foundation
import Ingest
import TestSupport
import Testing

private let demoBMP =
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path + "/datasets/demo/dumps/bmp/rr1.20261124.0200.gz"

private func demoMessages() throws -> [[UInt8]] {
    let bytes = try decompressedContents(demoBMP)
    var out: [[UInt8]] = []
    var at = 0
    while at + 6 <= bytes.count {
        let length = Int(bytes[at + 1]) << 24 | Int(bytes[at + 2]) << 16 | Int(bytes[at + 3]) << 8 | Int(bytes[at + 4])
        out.append(Array(bytes[at..<at + length]))
        at += length
    }
    return out
}

/// Route events of a file as comparable text, with the router each came through.
private func events(_ path: String) throws -> (routes: [(router: UInt32, text: String)], inputs: InputSet) {
    let inputs = try InputSet(paths: [path])
    var out: [(UInt32, String)] = []
    while let item = inputs.next() {
        guard case .route(let e) = item.payload else { continue }
        out.append(
            (
                e.observation.router,
                "\(e.time) \(e.observation.table) \(e.observation.peerIP) \(e.isWithdraw) \(e.entry.nlri) "
                    + "\(e.attributes.extendedCommunities)"
            ))
    }
    return (out, inputs)
}

@Test(
    """
    OpenBMP raw records (binary header v1.7): told apart by content, each router's messages keyed by the \
    record's router, other object types passed over, the events those of the plain BMP stream
    """)
func openBMPRecordsDecodeAsTheirBMP() throws {
    let messages = try demoMessages()
    let t0: Int64 = 1_795_485_600_000_000
    let a = IPAddress("192.0.2.1")!, b = IPAddress("2001:db8::2")!
    // Two routers interleaved as a Kafka topic holds them, and a collector record between them.
    var records: [[UInt8]] = []
    for (index, message) in messages.enumerated() {
        records.append(BMPEncoder.openBMPRecord(message, routerIP: a, collectorTime: t0 + Int64(index)))
        records.append(BMPEncoder.openBMPRecord(message, routerIP: b, collectorTime: t0 + Int64(index)))
        if index == 10 {
            records.append(BMPEncoder.openBMPRecord([1, 2, 3], routerIP: a, collectorTime: t0, objectType: 1))
        }
    }
    let path = try bmpFile(records, compression: .bzip2)
    let wrapped = try events(path)
    let plain = try events(demoBMP)
    #expect(wrapped.inputs.files[0].format == .openbmp)
    #expect(wrapped.inputs.files[0].damage.isEmpty, "\(wrapped.inputs.files[0].damage)")
    let routers = Set(wrapped.routes.map(\.router))
    #expect(routers.count == 2)
    #expect(!plain.routes.isEmpty)
    for router in routers {
        #expect(wrapped.routes.filter { $0.router == router }.map(\.text) == plain.routes.map(\.text))
    }
    // One router's records analyse as its plain stream.
    let onlyA = try bmpFile(
        messages.enumerated().map { BMPEncoder.openBMPRecord($1, routerIP: a, collectorTime: t0 + Int64($0)) })
    func findings(_ run: Run) -> [String] {
        run.analyzer.findings.map { "\($0.rule.rawValue) \($0.mac.map { "\($0)" } ?? "") \($0.detail)" }.sorted()
    }
    #expect(findings(try analyze([onlyA])) == findings(try analyze([demoBMP])))
}

@Test("OpenBMP records: a broken header ends the file with its offset and what was expected; events before it kept")
func openBMPDamageNamesTheOffset() throws {
    let messages = try demoMessages()
    let a = IPAddress("192.0.2.1")!
    let good = messages.prefix(40).map { BMPEncoder.openBMPRecord($0, routerIP: a, collectorTime: 0) }
    var broken = BMPEncoder.openBMPRecord(messages[40], routerIP: a, collectorTime: 0)
    broken[0] = UInt8(ascii: "X")
    let path = try bmpFile(good + [broken] + [BMPEncoder.openBMPRecord(messages[41], routerIP: a, collectorTime: 0)])
    let result = try events(path)
    let damage = result.inputs.files[0].damage
    #expect(damage.count == 1)
    #expect(damage.first?.offset == Int64(good.map(\.count).reduce(0, +)))
    #expect(damage.first?.message.contains("expected the magic \"OBMP\"") == true, "\(damage)")
    let plain = try events(try bmpFile(Array(messages.prefix(40))))
    #expect(result.routes.map(\.text) == plain.routes.map(\.text))
}
