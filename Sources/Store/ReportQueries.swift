import EVPNModel
import Foundation

/// What the report shows, read back from a database (so `evpnscope report` re-renders any run).
public struct ReportData {
    public struct Input {
        public var id: Int64; public var path: String; public var format: String?; public var compression: String?
        public var bytes: Int64; public var compressedBytes: Int64; public var records: Int64;
        public var routeEvents: Int64
        public var attributeErrors: Int64; public var first: Int64?; public var last: Int64?; public var damaged: Bool;
        public var sha256: String?
        public var skipped: String?
    }
    public struct DecodeError {
        public var input: Int64; public var offset: Int64; public var message: String; public var recovered: Bool;
        public var kind: String
    }
    public struct PE {
        public var id: Int64; public var address: String; public var source: String; public var liveMACs: Int64
        public var segments: String; public var imet: Int64; public var sessionsDown: Int64
    }
    public struct Incident {
        public var id: Int64; public var title: String; public var severity: String; public var first: Int64;
        public var last: Int64
        public var pes: [Int64]; public var bds: [Int64]; public var macCount: Int64; public var macs: [String];
        public var rules: String
        public var cause: String; public var nextStep: String; public var kind: String
    }
    public struct Finding {
        public var id: Int64; public var rule: String; public var severity: String; public var incident: Int64?
        public var bd: Int64?; public var mac: String?; public var ip: String?; public var pes: [Int64];
        public var first: Int64
        public var last: Int64; public var count: Int64; public var detail: String
    }
    public struct Evidence {
        public var time: Int64; public var pe: Int64; public var seq: Int64; public var sticky: Bool;
        public var esi: String
        public var ip: String?; public var event: String; public var input: Int64; public var offset: Int64
    }
    public struct Move {
        public var time: Int64; public var bd: Int64; public var mac: String; public var from: Int64;
        public var to: Int64
        public var seqBefore: Int64; public var seqAfter: Int64
    }

    public struct DataQualityNote {
        public var rule: String; public var subject: String; public var count: Int64; public var input: Int64?
        public var offset: Int64?; public var detail: String
    }
    public struct Router {
        public var input: Int64; public var key: Int64; public var sysName: String?; public var sysDescr: String?
    }
    public var routers: [Router] = []
    public var dataQuality: [DataQualityNote] = []
    public var meta: [String: String] = [:]
    public var inputs: [Input] = []
    public var errors: [DecodeError] = []
    public var pes: [PE] = []
    public var bdLabels: [Int64: String] = [:]
    public var incidents: [Incident] = []
    public var findings: [Finding] = []
    public var macCount: Int64 = 0
    public var moveCount: Int64 = 0
    public var routeEventCount: Int64 = 0
    /// Routes a router's next RIB snapshot withdrew by leaving them out (docs/rules.md).
    public var snapshotWithdrawals: Int64 = 0

    /// Ids are the rows' positions in a database we wrote; a search only for one that is not.
    public func pe(_ id: Int64) -> String {
        if id >= 0 && id < pes.count && pes[Int(id)].id == id { return pes[Int(id)].address }
        return pes.first { $0.id == id }?.address ?? "PE\(id)"
    }

    /// A time column, within the years a timestamp can show: a crafted database's extreme values
    /// must not overflow the report's arithmetic (durations, windows around an incident).
    private static func time(_ s: Statement, _ column: Int) -> Int64 { Timestamp.clamped(s.int(column)) }

    private static func ids(_ text: String?) -> [Int64] { (text ?? "").split(separator: " ").compactMap { Int64($0) } }

    public static func load(_ db: Database) throws -> ReportData {
        var data = ReportData()
        var s = try db.prepare("SELECT key, value FROM meta")
        while try s.step() {
            guard let key = s.text(0) else { continue }  // a hand-edited database may hold anything
            data.meta[key] = s.text(1) ?? ""
        }
        s = try db.prepare(
            "SELECT id, path, format, compression, bytes, compressed_bytes, records, route_events, attribute_errors, "
                + "first_time_us, last_time_us, damaged, sha256, "
                + "\(try db.columnExists("inputs", "skipped") ? "skipped" : "NULL") FROM inputs ORDER BY id"
        )
        while try s.step() {
            data.inputs.append(
                Input(
                    id: s.int(0), path: s.text(1) ?? "", format: s.text(2), compression: s.text(3), bytes: s.int(4),
                    compressedBytes: s.int(5),
                    records: s.int(6), routeEvents: s.int(7), attributeErrors: s.int(8),
                    first: s.isNull(9) ? nil : time(s, 9),
                    last: s.isNull(10) ? nil : time(s, 10), damaged: s.int(11) != 0, sha256: s.text(12),
                    skipped: s.text(13)))
        }
        s = try db.prepare(
            "SELECT input_id, byte_offset, message, recovered, kind FROM decode_errors ORDER BY kind DESC, input_id, "
                + "byte_offset"
        )
        while try s.step() {
            data.errors.append(
                DecodeError(
                    input: s.int(0), offset: s.int(1), message: s.text(2) ?? "", recovered: s.int(3) != 0,
                    kind: s.text(4) ?? ""))
        }
        // Databases written before the table existed have no notes.
        if try db.tableExists("data_quality") {
            s = try db.prepare(
                "SELECT rule, subject, count, input_id, byte_offset, detail FROM data_quality ORDER BY rowid")
            while try s.step() {
                data.dataQuality.append(
                    DataQualityNote(
                        rule: s.text(0) ?? "", subject: s.text(1) ?? "", count: s.int(2),
                        input: s.isNull(3) ? nil : s.int(3), offset: s.isNull(4) ? nil : s.int(4),
                        detail: s.text(5) ?? ""))
            }
        }
        s = try db.prepare("SELECT input_id, router, sys_name, sys_descr FROM monitored_routers ORDER BY input_id")
        while try s.step() {
            data.routers.append(Router(input: s.int(0), key: s.int(1), sysName: s.text(2), sysDescr: s.text(3)))
        }
        s = try db.prepare(
            "SELECT id, address, pe_source, live_macs, ethernet_segments, imet_routes, sessions_down FROM pes ORDER "
                + "BY id"
        )
        while try s.step() {
            data.pes.append(
                PE(
                    id: s.int(0), address: s.text(1) ?? "", source: s.text(2) ?? "", liveMACs: s.int(3),
                    segments: s.text(4) ?? "",
                    imet: s.int(5), sessionsDown: s.int(6)))
        }
        s = try db.prepare("SELECT id, label FROM broadcast_domains")
        while try s.step() { data.bdLabels[s.int(0)] = s.text(1) ?? "" }
        let kind = try db.columnExists("incidents", "kind") ? "kind" : "NULL"
        s = try db.prepare(
            "SELECT id, title, severity, first_time_us, last_time_us, pes, bds, mac_count, macs, rules, cause, "
                + "next_step, \(kind) FROM incidents ORDER BY id"
        )
        while try s.step() {
            data.incidents.append(
                Incident(
                    id: s.int(0), title: s.text(1) ?? "", severity: s.text(2) ?? "", first: time(s, 3),
                    last: time(s, 4),
                    pes: ids(s.text(5)), bds: ids(s.text(6)), macCount: s.int(7),
                    macs: (s.text(8) ?? "").split(separator: " ").map(String.init), rules: s.text(9) ?? "",
                    cause: s.text(10) ?? "", nextStep: s.text(11) ?? "", kind: s.text(12) ?? ""))
        }
        s = try db.prepare(
            "SELECT id, rule, severity, incident_id, bd_id, mac, ip, pes, first_time_us, last_time_us, count, detail "
                + "FROM findings ORDER BY id"
        )
        while try s.step() {
            data.findings.append(
                Finding(
                    id: s.int(0), rule: s.text(1) ?? "", severity: s.text(2) ?? "",
                    incident: s.isNull(3) ? nil : s.int(3),
                    bd: s.isNull(4) ? nil : s.int(4), mac: s.text(5), ip: s.text(6), pes: ids(s.text(7)),
                    first: time(s, 8),
                    last: time(s, 9), count: s.int(10), detail: s.text(11) ?? ""))
        }
        data.macCount = try Int64(db.rows("SELECT count(*) FROM mac_state")[0][0] ?? "0") ?? 0
        data.moveCount = try Int64(db.rows("SELECT count(*) FROM moves")[0][0] ?? "0") ?? 0
        data.routeEventCount = data.inputs.reduce(0) { $0 + $1.routeEvents }
        let inferred = try db.rows("SELECT value FROM meta WHERE key = 'engine.snapshot-withdrawals'")
        data.snapshotWithdrawals = inferred.first.flatMap { $0[0] }.flatMap { Int64($0) } ?? 0
        return data
    }

    public static func evidence(_ db: Database, finding: Int64) throws -> [Evidence] {
        let s = try db.prepare(
            "SELECT time_us, pe, seq, sticky, esi, ip, event, input_id, byte_offset FROM evidence WHERE finding_id = "
                + "? ORDER BY time_us"
        )
        try s.bind([.int(finding)])
        var out: [Evidence] = []
        while try s.step() {
            out.append(
                Evidence(
                    time: time(s, 0), pe: s.int(1), seq: s.int(2), sticky: s.int(3) != 0, esi: s.text(4) ?? "",
                    ip: s.text(5),
                    event: s.text(6) ?? "", input: s.int(7), offset: s.int(8)))
        }
        return out
    }

    public static func moves(_ db: Database, mac: String, from: Int64? = nil, to: Int64? = nil) throws -> [Move] {
        let s = try db.prepare(
            "SELECT time_us, bd_id, mac, from_pe, to_pe, seq_before, seq_after FROM moves WHERE mac = ? AND time_us "
                + "BETWEEN ? AND ? ORDER BY time_us, id"
        )
        try s.bind([.text(mac), .int(from ?? Int64.min), .int(to ?? Int64.max)])
        var out: [Move] = []
        while try s.step() {
            out.append(
                Move(
                    time: time(s, 0), bd: s.int(1), mac: s.text(2) ?? "", from: s.int(3), to: s.int(4),
                    seqBefore: s.int(5), seqAfter: s.int(6)))
        }
        return out
    }
}
