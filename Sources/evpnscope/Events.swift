import ArgumentParser
import EVPNModel
import Foundation
import Store

/// Output formats of `events`.
enum StoredEventFormat: String, ExpressibleByArgument, CaseIterable {
    case text, csv, json
}

struct Events: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events",
        abstract:
            "Print the route events an analysis stored (one per advertisement, with every observation point that "
            + "carried it).",
        discussion: """
            The default database keeps route events in compressed blocks; this prints them as rows with the \
            route_events table's column names (csv and json, see docs/schema.md), for a MAC, a time window, or all.

            Example: evpnscope events --db reports/demo/analysis.sqlite --mac aa:aa:aa:11:11:11 --since \
            2026-11-24T02:10Z
            """)

    @Option(help: "Analysis database written by `analyze`.")
    var db: String

    @Option(help: "Only this MAC's events.")
    var mac: String?

    @OptionGroup(title: "Time window") var timeWindow: TimeWindowOptions

    @Option(help: "text, csv (a header line, then the route_events columns) or json (one object per line).")
    var format: StoredEventFormat = .text

    func run() throws {
        let address = try mac.map { try parseMAC($0, option: "--mac") }
        let (sinceTime, untilTime) = try timeWindow.times()
        guard FileManager.default.fileExists(atPath: db) else {
            throw CLIUsageError(message: "\(db): no such database")
        }
        let database = try Database(path: db, readOnly: true)
        let context = try StoredEventContext(database)
        if format == .csv { print(StoredRouteEvent.columnNames.joined(separator: ",")) }
        try StoredEvents(db: database).forEach(mac: address, since: sinceTime, until: untilTime) { event in
            switch format {
            case .text: print(context.line(for: event))
            case .csv: print(event.columnTexts.map { csvField($0) }.joined(separator: ","))
            case .json:
                let fields = zip(StoredRouteEvent.columnNames, event.columnTexts).map { name, value in
                    "\(jsonString(name)):\(value.map { numericColumns.contains(name) ? $0 : jsonString($0) } ?? "null")"
                }
                print("{" + fields.joined(separator: ",") + "}")
            }
        }
    }

    private var numericColumns: Set<String> {
        ["time_us", "input_id", "byte_offset", "observation_id", "route_type", "eth_tag", "seq", "sticky", "path_id"]
    }

    private func csvField(_ value: String?) -> String {
        guard let value else { return "" }
        // An empty text is quoted, as sqlite3's csv mode does, to tell it from NULL.
        guard !value.isEmpty else { return "\"\"" }
        guard value.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) else { return value }
        return "\"" + value.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

/// What a stored event's line names besides the event: observation points and inputs.
struct StoredEventContext {
    private var observations: [UInt32: String] = [:]
    private var inputs: [Int32: String] = [:]

    init(_ database: Database) throws {
        for row in try database.rows("SELECT id, peer_ip, table_name FROM observation_points") {
            guard let id = row[0].flatMap({ UInt32($0) }) else { continue }
            observations[id] = "\(row[1] ?? "?") \(row[2] ?? "")"
        }
        for row in try database.rows("SELECT id, path FROM inputs") {
            guard let id = row[0].flatMap({ Int32($0) }) else { continue }
            inputs[id] = ((row[1] ?? "?") as NSString).lastPathComponent
        }
    }

    /// "TIME  announce rd RD [mac M] [ip I] [nh N] [seq S] [sticky]  via PEER TABLE (+N more)  [FILE@OFFSET]"
    func line(for event: StoredRouteEvent) -> String {
        var text = "\(Timestamp.format(event.time))  \(event.isWithdraw ? "withdraw" : "announce")"
        if event.family != .evpn { text += " \(event.family)" }
        if let type = event.routeType { text += " type \(type)" }
        if let rd = event.rd { text += " rd \(rd)" }
        if let mac = event.mac { text += " mac \(mac)" }
        if let ip = event.ip { text += " ip \(ip)" }
        if let prefix = event.prefix { text += " prefix \(prefix)" }
        if let nextHop = event.nextHop { text += " nh \(nextHop)" }
        if let mobility = event.mobility { text += " seq \(mobility.sequence)\(mobility.sticky ? " sticky" : "")" }
        if let esi = event.esi, !esi.isZero { text += " esi \(esi)" }
        let via = event.observation.flatMap { observations[$0] } ?? "?"
        let more = event.seenAt.count > 1 ? " (+\(event.seenAt.count - 1) more)" : ""
        return text + "  via \(via)\(more)  [\(inputs[event.source.input] ?? "?")@\(event.source.offset)]"
    }
}
