import Foundation
import Store
import Testing

/// Interop with real BGP software: three gobgpd (two PEs and a route reflector) on loopback
/// addresses; the reflector writes an MRT update dump and streams BMP to a listener here.
/// evpnscope must reproduce every injected route and find the injected moves.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()
/// The evpnscope built beside this test bundle (so `make check`'s sanitizer builds test their own binary).
let evpnscopeBinary: String = {
    let sibling = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(
        "evpnscope"
    ).path
    return FileManager.default.isExecutableFile(atPath: sibling)
        ? sibling : repositoryRoot.appendingPathComponent(".build/debug/evpnscope").path
}()

func which(_ tool: String) -> String? {
    for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") {
        let path = "\(directory)/\(tool)"
        if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    return nil
}

let gobgpAvailable: Bool = {
    let found = which("gobgpd") != nil && which("gobgp") != nil
    if !found {
        FileHandle.standardError.write(
            Data(
                """
                ******************************************************************
                * SKIPPED: GoBGP interop tests need gobgpd and gobgp (Debian     *
                * package gobgpd); .ci/run installs it. Install it to run them.  *
                ******************************************************************

                """.utf8))
    }
    return found
}()

@discardableResult
func shell(_ arguments: [String], allowFailure: Bool = false) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: which(arguments[0]) ?? arguments[0])
    process.arguments = Array(arguments.dropFirst())
    let out = Pipe()
    process.standardOutput = out
    process.standardError = FileHandle(forWritingAtPath: "/dev/null")
    try process.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let text = String(decoding: data, as: UTF8.self)
    if process.terminationStatus != 0 && !allowFailure {
        throw InteropError(message: "\(arguments.joined(separator: " ")): \(text)")
    }
    return text
}

struct InteropError: Error, CustomStringConvertible { var message: String; var description: String { message } }

/// A one-connection TCP listener that writes what it receives to a file (a BMP collector).
final class BMPListener {
    let path: String
    let socketFD: Int32
    private(set) var port: UInt16 = 0
    private let done = DispatchSemaphore(value: 0)

    init(path: String) throws {
        self.path = path
        socketFD = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var yes: Int32 = 1
        setsockopt(socketFD, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(socketFD, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(socketFD, 1) == 0 else { throw InteropError(message: "cannot listen for BMP") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socketFD, $0, &length) }
        }
        port = UInt16(bigEndian: address.sin_port)
        let fd = socketFD, path = self.path, done = self.done
        Thread.detachNewThread {
            let file = fopen(path, "wb")
            let connection = accept(fd, nil, nil)
            var buffer = [UInt8](repeating: 0, count: 65536)
            while connection >= 0 {
                let n = recv(connection, &buffer, buffer.count, 0)
                if n <= 0 { break }
                fwrite(buffer, 1, n, file)
                fflush(file)
            }
            if connection >= 0 { close(connection) }
            fclose(file)
            done.signal()
        }
    }

    func waitForClose(seconds: Double) { _ = done.wait(timeout: .now() + seconds); close(socketFD) }
}

struct Speaker {
    var name: String
    var address: String
    var apiPort: Int
}

/// A speaker's `[global]` section: AS 65000, BGP on port 1790 of its own address only.
func gobgpGlobal(_ speaker: Speaker) -> String {
    "[global.config]\nas = 65000\nrouter-id = \"\(speaker.address)\"\nport = 1790\nlocal-address-list = "
        + "[\"\(speaker.address)\"]\n\n"
}

/// A reflector's recording: an MRT update dump (`DIRECTORY/updates.dump`) and BMP of every table
/// (pre-, post-policy and Loc-RIB) to a listener on `bmpPort`.
func gobgpRecording(directory: String, bmpPort: UInt16) -> String {
    """
    [[mrt-dump]]
    [mrt-dump.config]
    dump-type = "updates"
    file-name = "\(directory)/updates.dump"

    [[bmp-servers]]
    [bmp-servers.config]
    address = "127.0.0.1"
    port = \(bmpPort)
    route-monitoring-policy = "all"


    """
}

/// An l2vpn-evpn neighbor; `reflector`: the neighbor is a client of this reflector;
/// `restartTime`: graceful restart (RFC 4724) for l2vpn-evpn, with this restart time in seconds.
func gobgpNeighbor(_ address: String, local: String, reflector: Speaker? = nil, restartTime: Int? = nil) -> String {
    var text =
        "[[neighbors]]\n[neighbors.config]\nneighbor-address = \"\(address)\"\npeer-as = 65000\n"
        + "[neighbors.transport.config]\nlocal-address = \"\(local)\"\nremote-port = 1790\n"
        // Speakers start together: a connection tried before the peer listens is retried after
        // connect-retry; 2 s keeps that within what a test waits for the sessions.
        + "[neighbors.timers.config]\nconnect-retry = 2\n"
    if let reflector {
        text +=
            "[neighbors.route-reflector.config]\nroute-reflector-client = true\n"
            + "route-reflector-cluster-id = \"\(reflector.address)\"\n"
    }
    if let restartTime {
        text += "[neighbors.graceful-restart.config]\nenabled = true\nrestart-time = \(restartTime)\n"
    }
    text += "[[neighbors.afi-safis]]\n[neighbors.afi-safis.config]\nafi-safi-name = \"l2vpn-evpn\"\n"
    if restartTime != nil { text += "[neighbors.afi-safis.mp-graceful-restart.config]\nenabled = true\n" }
    return text + "\n"
}

/// `DIRECTORY/NAME.toml` for a route reflector and its clients, l2vpn-evpn between them;
/// `extra` adds a speaker's own sections (recordings, dumps, BMP) after its `[global]`.
func writeReflectorConfigs(
    directory: String, reflector: Speaker, clients: [Speaker], restartTime: Int? = nil,
    extra: (Speaker) -> String = { _ in "" }
) throws {
    var config = gobgpGlobal(reflector) + extra(reflector)
    for client in clients {
        config += gobgpNeighbor(
            client.address, local: reflector.address, reflector: reflector, restartTime: restartTime)
        let own =
            gobgpGlobal(client) + extra(client)
            + gobgpNeighbor(reflector.address, local: client.address, restartTime: restartTime)
        try own.write(toFile: directory + "/\(client.name).toml", atomically: true, encoding: .utf8)
    }
    try config.write(toFile: directory + "/\(reflector.name).toml", atomically: true, encoding: .utf8)
}

/// One gobgpd per speaker, each with `DIRECTORY/NAME.toml`; the caller stops them.
func startGobgpd(_ speakers: [Speaker], directory: String) throws -> [Process] {
    var daemons: [Process] = []
    for speaker in speakers {
        let daemon = Process()
        daemon.executableURL = URL(fileURLWithPath: which("gobgpd")!)
        daemon.arguments = [
            "-f", directory + "/\(speaker.name).toml", "--api-hosts", "127.0.0.1:\(speaker.apiPort)", "--pprof-disable",
        ]
        daemon.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        daemon.standardError = FileHandle(forWritingAtPath: "/dev/null")
        do { try daemon.run() } catch {
            stopGobgpd(daemons)
            throw error
        }
        daemons.append(daemon)
    }
    return daemons
}

func stopGobgpd(_ daemons: [Process]) {
    for daemon in daemons where daemon.isRunning { daemon.terminate(); daemon.waitUntilExit() }
}

func gobgp(_ speaker: Speaker, _ arguments: [String]) throws -> String {
    try shell(["gobgp", "-u", "127.0.0.1", "-p", "\(speaker.apiPort)"] + arguments)
}

/// Waits up to 60 s for `count` established sessions on `reflector`; true when they are.
func waitForSessions(_ reflector: Speaker, count: Int) -> Bool {
    func established() -> Int {
        ((try? gobgp(reflector, ["neighbor"])) ?? "").components(separatedBy: "Establ").count - 1
    }
    let deadline = Date().addingTimeInterval(60)
    while Date() < deadline && established() != count { Thread.sleep(forTimeInterval: 0.5) }
    return established() == count
}

/// `pe` advertises MAC/IP in RD PE:100, RT 65000:100, VXLAN (gobgpd computes MAC Mobility).
func advertiseMAC(_ pe: Speaker, _ mac: String, _ ip: String, label: Int = 10100) throws {
    _ = try gobgp(
        pe,
        [
            "global", "rib", "-a", "evpn", "add", "macadv", mac, ip, "etag", "0", "label", "\(label)",
            "rd", "\(pe.address):100", "rt", "65000:100", "encap", "vxlan",
        ])
}

@Test(.enabled(if: gobgpAvailable), .timeLimit(.minutes(2)))
func gobgpRoutesDecodeFieldForFieldAndMovesAreFound() throws {
    // Go's time layout rewrites digits in the dump path: the folder name has none.
    let directory = NSTemporaryDirectory() + "evpnscope-interop-gobgp"
    try? FileManager.default.removeItem(atPath: directory)
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    // Declared before the daemons' own defer, so it runs after they have stopped writing.
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let listener = try BMPListener(path: directory + "/rr.bmp")
    let rr = Speaker(name: "rr", address: "127.0.0.30", apiPort: 50130)
    let pes = [
        Speaker(name: "pe", address: "127.0.0.31", apiPort: 50131),
        Speaker(name: "pf", address: "127.0.0.32", apiPort: 50132),
    ]
    try writeReflectorConfigs(directory: directory, reflector: rr, clients: pes) { speaker in
        speaker.name == rr.name ? gobgpRecording(directory: directory, bmpPort: listener.port) : ""
    }

    var daemons: [Process] = []
    defer { stopGobgpd(daemons) }
    // Wireshark's dissectors watch the same sessions for an independent decoding.
    let capture = Process()
    let pcap = directory + "/sessions.pcap"
    if let tshark = which("tshark"), let perl = which("perl") {
        // Children of the test process inherit its blocked signals: perl (always on Debian)
        // unblocks SIGINT before it becomes tshark, so the capture ends when the exchange has
        // ended, however slow the run (sanitizers); the timer is only a safety net.
        capture.executableURL = URL(fileURLWithPath: perl)
        capture.arguments = [
            "-MPOSIX", "-e", "sigprocmask(SIG_UNBLOCK, POSIX::SigSet->new(SIGINT)); exec @ARGV or die", tshark,
            // Only these speakers' sessions: other interop tests run gobgpd on port 1790 at the same time.
            "-q", "-i", "lo", "-a", "duration:600", "-f",
            "(tcp port 1790 and net 127.0.0.30/31) or (tcp port 1790 and host 127.0.0.32) or tcp port \(listener.port)",
            "-w", pcap,
        ]
        capture.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        capture.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try capture.run()
        Thread.sleep(forTimeInterval: 2)
    } else {
        FileHandle.standardError.write(
            Data("SKIPPED: the tshark cross-check needs tshark (Debian package tshark)\n".utf8))
    }
    daemons = try startGobgpd([rr] + pes, directory: directory)
    #expect(waitForSessions(rr, count: 2))

    // PE 1 learns two VMs; VM 1 moves to PE 2 and back (gobgpd computes the MAC Mobility sequence).
    let vm1 = "aa:bb:cc:00:00:01", vm2 = "aa:bb:cc:00:00:02"
    try advertiseMAC(pes[0], vm1, "10.0.0.1", label: 10100)
    try advertiseMAC(pes[0], vm2, "10.0.0.2", label: 10100)
    Thread.sleep(forTimeInterval: 2)
    try advertiseMAC(pes[1], vm1, "10.0.0.1", label: 10100)
    Thread.sleep(forTimeInterval: 2)
    try advertiseMAC(pes[0], vm1, "10.0.0.1", label: 10100)
    Thread.sleep(forTimeInterval: 3)
    stopGobgpd(daemons)
    listener.waitForClose(seconds: 10)
    if capture.isRunning {
        Thread.sleep(forTimeInterval: 1)  // the last segments reach the capture buffer
        capture.interrupt()
        capture.waitUntilExit()
    }

    // Field by field: every route the RR reflected, in the MRT dump and in BMP.
    let decoded = try shell([
        evpnscopeBinary, "decode", "--family", "evpn", directory + "/updates.dump", directory + "/rr.bmp",
    ])
    let events = decoded.split(separator: "\n").map {
        try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
    }
    let announcements = events.filter { $0["event"] as? String == "announce" && $0["route_type"] as? Int == 2 }
    for (pe, mac, ip) in [(pes[0], vm1, "10.0.0.1"), (pes[0], vm2, "10.0.0.2"), (pes[1], vm1, "10.0.0.1")] {
        for table in ["mrt", "adj-rib-in-pre", "adj-rib-in-post", "loc-rib"] {
            let match = announcements.first {
                $0["table_name"] as? String == table && $0["mac"] as? String == mac
                    && $0["rd"] as? String == "\(pe.address):100"
            }
            #expect(match != nil, "\(mac) from \(pe.address) missing in \(table)")
            guard let route = match else { continue }
            #expect(route["ip"] as? String == ip)
            #expect(route["eth_tag"] as? Int == 0)
            #expect(route["esi"] as? String == "00:00:00:00:00:00:00:00:00:00")
            #expect(route["label1"] as? Int == 10100)
            #expect(route["next_hop"] as? String == pe.address)
            #expect(route["route_targets"] as? [String] == ["65000:100"])
            #expect((route["ext_communities"] as? [String])?.contains("encap:vxlan") == true)
            // gobgpd dumps the UPDATEs it received: the MRT peer is the PE itself.
            if table == "mrt" || table.hasPrefix("adj-rib-in") { #expect(route["peer_ip"] as? String == pe.address) }
        }
    }
    let moveBack = announcements.first {
        $0["table_name"] as? String == "mrt" && $0["mac"] as? String == vm1 && ($0["seq"] as? Int ?? 0) > 0
    }
    #expect(moveBack?["rd"] as? String == "\(pes[0].address):100")
    #expect(moveBack?["seq"] as? Int == 1)

    // tshark's EVPN fields for the same routes: MAC, IP, VNI and MAC Mobility sequence.
    if capture.executableURL != nil {
        #expect(FileManager.default.fileExists(atPath: pcap), "tshark wrote no capture")
        let fields = try shell([
            "tshark", "-r", pcap, "-d", "tcp.port==\(listener.port),bmp", "-d", "tcp.port==1790,bgp",
            "-Y", "bgp.evpn.nlri.mac_addr", "-T", "fields", "-E", "occurrence=f",
            "-e", "bgp.evpn.nlri.mac_addr", "-e", "bgp.evpn.nlri.ip.addr", "-e", "bgp.evpn.nlri.vni",
            "-e", "bgp.evpn.nlri.mpls_ls1", "-e", "bgp.ext_com_evpn.mmac.seq", "-e", "bgp.ext_com.type",
        ])
        // tshark shows the 24-bit label as a VNI in some messages and as an MPLS label (value >> 4)
        // in others; compare in the MPLS reading. Lines without extended communities are withdrawals.
        var theirs = Set<String>()
        for line in fields.split(separator: "\n") {
            let f = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard f.count == 6, !f[5].isEmpty else { continue }
            let label = Int(f[2]).map { $0 >> 4 } ?? Int(f[3]) ?? -1
            theirs.insert("\(f[0]) \(f[1]) \(label) \(f[4])")
        }
        let ours = Set(
            announcements.map { route in
                "\(route["mac"]!) \(route["ip"]!) \((route["label1"] as! Int) >> 4) "
                    + "\(route["seq"].map { "\($0)" } ?? "")"
            })
        #expect(!theirs.isEmpty)
        #expect(theirs == ours, "tshark \(theirs.sorted()) vs evpnscope \(ours.sorted())")
    }

    // The analysis finds both moves of VM 1 and nothing for VM 2.
    let db = directory + "/analysis.sqlite"
    _ = try shell(
        [
            evpnscopeBinary, "analyze", directory + "/updates.dump", directory + "/rr.bmp", "--db", db, "--report",
            directory + "/report.md",
        ], allowFailure: true)
    let database = try Database(path: db, readOnly: true)
    let moves = try database.rows(
        "SELECT f.address, t.address FROM moves m JOIN pes f ON f.id = m.from_pe JOIN pes t ON t.id = m.to_pe WHERE "
            + "m.mac = ? ORDER BY m.id",
        [.text(vm1)])
    #expect(
        moves.map { "\($0[0]!)→\($0[1]!)" } == [
            "\(pes[0].address)→\(pes[1].address)", "\(pes[1].address)→\(pes[0].address)",
        ])
    #expect(try database.rows("SELECT count(*) FROM moves WHERE mac = ?", [.text(vm2)])[0][0] == "0")
    // W-13: gobgpd's first move carries seq 0 and the old PE then withdraws: the new PE took the
    // MAC without raising the sequence (SEQ-MISSING-ON-MOVE), which is no SEQ-TIE.
    let findings = try database.rows("SELECT rule, detail FROM findings WHERE mac = ?", [.text(vm1)])
    #expect(findings.map { $0[0]! } == ["SEQ-MISSING-ON-MOVE"], "\(findings)")
    #expect(
        findings.first?[1]?.hasPrefix("\(pes[1].address) took the MAC from \(pes[0].address) without raising seq 0")
            == true, "\(findings)")
    #expect(try database.rows("SELECT count(*) FROM inputs WHERE damaged = 1")[0][0] == "0")
}

/// GoBGP's own TABLE_DUMP_V2 (3.10): the routes a speaker originates itself carry the peer index
/// one past its PEER_INDEX_TABLE, and its collector ID is 0.0.0.0. Its own routes are read as seen
/// from peer 0.0.0.0, not as damage; and a MAC that moves away between two of its table dumps is
/// gone from the second one, which the replay takes as the old PE's withdrawal (`SnapshotState`).
@Test(.enabled(if: gobgpAvailable), .timeLimit(.minutes(6)))
func gobgpTableDumpsAreReadAndAMoveBetweenThemIsFound() throws {
    let directory = NSTemporaryDirectory() + "evpnscope-interop-gobgp-table"
    try? FileManager.default.removeItem(atPath: directory)
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let rr = Speaker(name: "rr", address: "127.0.0.60", apiPort: 50160)
    let pe = Speaker(name: "pe", address: "127.0.0.61", apiPort: 50161)
    let pf = Speaker(name: "pf", address: "127.0.0.62", apiPort: 50162)
    // gobgpd dumps its table every minute (its shortest interval), appending to one file.
    func tableDump(_ speaker: Speaker) -> String {
        "[[mrt-dump]]\n[mrt-dump.config]\ndump-type = \"table\"\nfile-name = \"\(directory)/\(speaker.name).table\"\n"
            + "dump-interval = 60\n\n"
    }
    try writeReflectorConfigs(directory: directory, reflector: rr, clients: [pe, pf], extra: tableDump)
    var daemons: [Process] = []
    defer { stopGobgpd(daemons) }
    daemons = try startGobgpd([rr, pe, pf], directory: directory)
    #expect(waitForSessions(rr, count: 2))
    let dumps = [rr, pe, pf].map { directory + "/\($0.name).table" }
    func size(_ path: String) -> Int { (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0 }
    func waitForDumps(after sizes: [Int]) -> Bool {
        let deadline = Date().addingTimeInterval(100)
        while Date() < deadline && zip(dumps, sizes).contains(where: { size($0) <= $1 }) {
            Thread.sleep(forTimeInterval: 1)
        }
        Thread.sleep(forTimeInterval: 1)  // the dump is written whole
        return zip(dumps, sizes).allSatisfy { size($0) > $1 }
    }

    // Both VMs on pe, then a table dump; VM 1 moves to pf (pe withdraws it), then another dump.
    let vm1 = "aa:bb:cc:00:06:01", vm2 = "aa:bb:cc:00:06:02"
    try advertiseMAC(pe, vm1, "10.0.6.1")
    try advertiseMAC(pe, vm2, "10.0.6.2")
    #expect(waitForDumps(after: [0, 0, 0]), "gobgpd wrote no table dump in time")
    let firstSizes = dumps.map(size)
    try advertiseMAC(pf, vm1, "10.0.6.1")
    #expect(waitForDumps(after: firstSizes), "gobgpd wrote no second table dump in time")
    stopGobgpd(daemons)

    // pe's dump: its own VMs (peer 0.0.0.0) first; then VM 2 and, from the reflector, pf's VM 1.
    let decoded = try shell([evpnscopeBinary, "decode", "--family", "evpn", dumps[1]])
    let routes = decoded.split(separator: "\n").map {
        try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
    }
    let times = Array(Set(routes.compactMap { $0["time_us"] as? Int })).sorted()
    #expect(times.count == 2, "\(routes)")
    func at(_ time: Int?) -> [String] {
        routes.filter { $0["time_us"] as? Int == time }.map {
            "\($0["mac"]!) \($0["peer_ip"]!) \($0["rd"]!) \($0["seq"].map { "seq \($0)" } ?? "no seq")"
        }.sorted()
    }
    #expect(
        at(times.first) == [
            "\(vm1) 0.0.0.0 \(pe.address):100 no seq", "\(vm2) 0.0.0.0 \(pe.address):100 no seq",
        ])
    #expect(
        at(times.last) == [
            "\(vm1) \(rr.address) \(pf.address):100 seq 0", "\(vm2) 0.0.0.0 \(pe.address):100 no seq",
        ])
    let own = routes.first { $0["mac"] as? String == vm2 }
    #expect(own?["ip"] as? String == "10.0.6.2")
    #expect(own?["label1"] as? Int == 10100)

    // pe's table dumps alone: VM 1's move, as gobgpd's update stream shows it (W-13: seq 0, then
    // the old PE's withdrawal), and no STALE-AFTER-MOVE for the route pe no longer has.
    let single = directory + "/pe.sqlite"
    _ = try shell(
        [evpnscopeBinary, "analyze", dumps[1], "--db", single, "--report", directory + "/pe.md"], allowFailure: true)
    let peDatabase = try Database(path: single, readOnly: true)
    let moves = try peDatabase.rows(
        "SELECT f.address, t.address FROM moves m JOIN pes f ON f.id = m.from_pe JOIN pes t ON t.id = m.to_pe WHERE "
            + "m.mac = ?", [.text(vm1)])
    #expect(moves.map { "\($0[0]!)→\($0[1]!)" } == ["\(pe.address)→\(pf.address)"])
    #expect(try peDatabase.rows("SELECT rule FROM findings").map { $0[0]! } == ["SEQ-MISSING-ON-MOVE"])
    #expect(try peDatabase.rows("SELECT value FROM meta WHERE key = 'engine.snapshot-withdrawals'")[0][0] == "1")
    let report = try String(contentsOfFile: directory + "/pe.md", encoding: .utf8)
    #expect(report.contains("| withdrawn by a RIB snapshot | 1 (the router's next table dump lacked them) |"))

    // The three routers' dumps together: VM 1 on pf, VM 2 on pe, no stale route, no damage.
    let db = directory + "/analysis.sqlite"
    _ = try shell(
        [evpnscopeBinary, "analyze"] + dumps + ["--db", db, "--report", directory + "/report.md"],
        allowFailure: true)
    let database = try Database(path: db, readOnly: true)
    let owners = try database.rows(
        "SELECT s.mac, p.address FROM mac_state s JOIN pes p ON p.id = s.winner_pe ORDER BY s.mac")
    #expect(owners.map { "\($0[0]!) \($0[1]!)" } == ["\(vm1) \(pf.address)", "\(vm2) \(pe.address)"])
    #expect(try database.rows("SELECT count(*) FROM findings WHERE rule LIKE 'STALE%'")[0][0] == "0")
    #expect(try database.rows("SELECT count(*) FROM inputs WHERE damaged = 1")[0][0] == "0")
}
