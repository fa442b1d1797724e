import BGPWire
import BMP
import ByteStreams
import EVPNModel
import Foundation

/// A BMP monitoring station (RFC 7854 §3.2: the router connects, the station only listens):
/// sessions from many routers at once, each archived by `SessionArchive`. One thread polls every
/// socket; a session's bytes go to disk in the order received, whole messages only.
public final class Station {
    public struct Options {
        public var host: String
        public var port: UInt16
        public var directory: String
        public var compression: Compression = .gzip
        public var rotation = TimeSpan.seconds(900)
        /// A session silent this long gets TCP keepalive probes (three, a third of this apart); a
        /// peer that answers none is gone.
        public var keepalive = TimeSpan.seconds(60)
        /// A session that stops in the middle of a message for this long is closed.
        public var stallTimeout = TimeSpan.seconds(120)
        /// How often received messages are made readable on disk (gzip sync flush, bzip2 block end).
        public var flushInterval = TimeSpan.seconds(5)
        public init(host: String, port: UInt16, directory: String) {
            self.host = host; self.port = port; self.directory = directory
        }
    }

    /// Messages and bytes per router, over all its sessions.
    public final class Counts {
        public internal(set) var sessions = 0
        public internal(set) var messages: Int64 = 0
        public internal(set) var bytes: Int64 = 0
        public internal(set) var files = 0
    }

    private final class Session {
        let fd: Int32
        let host: String
        let peer: String
        /// Known from the first message: the router's name and its archive.
        var archive: SessionArchive?
        var counts = Counts()
        var framer = BMPFramer()
        var lastReceived: Int64
        var messages: Int64 = 0
        init(fd: Int32, host: String, port: UInt16, now: Int64) {
            self.fd = fd; self.host = host; peer = "\(host) port \(port)"; lastReceived = now
        }
    }

    public let options: Options
    public private(set) var port: UInt16 = 0
    public private(set) var counts: [String: Counts] = [:]
    /// Every closed file, in the order closed.
    public private(set) var closedFiles: [String] = []
    /// One line per event worth an operator's eye (sessions, rotations' errors), also printed.
    public var log: (String) -> Void = { FileHandle.standardError.write(Data("evpnscope collect: \($0)\n".utf8)) }
    /// Called after files were closed (rotation, a session's end), with every closed file so far.
    public var onFilesClosed: ([String]) -> Void = { _ in }
    private let listener: Int32
    private var sessions: [Session] = []
    private let wake: (read: Int32, write: Int32)
    private var stopRequested = false
    private var countsRequested = false
    private var buffer = [UInt8](repeating: 0, count: 1 << 18)

    public init(options: Options) throws {
        self.options = options
        try FileManager.default.createDirectory(atPath: options.directory, withIntermediateDirectories: true)
        let socket = try Station.listen(host: options.host, port: options.port)
        var address = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socket, $0, &length) }
        }
        var pipeEnds: [Int32] = [0, 0]
        guard pipe(&pipeEnds) == 0 else {
            Glibc.close(socket)
            throw StationError("cannot create a pipe: \(Station.lastError)")
        }
        listener = socket
        wake = (pipeEnds[0], pipeEnds[1])
        port = Station.endpoint(address).port
        for fd in [pipeEnds[0], pipeEnds[1], listener] { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
    }

    deinit {
        close(listener); close(wake.read); close(wake.write)
    }

    /// Ends `run` after every file is closed; safe from any thread (a signal handler's queue).
    public func requestStop() { send(.stop) }
    /// Prints the counts at the next turn of the loop (SIGUSR1); safe from any thread.
    public func requestCounts() { send(.counts) }

    /// What other threads ask of the loop, one byte each through the wake pipe: the flags they
    /// set are then the loop's alone (a flag written from another thread raced with its reads).
    private enum Request: UInt8 { case stop = 1, counts = 2 }
    private func send(_ request: Request) { var byte = request.rawValue; _ = write(wake.write, &byte, 1) }

    private func takeRequests() {
        while true {
            let n = read(wake.read, &buffer, 64)
            guard n > 0 else { return }
            for byte in buffer[..<n] {
                switch Request(rawValue: byte) {
                case .stop: stopRequested = true
                case .counts: countsRequested = true
                case nil: break
                }
            }
        }
    }

    /// Serves until `requestStop`; throws when the archive cannot be written (a full disk), after
    /// closing every file so that what was written stays readable.
    public func run() throws {

        do {
            while !stopRequested {
                try turn()
                if countsRequested { countsRequested = false; log(countsText()) }
            }
        } catch {
            log("\(error); closing every file and stopping")
            closeAll()
            throw error
        }
        closeAll()
    }

    private func closeAll() {
        for session in sessions { try? finish(session, why: nil) }
        sessions.removeAll()
    }

    private func turn() throws {
        var fds = [
            pollfd(fd: listener, events: Int16(POLLIN), revents: 0),
            pollfd(fd: wake.read, events: Int16(POLLIN), revents: 0),
        ]
        fds += sessions.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
        let ready = poll(&fds, nfds_t(fds.count), 250)
        let now = Station.now()
        if ready > 0 {
            if fds[1].revents != 0 { takeRequests() }
            let polled = sessions
            var ended: [ObjectIdentifier] = []
            for (index, session) in polled.enumerated() where fds[index + 2].revents != 0 {
                if try !receive(session, now: now) { ended.append(ObjectIdentifier(session)) }
            }
            if !ended.isEmpty { sessions.removeAll { ended.contains(ObjectIdentifier($0)) } }
            if fds[0].revents & Int16(POLLIN) != 0 { accept(now: now) }
        }
        try housekeeping(now: now)
    }

    private func housekeeping(now: Int64) throws {
        var stalled: [Int] = []
        var closedAny = false
        for (index, session) in sessions.enumerated() {
            guard let archive = session.archive else { continue }
            try archive.rotateIfDue(now: now)
            closedAny = noteClosed(session) || closedAny
            if now - archive.lastFlush >= options.flushInterval.microseconds { try archive.flush(now: now) }
            if session.framer.pendingBytes > 0 && now - session.lastReceived >= options.stallTimeout.microseconds {
                try finish(
                    session,
                    why: "\(session.framer.pendingBytes) bytes of an unfinished message and nothing more for "
                        + "\(options.stallTimeout); session closed")
                stalled.append(index)
            }
        }
        for index in stalled.reversed() { sessions.remove(at: index) }
        if closedAny { onFilesClosed(closedFiles) }
    }

    /// Takes the files the session's archive closed; true when there were any.
    @discardableResult
    private func noteClosed(_ session: Session) -> Bool {
        guard let new = session.archive?.takeClosedFiles() else { return false }
        guard !new.isEmpty else { return false }
        closedFiles += new
        session.counts.files += new.count
        return true
    }

    private func accept(now: Int64) {
        while true {
            var address = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let fd = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.accept(listener, $0, &length) }
            }
            guard fd >= 0 else { return }
            let (host, port) = Station.endpoint(address)
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            configureKeepalive(fd)
            sessions.append(Session(fd: fd, host: host, port: port, now: now))
        }
    }

    /// The router's archive, from the session's first message: RFC 7854 §4.3 makes it an
    /// Initiation with the router's sysName, which names the router whatever address it connects
    /// from (routers behind one address, a router whose address changed); else its address.
    private func openArchive(_ session: Session, first message: ArraySlice<UInt8>) throws -> SessionArchive {
        let name = Station.fileSafe(InformationTLVs.sysName(ofInitiation: message) ?? session.host)
        let archive = try SessionArchive(
            router: name, directory: options.directory, compression: options.compression, rotation: options.rotation)
        let routerCounts = counts[name] ?? Counts()
        counts[name] = routerCounts
        routerCounts.sessions += 1
        session.archive = archive
        session.counts = routerCounts
        log(
            "\(session.peer): router \(name), "
                + (archive.continues ? "seen before: its archive continues in " : "new archive ") + archive.folder)
        return archive
    }

    /// A name as a folder and file name: letters, digits, '.', '-' and '_' kept, others '_', at
    /// most 64 bytes, never hidden or '..'.
    static func fileSafe(_ text: String) -> String {
        let kept = String(
            text.unicodeScalars.prefix(64).map { scalar -> Character in
                scalar.isASCII && (CharacterSet.alphanumerics.contains(scalar) || "._-".unicodeScalars.contains(scalar))
                    ? Character(scalar) : "_"
            })
        return kept.hasPrefix(".") ? "_" + kept.dropFirst() : kept
    }

    /// false when the session ended (closed by the router, broken, or not BMP).
    private func receive(_ session: Session, now: Int64) throws -> Bool {
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(session.fd, $0.baseAddress, $0.count, 0) }
            if n > 0 {
                session.lastReceived = now
                buffer.withUnsafeBytes { session.framer.append(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
                do {
                    while let message = try session.framer.next() {
                        let archive = try session.archive ?? openArchive(session, first: message)
                        try archive.write(message, now: now)
                        session.messages += 1
                        session.counts.messages += 1
                        session.counts.bytes += Int64(message.count)
                        if noteClosed(session) { onFilesClosed(closedFiles) }
                    }
                } catch let error as FramingError {
                    try finish(session, why: "not BMP at \(error); session closed, other sessions go on")
                    return false
                }
                if n < buffer.count { return true }
                continue
            }
            if n == 0 {
                let pending = session.framer.pendingBytes
                try finish(
                    session,
                    why: "closed by the router"
                        + (pending > 0 ? " in the middle of a message (\(pending) bytes dropped)" : ""))
                return false
            }
            if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR { return true }
            try finish(session, why: "\(Station.lastError); session closed")
            return false
        }
    }

    private func finish(_ session: Session, why: String?) throws {
        Glibc.close(session.fd)
        defer {
            noteClosed(session)
            onFilesClosed(closedFiles)
        }
        try session.archive?.close()
        if let why { log("\(session.peer): \(why); \(session.messages) messages received") }
    }

    public func countsText() -> String {
        var lines = ["messages per router:"]
        func line(_ name: String, _ c: Counts) -> String {
            "  \(name): \(c.messages) messages, \(c.bytes) bytes, \(c.sessions) sessions, \(c.files) files closed"
        }
        let total = Counts()
        for router in counts.keys.sorted() {
            let c = counts[router]!
            lines.append(line(router, c))
            total.messages += c.messages; total.bytes += c.bytes; total.sessions += c.sessions; total.files += c.files
        }
        lines.append(line("total", total))
        return lines.joined(separator: "\n")
    }

    private func configureKeepalive(_ fd: Int32) {
        var on: Int32 = 1
        // Three unanswered probes a third of the idle time apart: a vanished router is closed
        // about twice the idle time after its last byte.
        var idle = Int32(max(1, options.keepalive.microseconds / 1_000_000))
        var interval = max(1, idle / 3), probes: Int32 = 3
        let size = socklen_t(MemoryLayout<Int32>.size)
        setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, size)
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_KEEPIDLE, &idle, size)
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_KEEPINTVL, &interval, size)
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_KEEPCNT, &probes, size)
    }

    static var lastError: String { String(cString: strerror(errno)) }

    static func now() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec) * 1_000_000 + Int64(spec.tv_nsec) / 1000
    }

    static func listen(host: String, port: UInt16) throws -> Int32 {
        var hints = addrinfo()
        hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &result) == 0, let info = result else {
            throw StationError("--listen \(host): not an IP address")
        }
        defer { freeaddrinfo(result) }
        let fd = socket(info.pointee.ai_family, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw StationError("cannot create a socket: \(lastError)") }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        guard bind(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0, Glibc.listen(fd, 64) == 0 else {
            let reason = lastError
            Glibc.close(fd)
            throw StationError("cannot listen on \(host) port \(port): \(reason)")
        }
        return fd
    }

    static func endpoint(_ address: sockaddr_storage) -> (host: String, port: UInt16) {
        var copy = address
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        if Int32(address.ss_family) == AF_INET6 {
            return withUnsafePointer(to: &copy) {
                $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { a -> (String, UInt16) in
                    var address6 = a.pointee.sin6_addr
                    inet_ntop(AF_INET6, &address6, &text, socklen_t(text.count))
                    var host = String(cString: text)
                    if host.hasPrefix("::ffff:") { host.removeFirst(7) }  // an IPv4 router on a dual-stack socket
                    return (host, UInt16(bigEndian: a.pointee.sin6_port))
                }
            }
        }
        return withUnsafePointer(to: &copy) {
            $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { a -> (String, UInt16) in
                var address4 = a.pointee.sin_addr
                inet_ntop(AF_INET, &address4, &text, socklen_t(text.count))
                return (String(cString: text), UInt16(bigEndian: a.pointee.sin_port))
            }
        }
    }
}

public struct StationError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
