import BMP
import BGPWire
import ByteStreams
import EVPNModel
import Foundation
import MRT

public enum InputFormat: String, Sendable {
    case mrt, bmp

    /// Told apart by content: an MRT header has a known type at bytes 4-5; a BMP message
    /// starts with version 3, a plausible length and a type ≤ 6.
    public static func sniff(_ head: UnsafeRawBufferPointer) -> InputFormat? {
        guard head.count >= 6 else { return nil }
        let mrtType = UInt16(head[4]) << 8 | UInt16(head[5])
        if [11, 12, 13, 16, 17, 32, 33, 48, 49].contains(mrtType) { return .mrt }
        let length = UInt32(head[1]) << 24 | UInt32(head[2]) << 16 | UInt32(head[3]) << 8 | UInt32(head[4])
        if head[0] == 3 && head[5] <= 6 && length >= 6 { return .bmp }
        return nil
    }
}

/// One file read by a run: what it was and what came out of it.
public final class InputFile {
    public let index: Int32
    public let path: String
    public private(set) var format: InputFormat?
    public private(set) var compression: Compression?
    public private(set) var reader: FeedReader?
    /// Damage that stopped this input before any record (unreadable, not a dump).
    public private(set) var openError: InputDamage?
    var firstItem: FeedItem?

    init(index: Int32, path: String, evpnOnly: Bool) {
        self.index = index
        self.path = path
        do {
            let source = try ByteSources.open(path)
            compression = source.compression
            let stream = StreamReader(source)
            guard stream.fill(6) else {
                if let error = stream.streamError {
                    openError = InputDamage(file: path, offset: error.uncompressedOffset, message: error.message, recovered: false)
                } else {
                    openError = InputDamage(file: path, offset: 0, message: stream.available == 0 ? "empty input: expected an MRT or BMP dump" : "input shorter than one record header", recovered: false)
                }
                return
            }
            guard let format = stream.withBytes(6, { InputFormat.sniff($0) }) else {
                openError = InputDamage(file: path, offset: 0, message: "not an MRT or BMP dump: expected an MRT header (RFC 6396) or a BMP v3 message (RFC 7854)", recovered: false)
                return
            }
            self.format = format
            switch format {
            case .mrt: reader = MRTReader(stream: stream, input: index, evpnOnly: evpnOnly)
            case .bmp: reader = BMPReader(stream: stream, input: index, evpnOnly: evpnOnly)
            }
            firstItem = reader?.next()
        } catch let error as StreamError {
            openError = InputDamage(file: path, offset: error.uncompressedOffset, message: error.message, recovered: false)
        } catch {
            openError = InputDamage(file: path, offset: 0, message: "\(error)", recovered: false)
        }
    }

    public var damage: [InputDamage] { (openError.map { [$0] } ?? []) + (reader?.damage ?? []) }
    public var isDamaged: Bool { !damage.isEmpty }

    func next() -> FeedItem? {
        if let item = firstItem { firstItem = nil; return item }
        return reader?.next()
    }
}

public struct UsageError: Error, CustomStringConvertible {
    public var description: String
}

/// Expands the command line's inputs and merges their feed items by time (k-way; equal
/// times keep input order). A directory's files of one format are read as one chain ordered
/// by each file's first timestamp: rotated dumps of one collector, not names, decide order.
public final class InputSet {
    public private(set) var files: [InputFile] = []
    private var streams: [Stream] = []
    private final class Stream {
        var files: [InputFile]
        var position = 0
        var head: FeedItem?
        init(files: [InputFile]) { self.files = files }
        func advance() {
            while position < files.count {
                if let item = files[position].next() { head = item; return }
                position += 1
            }
            head = nil
        }
    }

    public init(paths: [String], evpnOnly: Bool = false) throws {
        var next: Int32 = 0
        for path in paths {
            var isDirectory: ObjCBool = false
            if path != "-" && !FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
                throw UsageError(description: "\(path): no such file or directory")
            }
            if isDirectory.boolValue {
                let names = (try FileManager.default.contentsOfDirectory(atPath: path)).filter { !$0.hasPrefix(".") }.sorted()
                var byFormat: [String: [InputFile]] = [:]
                for name in names {
                    let full = (path as NSString).appendingPathComponent(name)
                    var sub: ObjCBool = false
                    guard FileManager.default.fileExists(atPath: full, isDirectory: &sub), !sub.boolValue else { continue }
                    let file = InputFile(index: next, path: full, evpnOnly: evpnOnly)
                    next += 1
                    files.append(file)
                    byFormat[file.format?.rawValue ?? "", default: []].append(file)
                }
                for key in byFormat.keys.sorted() where !key.isEmpty {
                    let chain = byFormat[key]!.sorted { ($0.firstItem?.time ?? .max, $0.index) < ($1.firstItem?.time ?? .max, $1.index) }
                    streams.append(Stream(files: chain))
                }
            } else {
                let file = InputFile(index: next, path: path, evpnOnly: evpnOnly)
                next += 1
                files.append(file)
                if file.format != nil { streams.append(Stream(files: [file])) }
            }
        }
        for stream in streams { stream.advance() }
    }

    /// The next item in time order across all inputs.
    public func next() -> FeedItem? {
        var best = -1
        var bestTime = Int64.max
        for (i, stream) in streams.enumerated() {
            if let head = stream.head, head.time < bestTime { best = i; bestTime = head.time }
        }
        guard best >= 0 else { return nil }
        let item = streams[best].head
        streams[best].advance()
        return item
    }

    public var damage: [InputDamage] { files.flatMap(\.damage) }
    public var attributeProblems: [InputDamage] { files.flatMap { $0.reader?.attributeProblems ?? [] } }
    public var bytesRead: Int64 { files.reduce(0) { $0 + ($1.reader?.bytesRead ?? 0) } }
    public var compressedBytesRead: Int64 { files.reduce(0) { $0 + ($1.reader?.compressedBytesRead ?? 0) } }
    public var totalCompressedBytes: Int64 {
        files.reduce(0) { total, file in
            let size = (try? FileManager.default.attributesOfItem(atPath: file.path)[.size] as? Int64) ?? nil
            return total + (size ?? 0)
        }
    }
}
