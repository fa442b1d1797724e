import ByteStreams
import Foundation

/// libFuzzer target: arbitrary bytes as a bzip2 file, decoded block by block on the decoder
/// pool; it must end, never crash, and never hand out more than a bounded output.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzBZip2(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let path = NSTemporaryDirectory() + "evpnscope-fuzz-\(getpid()).bz2"
    let file = Data(bytes: data, count: size)
    guard (try? file.write(to: URL(fileURLWithPath: path))) != nil else { return 0 }
    defer { unlink(path) }
    guard let source = try? ByteSources.open(path, fingerprint: false) else { return 0 }
    var total = 0
    while true {
        guard let chunk = try? source.next() else { break }
        total += chunk.count
        if total > 1 << 30 { fatalError("bzip2 source does not end") }
    }
    return 0
}
