import CPrefetch

// The inverse BWT of one bzip2 block as many walks at once. Following the T links from the
// origin gives the text one byte a step, each step a read that waits for the one before; the
// link array (3.6 MB for a 900 kB block) does not fit in a core's L2, so the steps of one walk
// are a chain of cache misses. The rows are cut into segments at rows marked beforehand; 24
// walks follow 24 segments side by side, each taking the next unwalked segment when its own
// reaches a mark, and the segments are joined in text order afterwards. Decoding the 1 M MAC
// fabric's .bz2 updates (parser idle) took 10.1-10.8 s of CPU against 15.8-15.9 s with two walks
// (from both ends of the text); 8 walks gave 11.4, 16 gave 10.3-10.9, 32 and 48 no more than 24.

/// Builds the links of a block marked at segment ends (`link`) and walks them (`walk`).
final class BZip2Walk {
    private static let chains = 24
    /// Segments per block, 8 a walk: enough that the last walks to finish leave little alone at the end.
    private static let segments = 192
    /// On a link entry: the row it links to starts another segment.
    private static let segmentEnd: UInt32 = 1 << 31
    /// The row a link entry names (below the mark, above the byte).
    private static let rowMask: UInt32 = (1 << 20) - 1

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
    private static func startRows(size: Int, origin: Int) -> [Int] {
        var rows = (0..<segments).map { $0 * size / segments }
        rows.append(origin)
        rows.sort()
        var unique: [Int] = []
        for row in rows where unique.last != row { unique.append(row) }
        return unique
    }

    /// Builds the forward links of a block from its last column (`counts`: of each byte value in
    /// it), each entry marked where the row it links to starts a segment. Returns the segments'
    /// first rows. LF(i), the row that position i's byte starts, is a running count per byte
    /// value; T, the walk's link, is its inverse.
    static func link(
        lastColumn: UnsafePointer<UInt8>, size: Int, counts: [Int], origin: Int,
        into forward: UnsafeMutablePointer<UInt32>
    ) -> [Int] {
        var next = [UInt32](repeating: 0, count: 256)
        var total = 0
        for byte in 0..<256 {
            next[byte] = UInt32(total)
            total += counts[byte]
        }
        // Each entry is written whole, never read back. A run of one byte keeps its next row in
        // a register, not in `next`. Positions are taken a segment at a time, so that the row
        // linking to each segment's first row (that position's LF) is known, to be marked.
        let starts = startRows(size: size, origin: origin)
        var marked: [Int] = []
        marked.reserveCapacity(starts.count)
        next.withUnsafeMutableBufferPointer { next in
            for (k, segmentStart) in starts.enumerated() {
                let end = k + 1 < starts.count ? starts[k + 1] : size
                var i = segmentStart
                marked.append(Int(next[Int(lastColumn[i])]))
                // Wrapping arithmetic: rows and positions stay below the block's size (at most
                // 900 000), and the checks the compiler would add cost a fifth of this loop.
                while i < end {
                    let byte = lastColumn[i]
                    var row = next[Int(byte)]
                    var entry = UInt32(truncatingIfNeeded: i) << 8 | UInt32(byte)
                    repeat {
                        forward[Int(truncatingIfNeeded: row)] = entry
                        row &+= 1
                        entry &+= 1 << 8
                        i &+= 1
                    } while i < end && lastColumn[i] == byte
                    next[Int(byte)] = row
                }
            }
        }
        for row in marked { forward[row] |= segmentEnd }
        return starts
    }

    /// Writes the block's `size` bytes of text to `text`, the cycle of links from the origin
    /// followed for `size` steps. False for links no block built (`link`) could have.
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
                    // Asked for now, read up to 23 steps later: the walk's samples 2082-2339 against
                    // 2397-2892 (decode of the fabric's updates, 3 interleaved rounds).
                    evpnscope_prefetch(forward + next)
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
        guard current == start, position > 0 else { return false }
        // A periodic text (equal rotations) makes a cycle of one period: as a walk of `size` steps
        // from the origin would, it goes round again.
        while position < size {
            let copy = min(position, size - position)
            (text + position).update(from: text, count: copy)
            position += copy
        }
        return true
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
