import CBZip2
import Foundation
import Testing
import TestSupport
@testable import ByteStreams

// The native block decoder (`BZip2NativeBlock`) against what libbz2 compressed: every block
// decodes on the fast path to exactly its part of the original, and a damaged block is
// refused (the caller then falls back to libbz2), never decoded wrongly.

/// `bytes` compressed by libbz2 at `level` (100 kB × level blocks), as one stream.
private func libbz2Compressed(_ bytes: [UInt8], level: Int32) -> [UInt8] {
    var input = bytes
    var capacity = UInt32(bytes.count + bytes.count / 50 + 1024)
    var output = [UInt8](repeating: 0, count: Int(capacity))
    let result = input.withUnsafeMutableBytes { source in
        output.withUnsafeMutableBytes { destination in
            BZ2_bzBuffToBuffCompress(
                destination.baseAddress!.assumingMemoryBound(to: CChar.self), &capacity,
                source.baseAddress?.assumingMemoryBound(to: CChar.self), UInt32(source.count), level, 0, 0)
        }
    }
    precondition(result == BZ_OK)
    return Array(output[0..<Int(capacity)])
}

/// The blocks the scan finds in `compressed`, each wrapped as the block decoder wraps it.
private func wrappedBlocks(_ compressed: [UInt8], name: String) throws -> [(stream: [UInt8], level: UInt8)] {
    let path = Scratch.directory("native-bzip2") + "/" + name
    try Data(compressed).write(to: URL(fileURLWithPath: path))
    let scanner = BZip2BlockScanner(reader: try FileReader(path: path, fingerprint: false), first: [])
    var blocks: [(stream: [UInt8], level: UInt8)] = []
    while let segment = try scanner.next() {
        if case .block(let raw, let firstBit, let bitCount, let crc, let level, _) = segment.kind {
            blocks.append((BZip2BlockDecoder.wrap([(raw, firstBit, bitCount)], crc: crc, level: level), level))
        }
    }
    return blocks
}

/// Decodes every block natively; nil when any block was refused.
private func nativeDecode(_ blocks: [(stream: [UInt8], level: UInt8)]) -> [UInt8]? {
    let decoder = BZip2NativeBlock()
    let output = UnsafeMutableRawBufferPointer.allocate(byteCount: BZip2BlockDecoder.outputLimit, alignment: 16)
    defer { output.deallocate() }
    var joined: [UInt8] = []
    for block in blocks {
        guard
            let count = block.stream.withUnsafeBytes({
                decoder.decode(stream: $0, level: Int(block.level), into: output)
            })
        else { return nil }
        joined += UnsafeRawBufferPointer(rebasing: output[0..<count])
    }
    return joined
}

/// Inputs that reach every part of the format: the run-length stage at and around four equal
/// bytes and at the block's end, long runs (RUNA/RUNB weights), all 256 byte values (deep
/// move-to-front indices, long code words), tiny blocks, and a real MRT dump.
private func samples() throws -> [(name: String, bytes: [UInt8])] {
    var random = SplitMix(seed: 0xB2)
    var cases: [(String, [UInt8])] = [
        ("one byte", [0x41]), ("two bytes", [0x41, 0x42]), ("four equal", [7, 7, 7, 7]),
        ("five equal", [7, 7, 7, 7, 7]), ("run at the end", [1, 2, 3] + [UInt8](repeating: 9, count: 300)),
        ("long run", [UInt8](repeating: 0, count: 2_000_000)),
        ("noise", (0..<1_200_000).map { _ in UInt8(truncatingIfNeeded: random.next()) }),
    ]
    var runs: [UInt8] = []
    while runs.count < 700_000 {
        let byte = UInt8(truncatingIfNeeded: random.next())
        runs += [UInt8](repeating: byte, count: 1 + random.below(9))
    }
    cases.append(("runs of one to nine", runs))
    let skewed = (0..<500_000).map { _ in UInt8(truncatingIfNeeded: random.next().trailingZeroBitCount * 9) }
    cases.append(("skewed alphabet", skewed))
    let dump = "../shared/datasets/public/ripe-bgpdump/updates.20160811.1600.gz"
    if let real = try? readAll(dump).0, !real.isEmpty { cases.append(("RIPE update dump", real)) }
    return cases
}

@Test(arguments: [Int32(1), 9])
func nativeBlockDecoderReproducesEveryInput(level: Int32) throws {
    for (name, bytes) in try samples() {
        let blocks = try wrappedBlocks(libbz2Compressed(bytes, level: level), name: "sample-\(level).bz2")
        #expect(!blocks.isEmpty, "\(name)")
        let decoded = nativeDecode(blocks)
        #expect(decoded != nil, "\(name): a block left the fast path")
        #expect(decoded == bytes, "\(name) at level \(level)")
    }
}

/// A flipped bit anywhere in a block: the native decoder refuses the block (bad structure or a
/// CRC mismatch) and the block decoder's answer is libbz2's, a rejection.
@Test func nativeBlockDecoderRefusesDamagedBlocks() throws {
    var random = SplitMix(seed: 0xDA)
    let text = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 % 251 ^ $0 / 3000) }
    let blocks = try wrappedBlocks(libbz2Compressed(text, level: 3), name: "damaged.bz2")
    let original = blocks[0].stream
    for _ in 0..<300 {
        var damaged = original
        // Past the stream header and the block magic, before the end marker.
        let bit = 80 + random.below((original.count - 20) * 8 - 80)
        damaged[bit / 8] ^= 0x80 >> UInt8(bit % 8)
        #expect(nativeDecode([(damaged, blocks[0].level)]) == nil, "a flipped bit at \(bit) went unnoticed")
    }
    // The randomised flag (bzip2 0.9.0): left to libbz2.
    var randomised = original
    randomised[14] |= 0x80  // the bit after the block's CRC, which ends byte 13
    #expect(nativeDecode([(randomised, blocks[0].level)]) == nil)
}

@Test func bzip2CRCMatchesTheBitwiseDefinition() {
    var random = SplitMix(seed: 0xC3)
    // From 64 bytes on, whole 64-byte steps are folded carry-less (where the CPU can) and the
    // rest goes by table: lengths around and between the steps.
    for length in [0, 1, 7, 8, 9, 63, 64, 65, 79, 80, 127, 128, 129, 191, 1000, 4109, 900_000] {
        let bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte) << 24
            for _ in 0..<8 { crc = crc & 0x8000_0000 != 0 ? crc << 1 ^ 0x04C1_1DB7 : crc << 1 }
        }
        var copy = bytes + [0]
        let fast = copy.withUnsafeMutableBytes { BZip2CRC.of($0, count: length) }
        #expect(fast == ~crc, "length \(length)")
    }
}

/// The block decoder as the pool runs it: a block that decodes to little more than its text is
/// decoded straight into an array of its own; one whose runs expand it past that room (the
/// 2 MB run, 45 bytes a text byte) is decoded through the block-sized buffer; both give every
/// byte, and a block neither way decodes is libbz2's rejection.
@Test func blockDecoderGivesTheSameBytesWhetherOrNotTheyFitTheArray() throws {
    let decoder = BZip2BlockDecoder()
    for (name, bytes) in try samples() {
        let path = Scratch.directory("native-bzip2") + "/array-\(bytes.count).bz2"
        try Data(libbz2Compressed(bytes, level: 9)).write(to: URL(fileURLWithPath: path))
        let scanner = BZip2BlockScanner(reader: try FileReader(path: path, fingerprint: false), first: [])
        var joined: [UInt8] = []
        while let segment = try scanner.next() {
            guard case .block(let raw, let firstBit, let bitCount, let crc, let level, _) = segment.kind else {
                continue
            }
            guard case .bytes(let output) = decoder.decode([(raw, firstBit, bitCount)], crc: crc, level: level) else {
                Issue.record("\(name): a good block was not decoded")
                break
            }
            joined += output
        }
        #expect(joined == bytes, "\(name)")
    }
}
