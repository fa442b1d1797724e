import Foundation
import Store
import Testing

/// Issue 19: a run never loses earlier results, never reports an error as findings (exit 1),
/// cleans up after itself when interrupted, and does not silently replace another analysis.

private func contents(_ path: String) -> Data? { FileManager.default.contents(atPath: path) }

private func temporaries(in directory: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.contains(".tmp-") }
}

/// A scenario large enough that the debug build takes seconds, so a signal lands mid-run.
private func slowInput(_ directory: String) throws -> String {
    let result = try evpnscope([
        "generate", "datasets/scenarios/steady-fabric.json", "--out", directory + "/slow", "--scale", "20",
    ])
    #expect(result.status == 0, "\(result.stderr)")
    return directory + "/slow/dumps"
}

/// An earlier run's database and report, to check that failures leave them as they were.
private func earlierRun(
    _ directory: String, events: String = "compact"
) throws -> (db: String, report: String, dbBytes: Data, reportBytes: Data) {
    let db = directory + "/out/analysis.sqlite", report = directory + "/out/report.md"
    let result = try evpnscope(["analyze", "datasets/demo/dumps", "--db", db, "--report", report, "--events", events])
    #expect(result.status == 0, "\(result.stderr)")
    return (db, report, try #require(contents(db)), try #require(contents(report)))
}

@Test func unwritableOutputsHaveTheirOwnExitStatusAndNameThePath() throws {
    let directory = scratch()
    let earlier = try earlierRun(directory)
    try Data("a file, not a folder".utf8).write(to: URL(fileURLWithPath: directory + "/blocker"))
    // The database's folder cannot be made: exit 5 (never 1, the findings status), before any replay.
    let badDB = try evpnscope([
        "analyze", "datasets/demo/dumps", "--db", directory + "/blocker/a.sqlite", "--report", earlier.report,
    ])
    #expect(badDB.status == 5)
    #expect(
        badDB.stderr.contains("cannot write \(directory)/blocker/a.sqlite") && badDB.stderr.contains("is not a folder"),
        "\(badDB.stderr)")
    #expect(!badDB.stdout.contains("findings"))
    // The report cannot be written: the database is not replaced either.
    let badReport = try evpnscope([
        "analyze", "datasets/demo/dumps", "--events", "none", "--db", earlier.db, "--report",
        directory + "/blocker/r.md",
    ])
    #expect(badReport.status == 5)
    #expect(badReport.stderr.contains("\(directory)/blocker/r.md"))
    #expect(contents(earlier.db) == earlier.dbBytes && contents(earlier.report) == earlier.reportBytes)
    // A folder where the database should be.
    let folder = try evpnscope([
        "analyze", "datasets/demo/dumps", "--db", directory + "/out", "--report", directory + "/x.md",
    ])
    #expect(folder.status == 5 && folder.stderr.contains("is a folder"))
    // One file for both outputs is a usage error.
    #expect(
        try evpnscope(["analyze", "datasets/demo/dumps", "--db", directory + "/same", "--report", directory + "/same"])
            .status == 2)
    #expect(temporaries(in: directory + "/out").isEmpty)
    // The exit statuses are documented where users look.
    let help = try evpnscope(["analyze", "--help"]).stdout
    for status in [
        "0 no finding", "1 findings", "2 usage", "3 an input was", "4 no input", "5 the run failed", "130 / 143",
    ] {
        #expect(
            help.replacingOccurrences(of: "\n", with: " ").replacingOccurrences(of: "  ", with: " ").contains(status),
            "help lacks \(status)")
    }
    let readme = try String(contentsOf: repository.appendingPathComponent("README.md"), encoding: .utf8)
    #expect(readme.contains("`5`") && readme.contains("`130`") && readme.contains("`143`"))
}

@Test(arguments: [(SIGINT, Int32(130)), (SIGTERM, Int32(143))])
func interruptRemovesTemporariesAndKeepsEarlierResults(_ signalNumber: Int32, _ expected: Int32) throws {
    let directory = scratch()
    let earlier = try earlierRun(directory)
    let input = try slowInput(directory)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: binary)
    process.arguments = ["analyze", input, "--db", earlier.db, "--report", earlier.report]
    process.currentDirectoryURL = repository
    let err = Pipe()
    process.standardError = err
    process.standardOutput = FileHandle.nullDevice
    try process.run()
    // The signal lands while the temporary database is being written.
    let temporary = earlier.db + ".tmp-\(process.processIdentifier)"
    let deadline = Date().addingTimeInterval(60)
    while !FileManager.default.fileExists(atPath: temporary) && process.isRunning && Date() < deadline {
        usleep(20_000)
    }
    #expect(FileManager.default.fileExists(atPath: temporary), "the run never started its database")
    usleep(300_000)
    kill(process.processIdentifier, signalNumber)
    let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    #expect(process.terminationReason == .exit && process.terminationStatus == expected, "\(stderr)")
    #expect(
        stderr.contains("interrupted: earlier results in \(earlier.db) and \(earlier.report) untouched"), "\(stderr)")
    #expect(temporaries(in: directory + "/out").isEmpty)
    #expect(contents(earlier.db) == earlier.dbBytes && contents(earlier.report) == earlier.reportBytes)
}

@Test func aKilledRunsTemporariesAreRemovedByTheNextRun() throws {
    let directory = scratch()
    let earlier = try earlierRun(directory)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: binary)
    process.arguments = ["analyze", try slowInput(directory), "--db", earlier.db, "--report", earlier.report]
    process.currentDirectoryURL = repository
    process.standardError = FileHandle.nullDevice
    process.standardOutput = FileHandle.nullDevice
    try process.run()
    let temporary = earlier.db + ".tmp-\(process.processIdentifier)"
    let deadline = Date().addingTimeInterval(60)
    while !FileManager.default.fileExists(atPath: temporary) && process.isRunning && Date() < deadline {
        usleep(20_000)
    }
    kill(process.processIdentifier, SIGKILL)
    process.waitUntilExit()
    #expect(FileManager.default.fileExists(atPath: temporary), "kill -9 leaves the temporary behind")
    // A live run's temporary (this test process's pid) must survive the sweep.
    let live = earlier.db + ".tmp-\(getpid())"
    try Data("live".utf8).write(to: URL(fileURLWithPath: live))
    let next = try evpnscope(["analyze", "datasets/demo/dumps", "--db", earlier.db, "--report", earlier.report])
    #expect(next.status == 0, "\(next.stderr)")
    #expect(temporaries(in: directory + "/out") == [(live as NSString).lastPathComponent])
}

/// A real full disk: a 1 MiB tmpfs holds the earlier run (no route events) but not a run that
/// stores every event. Needs root to mount; skipped with a note otherwise.
@Test func aFullDiskIsAClearErrorAndTheEarlierDatabaseStays() throws {
    let directory = scratch()
    let disk = directory + "/disk"
    try FileManager.default.createDirectory(atPath: disk, withIntermediateDirectories: true)
    let mount = Process()
    mount.executableURL = URL(fileURLWithPath: "/bin/mount")
    mount.arguments = ["-t", "tmpfs", "-o", "size=1m", "tmpfs", disk]
    mount.standardError = FileHandle.nullDevice
    try mount.run()
    mount.waitUntilExit()
    guard mount.terminationStatus == 0 else {
        print("aFullDiskIsAClearErrorAndTheEarlierDatabaseStays: cannot mount a tmpfs here (not root?), not run")
        return
    }
    defer {
        let umount = Process()
        umount.executableURL = URL(fileURLWithPath: "/bin/umount")
        umount.arguments = [disk]
        try? umount.run()
        umount.waitUntilExit()
    }
    let db = disk + "/analysis.sqlite", report = disk + "/report.md"
    let first = try evpnscope(["analyze", "datasets/demo/dumps", "--db", db, "--report", report, "--events", "none"])
    #expect(first.status == 0, "\(first.stderr)")
    let earlierDB = try #require(contents(db)), earlierReport = try #require(contents(report))
    // Route events as table rows do not fit in the 1 MiB that is left (the compact default would).
    let full = try evpnscope(["analyze", "datasets/demo/dumps", "--db", db, "--report", report, "--events", "table"])
    #expect(full.status == 5)
    #expect(full.stderr.contains("cannot write \(db)") && full.stderr.contains("full"), "\(full.stderr)")
    #expect(contents(db) == earlierDB && contents(report) == earlierReport)
    #expect(temporaries(in: disk).isEmpty)
    #expect(
        try Database(path: db, readOnly: true).rows("SELECT value FROM meta WHERE key = 'option.events'")[0][0]
            == "none")
}

@Test func twoFoldersOfOneNameAreTwoRuns() throws {
    let directory = scratch()
    for site in ["site-a", "site-b"] {
        try FileManager.default.createDirectory(atPath: "\(directory)/\(site)", withIntermediateDirectories: true)
        try FileManager.default.copyItem(
            atPath: repository.appendingPathComponent("datasets/demo/dumps").path, toPath: "\(directory)/\(site)/dumps")
    }
    // site-b's dumps lose their BMP stream, so the two runs differ.
    try FileManager.default.removeItem(atPath: directory + "/site-b/dumps/bmp")
    let a = try evpnscope(["analyze", "site-a/dumps"], in: directory)
    #expect(a.status == 0 && a.stdout.contains("reports/dumps/analysis.sqlite"), "\(a.stderr)")
    let b = try evpnscope(["analyze", "site-b/dumps"], in: directory)
    #expect(b.status == 0, "\(b.stderr)")
    #expect(b.stderr.contains("reports/dumps/ holds the run of other inputs (\(directory)/site-a/dumps"), "\(b.stderr)")
    let bName = try #require(
        b.stdout.split(separator: "\n").first { $0.contains("database") }?.split(separator: " ").last.map(String.init))
    #expect(bName.hasPrefix("reports/dumps-") && bName != "reports/dumps/analysis.sqlite")
    // Both analyses are there, each with its own inputs.
    let inputsA = try Database(path: directory + "/reports/dumps/analysis.sqlite", readOnly: true).rows(
        "SELECT count(*) FROM inputs")[0][0]
    let inputsB = try Database(path: directory + "/" + bName, readOnly: true).rows("SELECT count(*) FROM inputs")[0][0]
    #expect(inputsA == "5" && inputsB == "4")
    // Running site-b again finds its own run and replaces it without a warning; the same name for
    // another folder says what it replaces.
    let again = try evpnscope(["analyze", "site-b/dumps"], in: directory)
    #expect(again.stdout.contains(bName) && !again.stderr.contains("replacing"), "\(again.stderr)")
    let named = try evpnscope(["analyze", "site-b/dumps", "--name", "dumps"], in: directory)
    #expect(
        named.status == 0
            && named.stderr.contains(
                "replacing reports/dumps/analysis.sqlite, the run of other inputs (\(directory)/site-a/dumps")
    )
}

@Test func filesThatAreNotDumpsAreSkippedWithOneNotice() throws {
    let directory = scratch()
    let truth = try generateDemo(into: directory + "/data")
    let dumps = directory + "/data"
    try Data("# notes about these dumps\n".utf8).write(to: URL(fileURLWithPath: dumps + "/dumps/README.txt"))
    try Data().write(to: URL(fileURLWithPath: dumps + "/dumps/mrt/empty.mrt"))
    try Data("{}".utf8).write(to: URL(fileURLWithPath: dumps + "/dumps/bmp/x"))
    // The generator's folder as it is: dumps plus truth.json.
    let result = try evpnscope(["analyze", dumps, "--db", directory + "/a.sqlite", "--report", directory + "/r.md"])
    #expect(result.status == 0, "\(result.stderr)")
    let notices = result.stderr.split(separator: "\n").filter { $0.contains("skipped") }
    #expect(notices.count == 1)
    for name in ["README.txt (text, not an MRT or BMP dump)", "empty.mrt (empty)", "truth.json (text", "bmp/x ("] {
        #expect(notices.first?.contains(name) == true, "notice lacks \(name): \(result.stderr)")
    }
    let db = try Database(path: directory + "/a.sqlite", readOnly: true)
    #expect(try db.rows("SELECT count(*) FROM inputs WHERE skipped IS NOT NULL")[0][0] == "4")
    #expect(try db.rows("SELECT count(*) FROM inputs WHERE damaged = 1")[0][0] == "0")
    #expect(try findingKeys(db) == truthKeys(truth))
    #expect(try String(contentsOfFile: directory + "/r.md", encoding: .utf8).contains("Skipped, not read as dumps"))
    // --exclude leaves files out without a word, and applies to named files too.
    let excluded = try evpnscope([
        "analyze", dumps, "--exclude", "*.txt", "--exclude", "*.json", "--exclude", "*/bmp/x", "--exclude", "empty.*",
        "--db", directory + "/b.sqlite", "--report", directory + "/b.md",
    ])
    #expect(excluded.status == 0 && !excluded.stderr.contains("skipped"), "\(excluded.stderr)")
    #expect(
        try Database(path: directory + "/b.sqlite", readOnly: true).rows("SELECT count(*) FROM inputs")[0][0] == "5")
}

/// Incidents by impact (MACs × severity, then duration), not by time or severity alone.
@Test func incidentsAreRankedByImpact() throws {
    let directory = scratch()
    let result = try evpnscope([
        "analyze", "datasets/demo/dumps", "--db", directory + "/a.sqlite", "--report", directory + "/r.md",
    ])
    #expect(result.status == 0, "\(result.stderr)")
    let db = try Database(path: directory + "/a.sqlite", readOnly: true)
    let rows = try db.rows("SELECT id, impact, mac_count, severity, title, first_time_us FROM incidents ORDER BY id")
    let impacts = rows.map { Int($0[1]!)! }
    #expect(impacts == impacts.sorted(by: >) && impacts.count == 11)
    let weight = ["info": 1, "minor": 4, "major": 16, "critical": 64]
    #expect(rows.allSatisfy { Int($0[1]!)! == Int($0[2]!)! * weight[$0[3]!]! })
    // The PE failure (30 MACs, major, at 02:33) outranks the single duplicate MAC (critical, at 02:08).
    #expect(rows[1][4]!.hasPrefix("PE failure") && rows[2][4]!.hasPrefix("Duplicate MAC"))
    #expect(Int64(rows[1][5]!)! > Int64(rows[2][5]!)!)
    // The terminal's top list and the report follow the same order.
    #expect(result.stdout.contains("#2 [major] PE failure"))
    let report = try String(contentsOfFile: directory + "/r.md", encoding: .utf8)
    #expect(report.contains("### Incident 2: PE failure"))
    // The PE failure lists the MACs the dead PE still advertises and the dumps that hold them.
    let failure = try db.rows("SELECT mac_count, macs, bds FROM incidents WHERE id = 2")[0]
    #expect(
        Int(failure[0]!)! > 1 && failure[1]!.split(separator: " ").count == Int(failure[0]!)!
            && !(failure[2] ?? "").isEmpty)
    let detail = try db.rows("SELECT detail FROM findings WHERE rule = 'STALE-PEER-DOWN'")[0][0]!
    #expect(detail.contains("held in the dumps of input(s) #"), "\(detail)")
    // Cause and next step once per kind.
    #expect(
        report.components(separatedBy: "*probable cause:*").count - 1
            == Set(try db.rows("SELECT kind FROM incidents").map { $0[0]! }).count)
}

/// A bad night: a loop of hundreds of MACs and thousands of findings stays a readable report
/// under 300 KB, the long finding tables collapsed to one row per rule with the query for all.
@Test func aLargeLoopGivesASmallReport() throws {
    let directory = scratch()
    let generated = try evpnscope([
        "generate", "datasets/scenarios/layer2-loop.json", "--out", directory + "/data", "--scale", "10",
    ])
    #expect(generated.status == 0, "\(generated.stderr)")
    let result = try evpnscope([
        "analyze", directory + "/data/dumps", "--db", directory + "/a.sqlite", "--report", directory + "/r.md",
        "--events", "none",
    ])
    #expect(result.status == 0, "\(result.stderr)")
    let db = try Database(path: directory + "/a.sqlite", readOnly: true)
    let flaps = Int(
        try db.rows("SELECT count(*) FROM findings WHERE rule = 'DUP-MAC-FLAP' AND incident_id = 1")[0][0]!)!
    #expect(flaps > 100)
    let report = try String(contentsOfFile: directory + "/r.md", encoding: .utf8)
    #expect(report.utf8.count < 300_000)
    #expect(report.contains("| DUP-MAC-FLAP | \(flaps) | \(flaps) | "))
    #expect(report.contains("`SELECT * FROM findings WHERE incident_id = 1 AND rule = 'DUP-MAC-FLAP'`"))
}

/// Two runs on one database (issue 20): the second fails at once with exit 5, naming the
/// first; the first finishes and its database and report are both its own.
@Test func aSecondRunOnTheSameDatabaseFailsFast() throws {
    let directory = scratch()
    let input = try slowInput(directory)
    let db = directory + "/out/analysis.sqlite", report = directory + "/out/report.md"
    let first = Process()
    first.executableURL = URL(fileURLWithPath: binary)
    first.arguments = ["analyze", input, "--db", db, "--report", report]
    first.currentDirectoryURL = repository
    first.standardError = FileHandle.nullDevice
    first.standardOutput = FileHandle.nullDevice
    try first.run()
    let deadline = Date().addingTimeInterval(60)
    while !FileManager.default.fileExists(atPath: db + ".tmp-\(first.processIdentifier)") && first.isRunning
        && Date() < deadline
    { usleep(20_000) }
    let second = try evpnscope(["analyze", "datasets/demo/dumps", "--db", db, "--report", directory + "/out/other.md"])
    first.waitUntilExit()
    #expect(second.status == 5, "\(second.stderr)")
    #expect(
        second.stderr.contains("another evpnscope run is writing it (pid \(first.processIdentifier)"),
        "\(second.stderr)")
    #expect(first.terminationStatus == 0)
    #expect(
        !FileManager.default.fileExists(atPath: directory + "/out/other.md")
            && !FileManager.default.fileExists(atPath: db + ".lock"))
    let inputs = try Database(path: db, readOnly: true).rows("SELECT value FROM meta WHERE key = 'inputs'")[0][0] ?? ""
    #expect(inputs.hasSuffix("/slow/dumps"), "\(inputs)")
    // Once the first is done, the next run goes ahead.
    #expect(try evpnscope(["analyze", "datasets/demo/dumps", "--db", db, "--report", report]).status == 0)
}

/// `--db` naming an input is refused before the input is overwritten; a `--db` that is a
/// symbolic link is written through, and stays a link (issue 20).
@Test func outputsThatAreInputsOrLinks() throws {
    let directory = scratch()
    let dump = try #require(
        try FileManager.default.contentsOfDirectory(atPath: repository.path + "/datasets/demo/dumps/mrt").sorted().first
    )
    let input = directory + "/" + dump
    try FileManager.default.copyItem(atPath: repository.path + "/datasets/demo/dumps/mrt/" + dump, toPath: input)
    let before = contents(input)
    let refused = try evpnscope(["analyze", input, "--db", input, "--report", directory + "/r.md"])
    #expect(refused.status == 2 && refused.stderr.contains("is one of the inputs"), "\(refused.stderr)")
    #expect(contents(input) == before)
    // A link to where the database lives.
    try FileManager.default.createDirectory(atPath: directory + "/data", withIntermediateDirectories: true)
    try FileManager.default.createSymbolicLink(
        atPath: directory + "/link.sqlite", withDestinationPath: "data/real.sqlite")
    #expect(
        try evpnscope(["analyze", input, "--db", directory + "/link.sqlite", "--report", directory + "/r.md"]).status
            == 0)
    #expect(try FileManager.default.destinationOfSymbolicLink(atPath: directory + "/link.sqlite") == "data/real.sqlite")
    #expect(
        try Database(path: directory + "/data/real.sqlite", readOnly: true).rows("SELECT count(*) FROM inputs")[0][0]
            == "1")
}
