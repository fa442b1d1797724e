import ByteStreams
import EVPNModel
import Foundation

/// How the generator compresses each kind of dump.
public enum CompressionPlan: String, CaseIterable {
    /// Update dumps gzip, RIB snapshot bzip2, BMP gzip: what public collectors publish.
    case mixed
    case gz, bz2, plain

    func forKind(_ kind: String) -> Compression {
        switch self {
        case .gz: return .gzip
        case .bz2: return .bzip2
        case .plain: return .plain
        case .mixed: return kind == "rib" ? .bzip2 : .gzip
        }
    }
}

/// RouteViews/RIS-style file name stamp: YYYYMMDD.HHMM.
func fileStamp(_ time: Int64) -> String {
    let iso = Timestamp.format(time - time % 60_000_000)  // 2026-11-24T02:00:00Z
    let digits = iso.filter(\.isNumber)
    return String(digits.prefix(8)) + "." + String(digits.dropFirst(8).prefix(4))
}

/// An update dump rotated every N minutes, as collectors write them.
final class RotatingWriter {
    let directory: String
    let prefix: String
    let compression: Compression
    let period: Int64
    private var current: CompressedWriter?
    private var slot: Int64 = -1
    private(set) var files: [String] = []
    private(set) var bytes: Int64 = 0

    init(directory: String, prefix: String, compression: Compression, period: Int64) {
        self.directory = directory; self.prefix = prefix; self.compression = compression; self.period = period
    }

    func write(time: Int64, _ record: [UInt8]) throws {
        let recordSlot = time / period
        if recordSlot != slot || current == nil {
            try current?.close()
            slot = recordSlot
            let path =
                "\(directory)/\(prefix).\(fileStamp(recordSlot * period))\(CompressedWriter.fileExtension(compression))"
            current = try CompressedWriter(path: path, compression: compression)
            files.append(path)
        }
        current!.write(record)
        bytes += Int64(record.count)
    }

    func close() throws { try current?.close(); current = nil }
}

/// xorshift64*: small, fast and the same on every platform for a given seed.
struct SeededRandom {
    private var state: UInt64
    init(seed: UInt64) { state = seed == 0 ? 0x9E37_79B9_7F4A_7C15 : seed }
    mutating func next() -> UInt64 {
        state ^= state >> 12; state ^= state << 25; state ^= state >> 27
        return state &* 2_685_821_657_736_338_717
    }
    mutating func below(_ n: Int) -> Int { n <= 1 ? 0 : Int(next() % UInt64(n)) }
}
