import ByteStreams
import EVPNModel
import Foundation
import Ingest
import Testing

/// The damaged-input matrix (issue 7): every mutation of a real dump decodes without crashing,
/// reports the damage with a byte offset, and yields exactly the events of the intact file
/// before the damage.
struct Decoded {
    var events: [(offset: Int64, text: String)]
    var damage: [InputDamage]
}

func decodeAll(_ path: String) throws -> Decoded {
    let inputs = try InputSet(paths: [path])
    var formatter = EventFormatter(format: .text, files: [])
    var events: [(Int64, String)] = []
    while let item = inputs.next() {
        switch item.payload {
        case .route(let e): events.append((e.source.offset, formatter.line(item) ?? ""))
        case .session(let e): events.append((e.source.offset, formatter.line(item) ?? ""))
        case .heartbeat: break
        }
    }
    return Decoded(events: events, damage: inputs.damage)
}

/// Record start offsets of an MRT (12-byte header, length at 8) or BMP (length at 1) stream.
func recordOffsets(_ bytes: [UInt8], bmp: Bool) -> [Int] {
    var offsets: [Int] = []
    var position = 0
    while position + (bmp ? 6 : 12) <= bytes.count {
        offsets.append(position)
        let length =
            bmp
            ? Int(bytes[position + 1]) << 24 | Int(bytes[position + 2]) << 16 | Int(bytes[position + 3]) << 8
                | Int(bytes[position + 4])
            : 12
                + (Int(bytes[position + 8]) << 24 | Int(bytes[position + 9]) << 16 | Int(bytes[position + 10]) << 8
                    | Int(bytes[position + 11]))
        position += length
    }
    return offsets
}

func write(_ bytes: [UInt8], _ name: String, in directory: String) throws -> String {
    let path = directory + "/" + name
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    return path
}

func expectPrefix(_ damaged: Decoded, of intact: Decoded, before offset: Int64, _ label: String) {
    let expected = intact.events.filter { $0.offset < offset }.map(\.text)
    let got = damaged.events.filter { $0.offset < offset }.map(\.text)
    #expect(got == expected, "\(label): \(got.count) events before the damage, expected \(expected.count)")
}

@Test(arguments: ["mrt", "bmp"])
func damagedInputMatrix(_ kind: String) throws {
    let directory = scratch()
    _ = try generateDemo(into: directory + "/data", compression: "plain")
    let source = try FileManager.default.contentsOfDirectory(atPath: directory + "/data/dumps/\(kind)").filter {
        !$0.hasPrefix("bview")
    }.sorted()[0]
    let original = try [UInt8](Data(contentsOf: URL(fileURLWithPath: directory + "/data/dumps/\(kind)/" + source)))
    let intact = try decodeAll(try write(original, "intact", in: directory))
    #expect(intact.damage.isEmpty)
    let offsets = recordOffsets(original, bmp: kind == "bmp")
    #expect(offsets.count > 100)
    var random = SeededBytes(seed: 99)
    for k in [1, offsets.count / 3, offsets.count - 1] {
        // Cut at a record boundary: a shorter, valid file.
        let atBoundary = try decodeAll(try write(Array(original[..<offsets[k]]), "boundary-\(k)", in: directory))
        #expect(atBoundary.damage.isEmpty)
        expectPrefix(atBoundary, of: intact, before: Int64(offsets[k]), "cut at record \(k)")
        #expect(atBoundary.events.count == intact.events.filter { $0.offset < Int64(offsets[k]) }.count)
        // Cut inside a record: damage at that record's offset, everything before kept.
        let inside = try decodeAll(try write(Array(original[..<(offsets[k] + 7)]), "inside-\(k)", in: directory))
        #expect(inside.damage.first?.offset == Int64(offsets[k]), "cut inside record \(k)")
        expectPrefix(inside, of: intact, before: Int64(offsets[k]), "cut inside record \(k)")
        // Length field set to 0 and to 65535.
        for length in [0, 65535] {
            var mutated = original
            let at = offsets[k] + (kind == "bmp" ? 1 : 8)
            mutated.replaceSubrange(at..<at + 4, with: [0, 0, UInt8(length >> 8), UInt8(length & 0xFF)])
            let decoded = try decodeAll(try write(mutated, "length-\(length)-\(k)", in: directory))
            #expect(!decoded.damage.isEmpty, "length \(length) at record \(k) went unnoticed")
            expectPrefix(decoded, of: intact, before: Int64(offsets[k]), "length \(length) at record \(k)")
        }
    }
    // Random byte flips: never a crash, never an event after the stream ended.
    for round in 0..<20 {
        var mutated = original
        for _ in 0..<8 { mutated[random.below(mutated.count)] ^= UInt8(1 + random.below(255)) }
        let decoded = try decodeAll(try write(mutated, "flip-\(round)", in: directory))
        #expect(decoded.events.count <= intact.events.count * 2)
    }
    // Compressed copies cut and corrupted: the good prefix is kept, the damage names both offsets.
    for compression in [Compression.gzip, .bzip2] {
        let path = directory + "/compressed" + CompressedWriter.fileExtension(compression)
        let writer = try CompressedWriter(path: path, compression: compression)
        // bzip2 decodes whole 900 kB blocks: three copies make sure a complete block precedes the cut.
        for _ in 0..<3 { writer.write(original) }
        try writer.close()
        var compressed = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        compressed.removeLast(compressed.count / 4)
        let cut = try decodeAll(
            try write(compressed, "cut" + CompressedWriter.fileExtension(compression), in: directory))
        let damage = try #require(cut.damage.last)
        #expect(damage.message.contains("truncated"))
        #expect(!cut.events.isEmpty, "\(cut.damage)")
        #expect(damage.offset > 0)
        expectPrefix(cut, of: intact, before: min(cut.events.last!.offset, Int64(original.count)), "\(compression) cut")
    }
}

@Test func emptyNonDumpAndMixedDirectories() throws {
    let directory = scratch()
    // Plainly not dumps: skipped, not damage (issue 19); a broken compressed stream is damage.
    func skipReason(_ path: String) throws -> String? {
        let set = try InputSet(paths: [path])
        #expect(set.damage.isEmpty)
        return set.files.first?.skipReason
    }
    #expect(try skipReason(try write([], "empty", in: directory)) == "empty")
    #expect(
        try skipReason(try write(Array("hello, this is not a dump\n".utf8), "notes.txt", in: directory))
            == "text, not an MRT or BMP dump")
    #expect(
        try skipReason(try write([0xFF, 0x00, 0x13, 0x80, 0x7F, 0xFE, 0x01], "blob", in: directory))?.contains(
            "not an MRT header") == true)
    let gzipEmpty = directory + "/empty.gz"
    let writer = try CompressedWriter(path: gzipEmpty, compression: .gzip)
    try writer.close()
    #expect(try skipReason(gzipEmpty) == "empty")
    let brokenGzip = try write([0x1F, 0x8B, 0x08, 0x00, 0xDE, 0xAD], "broken.gz", in: directory)
    #expect(try InputSet(paths: [brokenGzip]).damage.count == 1)
    _ = try generateDemo(into: directory + "/data", compression: "gz")
    let mixed = directory + "/data/dumps"
    try Data("garbage".utf8).write(to: URL(fileURLWithPath: mixed + "/mrt/zz-garbage"))
    let good = try decodeAll(directory + "/data/dumps/bmp")
    let all = try InputSet(paths: [mixed])
    var routes = 0
    while let item = all.next() { if case .route = item.payload { routes += 1 } }
    #expect(all.damage.isEmpty)
    #expect(all.skipped.map(\.path) == [mixed + "/mrt/zz-garbage"])
    #expect(routes > good.events.count)
}

struct SeededBytes {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func below(_ n: Int) -> Int {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Int((state >> 33) % UInt64(n))
    }
}

/// The decoder thread changes where decoding runs, not what comes out: the prefetched feed
/// yields the input set's items, in order, whichever way it runs, and leaves the statistics
/// readable afterwards.
@Test(arguments: [2, 8])
func prefetchedFeedYieldsTheInputSetsItems(cores: Int) throws {
    let demo = repository.path + "/datasets/demo/dumps"
    let direct = try InputSet(paths: [demo])
    var expected: [(Int64, Int64, Int32)] = []
    while let item = direct.next() { expected.append(key(item)) }
    let feed = PrefetchedFeed(try InputSet(paths: [demo]), cores: cores)
    // The demo mixes gzip and bzip2 files: two cores keep decoding on the caller's thread.
    #expect(feed.decodesOnItsOwnThread == (cores > 2))
    var actual: [(Int64, Int64, Int32)] = []
    while let item = feed.next() { actual.append(key(item)) }
    #expect(actual.count == expected.count && expected.count > 1000)
    #expect(zip(actual, expected).allSatisfy { $0 == $1 })
    let inputs = feed.finish()
    #expect(inputs.compressedBytesRead == direct.compressedBytesRead)
    #expect(feed.next() == nil)

    func key(_ item: FeedItem) -> (Int64, Int64, Int32) {
        switch item.payload {
        case .route(let e): return (item.time, e.source.offset, e.source.input)
        case .session(let e): return (item.time, e.source.offset, e.source.input)
        case .heartbeat: return (item.time, -1, -1)
        }
    }
}
