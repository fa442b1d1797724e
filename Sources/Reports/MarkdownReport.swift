import EVPNModel
import Foundation
import Store

/// Escapes text that came from the network, the inputs or a database so it renders as plain
/// text in Markdown and cannot open HTML, links, code spans, headings or table cells. It works
/// on Unicode scalars, not Characters: a `|` or a line break joined to a combining mark or a
/// zero-width joiner is one Character, and would pass unescaped. Control, bidi and invisible
/// formatting characters, which could reorder or hide what a reader sees, are shown as
/// `\u{...}`.
public func markdownEscaped(_ text: String) -> String {
    markdownEscapedScalars(text)
}

/// A MAC (or other identifier) as a code span when it is plain hex and separators, escaped
/// text otherwise: inside a code span a backslash escapes nothing and a backtick ends it.
public func markdownCode(_ text: String) -> String {
    let plain =
        !text.isEmpty
        && text.unicodeScalars.allSatisfy {
            $0.isASCII && ($0.properties.isASCIIHexDigit || $0 == ":" || $0 == "." || $0 == "-")
        }
    return plain ? "`\(text)`" : markdownEscaped(text)
}

private func markdownEscapedScalars(_ text: String) -> String {
    var out = String.UnicodeScalarView()
    for scalar in text.unicodeScalars {
        switch scalar {
        case "&": out.append(contentsOf: "&amp;".unicodeScalars)
        case "<": out.append(contentsOf: "&lt;".unicodeScalars)
        case ">": out.append(contentsOf: "&gt;".unicodeScalars)
        case "\n", "\r", "\t", "\u{2028}", "\u{2029}": out.append(" ")
        case "\\", "`", "*", "_", "{", "}", "[", "]", "#", "~", "|":
            out.append("\\"); out.append(scalar)
        default:
            if isHiddenOrReordering(scalar) {
                out.append(contentsOf: "\\u{\(String(scalar.value, radix: 16))}".unicodeScalars)
            } else {
                out.append(scalar)
            }
        }
    }
    return String(out)
}

/// C0 and C1 controls, DEL, bidi controls, zero-width and other invisible format characters,
/// the byte-order mark and noncharacters.
private func isHiddenOrReordering(_ scalar: Unicode.Scalar) -> Bool {
    let value = scalar.value
    if value < 0x20 || (0x7F...0x9F).contains(value) { return true }
    if value < 0x7F { return false }  // printable ASCII: no property lookup
    switch scalar.properties.generalCategory {
    case .format, .control, .lineSeparator, .paragraphSeparator, .privateUse, .surrogate, .unassigned: return true
    default: return scalar.properties.isNoncharacterCodePoint || scalar.properties.isBidiControl
    }
}

/// The last component of a path, without Foundation: NSString's traps on a path holding a NUL,
/// which a crafted database can (found by the renderer fuzz target).
func fileName(_ path: String) -> String {
    guard let slash = path.utf8.lastIndex(of: UInt8(ascii: "/")) else { return path }
    return String(path[path.utf8.index(after: slash)...])
}

/// Renders report.md from a database.
public struct MarkdownReport {
    /// A finding's evidence, and a MAC's moves in a time window: queries, unless given.
    private let evidence: (Int64) throws -> [ReportData.Evidence]
    private let moves: (String, Int64, Int64) throws -> [ReportData.Move]
    let data: ReportData
    /// Incidents listed in the table, and of those the first ones with a section of their own:
    /// a bad night's report stays readable (and under 300 KB); the rest is one query away.
    public var maxIncidents = 50
    public var maxDetailedIncidents = 20
    /// An incident with more findings than this shows one row per rule with counts and sample MACs.
    public var maxFindingsPerIncident = 12
    public var maxEvidenceFindings = 2
    public var maxEvidenceRows = 12
    public var maxTimelineMACs = 3
    public var maxTableRows = 100

    private let findingsByIncident: [Int64: [ReportData.Finding]]

    public init(database: Database) throws {
        try self.init(
            data: ReportData.load(database), evidence: { try ReportData.evidence(database, finding: $0) },
            moves: { try ReportData.moves(database, mac: $0, from: $1, to: $2) })
    }

    /// A report of data in memory (the renderer's fuzz target builds hostile data this way).
    public init(
        data: ReportData, evidence: @escaping (Int64) throws -> [ReportData.Evidence],
        moves: @escaping (String, Int64, Int64) throws -> [ReportData.Move]
    ) {
        self.data = data
        self.evidence = evidence
        self.moves = moves
        var grouped: [Int64: [ReportData.Finding]] = [:]
        for finding in data.findings {
            if let incident = finding.incident { grouped[incident, default: []].append(finding) }
        }
        findingsByIncident = grouped
    }

    private func t(_ micros: Int64) -> String { Timestamp.format(micros) }
    private func pe(_ id: Int64) -> String { markdownEscaped(data.pe(id)) }

    public func render() throws -> String {
        var out = ""
        let name = markdownEscaped(data.meta["name"] ?? "analysis")
        out += "# EVPN incident report — \(name)\n\n"
        out +=
            "Generated by evpnscope \(markdownEscaped(data.meta["version"] ?? "")) from "
            + "\(data.inputs.filter { $0.skipped == nil }.count) input(s). "
        out +=
            "Times are UTC. Every finding ID is explained in evpnscope's docs/rules.md, every database table in "
            + "docs/schema.md.\n\n"
        renderDataQuality(&out)
        renderSummary(&out)
        out += "## Incidents\n\n"
        if data.incidents.isEmpty {
            out += "No incident: no finding of the anomaly catalogue in these inputs.\n\n"
        } else {
            out += "Ranked by impact: MACs affected × severity, then duration.\n\n"
            out += "| # | severity | kind | incident | from | to | PEs | MACs |\n|---|---|---|---|---|---|---|---|\n"
            for incident in data.incidents.prefix(maxIncidents) {
                out +=
                    "| \(incident.id) | \(markdownEscaped(incident.severity)) | \(markdownEscaped(incident.kind)) | "
                    + "\(markdownEscaped(incident.title)) | "
                out +=
                    "\(t(incident.first)) | \(t(incident.last)) | " + incident.pes.map(pe).joined(separator: ", ")
                    + " | \(incident.macCount) |\n"
            }
            out += "\n"
            if data.incidents.count > maxIncidents {
                out +=
                    "\(data.incidents.count - maxIncidents) more incident(s), smaller: `SELECT * FROM incidents "
                    + "WHERE id > \(maxIncidents) ORDER BY id`.\n\n"
            }
            renderKinds(&out)
            for incident in data.incidents.prefix(maxDetailedIncidents) { try renderIncident(incident, &out) }
            if data.incidents.count > maxDetailedIncidents {
                out +=
                    "Incidents after #\(maxDetailedIncidents) are listed above without a section; `evpnscope mac MAC "
                    + "--db …` tells one MAC's story.\n\n"
            }
        }
        renderPEs(&out)
        renderThresholds(&out)
        renderInputs(&out)
        renderRouters(&out)
        renderErrors(&out)
        return out
    }

    /// First, so nobody reads "no incident" without knowing whether the data could show one.
    private func renderDataQuality(_ out: inout String) {
        out += "## Data quality\n\n"
        guard !data.dataQuality.isEmpty else {
            out +=
                "No note: the inputs carry EVPN routes with announcements, sub-second timestamps and identifiable "
                + "PEs.\n\n"
            return
        }
        if data.meta["data-quality.blind"] == "true" {
            out +=
                "**These inputs cannot support an analysis: an empty result below does not mean a clean fabric.**\n\n"
        }
        out += "| note | where | count | first at | detail |\n|---|---|---|---|---|\n"
        for note in data.dataQuality {
            let path = note.input.flatMap { id in data.inputs.first { $0.id == id }?.path }
            let place = path.map { "\(markdownEscaped($0)) byte \(note.offset ?? 0)" } ?? "—"
            out +=
                "| \(markdownEscaped(note.rule)) | \(markdownEscaped(note.subject)) | \(note.count) | \(place) | "
                + "\(markdownEscaped(note.detail)) |\n"
        }
        out += "\n"
    }

    private func renderSummary(_ out: inout String) {
        let firsts = data.inputs.compactMap(\.first), lasts = data.inputs.compactMap(\.last)
        var bySeverity: [String: Int] = [:]
        for finding in data.findings { bySeverity[finding.severity, default: 0] += 1 }
        let damaged = data.inputs.filter(\.damaged)
        out += "## Summary\n\n| | |\n|---|---|\n"
        out +=
            "| inputs | \(data.inputs.filter { $0.skipped == nil }.count) "
            + "(\(data.inputs.reduce(0) { $0 + $1.bytes }) bytes decoded) |\n"
        if let first = firsts.min(), let last = lasts.max() {
            out += "| time span | \(t(first)) — \(t(last)) (\(TimeSpan.between(first, last))) |\n"
        }
        out += "| route events | \(data.routeEventCount) |\n"
        out += "| PEs | \(data.pes.count) |\n"
        out += "| MACs (per broadcast domain) | \(data.macCount) |\n"
        out += "| broadcast domains | \(data.bdLabels.count) |\n"
        out += "| MAC moves | \(data.moveCount) |\n"
        if data.snapshotWithdrawals > 0 {
            let why = "(the router's next table dump lacked them)"
            out += "| withdrawn by a RIB snapshot | \(data.snapshotWithdrawals) \(why) |\n"
        }
        out += "| findings | \(data.findings.count)"
        let parts = ["critical", "major", "minor", "info"].compactMap { s in bySeverity[s].map { "\($0) \(s)" } }
        if !parts.isEmpty { out += " (" + parts.joined(separator: ", ") + ")" }
        out += " |\n| incidents | \(data.incidents.count) |\n"
        out +=
            "| damaged inputs | "
            + (damaged.isEmpty
                ? "none" : damaged.map { markdownEscaped($0.path) }.joined(separator: ", ") + " (see Decode errors)")
            + " |\n\n"
    }

    private func renderIncident(_ incident: ReportData.Incident, _ out: inout String) throws {
        out += "### Incident \(incident.id): \(markdownEscaped(incident.title))\n\n"
        out += "- **Severity:** \(markdownEscaped(incident.severity))\n"
        out +=
            "- **When:** \(t(incident.first)) — \(t(incident.last)) "
            + "(\(TimeSpan.between(incident.first, incident.last)))\n"
        out += "- **PEs:** " + incident.pes.map(pe).joined(separator: ", ") + "\n"
        out +=
            "- **Broadcast domains:** "
            + incident.bds.map { markdownEscaped(data.bdLabels[$0] ?? "bd \($0)") }.joined(separator: "; ") + "\n"
        let shown = incident.macs.prefix(30).map(markdownCode).joined(separator: ", ")
        out +=
            "- **MACs (\(incident.macCount)):** " + (shown.isEmpty ? "—" : shown)
            + (incident.macs.count > 30 ? ", … (all in the database)" : "") + "\n"
        out += "- **Rules:** \(markdownEscaped(incident.rules))\n"
        out += "- **Kind:** \(markdownEscaped(incident.kind)) (cause and next step under What the incidents mean)\n\n"
        try renderTimeline(incident, &out)
        let members = findingsByIncident[incident.id] ?? []
        if members.count <= maxFindingsPerIncident {
            out +=
                "| finding | rule | severity | MAC | IP | PEs | first seen | count | detail "
                + "|\n|---|---|---|---|---|---|---|---|---|\n"
            for finding in members {
                out +=
                    "| \(finding.id) | \(markdownEscaped(finding.rule)) | \(markdownEscaped(finding.severity)) | "
                    + "\(finding.mac.map(markdownCode) ?? "—") | \(finding.ip.map(markdownEscaped) ?? "—") | "
                out +=
                    finding.pes.map(pe).joined(separator: ", ")
                    + " | \(t(finding.first)) | \(finding.count) | \(markdownEscaped(finding.detail)) |\n"
            }
        } else {
            // One row per rule: a 1000-MAC loop is one line, not a thousand.
            out +=
                "| rule | findings | MACs | sample MACs | first seen | last seen | all of them "
                + "|\n|---|---|---|---|---|---|---|\n"
            var order: [String] = []
            var byRule: [String: [ReportData.Finding]] = [:]
            for finding in members {
                if byRule[finding.rule] == nil { order.append(finding.rule) }
                byRule[finding.rule, default: []].append(finding)
            }
            for rule in order {
                let group = byRule[rule]!
                let macs = Array(Set(group.compactMap(\.mac))).sorted()
                out +=
                    "| \(markdownEscaped(rule)) | \(group.count) | \(macs.count) | "
                    + (macs.isEmpty ? "—" : macs.prefix(5).map(markdownCode).joined(separator: ", "))
                out +=
                    (macs.count > 5 ? ", …" : "")
                    + " | \(t(group.map(\.first).min()!)) | \(t(group.map(\.last).max()!)) | "
                out +=
                    (rule.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || $0 == "-") }
                        ? "`SELECT * FROM findings WHERE incident_id = \(incident.id) AND rule = '\(rule)'`"
                        : "`SELECT * FROM findings WHERE incident_id = \(incident.id)`") + " |\n"
            }
        }
        out += "\n"
        for finding in members.prefix(maxEvidenceFindings) {
            let rows = try evidence(finding.id)
            guard !rows.isEmpty else { continue }
            out +=
                "Evidence for finding \(finding.id) "
                + "(\(markdownEscaped(finding.rule))\(finding.mac.map { " " + markdownCode($0) } ?? "")):\n\n"
            out += "| time | PE | event | seq | sticky | ESI | IP | source |\n|---|---|---|---|---|---|---|---|\n"
            for row in rows.prefix(maxEvidenceRows) {
                let file = data.inputs.first { $0.id == row.input }.map { fileName($0.path) } ?? "?"
                out +=
                    "| \(t(row.time)) | \(pe(row.pe)) | \(markdownEscaped(row.event)) | \(row.seq) | "
                    + "\(row.sticky ? "yes" : "no") | "
                out +=
                    "\(row.esi == ESI.zero.description ? "0" : markdownEscaped(row.esi)) | "
                    + "\(row.ip.map(markdownEscaped) ?? "—") | \(markdownEscaped(file)) @\(row.offset) |\n"
            }
            out += "\n"
        }
    }

    /// A Mermaid gantt chart of which PE owned each MAC when (GitHub renders it).
    private func renderTimeline(_ incident: ReportData.Incident, _ out: inout String) throws {
        var sections: [(String, [ReportData.Move])] = []
        // A section name is a line of the chart: only a plain MAC may go there.
        for mac in incident.macs.prefix(maxTimelineMACs)
        where mac.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isASCIIHexDigit || $0 == ":") }) {
            let moves = try self.moves(mac, incident.first - 600_000_000, incident.last + 1)
            if !moves.isEmpty { sections.append((mac, moves)) }
        }
        guard !sections.isEmpty else { return }
        var legend: [Int64] = []
        func label(_ id: Int64) -> String {
            if !legend.contains(id) { legend.append(id) }
            return "PE\(legend.firstIndex(of: id)! + 1)"
        }
        var chart = "```mermaid\ngantt\n    title MAC owner over time\n    dateFormat x\n    axisFormat %H:%M:%S\n"
        for (macIndex, (mac, moves)) in sections.enumerated() {
            chart += "    section \(mac.replacingOccurrences(of: ":", with: "."))\n"
            var owner = moves[0].from
            var seq = moves[0].seqBefore
            var start = moves[0].time - 30_000_000
            var task = 0
            func bar(_ end: Int64) {
                task += 1
                chart +=
                    "    \(label(owner)) seq \(seq) :m\(macIndex)t\(task), \(start / 1000), "
                    + "\(max(end, start + 1000) / 1000)\n"
            }
            for move in moves {
                bar(move.time)
                owner = move.to; seq = move.seqAfter; start = move.time
            }
            bar(max(incident.last, start + 10_000_000))
        }
        out += chart + "```\n\n"
        out +=
            "Legend: " + legend.enumerated().map { "PE\($0.offset + 1) = \(pe($0.element))" }.joined(separator: ", ")
            + "\n\n"
    }

    /// Said once per kind, not once per incident.
    private func renderKinds(_ out: inout String) {
        out += "### What the incidents mean\n\n"
        var seen: [String] = []
        for incident in data.incidents where !seen.contains(incident.kind) { seen.append(incident.kind) }
        for kind in seen {
            // Databases of earlier versions carry the texts per incident, not the kind.
            let sample = data.incidents.first { $0.kind == kind }!
            out +=
                "- **\(kind.isEmpty ? "incident" : markdownEscaped(kind))** — *probable cause:* "
                + "\(markdownEscaped(sample.cause)) "
            out += "*Next step:* \(markdownEscaped(sample.nextStep).replacingOccurrences(of: "\\`", with: "`"))\n"
        }
        out += "\n"
    }

    private func renderPEs(_ out: inout String) {
        // One pass over the findings, not one per PE: 160 k PEs must not take minutes.
        var findingsPerPE: [Int64: Int] = [:]
        for finding in data.findings { for id in Set(finding.pes) { findingsPerPE[id, default: 0] += 1 } }
        let shown =
            data.pes.count <= maxTableRows
            ? data.pes
            : Array(
                data.pes.sorted { (findingsPerPE[$0.id] ?? 0, $1.id) > (findingsPerPE[$1.id] ?? 0, $0.id) }.prefix(
                    maxTableRows))
        out += "## PEs\n\n"
        if shown.count < data.pes.count {
            out +=
                "The \(shown.count) PEs with the most findings of \(data.pes.count); all of them: `SELECT * FROM "
                + "pes`.\n\n"
        }
        out +=
            "| PE | identified by | live MACs | Ethernet segments | IMET routes | sessions lost | findings "
            + "|\n|---|---|---|---|---|---|---|\n"
        for item in shown {
            let count = findingsPerPE[item.id] ?? 0
            let segments = item.segments.split(separator: " ").filter { $0 != Substring(ESI.zero.description) }
            out +=
                "| \(markdownEscaped(item.address)) | \(markdownEscaped(item.source)) | \(item.liveMACs) | "
                + (segments.isEmpty ? "—" : segments.map { markdownEscaped(String($0)) }.joined(separator: ", "))
                + " | "
            out += "\(item.imet) | \(item.sessionsDown) | \(count) |\n"
        }
        out += "\n"
    }

    private func renderThresholds(_ out: inout String) {
        out += "## Thresholds\n\n| setting | value |\n|---|---|\n"
        // Prefixes compared as bytes: "option." and a joiner after the dot are one Character.
        for key in data.meta.keys.sorted() {
            guard let prefix = ["threshold.", "option."].first(where: { key.utf8.starts(with: $0.utf8) }) else {
                continue
            }
            let name = String(decoding: key.utf8.dropFirst(prefix.utf8.count), as: UTF8.self)
            out += "| \(markdownEscaped(name)) | \(markdownEscaped(data.meta[key] ?? "")) |\n"
        }
        out += "\n"
    }

    private func renderInputs(_ out: inout String) {
        out +=
            "## Inputs\n\n| # | file | format | compression | bytes | records | route events | first | last | "
            + "damaged |\n|---|---|---|---|---|---|---|---|---|---|\n"
        let read = data.inputs.filter { $0.skipped == nil }
        for input in read.prefix(maxTableRows) {
            out +=
                "| \(input.id) | \(markdownEscaped(input.path)) | \(markdownEscaped(input.format ?? "?")) | "
                + "\(markdownEscaped(input.compression ?? "?")) | \(input.bytes) | \(input.records) | "
            out +=
                "\(input.routeEvents) | \(input.first.map(t) ?? "—") | \(input.last.map(t) ?? "—") | "
                + "\(input.damaged ? "**yes**" : "no") |\n"
        }
        if read.count > maxTableRows { out += "\n\(read.count - maxTableRows) more: `SELECT * FROM inputs`.\n" }
        out += "\n"
        let skipped = data.inputs.filter { $0.skipped != nil }
        if !skipped.isEmpty {
            out +=
                "Skipped, not read as dumps: "
                + skipped.prefix(50).map { "\(markdownEscaped($0.path)) (\(markdownEscaped($0.skipped!)))" }
                .joined(separator: ", ") + (skipped.count > 50 ? ", and \(skipped.count - 50) more" : "") + ".\n\n"
        }
    }

    private func renderRouters(_ out: inout String) {
        guard !data.routers.isEmpty else { return }
        out += "## BMP monitored routers\n\n| input | sysName | sysDescr |\n|---|---|---|\n"
        for router in data.routers {
            let file = data.inputs.first { $0.id == router.input }.map { fileName($0.path) } ?? "?"
            out +=
                "| \(markdownEscaped(file)) | \(markdownEscaped(router.sysName ?? "—")) | "
                + "\(markdownEscaped(router.sysDescr ?? "—")) |\n"
        }
        out += "\n"
    }

    private func renderErrors(_ out: inout String) {
        out += "## Decode errors\n\n"
        let damage = data.errors.filter { $0.kind == "damage" }
        let attributes = data.errors.filter { $0.kind == "attribute" }
        if damage.isEmpty && attributes.isEmpty { out += "None: every input decoded completely.\n"; return }
        if !damage.isEmpty {
            out += "| file | byte offset | problem | decoding |\n|---|---|---|---|\n"
            for error in damage.prefix(200) {
                let file = data.inputs.first { $0.id == error.input }?.path ?? "?"
                out +=
                    "| \(markdownEscaped(file)) | \(error.offset) | \(markdownEscaped(error.message)) | "
                    + (error.recovered ? "resumed at the next record" : "stopped; everything before was analysed")
                    + " |\n"
            }
            out += "\n"
        }
        if !attributes.isEmpty {
            out +=
                "\(attributes.count) malformed attribute(s) handled under RFC 7606 (first ones):\n\n| file | byte "
                + "offset | problem |\n|---|---|---|\n"
            for error in attributes.prefix(20) {
                let file = data.inputs.first { $0.id == error.input }?.path ?? "?"
                out += "| \(markdownEscaped(file)) | \(error.offset) | \(markdownEscaped(error.message)) |\n"
            }
            out += "\n"
        }
    }
}
