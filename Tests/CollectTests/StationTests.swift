import BGPWire
import BMP
import ByteStreams
import Collect
import EVPNModel
import Foundation
import TestSupport
import Testing

private let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path
private let demoBMP = repository + "/datasets/demo/dumps/bmp/rr1.20261124.0200.gz"

private func decompressed(_ path: String) throws -> [UInt8] { try decompressedContents(path) }

/// The demo stream as the router `name` sends it: its own Initiation, then the demo's messages.
private func stream(of name: String) throws -> [UInt8] {
    let demo = try messages(try decompressed(demoBMP))
    return BMPEncoder.initiation(sysName: name, sysDescr: "test router") + demo.dropFirst().flatMap { $0 }
}

/// The messages of a BMP stream, whole.
private func messages(_ bytes: [UInt8]) throws -> [[UInt8]] {
    var framer = BMPFramer()
    bytes.withUnsafeBytes { framer.append($0) }
    var out: [[UInt8]] = []
    while let message = try framer.next() { out.append(Array(message)) }
    #expect(framer.pendingBytes == 0)
    return out
}

/// A station on a free port of 127.0.0.1, served by its own thread until `stop`.
private final class RunningStation: @unchecked Sendable {
    let station: Station
    let directory: String
    private let lines = LogLines()
    private let done = DispatchSemaphore(value: 0)

    init(_ configure: (inout Station.Options) -> Void = { _ in }) throws {
        directory = Scratch.directory("collect")
        var options = Station.Options(host: "127.0.0.1", port: 0, directory: directory + "/bmp")
        configure(&options)
        station = try Station(options: options)
        station.log = { [lines] line in lines.append(line) }
        let station = self.station, done = self.done
        Thread.detachNewThread {
            try? station.run()
            done.signal()
        }
    }

    func stop() {
        station.requestStop()
        #expect(done.wait(timeout: .now() + 30) == .success)
    }

    var log: [String] { lines.all }

    func files(router: String) throws -> [String] {
        let folder = directory + "/bmp/" + router
        return try FileManager.default.contentsOfDirectory(atPath: folder).sorted().map { folder + "/" + $0 }
    }
}

/// A router's end of a session: a TCP connection from `source` (a loopback address).
private final class Router {
    let fd: Int32
    init(from source: String, to port: UInt16) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var local = sockaddr_in(), remote = sockaddr_in()
        local.sin_family = sa_family_t(AF_INET); local.sin_addr.s_addr = inet_addr(source)
        remote.sin_family = sa_family_t(AF_INET); remote.sin_addr.s_addr = inet_addr("127.0.0.1")
        remote.sin_port = port.bigEndian
        let ok =
            withUnsafePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            } == 0
            && withUnsafePointer(to: &remote) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            } == 0
        guard ok else {
            throw ClientError(reason: "cannot connect from \(source): \(String(cString: strerror(errno)))")
        }
    }

    func send<Bytes: Collection<UInt8>>(_ bytes: Bytes) { sendAll(fd, bytes) }

    /// True when the station closed the connection within `seconds`.
    func closedByStation(within seconds: Double) -> Bool {
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&pfd, 1, Int32(seconds * 1000)) > 0 else { return false }
        var byte: UInt8 = 0
        return recv(fd, &byte, 1, 0) <= 0
    }

    func close() { Glibc.close(fd) }
}

private final class LogLines: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func append(_ line: String) { lock.withLock { lines.append(line) } }
    var all: [String] { lock.withLock { lines } }
}

private struct ClientError: Error { var reason: String }

@Test("collect: the framer cuts messages however the bytes arrive and names the offset where a stream stops being BMP")
func framerCutsAcrossReadsAndStopsAtGarbage() throws {
    let stream = try decompressed(demoBMP)
    let whole = try messages(stream)
    #expect(whole.count == 5012)
    #expect(whole[0][5] == BMPMessageType.initiation)
    // Fed in pieces of 1 to 700 bytes: the same messages.
    var framer = BMPFramer()
    var rng = SplitMix(seed: 7)
    var cut: [[UInt8]] = []
    var position = 0
    while position < stream.count {
        let length = min(stream.count - position, Int(rng.next() % 700) + 1)
        stream[position..<position + length].withUnsafeBytes { framer.append($0) }
        position += length
        while let message = try framer.next() { cut.append(Array(message)) }
    }
    #expect(cut == whole)
    // An HTTP request after three messages: the error names the stream offset of the fourth.
    var garbage = BMPFramer()
    let head = whole.prefix(3).flatMap { $0 }
    (head + Array("GET / HTTP/1.1\r\n\r\n".utf8)).withUnsafeBytes { garbage.append($0) }
    for _ in 0..<3 { #expect(try garbage.next() != nil) }
    #expect(throws: FramingError.self) { try garbage.next() }
    do { _ = try garbage.next() } catch { #expect(error.offset == Int64(head.count)) }
}

@Test("collect: a session rotated twice gives files that each decode alone, and analyse as the stream does")
func rotatedFilesDecodeAloneAndAnalyseAsTheStream() throws {
    let running = try RunningStation {
        $0.rotation = .seconds(1); $0.compression = .bzip2
    }
    let stream = try decompressed(demoBMP)
    let router = try Router(from: "127.0.0.2", to: running.station.port)
    // Thirds sent more than a rotation apart, cut inside a message.
    let third = stream.count / 3 + 17
    router.send(stream[0..<third])
    Thread.sleep(forTimeInterval: 1.2)
    router.send(stream[third..<2 * third])
    Thread.sleep(forTimeInterval: 1.2)
    router.send(stream[(2 * third)...])
    router.close()
    Thread.sleep(forTimeInterval: 0.5)
    running.stop()

    // Named by the Initiation's sysName, not the address.
    let files = try running.files(router: "rr1")
    #expect(files.count >= 3, "\(files)")
    #expect(files.allSatisfy { $0.hasSuffix(".bmp.bz2") && $0.contains("/rr1/rr1_20") })
    // The first file is the stream's start; every later one starts with copies of the Initiation and
    // the Peer Ups, then goes on where the previous one stopped: nothing lost, nothing doubled.
    let original = try messages(stream)
    let peerUps = original.prefix { $0[5] != BMPMessageType.routeMonitoring }.filter { $0[5] == BMPMessageType.peerUp }
    var rebuilt: [[UInt8]] = []
    for (index, file) in files.enumerated() {
        var part = try messages(try decompressed(file))
        if index > 0 {
            #expect(part.first == original[0], "file \(index) starts with the Initiation")
            #expect(Array(part[1...peerUps.count]) == peerUps, "file \(index) repeats the Peer Ups")
            part.removeFirst(1 + peerUps.count)
        }
        rebuilt += part
    }
    #expect(rebuilt == original)
    #expect(running.station.counts["rr1"]?.messages == Int64(original.count))
    #expect(running.station.counts["rr1"]?.files == files.count)

    // The archive analyses as the stream: same findings, and no file is seen as a new router.
    let direct = try analyze([demoBMP]), archived = try analyze(files)
    func keys(_ run: Run) -> [String] {
        run.analyzer.findings.map { "\($0.rule.rawValue) \($0.mac.map { "\($0)" } ?? "") \($0.detail)" }.sorted()
    }
    #expect(!keys(direct).isEmpty)
    #expect(keys(archived) == keys(direct))
    #expect(archived.engine.counters.sessionLosses == direct.engine.counters.sessionLosses)
}

@Test(
    """
    collect: routers at once each get their own archive; garbage or a stalled half message closes that session \
    with a log line and leaves the others alone
    """)
func routersAtOnceAndMisbehavingSessions() throws {
    let running = try RunningStation {
        $0.stallTimeout = .seconds(1); $0.compression = .gzip
    }
    let port = running.station.port
    // Two routers behind one address (a NAT, a proxy) stay two archives: they are told apart by name.
    let names = ["leaf-3", "leaf-4", "leaf-5"]
    let routers = try ["127.0.0.3", "127.0.0.4", "127.0.0.4"].map { try Router(from: $0, to: port) }
    let streams = try names.map { try stream(of: $0) }
    let garbage = try Router(from: "127.0.0.6", to: port)
    let stalled = try Router(from: "127.0.0.7", to: port)
    let initiation = { (name: String) in BMPEncoder.initiation(sysName: name, sysDescr: "test router") }
    // Interleaved pieces: each router's stream in a different cut.
    var positions = [0, 0, 0]
    let size = streams[0].count
    var rng = SplitMix(seed: 11)
    var misbehaved = false
    while positions.contains(where: { $0 < size }) {
        for (index, router) in routers.enumerated() where positions[index] < size {
            let length = min(size - positions[index], Int(rng.next() % 9000) + 1)
            router.send(streams[index][positions[index]..<positions[index] + length])
            positions[index] += length
        }
        if positions[0] > size / 2 && !misbehaved {
            misbehaved = true
            garbage.send(initiation("noisy") + Array("SSH-2.0-OpenSSH_9.2\r\n".utf8))
            stalled.send(initiation("stalled") + streams[0].dropFirst(initiation("leaf-3").count).prefix(20))
        }
    }
    #expect(garbage.closedByStation(within: 5))
    #expect(stalled.closedByStation(within: 5))
    for router in routers { router.close() }
    Thread.sleep(forTimeInterval: 0.5)
    running.stop()

    for (name, sent) in zip(names, streams) {
        let files = try running.files(router: name)
        #expect(files.count == 1)
        #expect(try decompressed(files[0]) == sent, "\(name)")
    }
    // What came before the garbage, and before the stalled half message, is kept.
    #expect(try decompressed(try running.files(router: "noisy")[0]) == initiation("noisy"))
    #expect(try decompressed(try running.files(router: "stalled")[0]) == initiation("stalled"))
    let log = running.log.joined(separator: "\n")
    #expect(log.contains("127.0.0.6 port"), "\(log)")
    #expect(log.contains("not BMP at byte \(initiation("noisy").count): BMP version 83: expected 3"), "\(log)")
    #expect(log.contains("20 bytes of an unfinished message and nothing more for 1s; session closed"), "\(log)")
    let counts = running.station.countsText()
    let messageCount = try messages(streams[0]).count
    #expect(
        counts.contains("  leaf-4: \(messageCount) messages, \(size) bytes, 1 sessions, 1 files closed"), "\(counts)")
    #expect(counts.contains("  total: \(3 * messageCount + 2) messages"))
}

@Test("collect: a router that reconnects continues its archive in its folder; no partial file is left")
func reconnectContinuesTheArchive() throws {
    let running = try RunningStation()
    let original = try messages(try stream(of: "spine-1"))
    let half = original.count / 2
    for part in [original[..<half], [original[0]] + original[half...]] {
        let router = try Router(from: "127.0.0.8", to: running.station.port)
        router.send(part.flatMap { $0 })
        router.close()
        Thread.sleep(forTimeInterval: 1.1)  // a second apart: file names by the second
    }
    running.stop()
    let files = try running.files(router: "spine-1")
    #expect(files.count == 2)
    // The reconnected session starts with the router's own Initiation again.
    let reconnected = original[..<half] + [original[0]] + original[half...]
    #expect(try files.flatMap { try messages(try decompressed($0)) } == Array(reconnected))
    #expect(running.station.counts["spine-1"]?.sessions == 2)
    #expect(running.log.contains { $0.contains("router spine-1, seen before: its archive continues") })
}
