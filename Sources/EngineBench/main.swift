// Times the replay engine alone (issue 3's target: route events per second on one core, bytes
// per live MAC route). Input is decoded in batches outside the timed region, so only
// `ReplayEngine.process` (and, in a second pass, the analyzer's detectors) is on the clock.
// Batches are as large as `PrefetchedFeed`'s: events reach the engine as fresh in the cache as
// in `analyze`, not decoded long before.
// Prints one JSON object; `make bench` runs it.
import Analysis
import EVPNModel
import Foundation
import Ingest
import Replay

struct Measurement {
    var routeEvents = 0
    var seconds = 0.0
    var macs = 0, liveRoutes = 0, liveObservations = 0, stateBytes = 0
    var tables: [(table: String, bytes: Int)] = []
}

func run(_ paths: [String], withAnalyzer: Bool) throws -> Measurement {
    let inputs = try InputSet(paths: paths, evpnOnly: true)
    let engine = ReplayEngine()
    let analyzer = withAnalyzer ? Analyzer(engine: engine) : nil
    let pipeline = ReplayPipeline(engine: engine, analyzer: analyzer)
    let batchSize = PrefetchedFeed.defaultBatchSize
    var batch: [FeedItem] = []
    batch.reserveCapacity(batchSize)
    var routeEvents = 0
    var busy: UInt64 = 0
    var exhausted = false
    while !exhausted {
        batch.removeAll(keepingCapacity: true)
        while batch.count < batchSize {
            guard let item = inputs.next() else { exhausted = true; break }
            if case .route = item.payload { routeEvents += 1 }
            batch.append(item)
        }
        let start = DispatchTime.now().uptimeNanoseconds
        // The same pipeline `analyze` runs; items still in its read-ahead go on with the next batch.
        for item in batch { pipeline.push(item) }
        if exhausted { pipeline.drain() }
        busy += DispatchTime.now().uptimeNanoseconds - start
    }
    if let analyzer { _ = analyzer.finish() }
    return Measurement(
        routeEvents: routeEvents, seconds: Double(busy) / 1e9, macs: engine.macs.count, liveRoutes: engine.liveRoutes,
        liveObservations: engine.liveObservations, stateBytes: engine.stateBytes, tables: engine.stateBytesByTable)
}

// --engine-only skips the second pass, so peak RSS is the engine's alone.
let engineOnlyFlag = CommandLine.arguments.contains("--engine-only")
let paths = CommandLine.arguments.dropFirst().filter { $0 != "--engine-only" }
guard !paths.isEmpty else {
    FileHandle.standardError.write("usage: evpnscope-enginebench [--engine-only] INPUT...\n".data(using: .utf8)!)
    exit(2)
}
do {
    // The engine-only run comes first and is released before the second, so peak RSS is one engine's.
    let engineOnly = try run(paths, withAnalyzer: false)
    let withDetectors = engineOnlyFlag ? engineOnly : try run(paths, withAnalyzer: true)
    let fields: [(String, String)] = [
        ("route_events", "\(engineOnly.routeEvents)"),
        ("engine_seconds", String(format: "%.3f", engineOnly.seconds)),
        ("engine_route_events_per_second", String(format: "%.0f", Double(engineOnly.routeEvents) / engineOnly.seconds)),
        ("engine_and_detectors_seconds", String(format: "%.3f", withDetectors.seconds)),
        (
            "engine_and_detectors_route_events_per_second",
            String(format: "%.0f", Double(withDetectors.routeEvents) / withDetectors.seconds)
        ),
        ("macs", "\(engineOnly.macs)"),
        ("live_routes", "\(engineOnly.liveRoutes)"),
        ("live_observations", "\(engineOnly.liveObservations)"),
        ("state_bytes", "\(engineOnly.stateBytes)"),
        (
            "bytes_per_live_route",
            String(format: "%.1f", Double(engineOnly.stateBytes) / Double(max(engineOnly.liveRoutes, 1)))
        ),
        (
            "state_bytes_by_table",
            "{" + engineOnly.tables.map { "\"\($0.table)\":\($0.bytes)" }.joined(separator: ",") + "}"
        ),
    ]
    print("{" + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}")
} catch {
    FileHandle.standardError.write("evpnscope-enginebench: \(error)\n".data(using: .utf8)!)
    exit(1)
}
