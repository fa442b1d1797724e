import BMP
import BGPWire
import ByteStreams
import EVPNModel
import Foundation
import MRT

public enum InputFormat: String, Sendable {
    case mrt, bmp
    /// OpenBMP's raw BMP records (the `openbmp.bmp_raw` topic dumped to a file).
    case openbmp

    /// What `sniff` reads: an MRT header's type ends at byte 6, a BMP common header too.
    public static let sniffedBytes = bmpCommonHeaderLength

    /// Told apart by content: an MRT header has a known type at bytes 4-5; a BMP message
    /// starts with version 3, a plausible length and a type ≤ 6; an OpenBMP record with "OBMP".
    public static func sniff(_ head: UnsafeRawBufferPointer) -> InputFormat? {
        guard head.count >= sniffedBytes else { return nil }
        if head.prefix(4).elementsEqual("OBMP".utf8) && head[4] == 1 { return .openbmp }
        let mrtType = UInt16(head[4]) << 8 | UInt16(head[5])
        if MRTType.defined.contains(mrtType) { return .mrt }
        let length = UInt32(head[1]) << 24 | UInt32(head[2]) << 16 | UInt32(head[3]) << 8 | UInt32(head[4])
        if head[0] == bmpVersion && head[5] <= BMPMessageType.routeMirroring && length >= bmpCommonHeaderLength {
            return .bmp
        }
        return nil
    }
}

/// One file read by a run: what it was and what came out of it. Probed at set-up (format,
/// compression, first timestamp), then opened for real only when the merge reaches it, so a
/// directory of hundreds of rotated dumps keeps only the overlapping ones open.
public final class InputFile {
    public let index: Int32
    public let path: String
    /// Place among the inputs by path: the merge's order for items of one timestamp, so that
    /// the order of the command line changes nothing (MOB-15).
    var rank: Int32 = 0
    let evpnOnly: Bool
    let fingerprint: Bool
    public private(set) var format: InputFormat?
    public private(set) var compression: Compression?
    public private(set) var reader: FeedReader?
    /// Damage that stopped this input before any record (unreadable, a broken compressed stream).
    public private(set) var openError: InputDamage?
    /// Why this file was not read at all: it is plainly not a dump (empty, text, too short for a
    /// record header). Not damage: damage is a file that starts as a dump and breaks.
    public private(set) var skipReason: String?
    public private(set) var firstTime: Int64?
    private var firstItem: FeedItem?
    private var finished = false

    /// A path the walk passed over (a FIFO in a directory, a file or directory reached twice): listed, never opened.
    init(index: Int32, path: String, passedOver reason: String) {
        self.index = index
        self.path = path
        evpnOnly = false
        fingerprint = false
        skipReason = reason
        finished = true
    }

    /// `reopenable`: a regular file, probed now and opened again when the merge reaches it. Any
    /// other input (stdin, a FIFO, `<(…)`) can be read only once: it is opened here for good.
    init(index: Int32, path: String, reopenable: Bool, evpnOnly: Bool, fingerprint: Bool) {
        self.index = index
        self.path = path
        self.evpnOnly = evpnOnly
        self.fingerprint = fingerprint
        open(threaded: !reopenable)
        firstTime = firstItem?.time
        if reopenable && reader != nil && openError == nil {
            // Keep no descriptor or thread until the merge needs this file; a file the probe read
            // to its end (no route, only skipped records) or that broke keeps its reader, whose
            // byte and record counts and sha256 the inputs table shows.
            if firstItem != nil && reader?.damage.isEmpty ?? true {
                reader = nil; firstItem = nil
            } else {
                finished = true
            }
        }
        if firstTime == nil { finished = true }
    }

    private func open(threaded: Bool) {
        do {
            let source = try ByteSources.open(path, threaded: threaded, fingerprint: fingerprint)
            compression = source.compression
            let stream = StreamReader(source)
            guard stream.fill(InputFormat.sniffedBytes) else {
                if let error = stream.streamError {
                    openError = InputDamage(
                        file: path, offset: error.uncompressedOffset, message: error.message, recovered: false)
                } else {
                    skipReason = stream.available == 0 ? "empty" : "shorter than a record header"
                }
                return
            }
            guard let format = stream.withBytes(InputFormat.sniffedBytes, { InputFormat.sniff($0) }) else {
                skipReason =
                    stream.withBytes(InputFormat.sniffedBytes) { head in
                        head.allSatisfy { $0 == 9 || $0 == 10 || $0 == 13 || (32..<127).contains($0) }
                    }
                    ? "text, not an MRT or BMP dump"
                    : "not an MRT header (RFC 6396), a BMP v3 message (RFC 7854) or an OpenBMP record"
                return
            }
            self.format = format
            switch format {
            case .mrt: reader = MRTReader(stream: stream, input: index, evpnOnly: evpnOnly)
            case .bmp: reader = BMPReader(stream: stream, input: index, evpnOnly: evpnOnly)
            case .openbmp: reader = BMPReader(stream: stream, input: index, evpnOnly: evpnOnly, openBMP: true)
            }
            firstItem = reader?.next()
        } catch let error as StreamError {
            openError = InputDamage(
                file: path, offset: error.uncompressedOffset, message: error.message, recovered: false)
        } catch {
            openError = InputDamage(file: path, offset: 0, message: "\(error)", recovered: false)
        }
    }

    public var damage: [InputDamage] { (openError.map { [$0] } ?? []) + (reader?.damage ?? []) }
    public var isDamaged: Bool { !damage.isEmpty }

    /// The next item of this file, opening it on first use; nil when it is exhausted.
    func next() -> FeedItem? {
        if finished && firstItem == nil { return nil }
        if reader == nil {
            open(threaded: true)
            if reader == nil { finished = true; return nil }
        }
        if firstItem != nil { return firstItem.take() }
        if let item = reader?.next() { return item }
        finished = true
        return nil
    }
}

public struct UsageError: Error, CustomStringConvertible {
    public var description: String
}

/// The command line's paths expanded: directories read recursively in name order (hidden
/// entries left out), every file and directory visited once by device and inode, so a symbolic
/// link loop ends and a dump linked twice is read once. FIFOs, sockets and devices found in a
/// directory are passed over (reading one could block for ever); named on the command line, any
/// of them is read, once.
struct InputWalk {
    struct Found { var path: String; var regular: Bool; var passedOver: String? }
    private struct Identity: Hashable { var device: UInt64; var inode: UInt64 }
    private(set) var found: [Found] = []
    private var seen: [Identity: String] = [:]

    mutating func add(_ path: String) throws {
        if path == "-" { found.append(Found(path: path, regular: false)); return }
        var info = stat()
        try Self.checkLength(path)
        guard stat(path, &info) == 0 else {
            throw UsageError(description: "\(path): \(String(cString: strerror(errno)).lowercased())")
        }
        try visit(path, info, named: true)
    }

    private mutating func visit(_ path: String, _ info: stat, named: Bool) throws {
        let identity = Identity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
        let kind = info.st_mode & S_IFMT
        if let first = seen[identity] {
            let what = kind == S_IFDIR ? "the directory" : "the file"
            found.append(
                Found(path: path, regular: false, passedOver: "\(what) \(first) again, through a link: read once"))
            return
        }
        seen[identity] = path
        switch kind {
        case S_IFDIR: try walk(path)
        case S_IFREG: found.append(Found(path: path, regular: true))
        default:
            if named { found.append(Found(path: path, regular: false)); return }
            let what = kind == S_IFIFO ? "a FIFO" : kind == S_IFSOCK ? "a socket" : "a device"
            found.append(
                Found(
                    path: path, regular: false,
                    passedOver: "\(what), not a file; name it on the command line to read it"))
        }
    }

    private mutating func walk(_ directory: String) throws {
        guard let handle = opendir(directory) else {
            throw UsageError(
                description: "\(directory): cannot read the directory: \(String(cString: strerror(errno)).lowercased())"
            )
        }
        var names: [String] = []
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) {
                String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
            }
            if !name.hasPrefix(".") { names.append(name) }
        }
        closedir(handle)
        for name in names.sorted() {
            let path = directory.hasSuffix("/") ? directory + name : directory + "/" + name
            try Self.checkLength(path)
            var info = stat()
            guard stat(path, &info) == 0 else {
                let reason =
                    errno == ELOOP
                    ? "a symbolic link loop"
                    : errno == ENOENT
                        ? "a broken symbolic link"
                        : String(cString: strerror(errno)).lowercased()
                found.append(Found(path: path, regular: false, passedOver: reason))
                continue
            }
            try visit(path, info, named: false)
        }
    }

    /// The kernel refuses longer paths; a walk must say so rather than find nothing.
    private static func checkLength(_ path: String) throws {
        guard path.utf8.count < PATH_MAX else {
            throw UsageError(
                description:
                    "\(path.prefix(80))…: path of \(path.utf8.count) bytes, longer than the system's limit of "
                    + "\(PATH_MAX)"
            )
        }
    }
}

/// Expands the command line's inputs and merges their feed items by time (k-way; equal
/// times in the order of the inputs' paths, whatever the command line's order: MOB-15). Directories are read
/// recursively; each file joins the merge when
/// the merge reaches its first timestamp.
public final class InputSet {
    public private(set) var files: [InputFile] = []
    private var waiting: [InputFile] = []  // sorted by first timestamp, latest last
    private var active: [(file: InputFile, head: FeedItem)] = []

    /// Files that are plainly not dumps, with why (`InputFile.skipReason`); they are in `files` too.
    public var skipped: [InputFile] { files.filter { $0.skipReason != nil } }

    /// `fingerprints`: compute each file's SHA-256 (for the inputs table) while reading it.
    /// `excluding`: shell patterns (`*.txt`, `*/old/*`) matched against each file's name and its
    /// path, for files found in directories and named ones alike.
    public init(paths: [String], evpnOnly: Bool = false, fingerprints: Bool = true, excluding: [String] = []) throws {
        var walk = InputWalk()
        for path in paths { try walk.add(path) }
        var next: Int32 = 0
        for found in walk.found where !InputSet.matches(found.path, excluding) {
            files.append(
                found.passedOver.map { InputFile(index: next, path: found.path, passedOver: $0) }
                    ?? InputFile(
                        index: next, path: found.path, reopenable: found.regular, evpnOnly: evpnOnly,
                        fingerprint: fingerprints))
            next += 1
        }
        for (rank, file) in files.sorted(by: { ($0.path, $0.index) < ($1.path, $1.index) }).enumerated() {
            file.rank = Int32(rank)
        }
        waiting = files.filter { $0.firstTime != nil }.sorted { ($0.firstTime!, $0.rank) > ($1.firstTime!, $1.rank) }
    }

    static func matches(_ path: String, _ patterns: [String]) -> Bool {
        let name = (path as NSString).lastPathComponent
        return patterns.contains { fnmatch($0, name, 0) == 0 || fnmatch($0, path, 0) == 0 }
    }

    /// The next item in time order across all inputs.
    public func next() -> FeedItem? {
        while true {
            var best = -1
            var bestKey = (Int64.max, Int32.max)
            // By index, not by copying each entry: a copy would retain the file and the event.
            for i in active.indices {
                let key = (active[i].head.time, active[i].file.rank)
                if key < bestKey { best = i; bestKey = key }
            }
            // A file whose first record comes before every open head joins the merge first.
            if let candidate = waiting.last, (candidate.firstTime!, candidate.rank) < bestKey {
                waiting.removeLast()
                if let head = candidate.next() { active.append((candidate, head)) }
                continue
            }
            guard best >= 0 else { return nil }
            // The file, held by `active`, is called unretained; the head is moved out, not copied:
            // either way a retain and a release per item saved.
            let file = Unmanaged.passUnretained(active[best].file)
            guard var item = file._withUnsafeGuaranteedRef({ $0.next() }) else {
                return active.remove(at: best).head
            }
            swap(&item, &active[best].head)
            return item
        }
    }

    public var damage: [InputDamage] { files.flatMap(\.damage) }
    public var attributeProblems: [InputDamage] { files.flatMap { $0.reader?.attributeProblems ?? [] } }
    public var bytesRead: Int64 { files.reduce(0) { $0 + ($1.reader?.bytesRead ?? 0) } }
    public var compressedBytesRead: Int64 { files.reduce(0) { $0 + ($1.reader?.compressedBytesRead ?? 0) } }
    public var totalCompressedBytes: Int64 {
        files.reduce(0) { total, file in
            let size = (try? FileManager.default.attributesOfItem(atPath: file.path)[.size] as? Int64) ?? nil
            return total + (size ?? 0)
        }
    }
}

/// The items of an input set in time order, decoded on a thread of their own when a core is
/// spare for it. With two cores and bzip2 input, decompression keeps half the second core busy
/// and the writer a fifth more: a third busy thread cost more in hand-offs and waits than it
/// took from the replay's thread (the 1 M MAC fabric: that thread ran ~3 s less but waited
/// ~5 s for a core, ~6 s more CPU in all, 3 interleaved rounds). With gzip or plain input the
/// decoder thread takes the time the decompression thread leaves idle.
public final class PrefetchedFeed {
    private struct Batch {
        var items: [FeedItem]
        var compressedBytesRead: Int64
        /// Events that outlived their own batch (`retire`), freed with this one.
        var retired: [RouteEvent] = []
    }
    private let prefetcher: Prefetcher<Batch>?
    private var batch: [FeedItem] = []
    private var position = 0
    private let inputs: InputSet
    private var prefetchedBytes: Int64 = 0
    private var retired: [RouteEvent] = []
    public var decodesOnItsOwnThread: Bool { prefetcher != nil }

    /// Items per hand-off between the decoder thread and the consumer.
    public static let defaultBatchSize = 2048

    public init(
        _ inputs: InputSet, cores: Int = ProcessInfo.processInfo.activeProcessorCount,
        batchSize: Int = defaultBatchSize, batchesAhead: Int = 4
    ) {
        self.inputs = inputs
        let busyDecompression = inputs.files.contains { $0.compression == .bzip2 }
        guard cores > 2 || !busyDecompression else { prefetcher = nil; return }
        prefetcher = Prefetcher(capacity: batchesAhead) { recycled in
            // A recycled batch, its retired events included, is emptied and dropped here: its
            // events are freed on the thread that allocated them.
            var items = recycled?.items ?? []
            items.removeAll(keepingCapacity: true)
            items.reserveCapacity(batchSize)
            while items.count < batchSize, let item = inputs.next() { items.append(item) }
            return items.isEmpty ? nil : Batch(items: items, compressedBytesRead: inputs.compressedBytesRead)
        }
    }

    /// Compressed bytes behind the items handed out so far (for progress).
    public var compressedBytesRead: Int64 { prefetcher == nil ? inputs.compressedBytesRead : prefetchedBytes }

    public func next() -> FeedItem? {
        guard let prefetcher else { return inputs.next() }
        if position == batch.count {
            guard let next = prefetcher.next() else { return nil }
            prefetcher.recycle(Batch(items: batch, compressedBytesRead: 0, retired: retired))
            retired = []
            batch = next.items
            position = 0
            prefetchedBytes = next.compressedBytesRead
        }
        position += 1
        return batch[position - 1]
    }

    /// Takes events the consumer is done with that outlived the batch they came in (stored
    /// events kept until their copies arrive) and lets the thread that allocated them free
    /// them, with the next batch it recycles: freed by the consumer, each free took the
    /// allocator lock of the decoder thread's arena, and the two threads slept on it (200 k
    /// context switches in a 37 s run). Without a decoder thread they are freed at once.
    public func retire(_ events: inout [RouteEvent]) {
        guard prefetcher != nil else { events.removeAll(keepingCapacity: true); return }
        if retired.isEmpty {
            swap(&retired, &events)
        } else {
            retired.append(contentsOf: events)
            events.removeAll(keepingCapacity: true)
        }
    }

    /// Stops decoding and hands back the input set, whose damage and statistics are then
    /// safe to read on this thread.
    public func finish() -> InputSet {
        prefetcher?.stop()
        return inputs
    }
}
