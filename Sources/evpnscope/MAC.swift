import ArgumentParser
import EVPNModel
import Foundation
import Store

struct MAC: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mac",
        abstract: "The whole history of one MAC: every advertisement, move and finding.",
        discussion: """
            Example: evpnscope mac 02:03:00:00:00:1e --db reports/demo/analysis.sqlite
            """)

    @Argument(help: "MAC address (aa:bb:cc:dd:ee:ff, aa-bb-..., or aabb.ccdd.eeff).")
    var mac: String

    @Option(help: "Analysis database written by `analyze`.")
    var db: String

    func run() throws {
        let address = try parseMAC(mac, option: "MAC")
        guard FileManager.default.fileExists(atPath: db) else {
            throw CLIUsageError(message: "\(db): no such database")
        }
        let database = try Database(path: db, readOnly: true)
        let text = address.description
        let pes = Dictionary(
            uniqueKeysWithValues: try database.rows("SELECT id, address FROM pes").map { ($0[0] ?? "", $0[1] ?? "") })
        func pe(_ id: String?) -> String { id.flatMap { pes[$0] } ?? "-" }
        func time(_ value: String?) -> String { value.flatMap(Int64.init).map(Timestamp.format) ?? "-" }
        print("MAC \(text)")
        let states = try database.rows(
            """
            SELECT b.label, m.winner_pe, m.winner_seq, m.moves, m.advertisers, m.ips, m.first_seen_us, m.last_change_us
            FROM mac_state m JOIN broadcast_domains b ON b.id = m.bd_id WHERE m.mac = ?
            """, [.text(text)])
        if states.isEmpty { print("  not seen in this analysis"); return }
        for row in states {
            let advertisers = (row[4] ?? "").split(separator: " ").map { item -> String in
                let parts = item.split(separator: ":")
                return "\(pe(String(parts[0]))) seq \(parts.count > 1 ? parts[1] : "")"
            }.joined(separator: ", ")
            print(
                "  broadcast domain \(row[0] ?? "?"): owner \(pe(row[1])) seq \(row[2] ?? "-"), \(row[3] ?? "0") "
                    + "moves, first seen \(time(row[6])), last change \(time(row[7]))"
            )
            print(
                "    advertised by: " + (advertisers.isEmpty ? "nobody (withdrawn)" : advertisers)
                    + (row[5].map { $0.isEmpty ? "" : "; IPs \($0)" } ?? "")
            )
        }
        let moves = try database.rows(
            "SELECT time_us, from_pe, to_pe, seq_before, seq_after, tie, wrap FROM moves WHERE mac = ? ORDER BY "
                + "time_us, id",
            [.text(text)])
        if !moves.isEmpty {
            print("  moves:")
            for row in moves {
                let flags = (row[5] == "1" ? " (tie)" : "") + (row[6] == "1" ? " (wrap)" : "")
                print(
                    "    \(time(row[0]))  \(pe(row[1])) → \(pe(row[2]))  seq \(row[3] ?? "") → \(row[4] ?? "")"
                        + flags)
            }
        }
        let findings = try database.rows(
            "SELECT id, rule, severity, first_time_us, incident_id, detail FROM findings WHERE mac = ? ORDER BY "
                + "first_time_us",
            [.text(text)])
        if !findings.isEmpty {
            print("  findings:")
            for row in findings {
                print(
                    "    #\(row[0] ?? "") \(row[1] ?? "") [\(row[2] ?? "")] \(time(row[3])) incident "
                        + "\(row[4] ?? "-"): \(row[5] ?? "")"
                )
            }
        }
        var events: [StoredRouteEvent] = []
        try StoredEvents(db: database).forEach(mac: address) { events.append($0) }
        if !events.isEmpty {
            let context = try StoredEventContext(database)
            print("  route events (\(events.count)):")
            for event in events { print("    " + context.line(for: event)) }
        }
    }
}
