import CCRC
import Foundation

// Decoding one bzip2 block without libbz2, for speed: bzip2 decompression is the floor of a
// .bz2 analysis, and libbz2 spends most of its time following the inverse BWT one cache miss
// at a time. Here the text is walked as 24 chains of misses at once (`BZip2Walk`); code words
// are looked up 10 bits at a time; the CRC is folded 64 bytes a step. Anything unusual (a
// randomised block, an inconsistent code, a CRC mismatch, an output beyond the limit) returns
// nil and the caller decodes the block with libbz2, which also words the error.

/// The reusable arrays of one decoding thread.
final class BZip2NativeBlock {
    /// Per row of the sorted rotations: the T link (forward) from bit 8 on, marked where the row
    /// it links to starts a segment (`BZip2Walk`), and the row's first byte below (the last byte
    /// of the row it links to).
    private let forward: UnsafeMutablePointer<UInt32>
    private let walker = BZip2Walk()
    /// The BWT's last column as the symbols give it, then, walked, the text before bzip2's first
    /// run-length stage was undone.
    private let text: UnsafeMutablePointer<UInt8>
    private static let maxBlock = 900_000
    private static let tableBits = 10
    private var tables = [UInt16](repeating: 0, count: 6 << tableBits)
    private var codes = [HuffmanCode](repeating: HuffmanCode(), count: 6)

    /// The link array, in 2 MB pages where the kernel grants them, for the walks' random reads
    /// over 3.6 MB (with two arrays over 7 MB, the decoder thread took 11.0 s against 11.4 s on
    /// the 1 M MAC fabric, mean of 5 interleaved pairs).
    private let links: UnsafeMutableRawPointer
    private static let linkBytes = 4 << 20

    init() {
        var memory: UnsafeMutableRawPointer?
        if posix_memalign(&memory, 2 << 20, Self.linkBytes) != 0 || memory == nil {
            memory = UnsafeMutableRawPointer.allocate(byteCount: Self.linkBytes, alignment: 64)
        }
        links = memory!
        _ = madvise(links, Self.linkBytes, 14 /* MADV_HUGEPAGE, not exported to Swift */)
        forward = links.bindMemory(to: UInt32.self, capacity: Self.linkBytes / 4)
        text = .allocate(capacity: Self.maxBlock + 8)
    }

    deinit {
        free(links); text.deallocate()
    }

    /// One group's canonical code by word length (the first word and the number of words of each
    /// length, the symbols in code order): what decodes words longer than the lookup table's bits.
    struct HuffmanCode {
        var first = [UInt32](repeating: 0, count: 22)
        var count = [UInt32](repeating: 0, count: 22)
        var offset = [Int](repeating: 0, count: 22)
        var sorted = [UInt16](repeating: 0, count: 258)
        var maxLength = 0
    }

    /// Decodes the block in `stream` (a stream of one block: "BZh" + level, the block magic,
    /// its bits) into `output`, at most `output.count` bytes. Returns the byte count, or nil.
    func decode(stream: UnsafeRawBufferPointer, level: Int, into output: UnsafeMutableRawBufferPointer) -> Int? {
        guard let block = prepare(stream: stream, level: level), walk(block) else { return nil }
        return finish(block, into: output)
    }

    /// A block decoded as far as its links: what the walk and `finish` need (the stream is done with).
    struct Prepared {
        let size: Int
        let origin: Int
        let declaredCRC: UInt32
        /// Where the walk's segments start (`BZip2Walk.link`).
        let starts: [Int]
    }

    /// Reads the block's code tables and symbols and builds the links; nil for anything unusual.
    func prepare(stream: UnsafeRawBufferPointer, level: Int) -> Prepared? {
        guard stream.count >= 10, (1...9).contains(level) else { return nil }
        var bits = BitReader(stream.bindMemory(to: UInt8.self))
        guard UInt64(bits.read(32)) == BZip2Magic.streamHeader + UInt64(level) else { return nil }
        guard UInt64(bits.read(24)) << 24 | UInt64(bits.read(24)) == BZip2Magic.block else { return nil }
        let declaredCRC = bits.read(32)
        guard bits.read(1) == 0 else { return nil }  // randomised: a bzip2 0.9 feature left to libbz2
        let origin = Int(bits.read(24))

        // The bytes in use, then the code tables.
        var unseq = [UInt8]()
        let ranges = bits.read(16)
        for range in 0..<16 where ranges & (0x8000 >> range) != 0 {
            let used = bits.read(16)
            for low in 0..<16 where used & (0x8000 >> low) != 0 { unseq.append(UInt8(range * 16 + low)) }
        }
        guard !unseq.isEmpty else { return nil }
        let alphabet = unseq.count + 2
        let groups = Int(bits.read(3))
        let selectorCount = Int(bits.read(15))
        guard (2...6).contains(groups), (1...18_002).contains(selectorCount) else { return nil }
        var groupOrder: [UInt8] = Array(0..<UInt8(groups))
        var selectors = [UInt8](repeating: 0, count: selectorCount)
        for i in 0..<selectorCount {
            var j = 0
            while bits.read(1) == 1 {
                j += 1
                guard j < groups else { return nil }
            }
            let group = groupOrder[j]
            groupOrder.remove(at: j)
            groupOrder.insert(group, at: 0)
            selectors[i] = group
        }
        var lengths = [UInt8](repeating: 0, count: alphabet)
        for group in 0..<groups {
            var length = Int(bits.read(5))
            for symbol in 0..<alphabet {
                while true {
                    guard (1...20).contains(length) else { return nil }
                    if bits.read(1) == 0 { break }
                    length += bits.read(1) == 0 ? 1 : -1
                }
                lengths[symbol] = UInt8(length)
            }
            guard buildTable(group, lengths: lengths) else { return nil }
        }
        guard !bits.overrun else { return nil }

        // Symbols: move-to-front indices and runs of the front byte (RUNA/RUNB), to the end of block.
        let capacity = level * 100_000
        var counts = [Int](repeating: 0, count: 256)
        var frontList = [UInt8](repeating: 0, count: 256)
        for (i, byte) in unseq.enumerated() { frontList[i] = byte }
        let endOfBlock = alphabet - 1
        var size = 0
        let decoded: Bool = tables.withUnsafeBufferPointer { tables in
            frontList.withUnsafeMutableBufferPointer { front in
                counts.withUnsafeMutableBufferPointer { counts in
                    var selector = 0, left = 0
                    var table = tables.baseAddress!
                    var code = 0
                    var run = 0, runWeight = 1
                    while true {
                        if left == 0 {
                            guard selector < selectorCount else { return false }
                            code = Int(selectors[selector])
                            table = tables.baseAddress! + (code << Self.tableBits)
                            selector += 1
                            left = 50
                        }
                        left -= 1
                        bits.refill()
                        let entry = table[Int(truncatingIfNeeded: bits.peek(Self.tableBits))]
                        let symbol: Int
                        if entry != 0 {
                            bits.skip(Int(entry >> 11))
                            symbol = Int(entry & 0x7FF)
                        } else {
                            guard let long = longSymbol(&bits, code: code) else { return false }
                            symbol = long
                        }
                        if symbol <= 1 {
                            // RUNA adds 1 × the weight, RUNB 2 ×; weights double.
                            run += runWeight << symbol
                            runWeight <<= 1
                            guard run <= capacity else { return false }
                            continue
                        }
                        if run > 0 {
                            guard size + run <= capacity else { return false }
                            let byte = front[0]
                            counts[Int(byte)] += run
                            (text + size).update(repeating: byte, count: run)
                            size += run
                            run = 0; runWeight = 1
                        }
                        if symbol == endOfBlock { return true }
                        guard size < capacity else { return false }
                        var index = symbol - 1
                        let byte = front[index]
                        while index > 0 {
                            front[index] = front[index - 1]
                            index -= 1
                        }
                        front[0] = byte
                        counts[Int(byte)] += 1
                        text[size] = byte
                        size += 1
                    }
                }
            }
        }
        guard decoded, !bits.overrun, origin < size else { return nil }

        let starts = BZip2Walk.link(lastColumn: text, size: size, counts: counts, origin: origin, into: forward)
        return Prepared(size: size, origin: origin, declaredCRC: declaredCRC, starts: starts)
    }

    /// Undoes the run-length stage into `output` and checks the block's CRC: the byte count, or nil.
    func finish(_ block: Prepared, into output: UnsafeMutableRawBufferPointer) -> Int? {
        guard let produced = undoRuns(size: block.size, into: output),
            BZip2CRC.of(output, count: produced) == block.declaredCRC
        else { return nil }
        return produced
    }

    /// The block's bytes in an array of their own, decoded straight into it (not copied from a
    /// buffer: a copy was 4 % of the decoder thread): nil when they need more than an eighth more
    /// room than the text (long runs; then `finish(_:into:)`) or the CRC disagrees.
    func finish(_ block: Prepared) -> [UInt8]? {
        var good = false
        let bytes = [UInt8](unsafeUninitializedCapacity: block.size + block.size / 8 + 64) { buffer, count in
            let produced = finish(block, into: UnsafeMutableRawBufferPointer(buffer))
            good = produced != nil
            count = produced ?? 0
        }
        return good ? bytes : nil
    }

    /// The text, from the links (each row's first byte is the text's next): false when they do
    /// not make one cycle.
    func walk(_ block: Prepared) -> Bool {
        walker.walk(forward, starts: block.starts, origin: block.origin, size: block.size, into: text)
    }

    /// Eight bytes of the text from `position` on, the first in the lowest bits (the pad after
    /// the text keeps the reads of the last full step inside it).
    @inline(__always) private func loadWord(_ position: Int) -> UInt64 {
        UInt64(littleEndian: UnsafeRawPointer(text + position).loadUnaligned(as: UInt64.self))
    }

    /// bzip2's first stage: after four equal bytes, a byte counts further copies of it.
    private func undoRuns(size: Int, into output: UnsafeMutableRawBufferPointer) -> Int? {
        let out = output.bindMemory(to: UInt8.self).baseAddress!
        let limit = output.count
        var produced = 0
        var i = 0
        // Pad so a four-byte look never matches past the end.
        text[size] = ~text[size - 1]; text[size + 1] = text[size]; text[size + 2] = text[size]
        while i < size {
            // The next four equal bytes from i on: eight positions a step while eight more bytes
            // are there (a byte at a time, two equal neighbours mispredicted a branch each), then
            // byte by byte.
            var j = i
            while j + 8 <= size {
                let word = loadWord(j)
                let differs = (word ^ loadWord(j + 1)) | (word ^ loadWord(j + 2)) | (word ^ loadWord(j + 3))
                // The lowest zero byte of `differs` is the first position where four bytes agree.
                let agree = (differs &- 0x0101_0101_0101_0101) & ~differs & 0x8080_8080_8080_8080
                if agree != 0 {
                    j += agree.trailingZeroBitCount >> 3
                    break
                }
                j += 8
            }
            while j < size && !(text[j] == text[j + 1] && text[j] == text[j + 2] && text[j] == text[j + 3]) { j += 1 }
            let literal = min(j + 4, size) - i
            guard produced + literal <= limit else { return nil }
            (out + produced).update(from: text + i, count: literal)
            produced += literal
            i += literal
            guard j < size, i < size else { break }
            let extra = Int(text[i])
            i += 1
            guard produced + extra <= limit else { return nil }
            (out + produced).update(repeating: text[j], count: extra)
            produced += extra
        }
        return produced
    }

    /// The lookup table of `group`: each entry, for the next 10 bits, its symbol and length
    /// (length << 11 | symbol), or 0 when the code word is longer.
    private func buildTable(_ group: Int, lengths: [UInt8]) -> Bool {
        var code = HuffmanCode()
        for length in lengths { code.count[Int(length)] += 1 }
        var next: UInt32 = 0
        var offset = 0
        for length in 1...20 {
            code.first[length] = next
            code.offset[length] = offset
            next += code.count[length]
            offset += Int(code.count[length])
            // More words than the length allows: not a prefix code.
            if next > 1 << length { return false }
            if code.count[length] > 0 { code.maxLength = length }
            next <<= 1
        }
        var position = code.offset
        for (symbol, length) in lengths.enumerated() {
            code.sorted[position[Int(length)]] = UInt16(symbol)
            position[Int(length)] += 1
        }
        let base = group << Self.tableBits
        for i in base..<(base + (1 << Self.tableBits)) { tables[i] = 0 }
        for length in 1...min(Self.tableBits, 20) {
            for k in 0..<Int(code.count[length]) {
                let symbol = code.sorted[code.offset[length] + k]
                let word = Int(code.first[length]) + k
                let shift = Self.tableBits - length
                let entry = UInt16(length) << 11 | symbol
                for i in (word << shift)..<((word + 1) << shift) { tables[base + i] = entry }
            }
        }
        codes[group] = code
        return true
    }

    private func longSymbol(_ bits: inout BitReader, code group: Int) -> Int? {
        let code = codes[group]
        guard code.maxLength > Self.tableBits else { return nil }
        for length in (Self.tableBits + 1)...code.maxLength {
            let word = UInt32(truncatingIfNeeded: bits.peek(length))
            let first = code.first[length]
            if word >= first && word - first < code.count[length] {
                bits.skip(length)
                return Int(code.sorted[code.offset[length] + Int(word - first)])
            }
        }
        return nil
    }
}

/// Bits most significant first, 57 or more on hand after `refill`.
struct BitReader {
    private let bytes: UnsafeBufferPointer<UInt8>
    private var position = 0
    private var buffer: UInt64 = 0
    private var available = 0
    /// Bits were read beyond the end (as zeros).
    private(set) var overrun = false

    init(_ bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    @inline(__always) mutating func refill() {
        guard available < 57 else { return }
        if position + 8 <= bytes.count {
            let word = UInt64(bigEndian: UnsafeRawPointer(bytes.baseAddress! + position).loadUnaligned(as: UInt64.self))
            // Bits past the whole bytes taken are the stream's next bits, loaded again next time.
            buffer |= word >> UInt64(available)
            let taken = (64 - available) >> 3
            position += taken
            available += taken << 3
        } else {
            while available <= 56 {
                let byte: UInt8
                if position < bytes.count { byte = bytes[position] } else { byte = 0; overrun = true }
                buffer |= UInt64(byte) << UInt64(56 - available)
                available += 8
                position += 1
            }
        }
    }

    /// The next `count` (1...32) bits, not consumed; `refill` first.
    @inline(__always) func peek(_ count: Int) -> UInt64 { buffer >> UInt64(64 - count) }

    @inline(__always) mutating func skip(_ count: Int) {
        buffer <<= UInt64(count)
        available -= count
    }

    mutating func read(_ count: Int) -> UInt32 {
        refill()
        let value = UInt32(truncatingIfNeeded: peek(count))
        skip(count)
        return value
    }
}

/// bzip2's CRC-32 (polynomial 0x04C11DB7, most significant bit first): 64 bytes a step carry-less where
/// the CPU can (`crc.h`), eight a step by table otherwise and for the rest.
enum BZip2CRC {
    private static let polynomial: UInt64 = 0x1_04C1_1DB7
    private static let tables: [UInt32] = {
        var tables = [UInt32](repeating: 0, count: 8 * 256)
        for byte in 0..<256 {
            var crc = UInt32(byte) << 24
            for _ in 0..<8 {
                crc = crc & 0x8000_0000 != 0 ? crc << 1 ^ UInt32(truncatingIfNeeded: polynomial) : crc << 1
            }
            tables[byte] = crc
        }
        for byte in 0..<256 {
            for k in 1..<8 {
                let previous = tables[(k - 1) * 256 + byte]
                tables[k * 256 + byte] = previous << 8 ^ tables[Int(previous >> 24)]
            }
        }
        return tables
    }()

    /// x^n modulo the polynomial: the factors that carry a folded value n bits on (`crc.h`).
    private static func power(_ n: Int) -> UInt32 {
        var remainder: UInt64 = 1
        for _ in 0..<n {
            remainder <<= 1
            if remainder & 0x1_0000_0000 != 0 { remainder ^= polynomial }
        }
        return UInt32(truncatingIfNeeded: remainder)
    }
    #if arch(x86_64)
    private static let foldFactors: [UInt32] = [576, 512, 192, 128].map(power)
    private static let canFold = evpnscope_crc_fold_available() != 0
    #endif

    static func of(_ buffer: UnsafeMutableRawBufferPointer, count: Int) -> UInt32 {
        let bytes = UnsafeRawPointer(buffer.baseAddress!)
        #if arch(x86_64)
        if canFold && count >= 64 {
            // The whole 64-byte steps carry-less; their folded value and the tail by table.
            let folded = count & ~63
            var state: (UInt64, UInt64) = (0, 0)
            withUnsafeMutableBytes(of: &state) { out in
                foldFactors.withUnsafeBufferPointer { factors in
                    evpnscope_crc_fold64(
                        bytes.assumingMemoryBound(to: UInt8.self), folded, 0xFFFF_FFFF, factors.baseAddress,
                        out.baseAddress!.assumingMemoryBound(to: UInt8.self))
                }
            }
            let crc = withUnsafeBytes(of: &state) { table(0, $0.baseAddress!, 16) }
            return ~table(crc, bytes + folded, count - folded)
        }
        #endif
        return ~table(0xFFFF_FFFF, bytes, count)
    }

    /// Slice by eight: eight tables, one per byte of a word.
    private static func table(_ start: UInt32, _ bytes: UnsafeRawPointer, _ count: Int) -> UInt32 {
        tables.withUnsafeBufferPointer { t in
            var crc = start
            var i = 0
            while i + 8 <= count {
                let word = UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self))
                let high = UInt32(truncatingIfNeeded: word >> 32) ^ crc, low = UInt32(truncatingIfNeeded: word)
                crc =
                    t[7 * 256 + Int(high >> 24)] ^ t[6 * 256 + Int(high >> 16 & 0xFF)]
                    ^ t[5 * 256 + Int(high >> 8 & 0xFF)] ^ t[4 * 256 + Int(high & 0xFF)]
                    ^ t[3 * 256 + Int(low >> 24)] ^ t[2 * 256 + Int(low >> 16 & 0xFF)]
                    ^ t[1 * 256 + Int(low >> 8 & 0xFF)] ^ t[Int(low & 0xFF)]
                i += 8
            }
            while i < count {
                crc = crc << 8 ^ t[Int(crc >> 24 ^ UInt32(bytes.load(fromByteOffset: i, as: UInt8.self)))]
                i += 1
            }
            return crc
        }
    }
}
