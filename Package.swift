// swift-tools-version:6.0
import Foundation
import PackageDescription

let package = Package(
    name: "evpnscope",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "evpnscope", targets: ["evpnscope"]),
        .executable(name: "evpnscope-enginebench", targets: ["EngineBench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2")
    ],
    targets: [
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CBZip2", path: "Sources/CBZip2", providers: [.apt(["libbz2-dev"])]),
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CPrefetch", path: "Sources/CPrefetch"),
        .systemLibrary(name: "CCRC", path: "Sources/CCRC"),
        .target(name: "ByteStreams", dependencies: ["CZlib", "CBZip2", "CCRC", "CPrefetch"]),
        .target(name: "EVPNModel"),
        .target(name: "BGPWire", dependencies: ["EVPNModel"]),
        .target(name: "MRT", dependencies: ["BGPWire", "EVPNModel", "ByteStreams"]),
        .target(name: "BMP", dependencies: ["BGPWire", "EVPNModel", "ByteStreams"]),
        .target(name: "Ingest", dependencies: ["ByteStreams", "BGPWire", "MRT", "BMP", "EVPNModel"]),
        // The engine's tables (hash index, paged arrays): what the store and analyzer need of them
        // without the engine.
        .target(name: "Containers", dependencies: ["CPrefetch"]),
        .target(name: "Replay", dependencies: ["EVPNModel", "Containers", "CPrefetch"]),
        .target(name: "Analysis", dependencies: ["Replay", "Containers", "EVPNModel"]),
        .target(name: "Store", dependencies: ["CSQLite", "CZlib", "EVPNModel", "Containers", "Replay", "Analysis"]),
        .target(name: "Reports", dependencies: ["Store", "EVPNModel"]),
        .target(name: "Collect", dependencies: ["BGPWire", "BMP", "ByteStreams", "EVPNModel"]),
        .target(name: "Generator", dependencies: ["BGPWire", "MRT", "BMP", "ByteStreams", "EVPNModel", "Analysis"]),
        .executableTarget(
            name: "evpnscope",
            dependencies: [
                "ByteStreams", "BGPWire", "MRT", "BMP", "Ingest", "EVPNModel", "Replay", "Analysis",
                "Store", "Reports", "Generator", "Collect",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        // `make bench`: the replay engine timed without decoding (issue 3's events/s and bytes/route).
        .executableTarget(name: "EngineBench", dependencies: ["Ingest", "Replay", "Analysis", "EVPNModel"]),
        .target(
            name: "TestSupport",
            dependencies: [
                "EVPNModel", "Store", "Reports", "Analysis", "Replay", "Ingest", "MRT", "BMP", "BGPWire", "ByteStreams",
            ],
            path: "Tests/TestSupport"),
        .testTarget(name: "ByteStreamsTests", dependencies: ["ByteStreams", "TestSupport", "CBZip2"]),
        .testTarget(name: "BGPWireTests", dependencies: ["BGPWire", "EVPNModel"]),
        .testTarget(name: "MRTTests", dependencies: ["MRT", "BGPWire", "EVPNModel", "ByteStreams", "Ingest"]),
        .testTarget(name: "BMPTests", dependencies: ["BMP", "BGPWire", "EVPNModel", "Ingest", "TestSupport"]),
        .testTarget(
            name: "AnalysisTests",
            dependencies: [
                "Analysis", "Replay", "Ingest", "BGPWire", "MRT", "BMP", "ByteStreams", "EVPNModel", "TestSupport",
            ]),
        .testTarget(
            name: "IngestTests", dependencies: ["Ingest", "BMP", "BGPWire", "ByteStreams", "EVPNModel", "TestSupport"]),
        .testTarget(
            name: "CollectTests", dependencies: ["Collect", "BGPWire", "ByteStreams", "EVPNModel", "TestSupport"]),
        .testTarget(name: "StoreTests", dependencies: ["Store", "EVPNModel", "TestSupport"]),
        .testTarget(
            name: "ReplayTests",
            dependencies: ["Replay", "Containers", "Analysis", "EVPNModel", "Store", "TestSupport"]),
        .testTarget(name: "InteropTests", dependencies: ["Store"], exclude: ["frr-fabric.sh"]),
        .testTarget(
            name: "EndToEndTests",
            dependencies: [
                "Ingest", "Replay", "Analysis", "Store", "Reports", "Generator", "EVPNModel", "BMP", "BGPWire",
                "ByteStreams", "MRT", "TestSupport",
            ]),
    ],
    swiftLanguageModes: [.v5]
)

// Bounds stay checked (ByteCursor); the dynamic exclusivity checks cost ~4% per event and guard
// nothing the compiler does not already check statically in this code. Release builds optimise
// across modules: decoder, engine, analyzer and store are separate modules, and without it the
// generic code crossing them (a model type's copy, a collection read) runs unspecialised.
// Measured on top of an inlinable PagedArray read: EVPN decode 0.72 vs 0.745 s (medians of 6),
// 1 M MAC .bz2 analysis 19.41 vs 19.55 s (medians of 3); the release build takes ~35 s, not ~20.
// Profile-guided: the release build lays out and inlines by the counts in pgo/evpnscope.profdata,
// which `make pgo` records from training runs (scripts/pgo.sh). The replay's thread, the 1 M MAC
// analysis' bound, needed 7-13 % less time with it. Not for ByteStreams: the bzip2 block decoder's
// symbol loop ran slower laid out by the profile (a .bz2 RIPE dump's decode 0.77-0.78 s against
// 0.66-0.69 s), and the fabric's decoder thread gained nothing. The profile is written by this
// toolchain's LLVM, which older ones cannot read; EVPNSCOPE_PGO=off builds without it (`make pgo` does).
let releaseFlags = ["-enforce-exclusivity=unchecked", "-cross-module-optimization"]
var profileFlags: [String] = []
#if compiler(>=6.3)
let profile = Context.packageDirectory + "/pgo/evpnscope.profdata"
if Context.environment["EVPNSCOPE_PGO"] != "off" && FileManager.default.fileExists(atPath: profile) {
    profileFlags = ["-Xfrontend", "-ir-profile-use=" + profile]
}
#endif
for target in package.targets where target.type == .regular || target.type == .executable {
    let flags = target.name == "ByteStreams" ? releaseFlags : releaseFlags + profileFlags
    target.swiftSettings = [.unsafeFlags(flags, .when(configuration: .release))]
}
