import ByteStreams
import Foundation
import Store
import TestSupport
import Testing

/// `evpnscope collect` as an operator runs it: signals, the archive on disk, a full disk.

private let demoBMP = repository.path + "/datasets/demo/dumps/bmp/rr1.20261124.0200.gz"

/// A running `evpnscope collect`, its stderr gathered as it comes.
private final class CollectProcess: @unchecked Sendable {
    let process = Process()
    private let lock = NSLock()
    private var text = ""
    private let finished = DispatchSemaphore(value: 0)

    /// `namespace`: run inside that network namespace.
    init(_ arguments: [String], namespace: String? = nil) throws {
        let command = [binary, "collect", "--listen", "127.0.0.1:0"] + arguments
        let prefix = namespace.map { ["/usr/sbin/ip", "netns", "exec", $0] } ?? []
        process.executableURL = URL(fileURLWithPath: (prefix + command)[0])
        process.arguments = Array((prefix + command).dropFirst())
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        err.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            guard let self, !data.isEmpty else { return }
            self.lock.withLock { self.text += String(decoding: data, as: UTF8.self) }
        }
        process.terminationHandler = { [finished] _ in finished.signal() }
        try process.run()
    }

    var stderr: String { lock.withLock { text } }

    /// The port from the "listening on … port N" line.
    func port() throws -> UInt16 {
        for _ in 0..<200 {
            if let line = stderr.split(separator: "\n").first(where: { $0.contains("listening on") }),
                let port = line.split(separator: " ").drop(while: { $0 != "port" }).dropFirst().first
                    .flatMap({ UInt16($0.trimmingCharacters(in: .punctuationCharacters)) })
            {
                return port
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw CollectTestError(reason: "collect did not start: \(stderr)")
    }

    func signal(_ number: Int32) { kill(process.processIdentifier, number) }

    func waitForExit(seconds: Double = 30) -> Int32? {
        guard finished.wait(timeout: .now() + seconds) == .success else { return nil }
        Thread.sleep(forTimeInterval: 0.1)  // the last stderr bytes
        return process.terminationStatus
    }

    func waitFor(_ text: String, seconds: Double = 10) -> Bool {
        for _ in 0..<Int(seconds * 20) {
            if stderr.contains(text) { return true }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return false
    }
}

private struct CollectTestError: Error { var reason: String }

/// Sends `bytes` to the station from 127.0.0.1 and leaves the connection open.
private func connect(_ port: UInt16) throws -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var remote = sockaddr_in()
    remote.sin_family = sa_family_t(AF_INET); remote.sin_addr.s_addr = inet_addr("127.0.0.1")
    remote.sin_port = port.bigEndian
    let status = withUnsafePointer(to: &remote) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
    }
    guard status == 0 else { throw CollectTestError(reason: "cannot connect") }
    return fd
}

private func send(_ fd: Int32, _ bytes: ArraySlice<UInt8>) { sendAll(fd, bytes) }

private func demoStream() throws -> [UInt8] { try decompressedContents(demoBMP) }

private func archiveFiles(_ directory: String) -> [String] {
    let root = directory + "/bmp"
    let walk = FileManager.default.enumerator(atPath: root)
    return (walk?.allObjects as? [String] ?? []).filter { $0.contains(".bmp") }.sorted().map { root + "/" + $0 }
}

@Test(
    """
    collect: SIGUSR1 prints the counts; SIGTERM in the middle of a session closes every file (readable, the \
    messages so far, nothing half) and exits 0; analyze reads the archive
    """)
func collectSignals() throws {
    let directory = scratch()
    let collect = try CollectProcess(["--out", directory])
    let stream = try demoStream()
    let fd = try connect(try collect.port())
    defer { close(fd) }
    let cut = stream.count * 2 / 3 + 5  // inside a message
    send(fd, stream[..<cut])
    Thread.sleep(forTimeInterval: 0.5)
    collect.signal(SIGUSR1)
    #expect(collect.waitFor("  total: "), "\(collect.stderr)")
    #expect(collect.stderr.contains("  rr1: "))
    collect.signal(SIGTERM)
    #expect(collect.waitForExit() == 0, "\(collect.stderr)")

    let files = archiveFiles(directory)
    #expect(files.count == 1, "\(files)")
    #expect(files.allSatisfy { !$0.contains(".partial") })
    guard let file = files.first else { return }
    let decoded = try evpnscope(["decode", file])
    #expect(decoded.status == 0, "\(decoded.stderr)")
    // Every whole message up to the cut, and the count at exit agrees.
    let messages = try Int(
        #require(collect.stderr.components(separatedBy: "  total: ").last?.split(separator: " ").first))
    #expect(messages ?? 0 > 3000)
    let analysed = try evpnscope([
        "analyze", directory + "/bmp", "--db", directory + "/a.sqlite", "--report", directory + "/a.md",
    ])
    #expect(analysed.status == 0 || analysed.status == 1, "\(analysed.stderr)")
    #expect(try Database(path: directory + "/a.sqlite", readOnly: true).rows("SELECT count(*) FROM moves")[0][0] != "0")
}

@Test("collect: --analyze-every analyses the closed files and refreshes the report while receiving")
func collectAnalyzesEvery() throws {
    let directory = scratch()
    let collect = try CollectProcess(["--out", directory, "--rotate", "1s", "--analyze-every", "2s"])
    let stream = try demoStream()
    let fd = try connect(try collect.port())
    send(fd, stream[...])
    close(fd)
    #expect(collect.waitFor("analysis of ", seconds: 30), "\(collect.stderr)")
    collect.signal(SIGTERM)
    #expect(collect.waitForExit() == 0)
    let report = try String(contentsOfFile: directory + "/analysis/report.md", encoding: .utf8)
    #expect(report.contains("DUP-MAC-FLAP"))
    #expect(FileManager.default.fileExists(atPath: directory + "/analysis/analysis.sqlite"))
}

@Test(
    .enabled(if: getuid() == 0, "mounts a small tmpfs"),
    .tags(.fullDisk))
func collectFullDiskIsAClearErrorThatKeepsWhatWasWritten() throws {
    let directory = scratch()
    let mounted = shellStatus(["mount", "-t", "tmpfs", "-o", "size=48k", "tmpfs", directory]) == 0
    try #require(mounted, "cannot mount a tmpfs")
    defer { _ = shellStatus(["umount", "-l", directory]) }
    let collect = try CollectProcess(["--out", directory, "--compress", "none", "--flush-every", "1s"])
    let stream = try demoStream()
    let fd = try connect(try collect.port())
    defer { close(fd) }
    send(fd, stream[...])
    let status = collect.waitForExit()
    #expect(status == 5, "\(collect.stderr)")
    #expect(collect.stderr.contains("No space left on device"), "\(collect.stderr)")
    #expect(collect.stderr.contains("every file closed, what was written is kept"))
    // The file is there under its name and decodes up to where the disk filled.
    let files = archiveFiles(directory)
    #expect(files.count == 1, "\(files)")
    guard let file = files.first else { return }
    let decoded = try evpnscope(["decode", file])
    #expect(decoded.stdout.split(separator: "\n").count > 50)
    #expect(decoded.stderr.contains("truncated BMP"), "\(decoded.stderr)")
}

extension Tag {
    @Tag static var fullDisk: Self
}

private func shellStatus(_ arguments: [String]) -> Int32 {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    process.standardError = FileHandle(forWritingAtPath: "/dev/null")
    guard (try? process.run()) != nil else { return -1 }
    process.waitUntilExit()
    return process.terminationStatus
}

@Test(
    "collect: a half-open session (the router gone without a FIN, every packet lost) is closed by TCP keepalive",
    .enabled(if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip")))
func collectClosesAHalfOpenSession() throws {
    let namespace = "evs-halfopen-\(getpid())"
    try #require(shellStatus(["ip", "netns", "add", namespace]) == 0, "network namespaces cannot be made here")
    defer { _ = shellStatus(["ip", "netns", "del", namespace]) }
    _ = shellStatus(["ip", "netns", "exec", namespace, "ip", "link", "set", "lo", "up"])
    let directory = scratch()
    let collect = try CollectProcess(["--out", directory, "--keepalive", "3s"], namespace: namespace)
    defer { if collect.process.isRunning { collect.signal(SIGKILL) } }
    let port = try collect.port()
    // A router in the namespace: connects, sends its Initiation, then says nothing.
    let router = Process()
    router.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
    router.arguments = [
        "netns", "exec", namespace, "python3", "-c",
        "import socket, struct, time\n"
            + "s = socket.create_connection(('127.0.0.1', \(port)))\n"
            + "tlv = struct.pack('>HH', 2, 4) + b'edge'\n"
            + "s.sendall(struct.pack('>BIB', 3, 6 + len(tlv), 4) + tlv)\n"
            + "time.sleep(120)\n",
    ]
    try router.run()
    defer { router.terminate() }
    #expect(collect.waitFor("router edge, new archive"), "\(collect.stderr)")
    // The namespace's only link goes down: from now on no packet leaves either end (no FIN, no RST,
    // no answer to a probe), as when a router loses power or its path.
    #expect(shellStatus(["ip", "netns", "exec", namespace, "ip", "link", "set", "lo", "down"]) == 0)
    #expect(collect.waitFor("Connection timed out; session closed", seconds: 30), "\(collect.stderr)")
    collect.signal(SIGTERM)
    #expect(collect.waitForExit() == 0)
    #expect(collect.stderr.contains("  edge: 1 messages"), "\(collect.stderr)")
}
