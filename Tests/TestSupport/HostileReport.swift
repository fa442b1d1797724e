import EVPNModel
import Reports
import Synchronization
@testable import Store  // the report rows' memberwise initialisers

/// A report whose every text field comes from the network or a database is only as safe as its
/// escaping: this builds report data with given texts in every text field, and compares the
/// Markdown outline (headings, table rows and their cells, fences, list items) with the one plain
/// texts give. Used by a test and by the renderer's fuzz target (Fuzz/FuzzReport.swift).
public enum HostileReport {
    static let start: Int64 = 1_795_485_600_000_000
    static let plainMAC = "02:00:00:00:00:01"

    /// The report of data whose text fields take `texts` in turn.
    public static func render(_ texts: [String]) throws -> String {
        var index = 0
        func next() -> String {
            defer { index += 1 }
            return texts.isEmpty ? "" : texts[index % texts.count]
        }
        var data = ReportData()
        data.meta["version"] = next()
        data.meta["option." + next()] = next()
        data.meta["threshold."] = next()
        data.meta["data-quality.blind"] = "true"
        data.inputs = [
            .init(
                id: 0, path: next(), format: next(), compression: next(), bytes: 10, compressedBytes: 5, records: 1,
                routeEvents: 1,
                attributeErrors: 1, first: start, last: start + 60_000_000, damaged: true, sha256: next(),
                skipped: nil),
            .init(
                id: 1, path: next(), format: nil, compression: nil, bytes: 0, compressedBytes: 0, records: 0,
                routeEvents: 0,
                attributeErrors: 0, first: nil, last: nil, damaged: false, sha256: nil, skipped: next()),
        ]
        data.errors = [
            .init(input: 0, offset: 12, message: next(), recovered: true, kind: "damage"),
            .init(input: 0, offset: 40, message: next(), recovered: true, kind: "attribute"),
        ]
        data.dataQuality = [.init(rule: next(), subject: next(), count: 1, input: 0, offset: 3, detail: next())]
        data.routers = [.init(input: 0, key: 1, sysName: next(), sysDescr: next())]
        data.pes = [
            .init(id: 0, address: next(), source: next(), liveMACs: 1, segments: next(), imet: 1, sessionsDown: 0),
            .init(id: 1, address: next(), source: next(), liveMACs: 2, segments: next(), imet: 1, sessionsDown: 1),
        ]
        data.bdLabels = [0: next()]
        // One incident with a short finding table, one with a long one (a row per rule); one kind,
        // as the report explains each kind once. A text MAC comes after the three a timeline
        // draws: a text that happens to be a plain MAC must not add a chart of its own.
        let kind = next()
        for (id, findings) in [(Int64(1), 2), (Int64(2), 14)] {
            data.incidents.append(
                .init(
                    id: id, title: next(), severity: next(), first: start, last: start + 30_000_000, pes: [0, 1],
                    bds: [0],
                    macCount: 4, macs: [plainMAC, "02:00:00:00:00:02", "02:00:00:00:00:03", next()], rules: next(),
                    cause: next(), nextStep: next(), kind: kind))
            let rule = next()  // the long table has a row per rule: one rule keeps it one row
            for k in 0..<findings {
                data.findings.append(
                    .init(
                        id: Int64(data.findings.count + 1), rule: findings > 2 ? rule : next(), severity: next(),
                        incident: id, bd: 0,
                        mac: k == 0 ? plainMAC : next(), ip: next(), pes: [0, 1], first: start + Int64(k),
                        last: start + 20_000_000,
                        count: 3, detail: next()))
            }
        }
        let evidence = [
            ReportData.Evidence(
                time: start, pe: 0, seq: 1, sticky: true, esi: next(), ip: next(), event: next(), input: 0, offset: 5)
        ]
        let moves = [
            ReportData.Move(time: start + 1_000_000, bd: 0, mac: plainMAC, from: 0, to: 1, seqBefore: 0, seqAfter: 1)
        ]
        return try MarkdownReport(
            data: data, evidence: { _ in evidence }, moves: { mac, _, _ in mac == plainMAC ? moves : [] }
        ).render()
    }

    /// One entry per line: what kind of Markdown block the line is, and a table row's cell count.
    /// Read as UTF-8 bytes: every mark it looks for is ASCII.
    public static func outline(_ markdown: String) -> [String] {
        Array(markdown.utf8).split(separator: UInt8(ascii: "\n"), maxSplits: .max, omittingEmptySubsequences: false).map
        { line -> String in
            func starts(_ prefix: String) -> Bool { line.starts(with: prefix.utf8) }
            if line.isEmpty { return "blank" }
            if starts("```") { return "fence" }
            if starts("- ") || starts("* ") || starts("+ ") { return "item" }
            let hashes = line.prefix { $0 == UInt8(ascii: "#") }.count
            if hashes > 0 && line.dropFirst(hashes).first == UInt8(ascii: " ") { return "heading \(hashes)" }
            if starts("|") {
                var cells = 0, escaped = false
                for byte in line {
                    if escaped { escaped = false; continue }
                    if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "|") { cells += 1 }
                }
                return "row \(cells)"
            }
            return "text"
        }
    }

    /// The outline of plain texts ("x"), by their count: the same for every input of that count.
    private static let plainOutlines = Mutex<[Int: [String]]>([:])
    private static func plainOutline(count: Int) throws -> [String] {
        if let known = plainOutlines.withLock({ $0[count] }) { return known }
        let computed = outline(try render([String](repeating: "x", count: count)))
        plainOutlines.withLock { $0[count] = computed }
        return computed
    }

    /// nil when `texts` leave the report's outline as plain texts do and no control, bidi or
    /// invisible format character reaches it; otherwise what differs.
    public static func problem(with texts: [String]) throws -> String? {
        let hostile = try render(texts)
        let plain = try plainOutline(count: texts.count)
        let (a, b) = (outline(hostile), plain)
        for index in 0..<max(a.count, b.count) where index >= a.count || index >= b.count || a[index] != b[index] {
            let lines = hostile.split(separator: "\n", omittingEmptySubsequences: false)
            return
                "line \(index + 1): \(index < a.count ? a[index] : "none") instead of "
                + "\(index < b.count ? b[index] : "none"): "
                + (index < lines.count ? String(lines[index]) : "")
        }
        if let hidden = hostile.unicodeScalars.first(where: {
            $0.value < 0x20
                ? $0 != "\n"
                : $0.value >= 0x7F && ($0.properties.isBidiControl || $0.properties.generalCategory == .format)
        }) {
            return "U+\(String(hidden.value, radix: 16, uppercase: true)) reaches the report"
        }
        return nil
    }
}
