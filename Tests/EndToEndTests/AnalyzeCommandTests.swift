import Foundation
import EVPNModel
import Generator
import Store
import Testing
import TestSupport

/// End to end through the built binary: scenario dumps (MRT gz/bz2, BMP) → analyze → the exact
/// findings of truth.json, the SQLite rows and the report.
let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()
/// The evpnscope built beside this test bundle (so `make check`'s sanitizer builds test their own binary).
let binary: String = {
    let sibling = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(
        "evpnscope"
    ).path
    return FileManager.default.isExecutableFile(atPath: sibling)
        ? sibling : repository.appendingPathComponent(".build/debug/evpnscope").path
}()

struct CommandResult { var status: Int32; var stdout: String; var stderr: String }

/// `directory`: the working directory (default: the repository). `timeout`: seconds after which
/// /usr/bin/timeout stops the run (exit 124), where a hang is the failure a test looks for.
func evpnscope(_ arguments: [String], in directory: String? = nil, timeout: Int? = nil) throws -> CommandResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: timeout == nil ? binary : "/usr/bin/timeout")
    process.arguments = timeout.map { ["\($0)", binary] + arguments } ?? arguments
    process.currentDirectoryURL = directory.map { URL(fileURLWithPath: $0) } ?? repository
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    // Drain stderr on its own thread: a child that fills one pipe while we wait on the other would hang.
    // The semaphore orders the drain thread's write before the read below.
    final class Drained: @unchecked Sendable { var data = Data() }
    let stderr = Drained()
    let drained = DispatchSemaphore(value: 0)
    Thread.detachNewThread {
        stderr.data = err.fileHandleForReading.readDataToEndOfFile(); drained.signal()
    }
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    drained.wait()
    process.waitUntilExit()
    return CommandResult(
        status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
        stderr: String(decoding: stderr.data, as: UTF8.self))
}

func scratch() -> String { Scratch.directory("e2e") }

func generateDemo(into directory: String, compression: String = "mixed") throws -> Truth {
    let result = try evpnscope([
        "generate", "datasets/scenarios/demo.json", "--out", directory, "--compression", compression,
    ])
    #expect(result.status == 0, "\(result.stderr)")
    let data = try Data(contentsOf: URL(fileURLWithPath: directory + "/truth.json"))
    return try JSONDecoder().decode(Truth.self, from: data)
}

/// Findings as comparable keys: rule, MAC, IP and the PE addresses.
func findingKeys(_ db: Database) throws -> [String] {
    let pes = Dictionary(uniqueKeysWithValues: try db.rows("SELECT id, address FROM pes").map { ($0[0]!, $0[1]!) })
    return try db.rows("SELECT rule, mac, ip, pes FROM findings").map { row in
        let ids: [String] = (row[3] ?? "").split(separator: " ").map(String.init)
        let addresses: [String] = ids.map { pes[$0]! }.sorted { IPv4Order($0).lexicographicallyPrecedes(IPv4Order($1)) }
        return "\(row[0]!) \(row[1] ?? "-") \(row[2] ?? "-") \(addresses.joined(separator: ","))"
    }.sorted()
}

func IPv4Order(_ text: String) -> [Int] { text.split(separator: ".").map { Int($0) ?? 0 } }

func truthKeys(_ truth: Truth) -> [String] {
    truth.findings.map { "\($0.rule) \($0.mac ?? "-") \($0.ip ?? "-") \($0.pes.joined(separator: ","))" }.sorted()
}

@Test(arguments: ["mixed", "bz2", "plain"])
func demoScenarioFindingsEqualTheGroundTruth(_ compression: String) throws {
    let directory = scratch()
    let truth = try generateDemo(into: directory + "/data", compression: compression)
    let result = try evpnscope([
        "analyze", directory + "/data/dumps", "--db", directory + "/a.sqlite", "--report", directory + "/report.md",
        "--json",
    ])
    #expect(result.status == 0, "\(result.stderr)")
    let db = try Database(path: directory + "/a.sqlite", readOnly: true)
    #expect(try findingKeys(db) == truthKeys(truth))
    let titles = try db.rows("SELECT title FROM incidents ORDER BY id").map { $0[0]! }
    #expect(titles.count == truth.incidents.count)
    for expected in truth.incidents {
        #expect(titles.contains { $0.hasPrefix(expected) }, "missing incident \(expected)")
    }
    // The summary JSON agrees with the database.
    #expect(result.stdout.contains("\"incidents\":[{\"id\":1,\"severity\":\"critical\",\"title\":\"Layer-2 loop"))
    let inputs = try db.rows("SELECT format, compression, damaged, sha256 FROM inputs ORDER BY path")
    #expect(inputs.count == 5)
    #expect(inputs.allSatisfy { $0[2] == "0" && ($0[3]?.count ?? 0) == 64 })
    #expect(Set(inputs.map { $0[0]! }) == ["mrt", "bmp"])
    // The replay counters are kept beside the settings.
    let counters = Dictionary(
        uniqueKeysWithValues: try db.rows("SELECT key, value FROM meta WHERE key LIKE 'engine.%'").map {
            ($0[0]!, Int($0[1]!) ?? -1)
        })
    #expect(counters.count == 12)
    // The demo's one RIB snapshot (one per router so far) withdraws nothing.
    #expect(counters["engine.rib-snapshots"] == 1 && counters["engine.snapshot-withdrawals"] == 0)
    #expect((counters["engine.mac-ip-announcements"] ?? 0) > 0 && counters["engine.copies-beyond-limit"] == 0)
    #expect(
        (counters["engine.evpn-routes"] ?? 0) >= counters["engine.mac-ip-announcements"]!
            && counters["engine.pe-conflicts"] == 0)
}

@Test func reportHasItsSectionsAndTheIncidentMACs() throws {
    let directory = scratch()
    _ = try generateDemo(into: directory + "/data")
    let result = try evpnscope([
        "analyze", directory + "/data/dumps", "--db", directory + "/a.sqlite", "--report", directory + "/report.md",
    ])
    #expect(result.status == 0, "\(result.stderr)")
    let report = try String(contentsOfFile: directory + "/report.md", encoding: .utf8)
    for section in [
        "# EVPN incident report", "## Summary", "## Incidents", "### Incident 1: Layer-2 loop", "```mermaid", "## PEs",
        "## Thresholds", "## Inputs", "## Decode errors", "### What the incidents mean", "probable cause:",
        "Next step:",
    ] {
        #expect(report.contains(section), "missing \(section)")
    }
    let db = try Database(path: directory + "/a.sqlite", readOnly: true)
    // The loop's MACs are listed with its incident (the first 30; the rest in the database).
    let loopMACs = try db.rows("SELECT macs FROM incidents WHERE id = 1")[0][0]!.split(separator: " ")
    #expect(loopMACs.count == 40)
    for mac in loopMACs.prefix(30) { #expect(report.contains("`\(mac)`")) }
    // `report` re-renders the same document from the database alone.
    let rerendered = try evpnscope(["report", "--db", directory + "/a.sqlite", "--out", "-"])
    #expect(rerendered.stdout == report)
    // `mac` prints one MAC's whole history.
    let flapping = try db.rows("SELECT mac FROM findings WHERE rule = 'DUP-MAC-FLAP' LIMIT 1")[0][0]!
    let history = try evpnscope(["mac", flapping, "--db", directory + "/a.sqlite"])
    #expect(history.status == 0)
    #expect(history.stdout.split(separator: "\n").filter { $0.contains(" → ") }.count == 6)
    #expect(history.stdout.contains("DUP-MAC-FLAP"))
}

@Test func reanalysingReplacesTheRunAndFailOnSetsTheExitStatus() throws {
    let directory = scratch()
    _ = try generateDemo(into: directory + "/data")
    let arguments = [
        "analyze", directory + "/data/dumps", "--db", directory + "/a.sqlite", "--report", directory + "/r.md",
    ]
    #expect(try evpnscope(arguments).status == 0)
    let first = try Database(path: directory + "/a.sqlite", readOnly: true).rows("SELECT count(*) FROM findings")[0][0]
    let again = try evpnscope(arguments + ["--fail-on", "critical", "--events", "none"])
    #expect(again.status == 1)
    let db = try Database(path: directory + "/a.sqlite", readOnly: true)
    #expect(try db.rows("SELECT count(*) FROM findings")[0][0] == first)
    #expect(try db.rows("SELECT count(*) FROM route_events")[0][0] == "0")
    #expect(try db.rows("SELECT count(*) FROM route_event_blocks")[0][0] == "0")
    #expect(!FileManager.default.fileExists(atPath: directory + "/a.sqlite.tmp-\(getpid())"))
    #expect(try evpnscope(["analyze", directory + "/missing"]).status == 2)
    #expect(try evpnscope(["analyze", directory + "/data/dumps", "--max-moves", "zero"]).status == 2)
    #expect(try evpnscope(["analyze", directory + "/data/dumps", "--window", "soon"]).status == 2)
}

@Test func damagedInputIsReportedAndEverythingBeforeItIsKept() throws {
    let directory = scratch()
    _ = try generateDemo(into: directory + "/data", compression: "gz")
    let mrt = directory + "/data/dumps/mrt"
    let first = try FileManager.default.contentsOfDirectory(atPath: mrt).filter { $0.hasPrefix("updates") }.sorted()[0]
    var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: mrt + "/" + first)))
    bytes.removeLast(bytes.count / 2)
    try Data(bytes).write(to: URL(fileURLWithPath: mrt + "/" + first))
    try Data("not a dump\n".utf8).write(to: URL(fileURLWithPath: mrt + "/README.txt"))
    let result = try evpnscope([
        "analyze", directory + "/data/dumps", "--db", directory + "/a.sqlite", "--report", directory + "/r.md",
    ])
    #expect(result.status == 3)
    #expect(result.stderr.contains(first))
    #expect(result.stderr.contains("README.txt"))
    let db = try Database(path: directory + "/a.sqlite", readOnly: true)
    let damaged = try db.rows("SELECT path FROM inputs WHERE damaged = 1").map { $0[0]! }.sorted()
    // README.txt is no dump: skipped with a notice, not damage (issue 19).
    #expect(damaged.count == 1)
    #expect(
        try db.rows("SELECT skipped FROM inputs WHERE path LIKE '%README.txt'")[0][0] == "text, not an MRT or BMP dump")
    #expect(try db.rows("SELECT count(*) FROM decode_errors WHERE kind = 'damage'")[0][0] != "0")
    // The BMP stream still carries the whole run: the loop is found from what was decoded.
    #expect(try db.rows("SELECT count(*) FROM findings WHERE rule = 'DUP-MAC-FLAP'")[0][0] == "41")
    let report = try String(contentsOfFile: directory + "/r.md", encoding: .utf8)
    #expect(report.contains("README.txt"))
    #expect(report.contains("not an MRT or BMP dump"))
}

@Test func decodeCommandPrintsEveryEVPNField() throws {
    let directory = scratch()
    _ = try generateDemo(into: directory + "/data", compression: "bz2")
    let result = try evpnscope(["decode", "--family", "evpn", directory + "/data/dumps/mrt"])
    #expect(result.status == 0)
    let lines = result.stdout.split(separator: "\n")
    let line = try #require(lines.first { $0.contains("\"seq\":1") && $0.contains("\"ip\"") })
    let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
    #expect(object["route_type"] as? Int == 2)
    #expect((object["rd"] as? String)?.hasPrefix("10.255.255.") == true)
    #expect(object["esi"] as? String == "00:00:00:00:00:00:00:00:00:00")
    #expect(
        object["label1"] as? Int == 10000 || object["label1"] as? Int == 10001 || object["label1"] as? Int == 10002
            || object["label1"] as? Int == 10003)
    #expect((object["route_targets"] as? [String])?.first?.hasPrefix("65000:4100") == true)
    #expect(object["originator_id"] as? String == object["next_hop"] as? String)
    #expect(object["sticky"] as? Bool == false)
    #expect(!lines.contains { $0.contains("\"family\":\"vpnv4\"") })
}

/// Every scenario file: the analysis of its generated dumps reports exactly its truth.json.
/// The real-router scenarios write what FRR and GoBGP write (one-second timestamps, withdrawal
/// first, withdraw-only BMP, seq 0 on a first move); the larger scales keep the truth honest when
/// each MAC's share of the moves changes.
@Test(arguments: [
    ("steady-fabric", 1), ("layer2-loop", 1), ("duplicate-mac", 1), ("stale-routes", 1), ("sequence-anomalies", 1),
    ("false-positive-traps", 1), ("real-routers-frr", 1), ("real-routers-gobgp", 1),
    ("duplicate-mac", 10), ("layer2-loop", 10), ("real-routers-frr", 10),
])
func scenarioFindingsEqualTheirTruth(_ name: String, _ scale: Int) throws {
    let directory = scratch()
    let generated = try evpnscope([
        "generate", "datasets/scenarios/\(name).json", "--out", directory + "/data", "--scale", "\(scale)",
    ])
    #expect(generated.status == 0, "\(generated.stderr)")
    let truth = try JSONDecoder().decode(
        Truth.self, from: Data(contentsOf: URL(fileURLWithPath: directory + "/data/truth.json")))
    let result = try evpnscope([
        "analyze", directory + "/data/dumps", "--db", directory + "/a.sqlite", "--report", directory + "/r.md",
        "--events", "none",
    ])
    #expect(result.status == 0, "\(result.stderr)")
    let db = try Database(path: directory + "/a.sqlite", readOnly: true)
    #expect(try findingKeys(db) == truthKeys(truth))
    let quality = Set(try db.rows("SELECT rule FROM data_quality").map { $0[0]! })
    #expect(quality == Set(truth.dataQuality ?? []), "\(quality)")
    let titles = try db.rows("SELECT title FROM incidents").map { $0[0]! }
    #expect(titles.count == truth.incidents.count, "\(titles)")
    for expected in truth.incidents {
        #expect(titles.contains { $0.hasPrefix(expected) }, "missing incident \(expected) in \(titles)")
    }
}

/// Every route event reaches the route_events table (`--events table`, written on the writer
/// thread, with text kept by value between rows) and the compressed blocks (`--events compact`,
/// the default; read back with `StoredEvents`, as `events` and `mac` do) as `decode` prints it, once per advertisement
/// (ID-3): a row is
/// the first sighting, in decode's order and with its fields; every other decoded event is a
/// copy of a row less than 1 s older, seen at another observation point of that row's `seen_at`.
@Test func storedRouteEventsMatchTheDecodedEvents() throws {
    let directory = scratch()
    _ = try generateDemo(into: directory + "/data", compression: "gz")
    let input = directory + "/data/dumps/mrt"
    let analysis = try evpnscope([
        "analyze", input, "--db", directory + "/a.sqlite", "--report", directory + "/r.md", "--events", "table",
    ])
    #expect(analysis.status == 0, "\(analysis.stderr)")
    let decoded = try evpnscope(["decode", "--family", "evpn", input])
    #expect(decoded.status == 0)

    func text(_ value: Any?) -> String {
        switch value {
        case let list as [String]: return list.joined(separator: " ")
        case let number as NSNumber: return number.stringValue
        case let string as String: return string
        default: return "-"
        }
    }
    let fields = [
        "time_us", "byte_offset", "event", "route_type", "rd", "esi", "eth_tag", "mac", "ip", "seq", "route_targets",
        "originator_id",
    ]
    var expected: [[String]] = []
    for line in decoded.stdout.split(separator: "\n") {
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        guard object["family"] as? String == "l2vpn-evpn" else { continue }  // session events
        var row = fields.map { text(object[$0]) }
        if row[8] == "-" { row[8] = text(object["originating_ip"]) }  // types 3 and 4 keep it in the ip column
        if object["event"] as? String == "withdraw" {
            row[9] = "-"; row[10] = "-"; row[11] = "-"
        } else if row[10] == "-" {
            row[10] = ""
        }
        row.append(object["event"] as? String == "withdraw" ? "-" : text(object["next_hop"]))
        expected.append(row)
    }
    let db = try Database(path: directory + "/a.sqlite", readOnly: true)
    let storedRows = try db.rows(
        """
        SELECT time_us, byte_offset, event, route_type, rd, esi, eth_tag, mac, ip, seq, route_targets, originator_id, \
        next_hop, seen_at
        FROM route_events WHERE family = 'l2vpn-evpn' ORDER BY rowid
        """)
    let stored = storedRows.map { Array($0.prefix(13)).map { $0 ?? "-" } }
    #expect(
        stored.count > 1000 && stored.count * 3 < expected.count * 2,
        "\(stored.count) rows for \(expected.count) decoded events")
    // What an advertisement is, without where and when it was seen.
    func advertisement(_ row: [String]) -> String { ([row[2]] + row[3...]).joined(separator: "|") }
    var next = 0
    var copies = 0
    var latestRow: [String: Int] = [:]  // advertisement → the index of its latest stored row
    for event in expected {
        if next < stored.count && stored[next] == event {
            latestRow[advertisement(event)] = next
            next += 1
            continue
        }
        let row = try #require(
            latestRow[advertisement(event)].map { stored[$0] }, "decoded event \(event) is neither stored nor a copy")
        #expect(Int64(event[0])! - Int64(row[0])! <= 1_000_000, "copy \(event) more than 1 s after \(row)")
        copies += 1
    }
    #expect(
        next == stored.count, "stored row \(next) is not a decoded event: \(next < stored.count ? stored[next] : [])")
    // Every copy adds its observation point to the row's seen_at (a repeat at the same point adds nothing).
    let sightings = storedRows.reduce(0) { $0 + ($1[13] ?? "").split(separator: " ").count }
    #expect(sightings > stored.count && sightings <= stored.count + copies)
    #expect(
        storedRows.allSatisfy { row in
            (row[13] ?? "").split(separator: " ").count == Set((row[13] ?? "").split(separator: " ")).count
        })

    // The blocks hold exactly the table's rows, every family, in order.
    let table = try db.rows(
        "SELECT \(StoredRouteEvent.columnNames.joined(separator: ", ")) FROM route_events ORDER BY rowid")
    var blocks: [[String?]] = []
    try StoredEvents(db: db).forEach { blocks.append($0.columnTexts) }
    #expect(blocks.count == table.count && table.count > storedRows.count)
    for (index, (block, row)) in zip(blocks, table).enumerated() where block != row {
        Issue.record("event \(index): blocks \(block), table \(row)")
        break
    }
    // The default database has the blocks only, and `mac` and `events` read them.
    let mac = try #require(stored.first { $0[7] != "-" }?[7])
    let compact = try evpnscope(["analyze", input, "--db", directory + "/c.sqlite", "--report", directory + "/c.md"])
    #expect(compact.status == 0)
    let compactDB = try Database(path: directory + "/c.sqlite", readOnly: true)
    #expect(try compactDB.rows("SELECT count(*) FROM route_events")[0][0] == "0")
    var macEvents: [StoredRouteEvent] = []
    try StoredEvents(db: compactDB).forEach(mac: MACAddress(mac)!) { macEvents.append($0) }
    #expect(macEvents.map(\.columnTexts) == table.filter { $0[10] == mac })
    let printed = try evpnscope(["events", "--db", directory + "/c.sqlite", "--mac", mac, "--format", "csv"])
    #expect(
        printed.status == 0 && printed.stdout.split(separator: "\n").count == macEvents.count + 1, "\(printed.stdout)")
    let history = try evpnscope(["mac", mac, "--db", directory + "/c.sqlite"])
    #expect(history.stdout.contains("route events (\(macEvents.count)):"), "\(history.stdout)")
    // An empty window is a usage error, as in analyze (one options group for both).
    let empty = try evpnscope([
        "events", "--db", directory + "/c.sqlite", "--since", "2026-11-24T03:00Z", "--until", "2026-11-24T02:00Z",
    ])
    #expect(empty.status == 2 && empty.stderr.contains("is not before --until"), "\(empty.stderr)")
}

/// The statements of the first ```sql block of a Markdown file in the repository.
func sqlQueries(inDocument path: String) throws -> [String] {
    let text = try String(contentsOf: repository.appendingPathComponent(path), encoding: .utf8)
    let sql = try #require(
        text.components(separatedBy: "```sql\n").dropFirst().first?.components(separatedBy: "```").first)
    return sql.components(separatedBy: ";").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter {
        !$0.isEmpty
    }
}

/// The README's SQL questions and its `events` example answer from a default database (route
/// events compact, issue 19): every query runs, and the MAC the README follows has moves and
/// route events in the demo.
@Test func readmeQueriesAnswerFromTheDefaultDatabase() throws {
    let directory = scratch()
    let db = directory + "/analysis.sqlite"
    #expect(try evpnscope(["analyze", "datasets/demo/dumps", "--db", db, "--report", directory + "/r.md"]).status == 0)
    let queries = try sqlQueries(inDocument: "README.md")
    #expect(queries.count == 3)
    let database = try Database(path: db, readOnly: true)
    var answers: [Int] = []
    for query in queries { answers.append(try database.rows(query).count) }
    #expect(answers[0] > 0 && answers[1] > 0, "\(answers)")
    let readme = try String(contentsOf: repository.appendingPathComponent("README.md"), encoding: .utf8)
    let line = try #require(readme.split(separator: "\n").first { $0.hasPrefix("evpnscope events ") })
    let arguments = line.split(separator: " ").dropFirst().map(String.init).map {
        $0 == "reports/demo/analysis.sqlite" ? db : $0
    }
    let events = try evpnscope(arguments)
    #expect(events.status == 0 && events.stdout.split(separator: "\n").count > 4, "\(events.stdout)\(events.stderr)")
    #expect(events.stdout.split(separator: "\n").allSatisfy { $0.contains(" mac 02:03:00:00:00:1e") })
}

/// ID-3: a stored event names the observation point it was seen at as soon as the replay knows
/// that point. Quagga's dump (a real router's) has two peers. 192.168.0.10 announces unicast
/// and VPNv4 prefixes first: the replay tracks its point from its first VPN host route
/// (10.0.0.1/32, the fourth prefix of the UPDATE at byte 811) on, and every later event of that
/// peer names it, its session's IPv4 and IPv6 unicast re-announcements included. fd02::10 only
/// announces IPv6 unicast, which the replay does not track: its events name no point. An earlier
/// build looked the point up once per run of events from one peer and kept the answer, so the
/// events after byte 811 were stored without their point.
@Test func storedEventsNameTheirObservationPointOnceKnown() throws {
    let directory = scratch()
    let input = publicData + "/mrtparse-samples/quagga_bgp"
    let analysis = try evpnscope(["analyze", input, "--db", directory + "/a.sqlite", "--report", directory + "/r.md"])
    #expect([0, 4].contains(analysis.status), "\(analysis.stderr)")
    let db = try Database(path: directory + "/a.sqlite", readOnly: true)
    #expect(try db.rows("SELECT peer_ip FROM observation_points WHERE id = 0") == [["192.168.0.10"]])
    var named: [Int64] = [], unnamed: [Int64] = []
    try StoredEvents(db: db).forEach { event in
        if let observation = event.observation {
            #expect(observation == 0)
            named.append(event.source.offset)
        } else {
            unnamed.append(event.source.offset)
        }
    }
    #expect(unnamed == [478, 478, 478, 628, 628, 628, 811, 811, 811, 1939, 1939, 1939, 5194, 5194, 5194])
    #expect(
        named == [811] + Array(repeating: 1030, count: 4) + [3733, 3733, 3733, 3883, 3883, 3883]
            + Array(repeating: 4066, count: 4) + Array(repeating: 4285, count: 4))
}
