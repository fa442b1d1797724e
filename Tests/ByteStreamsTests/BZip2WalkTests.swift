import Testing
import TestSupport
@testable import ByteStreams

// The walk of the inverse BWT (`BZip2Walk`) against the transform's definition: the last
// column of a text's sorted rotations, linked and walked from the row of the text itself,
// gives the text back, whatever the number of segments the rows make and wherever the origin
// falls among them.

/// The BWT by its definition: every rotation sorted (ties by position), the last column, and
/// the row of the text itself.
private func transform(_ text: [UInt8]) -> (last: [UInt8], origin: Int) {
    let n = text.count
    let rows = (0..<n).sorted { a, b in
        for k in 0..<n where text[(a + k) % n] != text[(b + k) % n] {
            return text[(a + k) % n] < text[(b + k) % n]
        }
        return a < b
    }
    return (rows.map { text[($0 + n - 1) % n] }, rows.firstIndex(of: 0)!)
}

private func walked(_ text: [UInt8]) -> [UInt8]? {
    let (last, origin) = transform(text)
    var counts = [Int](repeating: 0, count: 256)
    for byte in last { counts[Int(byte)] += 1 }
    let forward = UnsafeMutablePointer<UInt32>.allocate(capacity: text.count)
    let output = UnsafeMutablePointer<UInt8>.allocate(capacity: text.count)
    defer { forward.deallocate(); output.deallocate() }
    let starts = last.withUnsafeBufferPointer {
        BZip2Walk.link(lastColumn: $0.baseAddress!, size: text.count, counts: counts, origin: origin, into: forward)
    }
    guard BZip2Walk().walk(forward, starts: starts, origin: origin, size: text.count, into: output) else { return nil }
    return Array(UnsafeBufferPointer(start: output, count: text.count))
}

@Test func walkGivesBackTheTextOfItsTransform() {
    var random = SplitMix(seed: 0x3A)
    var cases: [(String, [UInt8])] = [
        ("one byte", [9]), ("two bytes", [2, 1]), ("three equal", [5, 5, 5]),
        ("periodic", (0..<600).map { UInt8($0 % 3) }), ("one period short", (0..<599).map { UInt8($0 % 3) }),
    ]
    // Fewer rows than segments, about as many, and many more (segments of many rows each).
    for size in [100, 191, 192, 193, 400, 5000] {
        cases.append(("\(size) bytes of four values", (0..<size).map { _ in UInt8(random.below(4)) }))
    }
    var runs: [UInt8] = []
    while runs.count < 3000 { runs += [UInt8](repeating: UInt8(random.below(256)), count: 1 + random.below(12)) }
    cases.append(("runs", runs))
    for (name, text) in cases {
        #expect(walked(text) == text, "\(name)")
    }
}
