import Foundation
import Store
import TestSupport
import Testing

/// Writes the run's results and reads back mac_state (mac, advertisers, ips, winner_pe,
/// winner_seq), ordered by MAC.
private func storedMACStates(_ run: Run) throws -> (Database, [[String?]]) {
    let path = temporaryPath("analysis.sqlite")
    let writer = try AnalysisWriter(path: path)
    try writer.write(inputs: [], engine: run.engine, analyzer: run.analyzer, incidents: run.incidents)
    try writer.commit()
    let db = try Database(path: path, readOnly: true)
    return (db, try db.rows("SELECT mac, advertisers, ips, winner_pe, winner_seq FROM mac_state ORDER BY mac"))
}

/// The mac_state table is what an engineer queries first ("who advertises this MAC now?"):
/// each PE's advertisement as pe:seq (s when sticky) and every IP bound to the MAC.
@Test("mac_state rows: each PE's highest sequence (MOB-11), sticky (MOB-5), every IP of the MAC once")
func macStateRowsCarryEveryAdvertisementAndIP() throws {
    let run = try analyze([
        Step(at: 0, pe: 1, mac: "aa:bb:cc:00:00:01", ip: "10.1.1.9"),
        Step(at: 10, pe: 1, mac: "aa:bb:cc:00:00:01", seq: 2, ip: "2001:db8::5"),
        Step(at: 20, pe: 2, mac: "aa:bb:cc:00:00:01", seq: 3, sticky: true, ip: "10.1.1.9"),
        Step(at: 30, pe: 3, mac: "aa:bb:cc:00:00:02", ip: "10.1.1.10"),
        Step(at: 40, pe: 3, mac: "aa:bb:cc:00:00:03"),
    ])
    let (db, rows) = try storedMACStates(run)
    #expect(rows.count == 3)
    let (pe1, pe2, pe3) = (run.pe(1), run.pe(2), run.pe(3))
    // Both PEs still advertise the first MAC: PE 1 never withdrew after PE 2's sticky move.
    #expect(rows[0][0] == "aa:bb:cc:00:00:01")
    #expect(Set((rows[0][1] ?? "").split(separator: " ").map(String.init)) == ["\(pe1):2", "\(pe2):3s"])
    #expect(rows[0][2] == "10.1.1.9 2001:db8::5")
    #expect(rows[0][3] == "\(pe2)" && rows[0][4] == "3")
    #expect(rows[1] == ["aa:bb:cc:00:00:02", "\(pe3):0", "10.1.1.10", "\(pe3)", "0"])
    #expect(rows[2] == ["aa:bb:cc:00:00:03", "\(pe3):0", "", "\(pe3)", "0"])
    // pes.live_macs counts the MACs each PE advertises.
    let live = try db.rows("SELECT id, live_macs FROM pes ORDER BY id").map { ($0[0]!, $0[1]!) }
    #expect(live.map(\.1) == live.map { id, _ in id == "\(pe1)" || id == "\(pe2)" ? "1" : id == "\(pe3)" ? "2" : "0" })
}

/// The rows go in several to an INSERT statement; a count that is no multiple of it must still
/// give every MAC its own row with its own values.
@Test("mac_state: 70 MACs give 70 rows, each with its PE and sequence (MOB-11)")
func macStateRowsOfManyMACsEachKeepTheirValues() throws {
    let steps = (0..<70).map { i in
        Step(
            at: Double(i), pe: 1 + i % 3, mac: String(format: "aa:bb:cc:00:01:%02x", i), seq: UInt32(i + 1),
            ip: "10.2.0.\(i + 1)")
    }
    let run = try analyze(steps)
    let (_, rows) = try storedMACStates(run)
    #expect(rows.count == 70)
    for (i, row) in rows.enumerated() {
        let pe = run.pe(1 + i % 3)
        #expect(
            row == [String(format: "aa:bb:cc:00:01:%02x", i), "\(pe):\(i + 1)", "10.2.0.\(i + 1)", "\(pe)", "\(i + 1)"])
    }
}
