import CBZip2
import CZlib
import Foundation

public enum Compression: String, Sendable {
    case plain, gzip, bzip2

    /// Chosen from the first bytes, never from the file name.
    public static func sniff(_ head: UnsafeRawBufferPointer) -> Compression {
        if head.count >= 2 && head[0] == 0x1F && head[1] == 0x8B { return .gzip }
        if head.count >= 3 && head[0] == 0x42 && head[1] == 0x5A && head[2] == 0x68 { return .bzip2 }
        return .plain
    }
}

/// Damage found while reading or decompressing an input. Every byte decoded before it has
/// already been delivered.
public struct StreamError: Error, CustomStringConvertible, Sendable {
    public var file: String
    public var compressedOffset: Int64
    public var uncompressedOffset: Int64
    public var message: String
    public init(file: String, compressedOffset: Int64, uncompressedOffset: Int64, message: String) {
        self.file = file; self.compressedOffset = compressedOffset; self.uncompressedOffset = uncompressedOffset;
        self.message = message
    }
    public var description: String {
        "\(file): \(message) (compressed offset \(compressedOffset), uncompressed offset \(uncompressedOffset))"
    }
}

/// Reads raw bytes from a file descriptor in large blocks.
final class FileReader {
    let fd: Int32
    let ownsDescriptor: Bool
    let name: String
    private(set) var offset: Int64 = 0
    /// Nil when the caller has no use for the file's SHA-256 (`decode` prints no fingerprint).
    private(set) var hasher: SHA256?
    private(set) var atEnd = false

    init(path: String, fingerprint: Bool) throws {
        name = path
        hasher = fingerprint ? SHA256() : nil
        if path == "-" {
            fd = 0; ownsDescriptor = false
        } else {
            var info = stat()
            if stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR {
                throw StreamError(
                    file: path, compressedOffset: 0, uncompressedOffset: 0,
                    message: "is a directory, expected a dump file")
            }
            fd = open(path, O_RDONLY)
            ownsDescriptor = true
            if fd < 0 {
                throw StreamError(
                    file: path, compressedOffset: 0, uncompressedOffset: 0,
                    message: "cannot open: \(String(cString: strerror(errno)))")
            }
        }
    }

    deinit { if ownsDescriptor { close(fd) } }

    /// Fills `buffer` from its start; returns the byte count, 0 at end of file.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        var total = 0
        while total < buffer.count {
            let n = Glibc.read(fd, buffer.baseAddress! + total, buffer.count - total)
            if n < 0 {
                if errno == EINTR { continue }
                throw StreamError(
                    file: name, compressedOffset: offset, uncompressedOffset: 0,
                    message: "read failed: \(String(cString: strerror(errno)))")
            }
            if n == 0 { atEnd = true; break }
            total += n
        }
        hasher?.update(UnsafeRawBufferPointer(rebasing: buffer[0..<total]))
        offset += Int64(total)
        return total
    }
}

/// Produces decompressed chunks of one input. `next()` returns nil at the end; damage is
/// thrown only after every good byte before it was returned.
public protocol ChunkSource: AnyObject {
    var name: String { get }
    var compression: Compression { get }
    /// Compressed bytes consumed so far (for progress).
    var compressedOffset: Int64 { get }
    /// SHA-256 of the raw file, once it has been read to its end.
    var sha256: String? { get }
    func next() throws -> [UInt8]?
}

public enum ByteSources {
    public static let chunkSize = 1 << 18

    /// Opens `path` ("-" for stdin), detects its compression and, unless `threaded` is false,
    /// decompresses on a background thread ahead of the caller (bzip2: on the block decoder
    /// pool); `fingerprint` computes the file's SHA-256 as it is read. Unthreaded sources, used
    /// to probe each file's first record at set-up, start no thread at all.
    public static func open(_ path: String, threaded: Bool = true, fingerprint: Bool = true) throws -> ChunkSource {
        let reader = try FileReader(path: path, fingerprint: fingerprint)
        var first = [UInt8](repeating: 0, count: 64 * 1024)
        let count = try first.withUnsafeMutableBytes { try reader.read(into: $0) }
        first.removeSubrange(count...)
        let compression = first.withUnsafeBytes { Compression.sniff($0) }
        let source: ChunkSource
        switch compression {
        case .plain: source = PlainSource(reader: reader, first: first)
        case .gzip: source = GzipSource(reader: reader, first: first)
        case .bzip2: return BZip2Source(reader: reader, first: first, threaded: threaded)
        }
        return threaded && compression != .plain ? ThreadedSource(source) : source
    }
}

/// Bytes already in memory (fuzzing, tests, embedded fixtures), served in one chunk.
public final class MemorySource: ChunkSource {
    public let name: String
    private var bytes: [UInt8]?
    public init(name: String, bytes: [UInt8]) { self.name = name; self.bytes = bytes }
    public var compression: Compression { .plain }
    public var compressedOffset: Int64 { 0 }
    public var sha256: String? { nil }
    public func next() throws -> [UInt8]? { defer { bytes = nil }; return bytes }
}

final class PlainSource: ChunkSource {
    var sha256: String? { reader.atEnd ? reader.hasher?.hexDigest() : nil }
    let reader: FileReader
    var pending: [UInt8]?
    var name: String { reader.name }
    var compression: Compression { .plain }
    var compressedOffset: Int64 { reader.offset }
    init(reader: FileReader, first: [UInt8]) { self.reader = reader; pending = first.isEmpty ? nil : first }
    func next() throws -> [UInt8]? {
        if let first = pending { pending = nil; return first }
        var chunk = [UInt8](repeating: 0, count: ByteSources.chunkSize)
        let n = try chunk.withUnsafeMutableBytes { try reader.read(into: $0) }
        if n == 0 { return nil }
        if n < chunk.count { chunk.removeSubrange(n...) }
        return chunk
    }
}

/// Compressed input refilled from the file, for the gzip source.
struct CompressedInput {
    var buffer = [UInt8](repeating: 0, count: 256 * 1024)
    var start = 0, end = 0
    var atEOF = false
    var available: Int { end - start }
    mutating func load(_ first: [UInt8]) {
        if first.count > buffer.count { buffer = first } else { buffer.replaceSubrange(0..<first.count, with: first) }
        start = 0; end = first.count
    }
    mutating func refill(from reader: FileReader) throws {
        guard start == end, !atEOF else { return }
        let n = try buffer.withUnsafeMutableBytes { try reader.read(into: $0) }
        start = 0; end = n
        if n == 0 { atEOF = true }
    }
}

final class GzipSource: ChunkSource {
    var sha256: String? { reader.atEnd ? reader.hasher?.hexDigest() : nil }
    let reader: FileReader
    var input = CompressedInput()
    var stream = z_stream()
    var finished = false
    var inStream = false
    var consumedCompressed: Int64 = 0
    var producedBase: Int64 = 0
    var pending: StreamError?
    var name: String { reader.name }
    var compression: Compression { .gzip }
    var compressedOffset: Int64 { consumedCompressed }

    init(reader: FileReader, first: [UInt8]) { self.reader = reader; input.load(first) }
    deinit { if inStream { inflateEnd(&stream) } }

    private func damage(_ message: String, _ filled: Int) -> StreamError {
        StreamError(
            file: name, compressedOffset: consumedCompressed, uncompressedOffset: producedBase + Int64(filled),
            message: message)
    }

    func next() throws -> [UInt8]? {
        if let pending { self.pending = nil; throw pending }
        if finished { return nil }
        var out = [UInt8](repeating: 0, count: ByteSources.chunkSize)
        var filled = 0
        func deliver(_ error: StreamError) throws -> [UInt8]? {
            finished = true
            if filled > 0 { out.removeSubrange(filled...); pending = error; producedBase += Int64(filled); return out }
            throw error
        }
        while filled < out.count {
            try input.refill(from: reader)
            if !inStream {
                if input.available == 0 { finished = true; break }
                // Another member must start with the gzip magic; zero padding ends the file.
                if input.buffer[input.start] != 0x1F {
                    if input.buffer[input.start..<input.end].allSatisfy({ $0 == 0 }) {
                        consumedCompressed += Int64(input.available); input.start = input.end; continue
                    }
                    return try deliver(damage("gzip: trailing data after the last member is not a gzip member", filled))
                }
                stream = z_stream()
                guard inflateInit2_(&stream, 15 + 16, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
                    return try deliver(damage("gzip: inflateInit failed", filled))
                }
                inStream = true
            }
            if input.available == 0 && input.atEOF {
                return try deliver(damage("gzip: stream truncated, expected more compressed data", filled))
            }
            let (before, available) = (input.start, input.available)
            var produced = filled
            let result: Int32 = input.buffer.withUnsafeMutableBytes { inBuf in
                out.withUnsafeMutableBytes { outBuf in
                    stream.next_in = (inBuf.baseAddress! + before).assumingMemoryBound(to: Bytef.self)
                    stream.avail_in = uInt(available)
                    stream.next_out = (outBuf.baseAddress! + produced).assumingMemoryBound(to: Bytef.self)
                    stream.avail_out = uInt(outBuf.count - produced)
                    let r = inflate(&stream, Z_NO_FLUSH)
                    produced = outBuf.count - Int(stream.avail_out)
                    return r
                }
            }
            filled = produced
            input.start += available - Int(stream.avail_in)
            consumedCompressed += Int64(input.start - before)
            switch result {
            case Z_STREAM_END:
                inflateEnd(&stream); inStream = false
            case Z_OK, Z_BUF_ERROR:
                continue
            default:
                let message = stream.msg.map { String(cString: $0) } ?? "code \(result)"
                inflateEnd(&stream); inStream = false
                return try deliver(damage("gzip: corrupt data (\(message))", filled))
            }
        }
        producedBase += Int64(filled)
        if filled == 0 { return nil }
        if filled < out.count { out.removeSubrange(filled...) }
        return out
    }
}

/// Runs another source on its own thread, a few chunks ahead, through a bounded queue:
/// decompression uses one core while the parser uses the other.
final class ThreadedSource: ChunkSource {
    /// A chunk with the source's progress as it stood when the chunk was read.
    private struct Step {
        var chunk: Result<[UInt8], Error>?
        var compressedOffset: Int64
        var sha256: String?
    }
    private let prefetcher: Prefetcher<Step>
    let name: String
    let compression: Compression
    private(set) var compressedOffset: Int64 = 0
    private(set) var sha256: String?

    init(_ inner: ChunkSource) {
        name = inner.name
        compression = inner.compression
        var finished = false
        prefetcher = Prefetcher(capacity: 8) {
            guard !finished else { return nil }
            let chunk: Result<[UInt8], Error>?
            do { chunk = try inner.next().map { .success($0) } } catch { chunk = .failure(error) }
            if chunk == nil { finished = true } else if case .failure = chunk { finished = true }
            return Step(chunk: chunk, compressedOffset: inner.compressedOffset, sha256: inner.sha256)
        }
    }

    func next() throws -> [UInt8]? {
        guard let step = prefetcher.next() else { return nil }
        compressedOffset = step.compressedOffset
        sha256 = step.sha256
        return try step.chunk?.get()
    }
}
