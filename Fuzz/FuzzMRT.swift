import ByteStreams
import EVPNModel
import MRT

/// libFuzzer target: a whole MRT stream through the reader; it must end, never crash.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMRT(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let reader = MRTReader(
        stream: StreamReader(MemorySource(name: "fuzz", bytes: Array(UnsafeBufferPointer(start: data, count: size)))),
        input: 0)
    var count = 0
    while reader.next() != nil { count += 1; if count > 1_000_000 { fatalError("MRT reader does not end") } }
    return 0
}
