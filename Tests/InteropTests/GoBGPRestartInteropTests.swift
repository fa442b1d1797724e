import Foundation
import Store
import Testing

/// A PE dies under graceful restart (RFC 4724), recorded from GoBGP 3.10: a reflector that
/// streams BMP and writes an MRT update dump, two PEs. The reflector keeps the dead PE's routes
/// as stale for the restart time, then drops them; its BMP reports the Peer Down, and its MRT
/// dump, which holds only the UPDATEs it received, never shows the loss. MOB-12 ties the two
/// records of the one session (the Peer Up's local address is the dump's local address), so the
/// routes leave the dump's observation point too and no STALE-PEER-DOWN is reported, even
/// with a restart time shorter than the capture.
@Test(
    """
    MOB-12, STALE-PEER-DOWN from GoBGP 3.10 under graceful restart: a killed PE's routes leave the reflector's BMP \
    tables and its MRT dump alike, no finding; its Peer Down withdrawals are no DQ-TIME-BACKWARDS
    """,
    .enabled(if: gobgpAvailable), .timeLimit(.minutes(2)))
func gobgpGracefulRestartPeerLossIsNoStaleRoute() throws {
    let directory = NSTemporaryDirectory() + "evpnscope-interop-gobgp-restart"  // no digits (Go's time layout)
    try? FileManager.default.removeItem(atPath: directory)
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let listener = try BMPListener(path: directory + "/rr.bmp")
    let rr = Speaker(name: "rr", address: "127.0.0.50", apiPort: 50150)
    let dying = Speaker(name: "pe", address: "127.0.0.51", apiPort: 50151)
    let surviving = Speaker(name: "pf", address: "127.0.0.52", apiPort: 50152)
    let restartTime = 5
    try writeReflectorConfigs(
        directory: directory, reflector: rr, clients: [dying, surviving], restartTime: restartTime
    ) { speaker in speaker.name == rr.name ? gobgpRecording(directory: directory, bmpPort: listener.port) : "" }

    var daemons: [Process] = []
    defer { stopGobgpd(daemons) }
    daemons = try startGobgpd([rr, dying, surviving], directory: directory)
    #expect(waitForSessions(rr, count: 2))
    let macs = ["aa:bb:cc:00:01:01", "aa:bb:cc:00:01:02", "aa:bb:cc:00:01:03"]
    for (i, mac) in macs.enumerated() { try advertiseMAC(dying, mac, "10.0.1.\(i + 1)") }
    Thread.sleep(forTimeInterval: 2)
    // Killed, not stopped: no NOTIFICATION, so the reflector keeps the routes as stale.
    kill(daemons[1].processIdentifier, SIGKILL)
    daemons[1].waitUntilExit()
    Thread.sleep(forTimeInterval: 2)
    let stale = try gobgp(rr, ["global", "rib", "-a", "evpn"])
    #expect(
        macs.allSatisfy { mac in stale.split(separator: "\n").contains { $0.hasPrefix("S") && $0.contains(mac) } },
        "the reflector should hold the dead PE's routes as stale:\n\(stale)")
    Thread.sleep(forTimeInterval: Double(restartTime + 3))
    #expect(
        !(try gobgp(rr, ["global", "rib", "-a", "evpn"])).contains(macs[0]), "stale routes outlived the restart time")
    // Later traffic carries the capture past the restart time.
    try advertiseMAC(surviving, "aa:bb:cc:00:02:01", "10.0.2.1")
    Thread.sleep(forTimeInterval: 2)
    stopGobgpd(daemons)
    listener.waitForClose(seconds: 10)

    // What each record holds: the BMP stream the Peer Down, the MRT dump the routes and no withdrawal.
    let decoded = try shell([evpnscopeBinary, "decode", directory + "/updates.dump", directory + "/rr.bmp"])
    let events = decoded.split(separator: "\n").map {
        try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
    }
    let fromDying = events.filter { $0["peer_ip"] as? String == dying.address }
    #expect(fromDying.contains { $0["event"] as? String == "session-down" && $0["table_name"] as? String != "mrt" })
    // GoBGP stamps the withdrawals it sends at the Peer Down with the routes' receive time;
    // they happened when sent, after the Peer Down.
    let peerDown = fromDying.first { $0["event"] as? String == "session-down" }?["time_us"] as? Int ?? .max
    let bmpWithdrawals = events.filter {
        $0["event"] as? String == "withdraw" && ($0["mac"] as? String).map(macs.contains) == true
    }
    #expect(!bmpWithdrawals.isEmpty)
    #expect(bmpWithdrawals.allSatisfy { ($0["time_us"] as? Int ?? 0) >= peerDown }, "\(bmpWithdrawals)")
    let dumped = fromDying.filter { $0["table_name"] as? String == "mrt" }
    #expect(Set(dumped.compactMap { $0["mac"] as? String }) == Set(macs))
    #expect(dumped.allSatisfy { $0["event"] as? String == "announce" })

    let db = directory + "/analysis.sqlite"
    _ = try shell(
        [
            evpnscopeBinary, "analyze", directory + "/updates.dump", directory + "/rr.bmp", "--db", db, "--report",
            directory + "/report.md", "--restart-time", "3s",
        ], allowFailure: true)
    let database = try Database(path: db, readOnly: true)
    #expect(try database.rows("SELECT rule FROM findings WHERE rule LIKE 'STALE%'").isEmpty)
    // DQ-TIME-BACKWARDS: those withdrawals are no clock step.
    #expect(try database.rows("SELECT subject FROM data_quality WHERE rule = 'DQ-TIME-BACKWARDS'").isEmpty)
    let pe = try database.rows("SELECT live_macs, sessions_down FROM pes WHERE address = ?", [.text(dying.address)])
    #expect(pe.first == ["0", "1"], "\(pe)")
}
