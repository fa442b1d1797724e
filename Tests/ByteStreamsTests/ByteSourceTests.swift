import Foundation
import Testing
@testable import ByteStreams

func temporaryDirectory() -> String {
    let path = NSTemporaryDirectory() + "evpnscope-tests-\(UUID().uuidString)"
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

func pattern(_ count: Int, seed: UInt8) -> [UInt8] { (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(seed) &+ $0 / 977) } }

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

@Test(arguments: [Compression.gzip, .bzip2])
func concatenatedMembersAllDecode(_ compression: Compression) throws {
    let dir = temporaryDirectory()
    let parts = [pattern(3_000_000, seed: 1), pattern(10, seed: 2), pattern(700_000, seed: 3)]
    let path = dir + "/multi.dump"  // no extension: detection is by magic bytes
    try writeCompressed(path, parts, compression)
    let (bytes, error) = try readAll(path)
    #expect(error == nil)
    #expect(bytes == parts.flatMap { $0 })
    #expect(try ByteSources.open(path).compression == compression)
}

@Test(arguments: [Compression.gzip, .bzip2])
func truncatedStreamYieldsGoodBytesThenTypedError(_ compression: Compression) throws {
    let dir = temporaryDirectory()
    let original = pattern(2_500_000, seed: 9)
    let path = dir + "/cut"
    try writeCompressed(path, [original], compression)
    var data = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
    data.removeLast(data.count / 3)
    try Data(data).write(to: URL(fileURLWithPath: path))
    let (bytes, error) = try readAll(path)
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
    let endless = Prefetcher<Int>(capacity: 2) { counter += 1; return counter }
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
        if let recycled { reused += 1; box = recycled; box.values.removeAll(keepingCapacity: true) } else { made += 1; box = Box() }
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
