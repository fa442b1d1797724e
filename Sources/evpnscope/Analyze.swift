import Analysis
import ArgumentParser
import BMP
import ByteStreams
import EVPNModel
import Foundation
import Ingest
import Replay
import Reports
import Store

let toolVersion = "0.1.0"

/// `--fail-on`: the least severity that makes the exit status 1, or never.
enum FailureThreshold: String, ExpressibleByArgument, CaseIterable {
    case info, minor, major, critical, never
    var severity: Severity? { Severity(name: rawValue) }
}

/// Where `analyze` keeps route events.
enum EventStorage: String, ExpressibleByArgument, CaseIterable {
    case compact, table, none
}

struct Analyze: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Decode, replay, detect, store and report: the main job.",
        discussion: """
            Exit status: 0 no finding at or above --fail-on; 1 findings at or above --fail-on; 2 usage error; \
            3 an input was damaged (results still written); 4 no input can support an analysis (no EVPN route at all, \
            or every observation point only withdraws: DQ-NO-EVPN, DQ-WITHDRAW-ONLY; results still written); \
            5 the run failed: a result could not be written (unwritable --db, --report or run folder, a full disk, \
            another run writing the same database) \
            and nothing was replaced; 130 / 143 interrupted by SIGINT / SIGTERM, temporaries removed, earlier \
            results untouched. 5 wins over 4, 4 over 3, 3 over 1.

            Findings and data-quality IDs: docs/rules.md. Tables of the database: docs/schema.md.

            Example: evpnscope analyze /var/dumps/rr1 /var/dumps/bmp --since 2026-11-24T02:00Z --fail-on major
            """)

    @Argument(help: "MRT or BMP files (plain, gzip, bzip2), directories of rotated dumps, or - for stdin.")
    var inputs: [String]

    @Option(
        help: ArgumentHelp(
            "Leave out files matching this shell pattern (name or path; repeatable), e.g. '*.txt' or '*/old/*'.",
            valueName: "glob"))
    var exclude: [String] = []

    @Option(help: "Run name: results go to reports/<name>/ unless --db/--report say otherwise.")
    var name: String?

    @Option(help: "SQLite database to write (default reports/<name>/analysis.sqlite).")
    var db: String?

    @Option(help: "Markdown report to write (default reports/<name>/report.md).")
    var report: String?

    @OptionGroup var replayOptions: ReplayOptions
    @OptionGroup var thresholdOptions: ThresholdOptions

    /// Findings and stored events are those of the window; the replay still starts at the beginning
    /// of the inputs, and goes on past --until only as long as the detectors' windows need.
    @OptionGroup(title: "Time window (findings and stored events)") var timeWindow: TimeWindowOptions

    @Option(
        help: """
            How to keep route events in the database: compact (compressed blocks, read with `evpnscope events` and \
            `mac`), table (also one route_events row each, for SQL; ~10x the database size), or none.
            """)
    var events: EventStorage = .compact

    @Option(help: "Exit 1 when a finding has at least this severity: info, minor, major, critical, or never.")
    var failOn: FailureThreshold = .never

    @Flag(help: "Print the summary as JSON.")
    var json = false

    func run() throws {
        let thresholds = try thresholdOptions.thresholds()
        let engineOptions = try replayOptions.engineOptions()
        let failSeverity = failOn.severity
        let (sinceTime, untilTime) = try timeWindow.times()
        let window = (sinceTime ?? Int64.min)...(untilTime ?? Int64.max)
        // Past --until the detectors still judge what happened inside the window (stale routes, timers).
        let replayEnd = untilTime.map { $0 &+ thresholds.evidenceHorizon.microseconds } ?? Int64.max
        let identity = RunIdentity(arguments: inputs)
        var runName = name ?? defaultName()
        guard !runName.isEmpty, !runName.contains("/"), runName != ".", runName != ".." else {
            throw CLIUsageError(message: "--name must be a plain name (no '/')")
        }
        if name == nil, db == nil, let previous = RunIdentity.previous(at: "reports/\(runName)/analysis.sqlite"),
            previous.identity != identity
        {
            // Two folders called `dumps` are two analyses: the second gets a name of its own.
            let separate = "\(runName)-\(identity.shortHash)"
            printError(
                "evpnscope: reports/\(runName)/ holds the run of other inputs (\(previous.identity.listed), "
                    + "\(previous.started)); "
                    + "this run is named \(separate) (--name to choose)")
            runName = separate
        }
        let dbPath = RunOutputs.followingLinks(db ?? "reports/\(runName)/analysis.sqlite")
        let reportPath = RunOutputs.followingLinks(report ?? "reports/\(runName)/report.md")
        if let previous = RunIdentity.previous(at: dbPath), previous.identity != identity {
            printError(
                "evpnscope: replacing \(dbPath), the run of other inputs (\(previous.identity.listed), "
                    + "\(previous.started))"
            )
        }
        try RunOutputs.prepare(database: dbPath, report: reportPath)
        let lock = try RunLock(database: dbPath)
        defer { withExtendedLifetime(lock) {} }

        BZip2Decoders.keep(cores: 1)  // the replay's
        let feed: PrefetchedFeed
        let totalCompressedBytes: Int64
        do {
            let inputSet = try InputSet(paths: inputs, excluding: exclude)
            try RunOutputs.refuseInputs(
                inputSet.files.filter { $0.skipReason == nil }.map(\.path),
                targets: [("--db", dbPath), ("--report", reportPath)])
            noticeSkipped(inputSet)
            totalCompressedBytes = inputSet.totalCompressedBytes
            feed = PrefetchedFeed(inputSet)
        } catch let error as UsageError { throw CLIUsageError(message: error.description) }
        let engine = ReplayEngine(options: engineOptions)
        let analyzer = Analyzer(engine: engine, thresholds: thresholds)
        let writer = try RunOutputs.writing(dbPath) {
            try AnalysisWriter(path: dbPath, copyWindow: engineOptions.copyLag, eventRows: events == .table)
        }
        writer.retire = { feed.retire(&$0) }
        var writeError: Error?
        analyzer.onMove = { move in
            guard window.contains(move.time) else { return }
            let state = engine.macs[move.mac.index]
            do { try writer.addMove(move, bd: state.bd, mac: state.mac) } catch { writeError = writeError ?? error }
        }
        let progress = Progress(total: totalCompressedBytes)
        let started = Date()
        var items = 0, itemsInWindow = 0
        let storeEvents = events != .none  // an option's getter is too slow to read per event
        // State before the window counts: every item is replayed, only the window's are stored.
        // An event's fold is prepared as it enters the read-ahead, a few events before it is stored.
        let source: () -> FeedItem? =
            storeEvents
            ? {
                let item = feed.next()
                item?.unretainedRoute?._withUnsafeGuaranteedRef { writer.prefetch($0) }
                return item
            } : feed.next
        ReplayPipeline(engine: engine, analyzer: analyzer).run(
            source, stop: { $0.time > replayEnd || writeError != nil },
            replayed: { item in
                guard window.contains(item.time) else { return }
                itemsInWindow += 1
                if storeEvents, let route = item.unretainedRoute {
                    let observationID = route._withUnsafeGuaranteedRef { engine.observationID(of: $0.observation)?.raw }
                    // The one retain an event needs here: the writer keeps it until its copies arrive.
                    do { try writer.addEvent(route.takeUnretainedValue(), observationID: observationID) } catch {
                        writeError = error
                    }
                }
                items += 1
                if items & 0x3FFF == 0 { progress.update(compressed: feed.compressedBytesRead, items: items) }
            })
        let inputSet = feed.finish()
        progress.finish()
        if let writeError { try RunOutputs.writing(dbPath) { throw writeError } }
        let incidents = analyzer.finish(window: sinceTime == nil && untilTime == nil ? nil : window)
        let records = inputRecords(inputSet)
        var windowNote: String?
        if (sinceTime != nil || untilTime != nil) && itemsInWindow == 0 {
            let span =
                engine.firstTime.map { "\(Timestamp.format($0)) — \(Timestamp.format(engine.now))" } ?? "no events"
            windowNote =
                "no event of the inputs falls between \(sinceTime.map(Timestamp.format) ?? "the start") and "
                + "\(untilTime.map(Timestamp.format) ?? "the end") (the inputs span \(span))"
        }
        let notes = DataQuality.assess(
            engine: engine,
            inputs: inputSet.files.compactMap { file in
                file.reader.map { InputTimes(id: file.index, path: file.path, stats: $0.stats) }
            })
        let blind = DataQuality.isBlind(notes, engine: engine)
        try RunOutputs.writing(dbPath) {
            try writer.setMeta(
                [
                    ("name", runName), ("version", toolVersion), ("inputs", identity.inputs),
                    ("started", Timestamp.format(Int64(started.timeIntervalSince1970 * 1_000_000))),
                    ("option.pe-key", replayOptions.peKey?.rawValue ?? "rd,originator,nexthop,peer"),
                    ("option.bd-key", replayOptions.bdKey.rawValue),
                    ("option.events", events.rawValue), ("data-quality.blind", blind ? "true" : "false"),
                ]
                    + thresholdOptions.described + engine.counters.described)
            try writer.write(
                inputs: records, engine: engine, analyzer: analyzer, incidents: incidents, dataQuality: notes)
            try writer.finishWriting()
        }
        // The report comes from the finished database before either file replaces the earlier run's.
        let reportTemporary = TemporaryName.of(reportPath)
        try RunOutputs.writing(reportPath) {
            let markdown = try MarkdownReport(database: try Database(path: writer.temporaryPath, readOnly: true))
                .render()
            try writeFully(markdown, to: reportTemporary)
        }
        do {
            try RunOutputs.writing(dbPath) { try writer.install() }
        } catch {
            unlink(reportTemporary)
            throw error
        }
        try RunOutputs.writing(reportPath) { try renameInPlace(reportTemporary, to: reportPath) }
        Interrupts.uninstall()

        let damaged = records.contains { !$0.damage.isEmpty }
        let summary = Summary(
            name: runName, records: records, engine: engine, analyzer: analyzer, incidents: incidents, notes: notes,
            blind: blind, windowNote: windowNote, dbPath: dbPath, reportPath: reportPath,
            seconds: Date().timeIntervalSince(started))
        print(json ? summary.json() : summary.text())
        for record in records { for damage in record.damage { printError("evpnscope: damaged input: \(damage)") } }
        if blind { throw ExitStatusError(code: ExitStatus.blind) }
        if damaged { throw ExitStatusError(code: ExitStatus.damaged) }
        if let failSeverity, analyzer.findings.contains(where: { $0.severity >= failSeverity }) {
            throw ExitStatusError(code: ExitStatus.findings)
        }
    }

    private func defaultName() -> String {
        guard let first = inputs.first, first != "-" else { return "stdin" }
        var base = (first as NSString).lastPathComponent
        for suffix in [".gz", ".bz2", ".mrt", ".bmp"] where base.hasSuffix(suffix) {
            base = String(base.dropLast(suffix.count))
        }
        let cleaned = base.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." ? $0 : "_" }
        return String(cleaned).isEmpty ? "analysis" : String(cleaned)
    }
}

/// One notice for every path left out: files that are plainly not dumps (a README, truth.json,
/// an empty file), and what a directory walk passes over (a FIFO, a second link to a file or
/// directory). None of them counts as damage.
func noticeSkipped(_ inputSet: InputSet) {
    let skipped = inputSet.skipped
    guard !skipped.isEmpty else { return }
    let listed = skipped.prefix(20).map { "\($0.path) (\($0.skipReason!))" }.joined(separator: ", ")
    printError(
        "evpnscope: skipped \(skipped.count) path(s), not read as dumps: \(listed)"
            + (skipped.count > 20 ? ", and \(skipped.count - 20) more" : "") + " (--exclude to leave them out silently)"
    )
}

func inputRecords(_ inputSet: InputSet) -> [InputRecord] {
    inputSet.files.map { file in
        let stats = file.reader?.stats
        var record = InputRecord(
            id: file.index, path: file.path, sha256: file.reader?.sha256, format: file.format?.rawValue,
            compression: file.compression?.rawValue, bytes: file.reader?.bytesRead ?? 0,
            compressedBytes: file.reader?.compressedBytesRead ?? 0, records: stats?.records ?? 0,
            routeEvents: stats?.routeEvents ?? 0, attributeErrors: stats?.attributeErrors ?? 0,
            firstTime: stats?.firstTime, lastTime: stats?.lastTime, damage: file.damage,
            attributeProblems: file.reader?.attributeProblems ?? [])
        record.skipped = file.skipReason
        if let bmp = file.reader as? BMPReader {
            record.routers = bmp.routers.map { RouterRecord(key: $0.key, sysName: $0.sysName, sysDescr: $0.sysDescr) }
        }
        return record
    }
}

/// Writes under a temporary name and renames, so a reader never sees half a file.
func writeAtomically(_ text: String, to path: String) throws {
    let directory = (path as NSString).deletingLastPathComponent
    if !directory.isEmpty {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }
    let temporary = TemporaryName.of(path)
    try RunOutputs.writing(path) {
        try writeFully(text, to: temporary)
        try renameInPlace(temporary, to: path)
    }
}

/// Writes every byte or throws with the system's reason (a full disk is ENOSPC, not a short file);
/// a failed write leaves no partial file.
func writeFully(_ text: String, to path: String) throws {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    guard fd >= 0 else { throw OutputError(path: path, reason: String(cString: strerror(errno))) }
    var failure: Int32 = 0
    var bytes = Array(text.utf8)
    bytes.withUnsafeMutableBytes { buffer in
        var done = 0
        while done < buffer.count {
            let written = write(fd, buffer.baseAddress! + done, buffer.count - done)
            if written < 0 { if errno == EINTR { continue }; failure = errno; return }
            done += written
        }
    }
    if failure == 0 && fsync(fd) != 0 && errno != EINVAL { failure = errno }
    if close(fd) != 0 && failure == 0 { failure = errno }
    guard failure == 0 else {
        unlink(path)
        throw OutputError(path: path, reason: String(cString: strerror(failure)))
    }
}

func renameInPlace(_ temporary: String, to path: String) throws {
    guard rename(temporary, path) == 0 else {
        let reason = String(cString: strerror(errno))
        unlink(temporary)
        throw OutputError(path: path, reason: reason)
    }
}

/// Progress on stderr, only when stderr is a terminal.
final class Progress {
    let total: Int64
    let enabled = isatty(2) == 1
    let start = Date()
    var last = Date.distantPast
    init(total: Int64) { self.total = total }
    func update(compressed: Int64, items: Int) {
        guard enabled, Date().timeIntervalSince(last) > 0.5 else { return }
        last = Date()
        let elapsed = max(Date().timeIntervalSince(start), 0.001)
        let fraction = total > 0 ? Double(compressed) / Double(total) : 0
        let eta = fraction > 0.01 ? elapsed / fraction - elapsed : 0
        let line = String(
            format: "\r%6.1f MB read (%3.0f%%), %.0f records/s, ETA %.0fs   ", Double(compressed) / 1e6, fraction * 100,
            Double(items) / elapsed, eta)
        FileHandle.standardError.write(Data(line.utf8))
    }
    func finish() { if enabled { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) } }
}

struct Summary {
    let name: String
    let records: [InputRecord]
    let engine: ReplayEngine
    let analyzer: Analyzer
    let incidents: [Incident]
    let notes: [DataQualityNote]
    let blind: Bool
    let windowNote: String?
    let dbPath: String
    let reportPath: String
    let seconds: Double

    func pe(_ id: PEID) -> String { engine.pes[id.index].address.description }

    var severityCounts: [(String, Int)] {
        Severity.allCases.reversed().map { s in (s.name, analyzer.findings.filter { $0.severity == s }.count) }
    }

    func text() -> String {
        var out = "evpnscope analyze: \(name)\n"
        if blind {
            out += "  WARNING     these inputs cannot support an analysis: no result below means a clean fabric\n"
        }
        if let windowNote { out += "  window      \(windowNote)\n" }
        // One entry per ID: the subject when there is one, how many when there are several.
        var byRule: [(rule: DataQualityRule, subjects: [String])] = []
        for note in notes {
            if let i = byRule.firstIndex(where: { $0.rule == note.rule }) {
                byRule[i].subjects.append(note.subject)
            } else {
                byRule.append((note.rule, [note.subject]))
            }
        }
        out +=
            "  data        "
            + (byRule.isEmpty
                ? "no data-quality note"
                : byRule.map { entry in
                    let subjects =
                        entry.subjects.count == 1
                        ? entry.subjects[0] : "\(entry.subjects.count) inputs or observation points"
                    return "\(entry.rule.rawValue) (\(subjects))"
                }.joined(separator: "; ") + " — see the report's Data quality") + "\n"
        let events = records.reduce(0) { $0 + $1.routeEvents }
        let bytes = records.reduce(0) { $0 + $1.bytes }
        let skipped = records.filter { $0.skipped != nil }.count
        out +=
            "  inputs      \(records.count - skipped) "
            + "file(s)\(skipped > 0 ? " (\(skipped) skipped, not dumps)" : ""), \(bytes) bytes decoded, "
            + "\(events) route events in \(String(format: "%.2f", seconds)) s\n"
        if let first = records.compactMap(\.firstTime).min(), let last = records.compactMap(\.lastTime).max() {
            out += "  time span   \(Timestamp.format(first)) — \(Timestamp.format(last))\n"
        }
        out +=
            "  fabric      \(engine.pes.count) PEs, \(engine.bds.count) broadcast domains, \(engine.macs.count) "
            + "MACs, \(analyzer.moveCount) moves\n"
        out +=
            "  findings    \(analyzer.findings.count) ("
            + severityCounts.map { "\($0.1) \($0.0)" }.joined(separator: ", ") + ")\n"
        out += "  incidents   \(incidents.count)\n"
        for incident in incidents.prefix(10) {
            out +=
                "    #\(incident.id) [\(incident.severity.name)] \(incident.title) — "
                + "\(Timestamp.format(incident.firstTime))\n"
        }
        if incidents.count > 10 { out += "    … \(incidents.count - 10) more in the report\n" }
        let damaged = records.filter { !$0.damage.isEmpty }
        out +=
            "  damage      "
            + (damaged.isEmpty ? "none" : "\(damaged.count) input(s) damaged, results cover what was decoded") + "\n"
        let discards = records.reduce(0) { $0 + $1.attributeErrors }
        if discards > 0 {
            out +=
                "  RFC 7606    \(discards) malformed attribute(s) handled (treat-as-withdraw or attribute discard); "
                + "listed in the report\n"
        }
        out += "  database    \(dbPath)\n  report      \(reportPath)"
        return out
    }

    func json() -> String {
        var fields: [String] = []
        fields.append("\"name\":\(jsonString(name))")
        fields.append(
            "\"inputs\":["
                + records.map { r in
                    "{\"path\":\(jsonString(r.path)),\"format\":\(jsonString(r.format ?? "unknown")),"
                        + "\"compression\":\(jsonString(r.compression ?? "unknown")),\"bytes\":\(r.bytes),"
                        + "\"route_events\":\(r.routeEvents),\"damaged\":\(!r.damage.isEmpty),"
                        + "\"skipped\":\(r.skipped.map(jsonString) ?? "null"),\"damage\":["
                        + r.damage.map { "{\"offset\":\($0.offset),\"message\":\(jsonString($0.message))}" }.joined(
                            separator: ",") + "]}"
                }.joined(separator: ",") + "]")
        fields.append(
            "\"pes\":\(engine.pes.count),\"broadcast_domains\":\(engine.bds.count),\"macs\":\(engine.macs.count),"
                + "\"moves\":\(analyzer.moveCount)"
        )
        fields.append(
            "\"blind\":\(blind),\"data_quality\":["
                + notes.map { n in
                    "{\"rule\":\(jsonString(n.rule.rawValue)),\"subject\":\(jsonString(n.subject)),"
                        + "\"count\":\(n.count),\"detail\":\(jsonString(n.detail))}"
                }.joined(separator: ",") + "]")
        if let windowNote { fields.append("\"window\":\(jsonString(windowNote))") }
        fields.append("\"attribute_errors\":\(records.reduce(0) { $0 + $1.attributeErrors })")
        fields.append("\"findings\":{" + severityCounts.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}")
        fields.append(
            "\"incidents\":["
                + incidents.map { i in
                    "{\"id\":\(i.id),\"severity\":\(jsonString(i.severity.name)),\"title\":\(jsonString(i.title)),"
                        + "\"first\":\(jsonString(Timestamp.format(i.firstTime))),"
                        + "\"last\":\(jsonString(Timestamp.format(i.lastTime))),\"pes\":["
                        + i.pes.map { jsonString(pe($0)) }.joined(separator: ",")
                        + "],\"macs\":\(i.macs.count),\"rules\":["
                        + i.rules.map { jsonString($0.rawValue) }.joined(separator: ",") + "]}"
                }.joined(separator: ",") + "]")
        fields.append("\"database\":\(jsonString(dbPath)),\"report\":\(jsonString(reportPath))")
        return "{" + fields.joined(separator: ",") + "}"
    }
}
