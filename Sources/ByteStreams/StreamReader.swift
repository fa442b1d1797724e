/// A window over a chunk source for record framers (MRT, BMP): a record that straddles two
/// decompressed chunks is the normal case. Tracks the uncompressed offset of every record.
public final class StreamReader {
    public let source: ChunkSource
    private var storage: [UInt8] = []
    private var start = 0
    private var end = 0
    /// Uncompressed offset of the first unconsumed byte.
    public private(set) var offset: Int64 = 0
    /// Damage reported by the source; set once the good bytes before it are all buffered.
    public private(set) var streamError: StreamError?
    private var exhausted = false

    public init(_ source: ChunkSource) { self.source = source }

    public var available: Int { end - start }

    /// The buffer kept between records: a BMP message (≤ 1 MiB) and a chunk fit. A larger MRT
    /// record (up to 16 MiB) grows it only while that record is read: an open input's memory must
    /// not be set by the largest record it ever had.
    static let retainedCapacity = 2 << 20

    /// Buffers at least `count` bytes; false when the input ends (or is damaged) first.
    public func fill(_ count: Int) -> Bool {
        if storage.count > 2 * Self.retainedCapacity && max(count, end - start) <= Self.retainedCapacity / 2 {
            storage = Array(storage[start..<end])
            end -= start; start = 0
        }
        while end - start < count {
            if exhausted { return false }
            let chunk: [UInt8]?
            do { chunk = try source.next() } catch {
                exhausted = true
                streamError =
                    (error as? StreamError)
                    ?? StreamError(
                        file: source.name, compressedOffset: source.compressedOffset,
                        uncompressedOffset: offset + Int64(available), message: "\(error)")
                return false
            }
            guard let chunk else { exhausted = true; return false }
            if start > 0 && (start == end || storage.count - end < chunk.count) {
                // Compact: move the unconsumed tail to the front before appending.
                storage.withUnsafeMutableBytes { buf in
                    if end > start {
                        buf.baseAddress!.copyMemory(from: buf.baseAddress! + start, byteCount: end - start)
                    }
                }
                end -= start; start = 0
            }
            if storage.count - end < chunk.count {
                storage.append(contentsOf: [UInt8](repeating: 0, count: chunk.count - (storage.count - end)))
            }
            storage.withUnsafeMutableBytes { buf in
                chunk.withUnsafeBytes { src in
                    (buf.baseAddress! + end).copyMemory(from: src.baseAddress!, byteCount: src.count)
                }
            }
            end += chunk.count
        }
        return true
    }

    /// True when every byte has been consumed and the source has nothing more.
    public var atEnd: Bool { end == start && !fill(1) }

    public func withBytes<R>(_ count: Int, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        precondition(count <= end - start)
        return try storage.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[start..<start + count])) }
    }

    public func consume(_ count: Int) {
        let n = min(count, end - start)
        start += n
        offset += Int64(n)
    }
}
