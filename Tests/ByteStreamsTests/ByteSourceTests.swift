import Foundation
import Testing
import TestSupport
@testable import ByteStreams

func temporaryDirectory() -> String { Scratch.directory("bytes") }

func pattern(_ count: Int, seed: UInt8) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(seed) &+ $0 / 977) }
}

func writeCompressed(_ path: String, _ parts: [[UInt8]], _ compression: Compression) throws {
    // Each part is its own gzip member / bzip2 stream, concatenated as archives do.
    var whole: [UInt8] = []
    for (i, part) in parts.enumerated() {
        let piece = path + ".piece\(i)"
        let writer = try CompressedWriter(path: piece, compression: compression)
        writer.write(part)
        try writer.close()
        whole += try [UInt8](Data(contentsOf: URL(fileURLWithPath: piece)))
        try FileManager.default.removeItem(atPath: piece)
    }
    try Data(whole).write(to: URL(fileURLWithPath: path))
}

func readAll(_ path: String, threaded: Bool = true) throws -> ([UInt8], StreamError?) {
    let source = try ByteSources.open(path, threaded: threaded)
    var out: [UInt8] = []
    do {
        while let chunk = try source.next() { out += chunk }
    } catch let error as StreamError {
        return (out, error)
    }
    return (out, nil)
}

@Test(arguments: [Compression.gzip, .bzip2], [true, false])
func concatenatedMembersAllDecode(_ compression: Compression, threaded: Bool) throws {
    let dir = temporaryDirectory()
    let parts = [pattern(3_000_000, seed: 1), pattern(10, seed: 2), pattern(700_000, seed: 3)]
    let path = dir + "/multi.dump"  // no extension: detection is by magic bytes
    try writeCompressed(path, parts, compression)
    let (bytes, error) = try readAll(path, threaded: threaded)
    #expect(error == nil)
    #expect(bytes == parts.flatMap { $0 })
    #expect(try ByteSources.open(path).compression == compression)
}

@Test(arguments: [Compression.gzip, .bzip2], [true, false])
func truncatedStreamYieldsGoodBytesThenTypedError(_ compression: Compression, threaded: Bool) throws {
    let dir = temporaryDirectory()
    let original = pattern(2_500_000, seed: 9)
    let path = dir + "/cut"
    try writeCompressed(path, [original], compression)
    var data = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
    data.removeLast(data.count / 3)
    try Data(data).write(to: URL(fileURLWithPath: path))
    let (bytes, error) = try readAll(path, threaded: threaded)
    let damage = try #require(error)
    #expect(damage.file == path)
    #expect(damage.message.contains("truncated"))
    #expect(damage.uncompressedOffset == Int64(bytes.count))
    #expect(bytes.count > 0 && bytes.count < original.count)
    #expect(Array(original.prefix(bytes.count)) == bytes)
}

@Test func corruptGzipReportsCompressedOffset() throws {
    let dir = temporaryDirectory()
    let path = dir + "/corrupt.gz"
    try writeCompressed(path, [pattern(400_000, seed: 4)], .gzip)
    var data = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
    for i in stride(from: data.count / 2, to: data.count / 2 + 64, by: 1) { data[i] ^= 0x5A }
    try Data(data).write(to: URL(fileURLWithPath: path))
    let (_, error) = try readAll(path, threaded: false)
    let damage = try #require(error)
    #expect(damage.message.contains("gzip"))
    #expect(damage.compressedOffset > 0)
}

@Test func plainInputAndStreamReaderAcrossChunkBoundaries() throws {
    let dir = temporaryDirectory()
    let path = dir + "/plain"
    let original = pattern(ByteSources.chunkSize * 2 + 123, seed: 5)
    try Data(original).write(to: URL(fileURLWithPath: path))
    let reader = StreamReader(try ByteSources.open(path))
    var collected: [UInt8] = []
    while reader.fill(1000) {
        reader.withBytes(1000) { collected += $0 }
        reader.consume(1000)
    }
    #expect(reader.available == original.count % 1000)
    #expect(reader.streamError == nil)
    #expect(collected == Array(original.prefix(collected.count)))
    #expect(reader.offset == Int64(collected.count))
}

@Test func directoryAndMissingFileAreErrors() throws {
    let dir = temporaryDirectory()
    #expect(throws: StreamError.self) { try ByteSources.open(dir) }
    #expect(throws: StreamError.self) { try ByteSources.open(dir + "/missing") }
}

/// The prefetcher hands over its producer's elements in order, ends with nil, and once stopped
/// returns nil instead of waiting for a producer that will never deliver.
@Test func prefetcherDeliversInOrderAndStops() {
    var produced = 0
    let finite = Prefetcher<Int>(capacity: 3) {
        produced += 1
        return produced <= 100 ? produced : nil
    }
    var received: [Int] = []
    while let value = finite.next() { received.append(value) }
    #expect(received == Array(1...100))
    #expect(finite.next() == nil)

    var counter = 0
    let endless = Prefetcher<Int>(capacity: 2) {
        counter += 1; return counter
    }
    #expect(endless.next() == 1)
    endless.stop()
    var drained = 0
    while endless.next() != nil { drained += 1 }
    #expect(drained <= 2)  // at most the queued elements, then nil
}

/// Elements handed back with `recycle` reach the producer again (on its thread), so it can empty
/// them where their contents were allocated; delivery order is unchanged.
@Test func prefetcherRecyclesConsumedElementsToTheProducer() {
    final class Box { var values: [Int] = [] }
    var made = 0, reused = 0, next = 0
    let boxes = Prefetcher<Box>(capacity: 2) { recycled in
        guard next < 50 else { return nil }
        let box: Box
        if let recycled {
            reused += 1; box = recycled; box.values.removeAll(keepingCapacity: true)
        } else {
            made += 1; box = Box()
        }
        box.values = [next, next + 1]
        next += 2
        return box
    }
    var received: [Int] = []
    while let box = boxes.next() {
        received += box.values
        boxes.recycle(box)
    }
    boxes.stop()
    #expect(received == Array(0..<50))
    #expect(reused > 0)
    #expect(made + reused == 25)
}

// MARK: bzip2 block by block

/// A single stream of several 900 kB blocks, and the segments its scan finds.
private func multiBlockFile(
    _ name: String, bytes: Int = 4_000_000
) throws -> (path: String, original: [UInt8], segments: [BZip2Segment]) {
    let path = temporaryDirectory() + "/" + name
    let original = pattern(bytes, seed: 7)
    try writeCompressed(path, [original], .bzip2)
    let scanner = BZip2BlockScanner(reader: try FileReader(path: path, fingerprint: false), first: [])
    var segments: [BZip2Segment] = []
    while let segment = try scanner.next() { segments.append(segment) }
    return (path, original, segments)
}

/// The scan finds every block of the stream and its end marker; each block decodes alone to
/// its part of the data, and the blocks' CRCs fold to the CRC the stream declares.
@Test func bzip2ScanFindsEveryBlockAndEachDecodesAlone() throws {
    let (_, original, segments) = try multiBlockFile("blocks.bz2")
    let decoder = BZip2BlockDecoder()
    var joined: [UInt8] = [], folded: UInt32 = 0, blocks = 0
    for segment in segments {
        switch segment.kind {
        case .block(let raw, let firstBit, let bitCount, let crc, let level, let terminated):
            #expect(terminated && level == 9)
            guard case .bytes(let output) = decoder.decode([(raw, firstBit, bitCount)], crc: crc, level: level) else {
                Issue.record("block did not decode alone"); continue
            }
            #expect(output.count <= 900_000)
            joined += output
            folded = BZip2Magic.foldStreamCRC(folded, crc)
            blocks += 1
        case .streamEnd(let declared):
            #expect(declared == folded)
        case .damage(let message):
            Issue.record("unexpected damage: \(message)")
        }
    }
    #expect(blocks == (original.count + 899_999) / 900_000 || blocks == original.count / 900_000 + 2)
    #expect(joined == original)
    if case .streamEnd = segments.last?.kind {} else { Issue.record("the last segment is not the stream end") }
}

/// A block cut in two by a magic that its own data happened to contain (once in 2^48 bit
/// positions) decodes in neither half; the source joins the halves and loses nothing.
@Test func bzip2BlockSplitByFalseMagicIsJoinedAgain() throws {
    let (path, original, segments) = try multiBlockFile("split.bz2")
    guard case .block(let raw, let firstBit, let bitCount, let crc, let level, _) = segments[1].kind else {
        Issue.record("segment 1 is not a block"); return
    }
    let cut = bitCount / 3 + 5  // not on a byte boundary
    let head = BZip2Segment(
        kind: .block(raw: raw, firstBit: firstBit, bitCount: cut, crc: crc, level: level, terminated: true),
        compressedOffset: segments[1].compressedOffset,
        compressedEnd: segments[1].compressedOffset + Int64((firstBit + cut) / 8), output: nil)
    let tailStart = firstBit + cut
    let tail = BZip2Segment(
        kind: .block(
            raw: Array(raw[(tailStart / 8)...]), firstBit: tailStart % 8, bitCount: bitCount - cut, crc: 0x1234_5678,
            level: level, terminated: true),
        compressedOffset: head.compressedEnd, compressedEnd: segments[1].compressedEnd, output: nil)
    let decoder = BZip2BlockDecoder()
    if case .rejected = decoder.decode([(raw, firstBit, cut)], crc: crc, level: level) {
    } else {
        Issue.record("half a block decoded")
    }

    final class Replay: BZip2SegmentProducer {
        var segments: [BZip2Segment]
        init(_ segments: [BZip2Segment]) { self.segments = segments }
        func next() throws -> BZip2Segment? { segments.isEmpty ? nil : segments.removeFirst() }
        var sha256: String? { nil }
    }
    for pool in [BZip2DecoderPool.shared, nil] {
        let source = BZip2Source(name: path, segments: Replay([segments[0], head, tail] + segments[2...]), pool: pool)
        var out: [UInt8] = []
        while let chunk = try source.next() { out += chunk }
        #expect(out == original)
    }
}

/// Damage inside a later block: every earlier block is delivered, then an error naming the
/// damaged block's compressed offset and the uncompressed offset reached; on the decoder pool
/// and on the caller's thread alike.
@Test(arguments: [true, false])
func bzip2CorruptBlockKeepsEarlierBlocks(threaded: Bool) throws {
    let (path, original, segments) = try multiBlockFile("corrupt.bz2")
    var data = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
    let third = segments[2]
    let middle = Int(third.compressedOffset + (third.compressedEnd - third.compressedOffset) / 2)
    for i in middle..<middle + 16 { data[i] ^= 0xA5 }
    try Data(data).write(to: URL(fileURLWithPath: path))
    let (bytes, error) = try readAll(path, threaded: threaded)
    let damage = try #require(error)
    #expect(damage.message.contains("bzip2"))
    #expect(damage.compressedOffset >= segments[1].compressedOffset && damage.compressedOffset <= middle)
    #expect(damage.uncompressedOffset == Int64(bytes.count))
    #expect(bytes.count >= 2 * 800_000 && bytes == Array(original.prefix(bytes.count)))
}

/// The stream's own CRC is checked against its blocks', and bytes after the last stream that
/// are not a stream are damage reported after everything before them.
@Test func bzip2StreamCRCAndTrailingDataAreChecked() throws {
    let (path, original, _) = try multiBlockFile("crc.bz2", bytes: 1_000_000)
    let good = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
    var wrongCRC = good
    wrongCRC[wrongCRC.count - 2] ^= 0x10  // inside the 32-bit stream CRC, before the padding
    try Data(wrongCRC).write(to: URL(fileURLWithPath: path))
    let (crcBytes, crcError) = try readAll(path)
    #expect(crcError?.message.contains("CRC") == true)
    #expect(crcBytes == original)

    try Data(good + Array("not bzip2".utf8)).write(to: URL(fileURLWithPath: path))
    let (trailingBytes, trailingError) = try readAll(path)
    #expect(trailingError?.message.contains("trailing data") == true)
    #expect(trailingError?.compressedOffset == Int64(good.count))
    #expect(trailingBytes == original)

    try Data(good + [UInt8](repeating: 0, count: 100)).write(to: URL(fileURLWithPath: path))
    let (paddedBytes, paddedError) = try readAll(path)
    #expect(paddedError == nil && paddedBytes == original)
    #expect(try readAll(path, threaded: false).0 == original)
}

/// A block magic followed by megabytes that never reach another magic is damage once it is
/// larger than any block can be, not a block the scan keeps reading into memory.
@Test func bzip2RunawayBlockIsDamage() throws {
    let path = temporaryDirectory() + "/runaway.bz2"
    var state: UInt64 = 0x9E37_79B9_7F4A_7C15
    var noise = [UInt8](repeating: 0, count: 3 << 20)
    for i in noise.indices {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        noise[i] = UInt8(truncatingIfNeeded: state >> 56)
    }
    try Data(Array("BZh9".utf8) + [0x31, 0x41, 0x59, 0x26, 0x53, 0x59] + noise).write(to: URL(fileURLWithPath: path))
    let (bytes, error) = try readAll(path)
    #expect(bytes.isEmpty)
    #expect(error?.message.contains("corrupt block") == true, "\(String(describing: error))")
    #expect(error?.compressedOffset == 4)
}

/// Issue 20: bzip2's run-length stage lets one 900 kB block hold ~45 MB. Such a block is
/// checked whole on the pool, then served in pieces: no chunk (and no block held ahead) is
/// larger than a few MB, and a damaged one is damage before any of its bytes.
@Test(arguments: [true, false])
func bzip2OversizedBlockIsServedInPieces(threaded: Bool) throws {
    let path = temporaryDirectory() + "/runs.bz2"
    // Runs of 1000 equal bytes shrink ~50-fold before the block is cut: one block of ~30 MB.
    let original = Array(
        (0..<30_000).map { [UInt8](repeating: UInt8(truncatingIfNeeded: $0 &* 7), count: 1000) }.joined())
    let small = pattern(100_000, seed: 5)
    try writeCompressed(path, [small, original], .bzip2)
    let source = try ByteSources.open(path, threaded: threaded)
    var out: [UInt8] = []
    var largestChunk = 0
    while let chunk = try source.next() { out += chunk; largestChunk = max(largestChunk, chunk.count) }
    #expect(out == small + original)
    #expect(largestChunk <= BZip2BlockDecoder.outputLimit)

    var data = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
    let scanner = BZip2BlockScanner(reader: try FileReader(path: path, fingerprint: false), first: [])
    var segments: [BZip2Segment] = []
    while let segment = try scanner.next() { segments.append(segment) }
    let oversized = try #require(segments.last { if case .block = $0.kind { return true } else { return false } })
    let middle = Int(oversized.compressedOffset + (oversized.compressedEnd - oversized.compressedOffset) / 2)
    data[middle] ^= 0x5A
    try Data(data).write(to: URL(fileURLWithPath: path))
    let (bytes, error) = try readAll(path, threaded: threaded)
    #expect(error?.message.contains("corrupt block") == true, "\(String(describing: error))")
    #expect(bytes == small, "no byte of the damaged block is delivered")
    #expect(error?.uncompressedOffset == Int64(small.count))
}
