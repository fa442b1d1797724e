import CBZip2
import CZlib
import Foundation

/// Writes a file plain, gzip or bzip2 through the system libraries, streaming; the generator
/// and the tests produce their compressed dumps with it. The file appears under its final
/// name only when `close()` succeeds.
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

    public init(path: String, compression: Compression, level: Int32 = 6) throws {
        self.path = path
        self.compression = compression
        temporaryPath = path + ".partial"
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
        staging.append(contentsOf: bytes)
        if staging.count >= 1 << 18 { flushStaging(finish: false) }
    }

    private func flushStaging(finish: Bool) {
        let input = staging
        staging.removeAll(keepingCapacity: true)
        let outCount = output.count
        switch compression {
        case .plain:
            input.withUnsafeBytes { _ = fwrite($0.baseAddress, 1, $0.count, file) }
        case .gzip:
            input.withUnsafeBytes { inBuf in
                zstream.next_in = UnsafeMutablePointer(mutating: inBuf.baseAddress?.assumingMemoryBound(to: Bytef.self))
                zstream.avail_in = uInt(inBuf.count)
                var result: Int32 = Z_OK
                repeat {
                    let produced: Int = output.withUnsafeMutableBytes { outBuf in
                        zstream.next_out = outBuf.baseAddress!.assumingMemoryBound(to: Bytef.self)
                        zstream.avail_out = uInt(outCount)
                        result = deflate(&zstream, finish ? Z_FINISH : Z_NO_FLUSH)
                        return outCount - Int(zstream.avail_out)
                    }
                    output.withUnsafeBytes { _ = fwrite($0.baseAddress, 1, produced, file) }
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
                        result = BZ2_bzCompress(&bzstream, finish ? BZ_FINISH : BZ_RUN)
                        return outCount - Int(bzstream.avail_out)
                    }
                    output.withUnsafeBytes { _ = fwrite($0.baseAddress, 1, produced, file) }
                } while bzstream.avail_out == 0 || (finish && result != BZ_STREAM_END)
                    || (!finish && bzstream.avail_in > 0)
            }
        }
    }

    public func close() throws {
        guard !closed else { return }
        flushStaging(finish: true)
        switch compression {
        case .plain: break
        case .gzip: deflateEnd(&zstream)
        case .bzip2: BZ2_bzCompressEnd(&bzstream)
        }
        closed = true
        let failed = fflush(file) != 0 || ferror(file) != 0
        fclose(file)
        if failed || rename(temporaryPath, path) != 0 {
            unlink(temporaryPath)
            throw StreamError(
                file: path, compressedOffset: 0, uncompressedOffset: uncompressedBytes, message: "write failed")
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
