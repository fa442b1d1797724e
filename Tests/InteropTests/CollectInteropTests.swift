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
    // The reflector streams to the capture and to the station; each PE to the station.
    try writeReflectorConfigs(directory: directory, reflector: rr, clients: pes) { speaker in
        speaker.name == rr.name ? bmp(capture.port, "rr") + bmp(port, "rr") : bmp(port, speaker.name)
    }
    let daemons = try startGobgpd([rr] + pes, directory: directory)
    defer { stopGobgpd(daemons) }
    #expect(waitForSessions(rr, count: 2))
    let vm1 = "aa:bb:cc:00:01:01", vm2 = "aa:bb:cc:00:01:02"
    try advertiseMAC(pes[0], vm1, "10.0.1.1")
    try advertiseMAC(pes[0], vm2, "10.0.1.2")
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
    try advertiseMAC(pes[1], vm1, "10.0.1.1")
    Thread.sleep(forTimeInterval: 3)
    try advertiseMAC(pes[0], vm1, "10.0.1.1")
    Thread.sleep(forTimeInterval: 3)
    stopGobgpd(daemons)
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
