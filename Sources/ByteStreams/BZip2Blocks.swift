import CBZip2
import Foundation

// bzip2 compresses independent blocks of ≤ 900 kB, each starting with a 48-bit magic at any
// bit position. Found by a scan, every block is wrapped as a stream of its own and decoded on
// a pool of threads: decompression, the floor of a .bz2 analysis, uses every idle core
// instead of one. Layout: "BZh" + level digit; per block the magic 0x314159265359 and the
// block's CRC (32 bits); after the last block 0x177245385090 and the stream CRC (32 bits),
// then padding to a byte. A stream's CRC folds its blocks' CRCs: c = (c <<< 1) ^ block.

/// One block as found by the scan, or what ended the scan of a stream.
struct BZip2Segment {
    enum Kind {
        /// Compressed bits of one block: `bitCount` bits from bit `firstBit` of `raw`.
        /// `terminated` is false when the file ended before the next magic.
        case block(raw: [UInt8], firstBit: Int, bitCount: Int, crc: UInt32, level: UInt8, terminated: Bool)
        /// The stream's end marker and the CRC it declares.
        case streamEnd(declaredCRC: UInt32)
        /// The scan could go no further; everything before it is good.
        case damage(String)
    }
    var kind: Kind
    /// File offset of the byte holding the segment's first bit.
    var compressedOffset: Int64
    /// File offset just past the segment (progress).
    var compressedEnd: Int64
    /// The block's decoding, nil before it was decoded.
    var output: BZip2BlockDecoder.Output?
}

/// What damage the bzip2 source reports, worded once.
enum BZip2Damage {
    static let truncated = "bzip2: stream truncated, expected more compressed data"
    static let trailingData = "bzip2: trailing data after the last stream is not a bzip2 stream"
}

enum BZip2Magic {
    static let block: UInt64 = 0x3141_5926_5359
    static let streamEnd: UInt64 = 0x1772_4538_5090
    static let mask: UInt64 = (1 << 48) - 1

    /// For a magic ending `s` bits before the end of byte j (s in 0..<8), byte j-3 lies wholly
    /// inside it and equals (magic >> (24 - s)) & 0xFF. Bits 0-7 flag block magics by s,
    /// bits 8-15 end magics: a byte that flags nothing rules out all 16 candidates at once.
    static let candidates: [UInt16] = {
        var table = [UInt16](repeating: 0, count: 256)
        for s in 0..<8 {
            table[Int((block >> UInt64(24 - s)) & 0xFF)] |= 1 << s
            table[Int((streamEnd >> UInt64(24 - s)) & 0xFF)] |= 1 << (s + 8)
        }
        return table
    }()

    static func foldStreamCRC(_ combined: UInt32, _ block: UInt32) -> UInt32 {
        ((combined << 1) | (combined >> 31)) ^ block
    }
}

/// Hands out a bzip2 file's segments in file order.
protocol BZip2SegmentProducer: AnyObject {
    func next() throws -> BZip2Segment?
    /// SHA-256 of the file once it has been read to its end.
    var sha256: String? { get }
}

/// Reads a bzip2 file from start to end and cuts it into blocks (and stream ends), checking the
/// framing between them; the blocks' contents are left to libbz2.
final class BZip2BlockScanner: BZip2SegmentProducer {
    private let reader: FileReader
    /// Compressed bytes from file offset `base` on; bytes before the current block are dropped.
    private var window: [UInt8]
    private var base: Int64 = 0
    private var atEOF = false
    /// Absolute bit where the next segment starts; nil between streams (byte aligned there).
    private var blockStart: Int64?
    private var level: UInt8 = 9
    private var scanFrom = 0
    private var finished = false
    /// A block holds at most 900 kB before compression, and bzip2 expands incompressible
    /// data by a few per cent at most.
    static let largestBlock: Int64 = 2 << 20

    init(reader: FileReader, first: [UInt8]) {
        self.reader = reader
        window = first
    }

    var sha256: String? { reader.atEnd ? reader.hasher?.hexDigest() : nil }

    private var end: Int64 { base + Int64(window.count) }

    /// Appends the file's next piece to the window; false at end of file.
    private func readMore() throws -> Bool {
        if atEOF { return false }
        var piece = [UInt8](repeating: 0, count: 256 * 1024)
        let n = try piece.withUnsafeMutableBytes { try reader.read(into: $0) }
        if n == 0 { atEOF = true; return false }
        window.append(contentsOf: piece[0..<n])
        return true
    }

    /// Drops window bytes before `offset`.
    private func discard(before offset: Int64) {
        let count = Int(offset - base)
        guard count > 0 else { return }
        window.removeFirst(min(count, window.count))
        base = offset
    }

    /// `count` (≤ 32) bits from absolute bit `bit`, reading more of the file when needed; nil
    /// when the file ends first.
    private func bits(at bit: Int64, _ count: Int) throws -> UInt32? {
        while end * 8 < bit + Int64(count) { if try !readMore() { return nil } }
        var value: UInt64 = 0
        for i in 0..<count {
            let b = bit + Int64(i)
            let byte = window[Int(b / 8 - base)]
            value = value << 1 | UInt64((byte >> (7 - UInt8(b % 8))) & 1)
        }
        return UInt32(value)
    }

    /// The next block or stream end, nil after the last; throws only read failures.
    func next() throws -> BZip2Segment? {
        if finished { return nil }
        guard let start = blockStart else { return try nextStream() }
        // The block's own magic and CRC are 80 bits; a following magic starts after them.
        guard let crc = try bits(at: start + 48, 32) else { return truncated(at: start) }
        let searchFrom = start + 80
        while true {
            if let (found, isEnd) = findMagic(from: searchFrom) {
                let segment = block(from: start, to: found, crc: crc, terminated: true)
                if isEnd {
                    blockStart = nil
                    pendingEnd = found  // handed out next
                } else {
                    blockStart = found
                }
                discard(before: found / 8)
                scanFrom = 0
                return segment
            }
            if end - start / 8 > Self.largestBlock {
                // No block compresses this badly: damage, not a block to keep in memory whole.
                finished = true
                return block(from: start, to: end * 8, crc: crc, terminated: true)
            }
            if try !readMore() {
                finished = true
                return block(from: start, to: end * 8, crc: crc, terminated: false)
            }
        }
    }

    /// Set when a block ended at a stream end marker (its absolute bit), handed out next.
    private var pendingEnd: Int64?

    private func nextStream() throws -> BZip2Segment? {
        if let endBit = pendingEnd {
            pendingEnd = nil
            guard let declared = try bits(at: endBit + 48, 32) else { return truncated(at: endBit) }
            let next = (endBit + 80 + 7) / 8
            discard(before: min(next, end))
            return BZip2Segment(kind: .streamEnd(declaredCRC: declared), compressedOffset: endBit / 8, compressedEnd: next, output: nil)
        }
        // Between streams: another stream, zero padding to the end, or the end of the file.
        let start = base
        while window.isEmpty { if try !readMore() { finished = true; return nil } }
        if window[0] != 0x42 {
            while true {
                if window.contains(where: { $0 != 0 }) {
                    finished = true
                    return BZip2Segment(kind: .damage(BZip2Damage.trailingData), compressedOffset: start, compressedEnd: start, output: nil)
                }
                discard(before: end)
                if try !readMore() { finished = true; return nil }
            }
        }
        while window.count < 4 { if try !readMore() { break } }
        guard window.count >= 4 else { return truncated(at: base * 8) }
        guard window[1] == 0x5A, window[2] == 0x68, (0x31...0x39).contains(window[3]) else {
            finished = true
            return BZip2Segment(kind: .damage("bzip2: bad stream header, expected \"BZh\" and a block size digit"), compressedOffset: base, compressedEnd: base, output: nil)
        }
        level = window[3] - 0x30
        let first = base * 8 + 32
        guard let high = try bits(at: first, 24), let low = try bits(at: first + 24, 24) else { return truncated(at: first) }
        let magic = UInt64(high) << 24 | UInt64(low)
        if magic == BZip2Magic.block {
            blockStart = first
            return try next()
        }
        if magic == BZip2Magic.streamEnd {  // an empty stream
            pendingEnd = first
            return try nextStream()
        }
        finished = true
        return BZip2Segment(kind: .damage("bzip2: corrupt data, expected a block or end-of-stream marker after the stream header"), compressedOffset: base + 4, compressedEnd: base + 4, output: nil)
    }

    private func truncated(at bit: Int64) -> BZip2Segment {
        finished = true
        return BZip2Segment(kind: .damage(BZip2Damage.truncated), compressedOffset: bit / 8, compressedEnd: end, output: nil)
    }

    /// The first block or end magic starting at or after absolute bit `from` within the
    /// window, and whether it is an end magic.
    private func findMagic(from: Int64) -> (Int64, Bool)? {
        // A magic starting at `from` ends at from + 48, inside byte (from + 47) / 8.
        let firstByte = max(Int((from + 47) / 8 - base), scanFrom, 7)
        var found: (Int64, Bool)?
        window.withUnsafeBytes { bytes in
            let table = BZip2Magic.candidates
            var j = firstByte
            while j < bytes.count {
                let flags = table[Int(bytes[j - 3])]
                if flags != 0 {
                    var word: UInt64 = 0
                    for k in (j - 7)...j { word = word << 8 | UInt64(bytes[k]) }
                    // Larger s starts earlier: try it first so the earliest magic wins.
                    for s in stride(from: 7, through: 0, by: -1) {
                        let isBlock = flags & (1 << s) != 0, isEnd = flags & (1 << (s + 8)) != 0
                        guard isBlock || isEnd else { continue }
                        let candidate = (word >> UInt64(s)) & BZip2Magic.mask
                        let startBit = (base + Int64(j) + 1) * 8 - Int64(s) - 48
                        guard startBit >= from else { continue }
                        if isBlock && candidate == BZip2Magic.block { found = (startBit, false); return }
                        if isEnd && candidate == BZip2Magic.streamEnd { found = (startBit, true); return }
                    }
                }
                j += 1
            }
            scanFrom = j
        }
        return found
    }

    private func block(from start: Int64, to stop: Int64, crc: UInt32, terminated: Bool) -> BZip2Segment {
        let firstByte = start / 8, lastByte = (stop + 7) / 8
        let raw = Array(window[Int(firstByte - base)..<Int(lastByte - base)])
        return BZip2Segment(kind: .block(raw: raw, firstBit: Int(start % 8), bitCount: Int(stop - start), crc: crc, level: level, terminated: terminated),
                            compressedOffset: firstByte, compressedEnd: stop / 8, output: nil)
    }
}

/// Packs bits most significant first, as bzip2 does.
struct BitPacker {
    private(set) var bytes: [UInt8] = []
    private var pending: UInt64 = 0
    private var pendingBits = 0

    init(capacity: Int) { bytes.reserveCapacity(capacity) }

    mutating func append(_ value: UInt64, bits: Int) {
        for i in stride(from: bits - 1, through: 0, by: -1) {
            pending = pending << 1 | (value >> UInt64(i) & 1)
            pendingBits += 1
            if pendingBits == 8 { bytes.append(UInt8(pending)); pending = 0; pendingBits = 0 }
        }
    }

    /// `count` bits of `raw` from bit `first` on.
    mutating func append(_ raw: [UInt8], first: Int, count: Int) {
        if pendingBits == 0 {
            // The common case (right after the stream header): whole bytes, shifted.
            let whole = count / 8
            raw.withUnsafeBufferPointer { src in
                if first == 0 {
                    bytes.append(contentsOf: src[0..<whole])
                } else {
                    for i in 0..<whole { bytes.append(src[i] << UInt8(first) | src[i + 1] >> UInt8(8 - first)) }
                }
            }
            let rest = count % 8
            if rest > 0 { appendBits(raw, from: first + whole * 8, count: rest) }
        } else {
            appendBits(raw, from: first, count: count)
        }
    }

    private mutating func appendBits(_ raw: [UInt8], from: Int, count: Int) {
        for b in from..<(from + count) { append(UInt64(raw[b / 8] >> (7 - UInt8(b % 8)) & 1), bits: 1) }
    }

    /// Pads the last byte with zero bits.
    mutating func finish() -> [UInt8] {
        if pendingBits > 0 { bytes.append(UInt8(pending << UInt64(8 - pendingBits))) }
        pending = 0; pendingBits = 0
        return bytes
    }
}

/// Decodes blocks one at a time on one thread. libbz2 allocates ~4 MB of tables per stream,
/// and every block is a stream here: the tables and the output buffer are kept from one block
/// to the next instead of being mapped, faulted in and unmapped ~1000 times per GB.
final class BZip2BlockDecoder {
    private var spare: [(size: Int, memory: UnsafeMutableRawPointer)] = []
    private var lent: [(size: Int, memory: UnsafeMutableRawPointer)] = []
    private var scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)

    deinit {
        for block in spare + lent { free(block.memory) }
        scratch.deallocate()
    }

    private func allocate(_ size: Int) -> UnsafeMutableRawPointer? {
        let block = spare.firstIndex { $0.size == size }.map { spare.remove(at: $0) } ?? malloc(size).map { (size: size, memory: $0) }
        if let block { lent.append(block) }
        return block?.memory
    }

    private func release(_ memory: UnsafeMutableRawPointer) {
        if let i = lent.firstIndex(where: { $0.memory == memory }) { spare.append(lent.remove(at: i)) }
    }

    /// Blocks that decode to more than this are left to `BZip2StreamingBlock`: bzip2's
    /// run-length stage lets a 900 kB block hold ~45 MB, and a window of decoded blocks per
    /// input must stay a few MB whatever the data.
    static let outputLimit = 4 << 20

    /// What decoding a block gave.
    enum Output {
        case bytes([UInt8])
        /// libbz2 rejected it (damage, or a block a false magic split).
        case rejected
        /// Good, but more than `outputLimit` bytes: to be decoded again piece by piece by its consumer.
        case oversized
    }

    /// Wraps consecutive blocks' bits (one block, or a block a false magic split) as a stream
    /// of its own — header, the bits, an end marker declaring the first block's CRC.
    static func wrap(_ parts: [(raw: [UInt8], firstBit: Int, bitCount: Int)], crc: UInt32, level: UInt8) -> [UInt8] {
        let total = parts.reduce(0) { $0 + $1.bitCount }
        var packer = BitPacker(capacity: total / 8 + 16)
        packer.append(0x425A_6830 + UInt64(level), bits: 32)
        for part in parts { packer.append(part.raw, first: part.firstBit, count: part.bitCount) }
        packer.append(BZip2Magic.streamEnd, bits: 48)
        packer.append(UInt64(crc), bits: 32)
        return packer.finish()
    }

    /// Points libbz2's allocations at this decoder's reused tables.
    fileprivate func lend(to stream: inout bz_stream) {
        stream.opaque = Unmanaged.passUnretained(self).toOpaque()
        stream.bzalloc = { opaque, count, size in
            Unmanaged<BZip2BlockDecoder>.fromOpaque(opaque!).takeUnretainedValue().allocate(Int(count) * Int(size))
        }
        stream.bzfree = { opaque, memory in
            guard let memory else { return }
            Unmanaged<BZip2BlockDecoder>.fromOpaque(opaque!).takeUnretainedValue().release(memory)
        }
    }

    func decode(_ parts: [(raw: [UInt8], firstBit: Int, bitCount: Int)], crc: UInt32, level: UInt8) -> Output {
        var input = Self.wrap(parts, crc: crc, level: level)
        var stream = bz_stream()
        lend(to: &stream)
        guard BZ2_bzDecompressInit(&stream, 0, 0) == BZ_OK else { return .rejected }
        defer { BZ2_bzDecompressEnd(&stream) }
        var produced = 0
        var oversized = false
        let ended = input.withUnsafeMutableBytes { inBuf -> Bool in
            stream.next_in = inBuf.baseAddress!.assumingMemoryBound(to: CChar.self)
            stream.avail_in = UInt32(inBuf.count)
            while true {
                if produced == scratch.count && scratch.count >= Self.outputLimit {
                    // Decoded to the end all the same, over the same buffer, for its CRC: its
                    // consumer then streams bytes already known to be good.
                    oversized = true
                    produced = 0
                } else if produced == scratch.count {
                    let larger = UnsafeMutableRawBufferPointer.allocate(byteCount: scratch.count * 2, alignment: 16)
                    larger.copyMemory(from: UnsafeRawBufferPointer(scratch))
                    scratch.deallocate()
                    scratch = larger
                }
                stream.next_out = (scratch.baseAddress! + produced).assumingMemoryBound(to: CChar.self)
                stream.avail_out = UInt32(scratch.count - produced)
                let result = BZ2_bzDecompress(&stream)
                produced = scratch.count - Int(stream.avail_out)
                switch result {
                case BZ_STREAM_END:
                    return true
                case BZ_OK:
                    // No progress with input left and room for output means the bits ran out.
                    if stream.avail_in == 0 && stream.avail_out > 0 { return false }
                default:
                    return false
                }
            }
        }
        guard ended else { return .rejected }
        return oversized ? .oversized : .bytes(Array(UnsafeRawBufferPointer(rebasing: scratch[0..<produced])))
    }
}

/// A block larger than `BZip2BlockDecoder.outputLimit`, decoded on its consumer's thread a
/// piece at a time: the input holds one piece of it, not the whole block.
final class BZip2StreamingBlock {
    enum Piece { case bytes([UInt8]), end, failed }
    private let input: [UInt8]
    private var consumed = 0
    /// libbz2 keeps a pointer back to its bz_stream: the struct needs an address that stays.
    private let stream = UnsafeMutablePointer<bz_stream>.allocate(capacity: 1)
    private let decoder = BZip2BlockDecoder()
    private var open = false

    init(_ parts: [(raw: [UInt8], firstBit: Int, bitCount: Int)], crc: UInt32, level: UInt8) {
        input = BZip2BlockDecoder.wrap(parts, crc: crc, level: level)
        stream.initialize(to: bz_stream())
        decoder.lend(to: &stream.pointee)
        open = BZ2_bzDecompressInit(stream, 0, 0) == BZ_OK
    }

    deinit {
        if open { BZ2_bzDecompressEnd(stream) }
        stream.deallocate()
    }

    private enum State { case running, ended, failed }
    private var state = State.running

    /// The next piece of at most `size` bytes; `.end` after the last, `.failed` once the
    /// bytes stop decoding (reported after every good byte before it).
    func next(atMost size: Int) -> Piece {
        guard open else { return .failed }
        guard state == .running else { return state == .ended ? .end : .failed }
        var piece = [UInt8](repeating: 0, count: size)
        var produced = 0
        input.withUnsafeBytes { inBuf in
            piece.withUnsafeMutableBytes { outBuf in
                // libbz2 only reads through next_in.
                stream.pointee.next_in = UnsafeMutablePointer(mutating: (inBuf.baseAddress! + consumed).assumingMemoryBound(to: CChar.self))
                stream.pointee.avail_in = UInt32(inBuf.count - consumed)
                while produced < size && state == .running {
                    stream.pointee.next_out = (outBuf.baseAddress! + produced).assumingMemoryBound(to: CChar.self)
                    stream.pointee.avail_out = UInt32(size - produced)
                    let result = BZ2_bzDecompress(stream)
                    let step = size - produced - Int(stream.pointee.avail_out)
                    produced += step
                    switch result {
                    case BZ_STREAM_END: state = .ended
                    // No output and no input left: the bits ran out.
                    case BZ_OK: if step == 0 && stream.pointee.avail_in == 0 { state = .failed }
                    default: state = .failed
                    }
                }
                consumed = inBuf.count - Int(stream.pointee.avail_in)
            }
        }
        guard produced > 0 else { return state == .ended ? .end : .failed }
        piece.removeSubrange(produced...)
        return .bytes(piece)
    }
}

/// One file's blocks between its scanner, the pool and its consumer.
final class BZip2Delivery: @unchecked Sendable {
    let condition = NSCondition()
    var done: [Int: BZip2Segment] = [:]
    var scanned = 0, delivered = 0
    var scanFinished = false
    var scanError: StreamError?
    var sha256: String?
    var cancelled = false
    let capacity: Int
    init(capacity: Int) { self.capacity = capacity }

    var isCancelled: Bool { condition.lock(); defer { condition.unlock() }; return cancelled }

    func store(_ segment: BZip2Segment, at index: Int) {
        condition.lock()
        if !cancelled { done[index] = segment }
        condition.broadcast()
        condition.unlock()
    }
}

/// The process's bzip2 block decoders, one thread per core, shared by every open file: the
/// number of decompressors, and the ~5 MB each holds, does not grow with the files merged.
final class BZip2DecoderPool: @unchecked Sendable {
    static let shared = BZip2DecoderPool(threads: ProcessInfo.processInfo.activeProcessorCount)

    private struct Job { var index: Int; var segment: BZip2Segment; var delivery: BZip2Delivery }
    private let condition = NSCondition()
    private var jobs: [Job] = []
    private var head = 0
    let threads: Int

    private init(threads: Int) {
        self.threads = max(1, threads)
        for thread in 0..<self.threads {
            Thread { [self] in
                // One decoder keeps pace with the parser; the others take only cores nobody
                // else wants, so they never slow the thread that consumes the bytes.
                if thread > 0 { Self.runOnlyWhenIdle() }
                let decoder = BZip2BlockDecoder()
                while true { work(decoder) }
            }.start()
        }
    }

    private static func runOnlyWhenIdle() {
        var parameters = sched_param()
        _ = pthread_setschedparam(pthread_self(), 5 /* SCHED_IDLE, not exported to Swift */, &parameters)
    }

    func submit(_ segment: BZip2Segment, index: Int, to delivery: BZip2Delivery) {
        condition.lock()
        jobs.append(Job(index: index, segment: segment, delivery: delivery))
        condition.signal()
        condition.unlock()
    }

    private func work(_ decoder: BZip2BlockDecoder) {
        condition.lock()
        while head == jobs.count { condition.wait() }
        var job = jobs[head]
        head += 1
        if head == jobs.count { jobs.removeAll(keepingCapacity: true); head = 0 }
        condition.unlock()
        if case .block(let raw, let firstBit, let bitCount, let crc, let level, _) = job.segment.kind, !job.delivery.isCancelled {
            job.segment.output = decoder.decode([(raw, firstBit, bitCount)], crc: crc, level: level)
        }
        job.delivery.store(job.segment, at: job.index)
    }
}

/// Decompresses a bzip2 file block by block, delivering the blocks' bytes in file order: on
/// the decoder pool through a bounded window of blocks in flight, or, unthreaded, each block on
/// the caller's thread as it is reached.
final class BZip2Source: ChunkSource {
    /// Where the next segment comes from.
    private enum Feed {
        case pool(BZip2Delivery)
        case inline(BZip2SegmentProducer, BZip2BlockDecoder)
    }
    private let feed: Feed
    let name: String
    var compression: Compression { .bzip2 }
    private(set) var compressedOffset: Int64 = 0
    private(set) var sha256: String?
    private var producedBase: Int64 = 0
    private var streamCRC: UInt32 = 0
    private var finished = false
    private var pending: StreamError?
    /// Segments taken ahead while mending a block a false magic had split.
    private var borrowed: [BZip2Segment] = []
    /// The oversized block being served piece by piece, and where it starts.
    private var streaming: (block: BZip2StreamingBlock, compressedOffset: Int64)?

    convenience init(reader: FileReader, first: [UInt8], threaded: Bool) {
        self.init(name: reader.name, segments: BZip2BlockScanner(reader: reader, first: first), pool: threaded ? .shared : nil)
    }

    /// With a pool, `segments` is read on a thread of its own and nowhere else.
    init(name: String, segments: BZip2SegmentProducer, pool: BZip2DecoderPool?) {
        self.name = name
        guard let pool else { feed = .inline(segments, BZip2BlockDecoder()); return }
        // One block in work per decoder and one ready for the consumer: each costs ~1 MB.
        let shared = BZip2Delivery(capacity: pool.threads + 1)
        feed = .pool(shared)
        final class ScannerBox: @unchecked Sendable { let scanner: BZip2SegmentProducer; init(_ s: BZip2SegmentProducer) { scanner = s } }
        let box = ScannerBox(segments)
        Thread {
            var index = 0
            while true {
                let segment: BZip2Segment?
                var failure: StreamError?
                do { segment = try box.scanner.next() } catch {
                    segment = nil
                    failure = (error as? StreamError) ?? StreamError(file: name, compressedOffset: 0, uncompressedOffset: 0, message: "\(error)")
                }
                shared.condition.lock()
                while shared.scanned - shared.delivered >= shared.capacity && !shared.cancelled { shared.condition.wait() }
                if shared.cancelled { shared.condition.unlock(); return }
                if segment != nil {
                    shared.scanned += 1
                } else {
                    shared.scanFinished = true
                    shared.scanError = failure
                    shared.sha256 = box.scanner.sha256
                    shared.condition.broadcast()
                }
                shared.condition.unlock()
                guard let segment else { return }
                pool.submit(segment, index: index, to: shared)
                index += 1
            }
        }.start()
    }

    deinit {
        guard case .pool(let shared) = feed else { return }
        shared.condition.lock(); shared.cancelled = true; shared.done.removeAll(); shared.condition.broadcast(); shared.condition.unlock()
    }

    /// The next segment in file order, decoded; nil after the last.
    private func take() throws -> BZip2Segment? {
        if !borrowed.isEmpty { return borrowed.removeFirst() }
        switch feed {
        case .inline(let scanner, let decoder):
            guard var segment = try scanner.next() else { sha256 = scanner.sha256; return nil }
            if case .block(let raw, let firstBit, let bitCount, let crc, let level, _) = segment.kind {
                segment.output = decoder.decode([(raw, firstBit, bitCount)], crc: crc, level: level)
            }
            return segment
        case .pool(let shared):
            shared.condition.lock()
            defer { shared.condition.unlock() }
            while shared.done[shared.delivered] == nil && !(shared.scanFinished && shared.delivered == shared.scanned) {
                shared.condition.wait()
            }
            guard let segment = shared.done.removeValue(forKey: shared.delivered) else {
                sha256 = shared.sha256
                if let error = shared.scanError { shared.scanError = nil; throw error }
                return nil
            }
            shared.delivered += 1
            shared.condition.broadcast()
            return segment
        }
    }

    private func damage(_ message: String, at offset: Int64) -> StreamError {
        StreamError(file: name, compressedOffset: offset, uncompressedOffset: producedBase, message: message)
    }

    func next() throws -> [UInt8]? {
        if let (block, offset) = streaming {
            switch block.next(atMost: ByteSources.chunkSize) {
            case .bytes(let piece):
                producedBase += Int64(piece.count)
                return piece
            case .end:
                streaming = nil
            case .failed:
                streaming = nil; finished = true
                throw damage("bzip2: corrupt block (data or CRC check failed)", at: offset)
            }
        }
        if let pending { self.pending = nil; finished = true; throw pending }
        if finished { return nil }
        while true {
            guard let segment = try take() else { finished = true; return nil }
            compressedOffset = segment.compressedEnd
            switch segment.kind {
            case .damage(let message):
                finished = true
                throw damage(message, at: segment.compressedOffset)
            case .streamEnd(let declared):
                defer { streamCRC = 0 }
                if declared != streamCRC {
                    finished = true
                    throw damage("bzip2: stream CRC mismatch (declared \(hex(declared)), blocks give \(hex(streamCRC)))", at: segment.compressedOffset)
                }
            case .block(let raw, let firstBit, let bitCount, let crc, let level, let terminated):
                var decoded = (output: segment.output ?? .rejected, parts: [(raw: raw, firstBit: firstBit, bitCount: bitCount)])
                if case .rejected = decoded.output { decoded = try mend(segment) }
                func accept() {
                    streamCRC = BZip2Magic.foldStreamCRC(streamCRC, crc)
                    if !terminated { pending = damage(BZip2Damage.truncated, at: compressedOffset) }
                }
                switch decoded.output {
                case .rejected:
                    finished = true
                    throw damage(terminated ? "bzip2: corrupt block (data or CRC check failed)" : BZip2Damage.truncated,
                                 at: segment.compressedOffset)
                case .oversized:
                    accept()
                    streaming = (BZip2StreamingBlock(decoded.parts, crc: crc, level: level), segment.compressedOffset)
                    return try next()
                case .bytes(let output):
                    accept()
                    producedBase += Int64(output.count)
                    if output.isEmpty { continue }
                    return output
                }
            }
        }
    }

    /// A block that did not decode alone may have been cut by its own data happening to
    /// contain a magic (about once in 2^48 bit positions): joins it with the following
    /// segments, one at a time, until it decodes or a stream end or damage is reached.
    private func mend(_ failed: BZip2Segment) throws -> (output: BZip2BlockDecoder.Output, parts: [(raw: [UInt8], firstBit: Int, bitCount: Int)]) {
        guard case .block(let raw, let firstBit, let bitCount, let crc, let level, _) = failed.kind else { return (.rejected, []) }
        var parts = [(raw: raw, firstBit: firstBit, bitCount: bitCount)]
        var taken: [BZip2Segment] = []
        defer { borrowed = taken + borrowed }
        let decoder = BZip2BlockDecoder()
        for _ in 0..<8 {
            guard let following = try take() else { return (.rejected, parts) }
            guard case .block(let nextRaw, let nextFirst, let nextCount, _, _, let terminated) = following.kind else {
                taken.append(following); return (.rejected, parts)
            }
            taken.append(following)
            parts.append((nextRaw, nextFirst, nextCount))
            let output = decoder.decode(parts, crc: crc, level: level)
            if case .rejected = output { continue }
            if !terminated { pending = damage(BZip2Damage.truncated, at: following.compressedEnd) }
            compressedOffset = following.compressedEnd
            taken.removeAll()
            return (output, parts)
        }
        return (.rejected, parts)
    }

    private func hex(_ value: UInt32) -> String { String(value, radix: 16) }
}
