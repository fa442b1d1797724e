import Foundation
import Store
import Testing

/// Issue 23 with real routers: three gobgpd (a reflector and two PEs) stream BMP to
/// `evpnscope collect` at once; the reflector streams the same to a plain one-connection
/// capture too. The station is restarted in the middle. The archive must analyse as the capture.

/// `evpnscope collect` on 127.0.0.1, its log in a file.
private final class Station {
    let process = Process()
    let log: String
    init(out: String, port: UInt16, log: String) throws {
        self.log = log
        FileManager.default.createFile(atPath: log, contents: nil)
        process.executableURL = URL(fileURLWithPath: evpnscopeBinary)
        process.arguments = ["collect", "--listen", "127.0.0.1:\(port)", "--out", out, "--rotate", "2s"]
        process.standardError = FileHandle(forWritingAtPath: log)
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
    }
    var text: String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }
    func port() throws -> UInt16 {
        for _ in 0..<100 {
            if let line = text.split(separator: "\n").first(where: { $0.contains("listening on") }),
                let port = line.split(separator: " ").drop(while: { $0 != "port" }).dropFirst().first
                    .flatMap({ UInt16($0.filter(\.isNumber)) })
            {
                return port
            }
            Thread.sleep(forTimeInterval: 0.1)
        }
        throw InteropError(message: "collect did not start: \(text)")
    }
    func stop() -> Int32 {
        process.terminate()
        process.waitUntilExit()
        return process.terminationStatus
    }
}

@Test(.enabled(if: gobgpAvailable), .timeLimit(.minutes(4)))
func gobgpThroughCollectAnalysesAsADirectCapture() throws {
    let directory = NSTemporaryDirectory() + "evpnscope-interop-collect"
    try? FileManager.default.removeItem(atPath: directory)
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let capture = try BMPListener(path: directory + "/direct.bmp")
    let archive = directory + "/archive"
    var station = try Station(out: archive, port: 0, log: directory + "/collect-1.log")
    defer { if station.process.isRunning { _ = station.stop() } }
    let port = try station.port()

    let rr = Speaker(name: "rr", address: "127.0.0.40", apiPort: 50140)
    let pes = [
        Speaker(name: "pe", address: "127.0.0.41", apiPort: 50141),
        Speaker(name: "pf", address: "127.0.0.42", apiPort: 50142),
    ]
    // gobgpd connects from 127.0.0.1 whatever its address: each says its name (sysName), as routers do.
    // A station's restart is noticed by the router's next write: statistics every 15 s (gobgpd's least) make one.
    func bmp(_ port: UInt16, _ name: String) -> String {
        "[[bmp-servers]]\n[bmp-servers.config]\naddress = \"127.0.0.1\"\nport = \(port)\n"
            + "route-monitoring-policy = \"all\"\nsys-name = \"\(name)\"\nstatistics-timeout = 15\n\n"
    }
    func global(_ speaker: Speaker) -> String {
        "[global.config]\nas = 65000\nrouter-id = \"\(speaker.address)\"\nport = 1790\nlocal-address-list = "
            + "[\"\(speaker.address)\"]\n\n"
    }
    func neighbor(_ address: String, local: String, client: Bool) -> String {
        var text =
            "[[neighbors]]\n[neighbors.config]\nneighbor-address = \"\(address)\"\npeer-as = 65000\n"
            + "[neighbors.transport.config]\nlocal-address = \"\(local)\"\nremote-port = 1790\n"
        if client {
            text +=
                "[neighbors.route-reflector.config]\nroute-reflector-client = true\n"
                + "route-reflector-cluster-id = \"\(rr.address)\"\n"
        }
        return text + "[[neighbors.afi-safis]]\n[neighbors.afi-safis.config]\nafi-safi-name = \"l2vpn-evpn\"\n\n"
    }
    // The reflector streams to the capture and to the station; each PE to the station.
    var rrConfig = global(rr) + bmp(capture.port, "rr") + bmp(port, "rr")
    for pe in pes { rrConfig += neighbor(pe.address, local: rr.address, client: true) }
    try rrConfig.write(toFile: directory + "/rr.toml", atomically: true, encoding: .utf8)
    for pe in pes {
        try (global(pe) + bmp(port, pe.name) + neighbor(rr.address, local: pe.address, client: false)).write(
            toFile: directory + "/\(pe.name).toml", atomically: true, encoding: .utf8)
    }
    var daemons: [Process] = []
    defer { for daemon in daemons where daemon.isRunning { daemon.terminate(); daemon.waitUntilExit() } }
    for speaker in [rr] + pes {
        let daemon = Process()
        daemon.executableURL = URL(fileURLWithPath: which("gobgpd")!)
        daemon.arguments = [
            "-f", directory + "/\(speaker.name).toml", "--api-hosts", "127.0.0.1:\(speaker.apiPort)", "--pprof-disable",
        ]
        daemon.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        daemon.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try daemon.run()
        daemons.append(daemon)
    }
    func gobgp(_ speaker: Speaker, _ arguments: [String]) throws -> String {
        try shell(["gobgp", "-u", "127.0.0.1", "-p", "\(speaker.apiPort)"] + arguments)
    }
    let deadline = Date().addingTimeInterval(60)
    while Date() < deadline {
        if ((try? gobgp(rr, ["neighbor"])) ?? "").components(separatedBy: "Establ").count - 1 == 2 { break }
        Thread.sleep(forTimeInterval: 0.5)
    }
    #expect(try gobgp(rr, ["neighbor"]).components(separatedBy: "Establ").count - 1 == 2)
    func advertise(_ pe: Speaker, _ mac: String, _ ip: String) throws {
        _ = try gobgp(
            pe,
            [
                "global", "rib", "-a", "evpn", "add", "macadv", mac, ip, "etag", "0", "label", "10100",
                "rd", "\(pe.address):100", "rt", "65000:100", "encap", "vxlan",
            ])
    }
    let vm1 = "aa:bb:cc:00:01:01", vm2 = "aa:bb:cc:00:01:02"
    try advertise(pes[0], vm1, "10.0.1.1")
    try advertise(pes[0], vm2, "10.0.1.2")
    Thread.sleep(forTimeInterval: 3)
    // The station restarted in the middle: gobgpd reconnects and sends its tables again.
    #expect(station.stop() == 0, "\(station.text)")
    station = try Station(out: archive, port: port, log: directory + "/collect-2.log")
    let reconnected = Date().addingTimeInterval(90)
    while Date() < reconnected && station.text.components(separatedBy: ": router ").count - 1 < 3 {
        Thread.sleep(forTimeInterval: 0.5)
    }
    #expect(
        station.text.components(separatedBy: "seen before: its archive continues").count - 1 == 3, "\(station.text)")
    Thread.sleep(forTimeInterval: 2)
    try advertise(pes[1], vm1, "10.0.1.1")
    Thread.sleep(forTimeInterval: 3)
    try advertise(pes[0], vm1, "10.0.1.1")
    Thread.sleep(forTimeInterval: 3)
    for daemon in daemons { daemon.terminate(); daemon.waitUntilExit() }
    capture.waitForClose(seconds: 10)
    #expect(station.stop() == 0)
    #expect(station.text.contains("  rr: "), "\(station.text)")

    // Each router has its own folder of closed files; none is left partial.
    let folders = try FileManager.default.contentsOfDirectory(atPath: archive + "/bmp").sorted()
    #expect(folders == ["pe", "pf", "rr"])
    let all = FileManager.default.enumerator(atPath: archive + "/bmp")?.allObjects as? [String] ?? []
    #expect(!all.contains { $0.contains(".partial") })
    #expect(all.filter { $0.hasPrefix("rr/") && $0.hasSuffix(".bmp.gz") }.count >= 2)

    // The reflector's archive analyses as the direct capture: the same moves, the same findings.
    func analysis(_ input: String, _ name: String) throws -> (moves: [String], findings: [String]) {
        let db = directory + "/\(name).sqlite"
        _ = try shell(
            [evpnscopeBinary, "analyze", input, "--db", db, "--report", directory + "/\(name).md"],
            allowFailure: true)
        let database = try Database(path: db, readOnly: true)
        let moves = try database.rows(
            "SELECT m.mac, f.address, t.address FROM moves m JOIN pes f ON f.id = m.from_pe JOIN pes t ON "
                + "t.id = m.to_pe ORDER BY m.time_us, m.mac")
        let findings = try database.rows("SELECT rule, mac, ip FROM findings ORDER BY rule, mac, ip")
        #expect(try database.rows("SELECT count(*) FROM inputs WHERE damaged = 1")[0][0] == "0")
        return (
            moves.map { $0.map { $0 ?? "" }.joined(separator: " ") },
            findings.map { $0.map { $0 ?? "" }.joined(separator: " ") }
        )
    }
    let direct = try analysis(directory + "/direct.bmp", "direct")
    let archived = try analysis(archive + "/bmp/rr", "archived")
    #expect(direct.moves == ["\(vm1) 127.0.0.41 127.0.0.42", "\(vm1) 127.0.0.42 127.0.0.41"], "\(direct)")
    #expect(archived.moves == direct.moves)
    #expect(archived.findings == direct.findings, "\(archived.findings) vs \(direct.findings)")
    // The PEs' archives hold their own routes: each PE's Loc-RIB has vm2 from PE 1.
    let decoded = try shell([evpnscopeBinary, "decode", "--family", "evpn", archive + "/bmp/pf"])
    #expect(decoded.contains("\"mac\":\"\(vm2)\""))
}
