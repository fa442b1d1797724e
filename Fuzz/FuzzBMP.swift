import BMP
import ByteStreams
import EVPNModel

/// libFuzzer target: a whole BMP stream through the reader, or OpenBMP raw records when the
/// input starts with "O" (as the format sniffing decides); it must end, never crash.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzBMP(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let reader = BMPReader(
        stream: StreamReader(MemorySource(name: "fuzz", bytes: Array(UnsafeBufferPointer(start: data, count: size)))),
        input: 0, openBMP: size > 0 && data[0] == UInt8(ascii: "O"))
    var count = 0
    while reader.next() != nil { count += 1; if count > 1_000_000 { fatalError("BMP reader does not end") } }
    return 0
}
