// The inverse BWT of one bzip2 block as many walks at once. Following the T links from the
// origin gives the text one byte a step, each step a read that waits for the one before; the
// link array (3.6 MB for a 900 kB block) does not fit in a core's L2, so the steps of one walk
// are a chain of cache misses. The rows are cut into segments at rows marked beforehand; 24
// walks follow 24 segments side by side, each taking the next unwalked segment when its own
// reaches a mark, and the segments are joined in text order afterwards. Decoding the 1 M MAC
// fabric's .bz2 updates (parser idle) took 10.1-10.8 s of CPU against 15.8-15.9 s with two walks
// (from both ends of the text); 8 walks gave 11.4, 16 gave 10.3-10.9, 32 and 48 no more than 24.

/// Walks the text of a block whose forward links are marked at segment ends (`BZip2Walk.mark`).
final class BZip2Walk {
    static let chains = 24
    /// Segments per block, 8 a walk: enough that the last walks to finish leave little alone at the end.
    static let segments = 192
    /// On a link entry: the row it links to starts another segment.
    static let segmentEnd: UInt32 = 1 << 31
    /// The row a link entry names (below the mark, above the byte).
    static let rowMask: UInt32 = (1 << 20) - 1

    private static let maxBlock = 900_000
    /// Each chain's bytes, segment after segment (a chain never writes more than the block).
    private let pieces = UnsafeMutablePointer<UInt8>.allocate(capacity: chains * maxBlock)
    private let row = UnsafeMutablePointer<Int>.allocate(capacity: chains)
    private let out = UnsafeMutablePointer<UnsafeMutablePointer<UInt8>>.allocate(capacity: chains)
    private let segment = UnsafeMutablePointer<Int>.allocate(capacity: chains)
    // Per segment: where its bytes went, how many, and the segment that follows it in the text.
    private var first = [Int](repeating: 0, count: segments + 1)
    private var length = [Int](repeating: 0, count: segments + 1)
    private var following = [Int](repeating: 0, count: segments + 1)

    deinit {
        pieces.deallocate(); row.deallocate(); out.deallocate(); segment.deallocate()
    }

    /// The rows where segments start, ascending: rows spread evenly from row 0 on, and the origin.
    static func startRows(size: Int, origin: Int) -> [Int] {
        var rows = (0..<segments).map { $0 * size / segments }
        rows.append(origin)
        rows.sort()
        var unique: [Int] = []
        for row in rows where unique.last != row { unique.append(row) }
        return unique
    }

    /// Writes the block's `size` bytes of text to `text`. False when the links do not make one
    /// cycle through every segment from the origin (a damaged block that got this far).
    func walk(
        _ forward: UnsafePointer<UInt32>, starts: [Int], origin: Int, size: Int, into text: UnsafeMutablePointer<UInt8>
    ) -> Bool {
        let count = starts.count
        var active = min(Self.chains, count)
        for chain in 0..<active {
            row[chain] = starts[chain]
            out[chain] = pieces + chain * Self.maxBlock
            segment[chain] = chain
            first[chain] = chain * Self.maxBlock
        }
        var unwalked = active
        while active > 0 {
            var chain = 0
            while chain < active {
                let entry = forward[row[chain]]
                out[chain].pointee = UInt8(truncatingIfNeeded: entry)
                out[chain] += 1
                let next = Int(entry >> 8 & Self.rowMask)
                guard entry & Self.segmentEnd != 0 else {
                    row[chain] = next
                    chain += 1
                    continue
                }
                let ended = segment[chain]
                length[ended] = out[chain] - (pieces + first[ended])
                guard let successor = Self.index(of: next, in: starts) else { return false }
                following[ended] = successor
                if unwalked < count {
                    row[chain] = starts[unwalked]
                    segment[chain] = unwalked
                    first[unwalked] = out[chain] - pieces
                    unwalked += 1
                    chain += 1
                } else {
                    // This chain is done: the last active one takes its place.
                    active -= 1
                    row[chain] = row[active]; out[chain] = out[active]; segment[chain] = segment[active]
                }
            }
        }
        // The segments in text order, from the origin's round the cycle back to it.
        guard let start = Self.index(of: origin, in: starts) else { return false }
        var current = start, position = 0
        for _ in 0..<count {
            guard position + length[current] <= size else { return false }
            (text + position).update(from: pieces + first[current], count: length[current])
            position += length[current]
            current = following[current]
            if current == start { break }
        }
        return current == start && position == size
    }

    private static func index(of row: Int, in starts: [Int]) -> Int? {
        var low = 0, high = starts.count
        while low < high {
            let middle = (low + high) / 2
            if starts[middle] < row { low = middle + 1 } else { high = middle }
        }
        return low < starts.count && starts[low] == row ? low : nil
    }
}
