import Foundation
import Analysis
import Ingest
import Store
import Testing

/// Issue 21: what a newcomer reads and types — the docs in the repository, help texts, names.

/// docs/schema.md names every table and every column the tool creates.
@Test func schemaDocumentationCoversEveryTableAndColumn() throws {
    let docs = try String(contentsOf: repository.appendingPathComponent("docs/schema.md"), encoding: .utf8)
    let directory = scratch()
    let db = try Database(path: directory + "/empty.sqlite")
    try db.execute(Schema.create)
    let tables = try db.rows("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").compactMap { $0[0] }
    #expect(tables.count >= 15)
    for table in tables {
        #expect(docs.contains("### \(table) "), "docs/schema.md has no section for \(table)")
        for column in try db.rows("SELECT name FROM pragma_table_info('\(table)')").compactMap({ $0[0] }) {
            #expect(docs.contains("`\(column)`"), "docs/schema.md does not name \(table).\(column)")
        }
    }
}

/// Users never see the project's spec folder: nothing they read points there.
@Test func nothingUsersReadPointsOutsideTheRepository() throws {
    var texts = ["README.md"]
    for folder in ["docs", "Sources"] {
        let root = repository.appendingPathComponent(folder)
        for case let file as URL in FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil)!
        where ["md", "swift"].contains(file.pathExtension) {
            texts.append(folder + "/" + file.path.dropFirst(root.path.count + 1))
        }
    }
    for path in texts {
        let text = try String(contentsOf: repository.appendingPathComponent(path), encoding: .utf8)
        #expect(!text.contains("../shared") && !text.contains("shared/docs"), "\(path) points at ../shared")
    }
    for doc in ["docs/rules.md", "docs/schema.md", "docs/architecture.md"] {
        #expect(
            FileManager.default.fileExists(atPath: repository.appendingPathComponent(doc).path), "\(doc) is missing")
    }
}

@Test func versionAndAnExampleInEveryHelp() throws {
    let version = try evpnscope(["--version"])
    #expect(
        version.status == 0
            && version.stdout.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ".").count == 3,
        "\(version)")
    for command in ["analyze", "decode", "replay", "report", "mac", "events", "generate"] {
        let help = try evpnscope([command, "--help"])
        #expect(
            help.status == 0 && help.stdout.contains("Example: evpnscope \(command)"),
            "\(command) --help has no example")
    }
    let root = try evpnscope(["--help"])
    #expect(root.stdout.contains("docs/rules.md") && root.stdout.contains("docs/schema.md"))
}

@Test func generateTakesAScenarioNameAndListsThemOnAMiss() throws {
    let directory = scratch()
    let named = try evpnscope(["generate", "duplicate-mac", "--out", directory + "/dup"], in: directory)
    #expect(named.status == 0, "\(named.stderr)")
    #expect(FileManager.default.fileExists(atPath: directory + "/dup/truth.json"))
    let miss = try evpnscope(["generate", "duplicate-macs", "--out", directory + "/x"], in: directory)
    #expect(miss.status == 2)
    #expect(
        miss.stderr.contains("no scenario 'duplicate-macs'")
            && miss.stderr.contains("duplicate-mac, false-positive-traps"), "\(miss.stderr)")
    #expect(!miss.stderr.contains("NSCocoaErrorDomain"))
}

/// One vocabulary: decode's keys are the database's column names, a BGP identifier is printed
/// only where the input carries one (BMP's per-peer header, not BGP4MP), and a BMP router is
/// named by the sysName of its Initiation.
@Test func decodeKeysAreTheDatabaseColumnNames() throws {
    let decoded = try evpnscope(["decode", "datasets/demo/dumps", "--family", "evpn"])
    #expect(decoded.status == 0)
    var sawUpdates = false, sawRIB = false, sawBMP = false
    for line in decoded.stdout.split(separator: "\n") {
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["byte_offset"] is Int && object["offset"] == nil)
        #expect(object["mm_seq"] == nil && object["table"] == nil)
        let table = object["table_name"] as? String
        let file = object["file"] as? String ?? ""
        if file.contains("/updates.") {
            sawUpdates = true; #expect(object["peer_bgp_id"] == nil, "BGP4MP has no BGP identifier: \(line)")
        }
        if file.contains("/bview.") {
            sawRIB = true; #expect(object["peer_bgp_id"] is String, "the RIB's peer index names it")
        }
        if table?.hasPrefix("adj-rib") == true && object["family"] != nil {
            sawBMP = true
            #expect(object["peer_bgp_id"] is String)
            #expect(object["router_name"] as? String == "rr1", "the BMP router named by its Initiation's sysName")
        }
        if let seq = object["seq"] { #expect(seq is Int && object["sticky"] is Bool) }
    }
    #expect(sawUpdates && sawRIB && sawBMP)
}

/// Every query docs/schema.md shows runs on a default database of the demo and answers.
@Test func schemaDocumentationQueriesRun() throws {
    let directory = scratch()
    let db = directory + "/analysis.sqlite"
    #expect(try evpnscope(["analyze", "datasets/demo/dumps", "--db", db, "--report", directory + "/r.md"]).status == 0)
    let queries = try sqlQueries(inDocument: "docs/schema.md")
    #expect(queries.count >= 6)
    let database = try Database(path: db, readOnly: true)
    for query in queries { #expect(try !database.rows(query).isEmpty, "no answer: \(query)") }
}

/// decode's filters keep exactly the lines a jq filter over the full output keeps; RIB snapshot
/// entries are told apart from updates.
@Test func decodeFiltersKeepWhatTheyName() throws {
    let full = try evpnscope(["decode", "datasets/demo/dumps"])
    #expect(full.status == 0)
    let lines = full.stdout.split(separator: "\n").map(String.init)
    let objects = try lines.map {
        try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
    }
    func expect(_ arguments: [String], _ keep: ([String: Any]) -> Bool, atLeast: Int) throws {
        let filtered = try evpnscope(["decode", "datasets/demo/dumps"] + arguments)
        #expect(filtered.status == 0, "\(filtered.stderr)")
        let expected = zip(lines, objects).filter { keep($0.1) }.map(\.0)
        #expect(filtered.stdout.split(separator: "\n").map(String.init) == expected, "\(arguments)")
        #expect(expected.count >= atLeast, "\(arguments): \(expected.count) lines")
    }
    let mac = "02:03:00:00:00:1e"
    try expect(["--mac", mac], { $0["mac"] as? String == mac && $0["route_type"] as? Int == 2 }, atLeast: 50)
    try expect(
        ["--rd", "10.255.255.2:41000", "--route-type", "3"],
        { $0["rd"] as? String == "10.255.255.2:41000" && $0["route_type"] as? Int == 3 }, atLeast: 2)
    try expect(["--peer", "10.255.255.3"], { $0["peer_ip"] as? String == "10.255.255.3" }, atLeast: 100)
    let (since, until): (Int64, Int64) = (1_795_485_840_000_000, 1_795_485_900_000_000)  // 02:04 to 02:05
    try expect(
        ["--since", "2026-11-24T02:04Z", "--until", "2026-11-24T02:05Z"],
        {
            let time = ($0["time_us"] as? NSNumber)?.int64Value ?? 0
            return time >= since && time <= until
        }, atLeast: 100)
    #expect(try evpnscope(["decode", "datasets/demo/dumps", "--route-type", "6"]).status == 2)
    for object in objects where object["family"] != nil {
        let fromRIB = (object["file"] as? String)?.contains("/bview.") == true
        #expect((object["rib_entry"] as? Bool == true) == fromRIB, "\(object)")
    }
}

/// bgpdump skips EVPN; `--format bgpdump` gives each EVPN route a line of the same shape, the
/// route in brackets as the prefix, extended communities after the standard ones.
@Test func bgpdumpFormatGivesEVPNRoutesLinesOfTheSameShape() throws {
    let file = "datasets/demo/dumps/mrt/updates.20261124.0215.gz"
    let lines = try evpnscope(["decode", "--format", "bgpdump", file]).stdout.split(separator: "\n")
    let json = try evpnscope(["decode", file]).stdout.split(separator: "\n").filter {
        $0.contains("\"family\":\"l2vpn-evpn\"")
    }
    #expect(lines.count == json.count && lines.count > 100)
    #expect(
        lines.first.map(String.init)
            == "BGP4MP_ET|1795486560.000000|A|10.255.0.1|65000|[2][10.255.255.1:41000]"
            + "[00:00:00:00:00:00:00:00:00:00][0]"
            + "[02:00:00:00:00:00]||IGP|10.255.255.1|100|0|rt:65000:41000 encap:vxlan|NAG||")
    #expect(lines.contains { $0.contains("|A|") && $0.contains("mac-mobility:seq=6") })
    // Withdrawals end after the prefix; add-path lines (_AP) carry the path id after it.
    #expect(
        lines.allSatisfy { line in
            let label = line.prefix { $0 != "|" }
            return line.split(separator: "|", omittingEmptySubsequences: false).count
                == (line.contains("|W|") ? 6 : 15) + (label.hasSuffix("_AP") && !line.contains("|W|") ? 1 : 0)
        })
}

/// Routes an unreadable attribute cost are named on stderr, not dropped without a word: BIRD's
/// dumps put add-path NLRI in records that declare none, and the six MP_REACH_NLRI of
/// bird6_bgp cannot be read (bgpdump prints garbage prefixes for them). Each gets the file, the
/// byte offset and what was expected; the decoded lines and the exit status stay.
@Test func decodeNamesEveryAttributeItCouldNotRead() throws {
    let file = "\(publicData)/mrtparse-samples/bird6_bgp"
    let run = try evpnscope(["decode", "--format", "bgpdump", file])
    #expect(run.status == 0)
    #expect(run.stdout.split(separator: "\n").count == 12)  // the STATE lines
    let problems = run.stderr.split(separator: "\n").filter { $0.hasPrefix("evpnscope: attribute problem: ") }
    #expect(problems.count == 6)
    #expect(
        problems.first.map(String.init)
            == "evpnscope: attribute problem: \(file) at byte 708: attribute 14 (mp-nlri-unparseable): "
            + "prefix length at byte 708: expected at most 128, found 253")
}

/// bgpdump labels come from the record, not the table: BGP4MP MESSAGE_LOCAL (what a router sent,
/// observed as adj-rib-out) is BGP4MP, and only BMP messages are labelled BMP.
@Test func bgpdumpLabelsFollowTheRecordKind() throws {
    #expect(BgpdumpFormatter.label(.update, addPath: false) == "BGP4MP")
    #expect(BgpdumpFormatter.label(.updateET, addPath: true) == "BGP4MP_ET_AP")
    #expect(BgpdumpFormatter.label(.bmp, addPath: false) == "BMP")
    let bmp = try evpnscope(["decode", "--format", "bgpdump", "datasets/demo/dumps/bmp"]).stdout.split(separator: "\n")
    #expect(!bmp.isEmpty && bmp.allSatisfy { $0.hasPrefix("BMP|") })
}

/// Issue 22: every rule is one detector in Sources/Analysis/Rules/, named in docs/architecture.md,
/// whose comment opens with the rule's ID and which reports that rule.
@Test func architectureNamesEachRulesDetectorFile() throws {
    let architecture = try String(
        contentsOf: repository.appendingPathComponent("docs/architecture.md"), encoding: .utf8)
    for rule in Rule.allCases {
        let row = architecture.split(separator: "\n").first { $0.hasPrefix("| \(rule.rawValue) | `") }
        let file = row.flatMap { $0.split(separator: "`").dropFirst().first }.map(String.init)
        #expect(file != nil, "docs/architecture.md has no row naming the file of \(rule.rawValue)")
        guard let file else { continue }
        let source = try String(
            contentsOf: repository.appendingPathComponent("Sources/Analysis/Rules/" + file), encoding: .utf8)
        #expect(source.contains("/// \(rule.rawValue) ("), "\(file) does not open with \(rule.rawValue)")
        #expect(source.contains("static let rule = Rule.\(rule)"), "\(file) is not \(rule.rawValue)'s detector")
    }
}

/// Issue 22: no source file over 500 lines, no line over 120 columns (docs/architecture.md, Layout).
@Test func sourcesStayWithinTheLayoutLimits() throws {
    var checked = 0
    for folder in ["Sources", "Tests", "Fuzz"] {
        let root = repository.appendingPathComponent(folder)
        for case let file as URL in FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil)!
        where file.pathExtension == "swift" {
            let text = try String(contentsOf: file, encoding: .utf8)
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            let name = folder + "/" + file.path.dropFirst(root.path.count + 1)
            #expect(lines.count <= 500, "\(name) has \(lines.count) lines")
            for (index, line) in lines.enumerated() where line.count > 120 {
                Issue.record("\(name):\(index + 1) is \(line.count) columns")
            }
            checked += 1
        }
    }
    #expect(checked > 100)
}
