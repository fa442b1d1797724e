import CBZip2
import Foundation

// The bzip2 source: blocks found by the scan, decoded on a pool shared by every input,
// delivered in file order (see BZip2Blocks.swift for the layout).

/// One file's blocks between its scanner, the pool and its consumer.
final class BZip2Delivery: @unchecked Sendable {
    let condition = NSCondition()
    var done: [Int: BZip2Segment] = [:]
    var scanned = 0, delivered = 0
    var scanFinished = false
    var scanError: StreamError?
    var sha256: String?
    var cancelled = false
    let capacity: Int
    init(capacity: Int) { self.capacity = capacity }

    var isCancelled: Bool { condition.lock(); defer { condition.unlock() }; return cancelled }

    func store(_ segment: BZip2Segment, at index: Int) {
        condition.lock()
        if !cancelled { done[index] = segment }
        condition.broadcast()
        condition.unlock()
    }
}

/// How many bzip2 block decoders the process runs: one per core, less the cores a command keeps
/// for the thread consuming the bytes.
public enum BZip2Decoders {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var keptCores = 0

    /// Keeps `cores` cores from the decoders; takes effect only before the first bzip2 file
    /// opens. `analyze` keeps one for its replay: on two cores a second decoder, though it ran
    /// only when a core was idle, cost the 1 M MAC .bz2 fabric's run more than it gave (11
    /// interleaved pairs: 6 s more CPU and 2.4 s more wall time on average), its work and the
    /// replay's stalling in a cache the other had filled.
    public static func keep(cores: Int) { lock.withLock { keptCores = cores } }

    static var count: Int {
        lock.withLock { max(1, ProcessInfo.processInfo.activeProcessorCount - keptCores) }
    }
}

/// The process's bzip2 block decoders (`BZip2Decoders.count` threads), shared by every open
/// file: the number of decompressors, and what each holds (4 MB of links, the walks' 22 MB of
/// which a block touches ~1 MB, 4 MB of output, libbz2's ~4 MB of tables once it decodes a
/// block), does not grow with the files merged.
final class BZip2DecoderPool: @unchecked Sendable {
    static let shared = BZip2DecoderPool(threads: BZip2Decoders.count)

    private struct Job { var index: Int; var segment: BZip2Segment; var delivery: BZip2Delivery }
    private let condition = NSCondition()
    private var jobs: [Job] = []
    private var head = 0
    let threads: Int

    private init(threads: Int) {
        self.threads = max(1, threads)
        for thread in 0..<self.threads {
            Thread { [self] in
                // One decoder keeps pace with the parser; the others take only cores nobody
                // else wants, so they never slow the thread that consumes the bytes.
                if thread > 0 { Self.runOnlyWhenIdle() }
                let decoder = BZip2BlockDecoder()
                while true { work(decoder) }
            }.start()
        }
    }

    private static func runOnlyWhenIdle() {
        var parameters = sched_param()
        _ = pthread_setschedparam(pthread_self(), 5 /* SCHED_IDLE, not exported to Swift */, &parameters)
    }

    func submit(_ segment: BZip2Segment, index: Int, to delivery: BZip2Delivery) {
        condition.lock()
        jobs.append(Job(index: index, segment: segment, delivery: delivery))
        condition.signal()
        condition.unlock()
    }

    private func work(_ decoder: BZip2BlockDecoder) {
        condition.lock()
        while head == jobs.count { condition.wait() }
        var job = jobs[head]
        head += 1
        if head == jobs.count { jobs.removeAll(keepingCapacity: true); head = 0 }
        condition.unlock()
        if case .block(let raw, let firstBit, let bitCount, let crc, let level, _) = job.segment.kind,
            !job.delivery.isCancelled
        {
            job.segment.output = decoder.decode([(raw, firstBit, bitCount)], crc: crc, level: level)
        }
        job.delivery.store(job.segment, at: job.index)
    }
}

/// Decompresses a bzip2 file block by block, delivering the blocks' bytes in file order: on
/// the decoder pool through a bounded window of blocks in flight, or, unthreaded, each block on
/// the caller's thread as it is reached.
final class BZip2Source: ChunkSource {
    /// Where the next segment comes from.
    private enum Feed {
        case pool(BZip2Delivery)
        case inline(BZip2SegmentProducer, BZip2BlockDecoder)
    }
    private let feed: Feed
    let name: String
    var compression: Compression { .bzip2 }
    private(set) var compressedOffset: Int64 = 0
    private(set) var sha256: String?
    private var producedBase: Int64 = 0
    private var streamCRC: UInt32 = 0
    private var finished = false
    private var pending: StreamError?
    /// Segments taken ahead while mending a block a false magic had split.
    private var borrowed: [BZip2Segment] = []
    /// The oversized block being served piece by piece, and where it starts.
    private var streaming: (block: BZip2StreamingBlock, compressedOffset: Int64)?

    convenience init(reader: FileReader, first: [UInt8], threaded: Bool) {
        self.init(
            name: reader.name, segments: BZip2BlockScanner(reader: reader, first: first), pool: threaded ? .shared : nil
        )
    }

    /// With a pool, `segments` is read on a thread of its own and nowhere else.
    init(name: String, segments: BZip2SegmentProducer, pool: BZip2DecoderPool?) {
        self.name = name
        guard let pool else { feed = .inline(segments, BZip2BlockDecoder()); return }
        // One block in work per decoder and one ready for the consumer: each costs ~1 MB.
        let shared = BZip2Delivery(capacity: pool.threads + 1)
        feed = .pool(shared)
        final class ScannerBox: @unchecked Sendable {
            let scanner: BZip2SegmentProducer; init(_ s: BZip2SegmentProducer) { scanner = s }
        }
        let box = ScannerBox(segments)
        Thread {
            var index = 0
            while true {
                let segment: BZip2Segment?
                var failure: StreamError?
                do { segment = try box.scanner.next() } catch {
                    segment = nil
                    failure =
                        (error as? StreamError)
                        ?? StreamError(file: name, compressedOffset: 0, uncompressedOffset: 0, message: "\(error)")
                }
                shared.condition.lock()
                while shared.scanned - shared.delivered >= shared.capacity && !shared.cancelled {
                    shared.condition.wait()
                }
                if shared.cancelled { shared.condition.unlock(); return }
                if segment != nil {
                    shared.scanned += 1
                } else {
                    shared.scanFinished = true
                    shared.scanError = failure
                    shared.sha256 = box.scanner.sha256
                    shared.condition.broadcast()
                }
                shared.condition.unlock()
                guard let segment else { return }
                pool.submit(segment, index: index, to: shared)
                index += 1
            }
        }.start()
    }

    deinit {
        guard case .pool(let shared) = feed else { return }
        shared.condition.lock(); shared.cancelled = true; shared.done.removeAll(); shared.condition.broadcast();
        shared.condition.unlock()
    }

    /// The next segment in file order, decoded; nil after the last.
    private func take() throws -> BZip2Segment? {
        if !borrowed.isEmpty { return borrowed.removeFirst() }
        switch feed {
        case .inline(let scanner, let decoder):
            guard var segment = try scanner.next() else { sha256 = scanner.sha256; return nil }
            if case .block(let raw, let firstBit, let bitCount, let crc, let level, _) = segment.kind {
                segment.output = decoder.decode([(raw, firstBit, bitCount)], crc: crc, level: level)
            }
            return segment
        case .pool(let shared):
            shared.condition.lock()
            defer { shared.condition.unlock() }
            while shared.done[shared.delivered] == nil && !(shared.scanFinished && shared.delivered == shared.scanned) {
                shared.condition.wait()
            }
            guard let segment = shared.done.removeValue(forKey: shared.delivered) else {
                sha256 = shared.sha256
                if let error = shared.scanError { shared.scanError = nil; throw error }
                return nil
            }
            shared.delivered += 1
            shared.condition.broadcast()
            return segment
        }
    }

    private func damage(_ message: String, at offset: Int64) -> StreamError {
        StreamError(file: name, compressedOffset: offset, uncompressedOffset: producedBase, message: message)
    }

    func next() throws -> [UInt8]? {
        if let (block, offset) = streaming {
            switch block.next(atMost: ByteSources.chunkSize) {
            case .bytes(let piece):
                producedBase += Int64(piece.count)
                return piece
            case .end:
                streaming = nil
            case .failed:
                streaming = nil; finished = true
                throw damage("bzip2: corrupt block (data or CRC check failed)", at: offset)
            }
        }
        if let pending { self.pending = nil; finished = true; throw pending }
        if finished { return nil }
        while true {
            guard let segment = try take() else { finished = true; return nil }
            compressedOffset = segment.compressedEnd
            switch segment.kind {
            case .damage(let message):
                finished = true
                throw damage(message, at: segment.compressedOffset)
            case .streamEnd(let declared):
                defer { streamCRC = 0 }
                if declared != streamCRC {
                    finished = true
                    throw damage(
                        "bzip2: stream CRC mismatch (declared \(hex(declared)), blocks give \(hex(streamCRC)))",
                        at: segment.compressedOffset)
                }
            case .block(let raw, let firstBit, let bitCount, let crc, let level, let terminated):
                var decoded = (
                    output: segment.output ?? .rejected, parts: [(raw: raw, firstBit: firstBit, bitCount: bitCount)]
                )
                if case .rejected = decoded.output { decoded = try mend(segment) }
                func accept() {
                    streamCRC = BZip2Magic.foldStreamCRC(streamCRC, crc)
                    if !terminated { pending = damage(BZip2Damage.truncated, at: compressedOffset) }
                }
                switch decoded.output {
                case .rejected:
                    finished = true
                    throw damage(
                        terminated ? "bzip2: corrupt block (data or CRC check failed)" : BZip2Damage.truncated,
                        at: segment.compressedOffset)
                case .oversized:
                    accept()
                    streaming = (BZip2StreamingBlock(decoded.parts, crc: crc, level: level), segment.compressedOffset)
                    return try next()
                case .bytes(let output):
                    accept()
                    producedBase += Int64(output.count)
                    if output.isEmpty { continue }
                    return output
                }
            }
        }
    }

    /// A block that did not decode alone may have been cut by its own data happening to
    /// contain a magic (about once in 2^48 bit positions): joins it with the following
    /// segments, one at a time, until it decodes or a stream end or damage is reached.
    private func mend(
        _ failed: BZip2Segment
    ) throws -> (output: BZip2BlockDecoder.Output, parts: [(raw: [UInt8], firstBit: Int, bitCount: Int)]) {
        guard case .block(let raw, let firstBit, let bitCount, let crc, let level, _) = failed.kind else {
            return (.rejected, [])
        }
        var parts = [(raw: raw, firstBit: firstBit, bitCount: bitCount)]
        var taken: [BZip2Segment] = []
        defer { borrowed = taken + borrowed }
        let decoder = BZip2BlockDecoder()
        for _ in 0..<8 {
            guard let following = try take() else { return (.rejected, parts) }
            guard case .block(let nextRaw, let nextFirst, let nextCount, _, _, let terminated) = following.kind else {
                taken.append(following); return (.rejected, parts)
            }
            taken.append(following)
            parts.append((nextRaw, nextFirst, nextCount))
            let output = decoder.decode(parts, crc: crc, level: level)
            if case .rejected = output { continue }
            if !terminated { pending = damage(BZip2Damage.truncated, at: following.compressedEnd) }
            compressedOffset = following.compressedEnd
            taken.removeAll()
            return (output, parts)
        }
        return (.rejected, parts)
    }

    private func hex(_ value: UInt32) -> String { String(value, radix: 16) }
}
