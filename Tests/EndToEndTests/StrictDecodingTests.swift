import BGPWire
import EVPNModel
import Foundation
import MRT
import Store
import Testing

/// BGP4MP_ET's microsecond field beyond 999,999 is damage, not 4,294 s added to the time; the
/// records around it decode (issue 20).
@Test func extendedTimeMicrosecondsPastASecondAreDamage() throws {
    let directory = scratch()
    let peer = IPAddress("10.255.0.1")!, local = IPAddress("10.255.0.254")!
    let time: Int64 = 1_795_485_600_000_000
    var bytes: [UInt8] = []
    for k in 0..<3 {
        var record = MRTEncoder.bgp4mpMessage(
            time: time + Int64(k) * 1_000, peerAS: 65000, localAS: 65000, peerIP: peer, localIP: local,
            message: BGPEncoder.keepalive)
        if k == 1 { record.replaceSubrange(12..<16, with: [0xFF, 0xFF, 0xFF, 0xF0]) }  // 4,294,967,280 µs
        bytes += record
    }
    let path = try write(bytes, "et.mrt", in: directory)
    let decoded = try decodeAll(path)
    #expect(
        decoded.damage.count == 1 && decoded.damage[0].message.contains("BGP4MP_ET microseconds"), "\(decoded.damage)")
    #expect(decoded.damage.first?.recovered == true)
}

/// An input of records the tool skips (no route at all) keeps its byte and record counts and its
/// sha256 in the inputs table (issue 20), beside a dump that has routes.
@Test func anInputOfSkippedRecordsKeepsItsCounts() throws {
    let directory = scratch()
    var bytes: [UInt8] = []
    for k in 0..<5 {
        bytes += MRTEncoder.record(seconds: 1_795_485_600 + UInt32(k), type: 11, subtype: 0, body: [1, 2, 3, 4])
    }
    let skipped = try write(bytes, "ospf.mrt", in: directory)
    let db = directory + "/a.sqlite"
    let result = try evpnscope([
        "analyze", skipped, "datasets/demo/dumps/mrt", "--db", db, "--report", directory + "/r.md",
    ])
    #expect(result.status == 0, "\(result.stderr)")
    let row = try Database(path: db, readOnly: true).rows(
        "SELECT bytes, records, sha256 FROM inputs WHERE path LIKE '%ospf.mrt'")
    #expect(
        row.count == 1 && row[0][0] == "\(bytes.count)" && row[0][1] == "5" && (row[0][2]?.count ?? 0) == 64, "\(row)")
}

/// A date is checked against its month: 31 April or 29 February of a common year is not a time.
@Test func datesAreCheckedAgainstTheirMonth() {
    #expect(Timestamp.parse("2024-02-29") != nil && Timestamp.parse("2026-04-30T23:59Z") != nil)
    #expect(
        Timestamp.parse("2025-02-29") == nil && Timestamp.parse("2026-04-31") == nil
            && Timestamp.parse("1900-02-29") == nil)
    #expect(Timestamp.parse("2000-02-29") != nil)
}
