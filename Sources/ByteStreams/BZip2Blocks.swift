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
    /// "BZh0": a stream's first four bytes, the level digit added to the last.
    static let streamHeader: UInt64 = 0x425A_6830
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
            return BZip2Segment(
                kind: .streamEnd(declaredCRC: declared), compressedOffset: endBit / 8, compressedEnd: next, output: nil)
        }
        // Between streams: another stream, zero padding to the end, or the end of the file.
        let start = base
        while window.isEmpty { if try !readMore() { finished = true; return nil } }
        if window[0] != 0x42 {
            while true {
                if window.contains(where: { $0 != 0 }) {
                    finished = true
                    return BZip2Segment(
                        kind: .damage(BZip2Damage.trailingData), compressedOffset: start, compressedEnd: start,
                        output: nil)
                }
                discard(before: end)
                if try !readMore() { finished = true; return nil }
            }
        }
        while window.count < 4 { if try !readMore() { break } }
        guard window.count >= 4 else { return truncated(at: base * 8) }
        guard window[1] == 0x5A, window[2] == 0x68, (0x31...0x39).contains(window[3]) else {
            finished = true
            return BZip2Segment(
                kind: .damage("bzip2: bad stream header, expected \"BZh\" and a block size digit"),
                compressedOffset: base, compressedEnd: base, output: nil)
        }
        level = window[3] - 0x30
        let first = base * 8 + 32
        guard let high = try bits(at: first, 24), let low = try bits(at: first + 24, 24) else {
            return truncated(at: first)
        }
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
        return BZip2Segment(
            kind: .damage("bzip2: corrupt data, expected a block or end-of-stream marker after the stream header"),
            compressedOffset: base + 4, compressedEnd: base + 4, output: nil)
    }

    private func truncated(at bit: Int64) -> BZip2Segment {
        finished = true
        return BZip2Segment(
            kind: .damage(BZip2Damage.truncated), compressedOffset: bit / 8, compressedEnd: end, output: nil)
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
        return BZip2Segment(
            kind: .block(
                raw: raw, firstBit: Int(start % 8), bitCount: Int(stop - start), crc: crc, level: level,
                terminated: terminated),
            compressedOffset: firstByte, compressedEnd: stop / 8, output: nil)
    }
}
