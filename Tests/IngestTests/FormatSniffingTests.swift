import BGPWire
import BMP
import ByteStreams
import EVPNModel
import Foundation
import Ingest
import TestSupport
import Testing

/// Inputs are told apart by content, never by name: MRT, BMP and OpenBMP records, each under
/// any compression, and what is plainly no dump is skipped with its reason.

private let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path
private let publicMRT = root + "/../shared/datasets/public/ripe-bgpdump/updates.20071015.1505.gz"
private let demoBMP = root + "/datasets/demo/dumps/bmp/rr1.20261124.0200.gz"

private func copy(_ bytes: [UInt8], compression: Compression, name: String) throws -> String {
    let path = Scratch.directory("sniff") + "/" + name
    let writer = try CompressedWriter(path: path, compression: compression)
    writer.write(bytes)
    try writer.close()
    return path
}

@Test(
    "inputs told apart by content under any compression and any name: MRT, BMP, OpenBMP; text and empty files skipped",
    arguments: [Compression.plain, .gzip, .bzip2])
func formatsAreToldApartByContent(_ compression: Compression) throws {
    let mrt = try decompressedContents(publicMRT), bmp = try decompressedContents(demoBMP)
    let firstLength = Int(bmp[1]) << 24 | Int(bmp[2]) << 16 | Int(bmp[3]) << 8 | Int(bmp[4])
    let openBMP = BMPEncoder.openBMPRecord(
        Array(bmp[0..<firstLength]), routerIP: IPAddress("192.0.2.7")!, collectorTime: 1_795_485_600_000_000)
    // Names that say nothing, or the wrong thing.
    let paths = [
        try copy(mrt, compression: compression, name: "a.bmp"),
        try copy(bmp, compression: compression, name: "b.mrt"),
        try copy(openBMP, compression: compression, name: "c"),
        try copy(Array("time,mac\n1,aa:bb\n".utf8), compression: compression, name: "d.mrt"),
        try copy([], compression: compression, name: "e.gz"),
    ]
    let inputs = try InputSet(paths: paths)
    let byName = Dictionary(uniqueKeysWithValues: inputs.files.map { (($0.path as NSString).lastPathComponent, $0) })
    #expect(byName["a.bmp"]?.format == .mrt)
    #expect(byName["b.mrt"]?.format == .bmp)
    #expect(byName["c"]?.format == .openbmp)
    #expect(byName["d.mrt"]?.format == nil)
    #expect(byName["d.mrt"]?.skipReason == "text, not an MRT or BMP dump")
    #expect(byName["e.gz"]?.skipReason == "empty")
    #expect(inputs.files.allSatisfy { $0.damage.isEmpty }, "\(inputs.files.map(\.damage))")
    #expect(byName["c"]?.compression == compression)
}
