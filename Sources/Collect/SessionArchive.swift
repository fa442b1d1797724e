import BGPWire
import ByteStreams
import EVPNModel
import Foundation

/// One monitoring session's messages on disk: files in the router's folder, named by router and
/// the time each was opened, rotated at multiples of the rotation interval (UTC). A file is
/// written under a hidden `.NAME.partial` and takes its name when closed, so a directory walk
/// (`analyze DIR`) reads only closed files. A file opened by rotation starts with the session's
/// Initiation and the Peer Ups of its peers still up (copies), so every file decodes on its own
/// (the router's key, add-path) and `analyze` sees one router across the files.
final class SessionArchive {
    let router: String
    let folder: String
    let compression: Compression
    let rotation: TimeSpan
    private(set) var writer: CompressedWriter?
    /// The end of the current file's rotation period.
    private var rotationDue: Int64 = .max
    private var initiation: [UInt8]?
    /// Peer Ups by peer (type, distinguisher, address), in the order they came.
    private var peersUp: [(key: ArraySlice<UInt8>, message: [UInt8])] = []
    private(set) var lastFlush: Int64 = 0
    private var filesOpened = 0
    /// Files closed since the station last took them.
    private var newlyClosed: [String] = []

    func takeClosedFiles() -> [String] {
        defer { newlyClosed.removeAll() }
        return newlyClosed
    }

    /// The router's folder was there already (an earlier session, or a run of the station before).
    let continues: Bool

    init(router: String, directory: String, compression: Compression, rotation: TimeSpan) throws {
        self.router = router
        self.folder = directory + "/" + router
        self.compression = compression
        self.rotation = rotation
        continues = FileManager.default.fileExists(atPath: folder)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    /// Stores one whole message received at `now` (microseconds since the epoch).
    func write(_ message: ArraySlice<UInt8>, now: Int64) throws {
        if writer == nil || now >= rotationDue { try open(now: now) }
        remember(message)
        writer!.write(Array(message))
        if let failure = writer!.failure { throw ArchiveError(path: writer!.path, message: failure) }
    }

    /// Rotation with no message arriving: a quiet router's file is closed on time too.
    func rotateIfDue(now: Int64) throws {
        guard writer != nil, now >= rotationDue else { return }
        try closeFile()
    }

    /// Makes what was received readable on disk (a sync flush); cheap when nothing is new.
    func flush(now: Int64) throws {
        lastFlush = now
        guard let writer else { return }
        writer.flush()
        if let failure = writer.failure { throw ArchiveError(path: writer.path, message: failure) }
    }

    func close() throws { try closeFile() }

    private func remember(_ message: ArraySlice<UInt8>) {
        let type = message[message.startIndex + 5]
        switch type {
        case BMPMessageType.initiation: initiation = Array(message); peersUp.removeAll()
        case BMPMessageType.peerUp, BMPMessageType.peerDown:
            // Per-peer header after the common header: type (1), flags (1), distinguisher (8),
            // address (16); the flags say pre/post-policy, which a peer's session does not depend on.
            guard message.count >= 6 + 26 else { return }
            let base = message.startIndex + 6
            let key = message[base...base] + message[(base + 2)..<(base + 26)]
            peersUp.removeAll { $0.key.elementsEqual(key) }
            if type == BMPMessageType.peerUp { peersUp.append((key, Array(message))) }
        default: break
        }
    }

    private func open(now: Int64) throws {
        try closeFile()
        // The session's first file starts with what the router sent first; later ones need the copies.
        let withPreamble = filesOpened > 0
        filesOpened += 1
        let period = rotation.microseconds
        rotationDue = period > 0 ? (now / period + 1) * period : .max
        let stamp = SessionArchive.fileStamp(now)
        let suffix = ".bmp" + CompressedWriter.fileExtension(compression)
        var name = "\(router)_\(stamp)\(suffix)"
        var attempt = 1
        while FileManager.default.fileExists(atPath: folder + "/" + name)
            || FileManager.default.fileExists(atPath: folder + "/." + name + ".partial")
        {
            attempt += 1
            name = "\(router)_\(stamp)-\(attempt)\(suffix)"
        }
        let file = try CompressedWriter(
            path: folder + "/" + name, compression: compression, keepOnFailure: true,
            partialPath: folder + "/." + name + ".partial")
        writer = file
        lastFlush = now
        guard withPreamble else { return }
        if let initiation { file.write(initiation) }
        for peer in peersUp { file.write(peer.message) }
    }

    private func closeFile() throws {
        guard let file = writer else { return }
        writer = nil
        rotationDue = .max
        do {
            try file.close()
            newlyClosed.append(file.path)
        } catch let error as StreamError {
            newlyClosed.append(file.path)
            throw ArchiveError(path: file.path, message: error.message)
        }
    }

    /// "20261206T111500Z": sorts as time does, no characters a shell or a walk treats specially.
    static func fileStamp(_ time: Int64) -> String {
        let text = Timestamp.format(time - time % 1_000_000)  // 2026-12-06T11:15:00Z
        return text.filter { $0 != "-" && $0 != ":" }
    }
}

/// A file of the archive could not be written (a full disk); what was written before is kept.
public struct ArchiveError: Error, CustomStringConvertible {
    public var path: String
    public var message: String
    public var description: String { "\(path): \(message)" }
}
