import BGPWire
import EVPNModel

/// libFuzzer target: one BGP message (header included) through the UPDATE decoder, with and
/// without 4-byte ASes and add-path; every decoded update is re-encoded and decoded again.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzUpdate(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    for options in [
        DecodeOptions(), DecodeOptions(fourByteAS: false), DecodeOptions(addPath: .all), DecodeOptions(ribEntry: true),
    ] {
        var cursor = ByteCursor(bytes)
        guard case .update(let update)? = try? BGPMessage.decode(&cursor, options: options) else { continue }
        guard update.errors.isEmpty else { continue }
        let again = BGPEncoder.update(update, options: options)
        _ = again.withUnsafeBytes { raw -> Bool in
            var c = ByteCursor(raw)
            return (try? BGPMessage.decode(&c, options: options)) != nil
        }
    }
    return 0
}
