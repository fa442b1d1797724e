import CBZip2
import Foundation

// Decoding one bzip2 block (see BZip2Blocks.swift for the layout and the scan).

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
    /// Room for one block's output, up to `outputLimit`.
    private let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: outputLimit, alignment: 16)

    deinit {
        for block in spare + lent { free(block.memory) }
        scratch.deallocate()
    }

    private func allocate(_ size: Int) -> UnsafeMutableRawPointer? {
        let block =
            spare.firstIndex { $0.size == size }.map { spare.remove(at: $0) }
            ?? malloc(size).map { (size: size, memory: $0) }
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
        packer.append(BZip2Magic.streamHeader + UInt64(level), bits: 32)
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

    /// Decodes the common blocks faster than libbz2 (`BZip2NativeBlock`); libbz2 takes the rest.
    /// Made at the first `decode`: a decoder that only lends its tables (`BZip2StreamingBlock`) needs none.
    private lazy var native = BZip2NativeBlock()

    func decode(_ parts: [(raw: [UInt8], firstBit: Int, bitCount: Int)], crc: UInt32, level: UInt8) -> Output {
        var input = Self.wrap(parts, crc: crc, level: level)
        if let block = input.withUnsafeBytes({ native.prepare(stream: $0, level: Int(level)) }), native.walk(block) {
            if let bytes = native.finish(block) { return .bytes(bytes) }
            if let count = native.finish(block, into: scratch) {
                return .bytes(Array(UnsafeRawBufferPointer(rebasing: scratch[0..<count])))
            }
        }
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
                if produced == scratch.count {
                    // Decoded to the end all the same, over the same buffer, for its CRC: its
                    // consumer then streams bytes already known to be good.
                    oversized = true
                    produced = 0
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
                stream.pointee.next_in = UnsafeMutablePointer(
                    mutating: (inBuf.baseAddress! + consumed).assumingMemoryBound(to: CChar.self))
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
