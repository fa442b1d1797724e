import CBZip2
import CZlib
import Foundation

/// Writes a file plain, gzip or bzip2 through the system libraries, streaming; the generator,
/// the tests and `collect` produce their compressed dumps with it. The file is written as
/// `PATH.partial` (or a given path) and appears under its final name when `close()` succeeds; with `keepOnFailure`
/// (an archive, where what was written is worth keeping) it is renamed even when a write failed.
public final class CompressedWriter {
    public let path: String
    public let compression: Compression
    private let temporaryPath: String
    private let file: UnsafeMutablePointer<FILE>
    private var zstream = z_stream()
    private var bzstream = bz_stream()
    private var staging: [UInt8] = []
    private var output = [UInt8](repeating: 0, count: 1 << 18)
    public private(set) var uncompressedBytes: Int64 = 0
    private var closed = false
    private let keepOnFailure: Bool
    private var unflushed = false
    /// The first write that failed (a full disk), with the system's reason; later writes are dropped.
    public private(set) var failure: String?

    private enum Flush { case none, sync, finish }

    /// `partialPath`: where the file is written until closed (default `PATH.partial`).
    public init(
        path: String, compression: Compression, level: Int32 = 6, keepOnFailure: Bool = false,
        partialPath: String? = nil
    ) throws {
        self.path = path
        self.compression = compression
        self.keepOnFailure = keepOnFailure
        temporaryPath = partialPath ?? path + ".partial"
        guard let handle = fopen(temporaryPath, "wb") else {
            throw StreamError(
                file: path, compressedOffset: 0, uncompressedOffset: 0,
                message: "cannot create: \(String(cString: strerror(errno)))")
        }
        file = handle
        switch compression {
        case .plain: break
        case .gzip:
            _ = deflateInit2_(
                &zstream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, zlibVersion(),
                Int32(MemoryLayout<z_stream>.size))
        case .bzip2:
            _ = BZ2_bzCompressInit(&bzstream, 9, 0, 0)
        }
        staging.reserveCapacity(1 << 18)
    }

    deinit {
        if !closed { fclose(file); unlink(temporaryPath) }
    }

    public func write(_ bytes: [UInt8]) {
        uncompressedBytes += Int64(bytes.count)
        unflushed = true
        staging.append(contentsOf: bytes)
        if staging.count >= 1 << 18 { flushStaging(.none) }
    }

    /// Everything written so far reaches the file, decodable (gzip's sync flush, the end of a
    /// bzip2 block): a reader of a live archive, or one left by a crash, sees it.
    public func flush() {
        guard !closed, unflushed else { return }
        unflushed = false
        flushStaging(.sync)
        if fflush(file) != 0 { noteFailure() }
    }

    private func noteFailure() {
        if failure == nil { failure = String(cString: strerror(errno)) }
    }

    private func put(_ pointer: UnsafeRawPointer?, _ count: Int) {
        guard failure == nil, count > 0 else { return }
        if fwrite(pointer, 1, count, file) != count { noteFailure() }
    }

    private func flushStaging(_ flush: Flush) {
        let finish = flush == .finish
        let input = staging
        staging.removeAll(keepingCapacity: true)
        let outCount = output.count
        switch compression {
        case .plain:
            input.withUnsafeBytes { put($0.baseAddress, $0.count) }
        case .gzip:
            input.withUnsafeBytes { inBuf in
                zstream.next_in = UnsafeMutablePointer(mutating: inBuf.baseAddress?.assumingMemoryBound(to: Bytef.self))
                zstream.avail_in = uInt(inBuf.count)
                var result: Int32 = Z_OK
                repeat {
                    let produced: Int = output.withUnsafeMutableBytes { outBuf in
                        zstream.next_out = outBuf.baseAddress!.assumingMemoryBound(to: Bytef.self)
                        zstream.avail_out = uInt(outCount)
                        result = deflate(&zstream, finish ? Z_FINISH : flush == .sync ? Z_SYNC_FLUSH : Z_NO_FLUSH)
                        return outCount - Int(zstream.avail_out)
                    }
                    output.withUnsafeBytes { put($0.baseAddress, produced) }
                } while zstream.avail_out == 0 || (finish && result != Z_STREAM_END)
            }
        case .bzip2:
            input.withUnsafeBytes { inBuf in
                bzstream.next_in = UnsafeMutablePointer(
                    mutating: inBuf.baseAddress?.assumingMemoryBound(to: CChar.self))
                bzstream.avail_in = UInt32(inBuf.count)
                var result: Int32 = BZ_OK
                repeat {
                    let produced: Int = output.withUnsafeMutableBytes { outBuf in
                        bzstream.next_out = outBuf.baseAddress!.assumingMemoryBound(to: CChar.self)
                        bzstream.avail_out = UInt32(outCount)
                        result = BZ2_bzCompress(&bzstream, finish ? BZ_FINISH : flush == .sync ? BZ_FLUSH : BZ_RUN)
                        return outCount - Int(bzstream.avail_out)
                    }
                    output.withUnsafeBytes { put($0.baseAddress, produced) }
                } while bzstream.avail_out == 0 || (finish && result != BZ_STREAM_END)
                    || (flush == .sync && result == BZ_FLUSH_OK) || (flush == .none && bzstream.avail_in > 0)
            }
        }
    }

    public func close() throws {
        guard !closed else { return }
        flushStaging(.finish)
        switch compression {
        case .plain: break
        case .gzip: deflateEnd(&zstream)
        case .bzip2: BZ2_bzCompressEnd(&bzstream)
        }
        closed = true
        if fflush(file) != 0 || ferror(file) != 0 { noteFailure() }
        if fclose(file) != 0 { noteFailure() }
        if let failure {
            if keepOnFailure { rename(temporaryPath, path) } else { unlink(temporaryPath) }
            throw StreamError(
                file: path, compressedOffset: 0, uncompressedOffset: uncompressedBytes,
                message: "write failed: \(failure)" + (keepOnFailure ? "; what was written is kept" : ""))
        }
        if rename(temporaryPath, path) != 0 {
            let reason = String(cString: strerror(errno))
            if !keepOnFailure { unlink(temporaryPath) }
            throw StreamError(
                file: path, compressedOffset: 0, uncompressedOffset: uncompressedBytes,
                message: "cannot rename \(temporaryPath): \(reason)")
        }
    }

    public static func fileExtension(_ compression: Compression) -> String {
        switch compression {
        case .plain: return ""
        case .gzip: return ".gz"
        case .bzip2: return ".bz2"
        }
    }
}
