import BGPWire
import EVPNModel

/// libFuzzer target: EVPN NLRI; a route that decodes must encode back to the same bytes.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzEVPN(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    var cursor = ByteCursor(bytes)
    while !cursor.isAtEnd {
        let start = cursor.position
        guard let route = try? EVPNRouteCodec.decode(&cursor) else { break }
        var writer = ByteWriter()
        EVPNRouteCodec.encode(route, into: &writer)
        if writer.bytes != Array(bytes[start..<cursor.position]) {
            // MAC/IP label2 is optional and type 5 has fixed sizes: anything else is a codec bug.
            if case .macIP = route {
            } else {
                fatalError("EVPN round trip changed the bytes of route type \(route.routeType)")
            }
        }
    }
    return 0
}
