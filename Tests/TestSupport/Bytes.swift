import ByteStreams
import Foundation

/// A dump's bytes as its reader sees them: decompressed whatever its compression.
public func decompressedContents(_ path: String) throws -> [UInt8] {
    let source = try ByteSources.open(path, threaded: false)
    var out: [UInt8] = []
    while let chunk = try source.next() { out += chunk }
    return out
}

/// Writes all of `bytes` to a socket, as a router sends them; stops if the peer closed.
public func sendAll<Bytes: Collection<UInt8>>(_ fd: Int32, _ bytes: Bytes) {
    let copy = Array(bytes)
    var sent = 0
    while sent < copy.count {
        let n = copy.withUnsafeBytes { send(fd, $0.baseAddress! + sent, copy.count - sent, 0) }
        if n <= 0 { return }
        sent += n
    }
}
