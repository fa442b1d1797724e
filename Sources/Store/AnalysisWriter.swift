import Analysis
import EVPNModel
import Foundation
import Replay

/// A BMP monitored router as its Initiation message described it (network strings).
public struct RouterRecord: Sendable {
    public var key: UInt32
    public var sysName: String?
    public var sysDescr: String?
    public init(key: UInt32, sysName: String?, sysDescr: String?) {
        self.key = key; self.sysName = sysName; self.sysDescr = sysDescr
    }
}

/// One input as the run saw it (filled in by the executable from the readers).
public struct InputRecord: Sendable {
    public var id: Int32
    public var path: String
    public var sha256: String?
    public var format: String?
    public var compression: String?
    public var bytes: Int64
    public var compressedBytes: Int64
    public var records: Int
    public var routeEvents: Int
    public var attributeErrors: Int
    public var firstTime: Int64?
    public var lastTime: Int64?
    public var damage: [InputDamage]
    public var attributeProblems: [InputDamage]
    public var routers: [RouterRecord] = []
    /// Why the file was not read: it is plainly not a dump.
    public var skipped: String?
    public init(
        id: Int32, path: String, sha256: String?, format: String?, compression: String?, bytes: Int64,
        compressedBytes: Int64,
        records: Int, routeEvents: Int, attributeErrors: Int, firstTime: Int64?, lastTime: Int64?,
        damage: [InputDamage], attributeProblems: [InputDamage]
    ) {
        self.id = id; self.path = path; self.sha256 = sha256; self.format = format; self.compression = compression
        self.bytes = bytes; self.compressedBytes = compressedBytes; self.records = records;
        self.routeEvents = routeEvents
        self.attributeErrors = attributeErrors; self.firstTime = firstTime; self.lastTime = lastTime
        self.damage = damage; self.attributeProblems = attributeProblems
    }
}

/// Writes one run's results into a new database under a temporary name; `commit()` renames it
/// over the target, so an interrupted run never leaves a half-written file where a good one was.
public final class AnalysisWriter {
    public let finalPath: String
    /// Where the database grows until `install()` (`TemporaryName`).
    public let temporaryPath: String
    private var database: Database?
    /// Route events and moves on their way to the writer thread.
    private var rows: BatchPipe<EventBatch>?
    private var inserter: EventRowInserter?
    private var batch = EventBatch()
    private static let rowsPerBatch = 1024
    /// How far the writer thread may fall behind: 16 batches (~16 k events, ~6 MB). With 2, it
    /// and the bzip2 decoder woke every few milliseconds, and each wake-up took the replay's core
    /// from it (on two cores): the main thread waited 0.9-1.3 s of a 1 M MAC .bz2 run for a core,
    /// 0.5-0.6 s with 16 (bench.md, session 25).
    private static let batchesAhead = 16

    /// Frees the route events of a batch the writer is done with; set it to hand them to the
    /// thread that allocated them when that is not this one (`PrefetchedFeed.retire`).
    public var retire: (inout [RouteEvent]) -> Void = { $0.removeAll(keepingCapacity: true) }

    /// Copies of one advertisement at other observation points, folded into its row (ID-3) on
    /// this thread: the copy is freed at once, where it was made, instead of travelling to the
    /// writer thread and back (half of a two-reflector run's 13 M events are copies).
    private var sightings: SightingMerger

    /// `copyWindow`: how long after an event its copies at other observation points still join
    /// its row (the engine's copy lag). `eventRows`: route events also as rows of route_events.
    public init(path: String, copyWindow: TimeSpan = .seconds(1), eventRows: Bool = false) throws {
        self.eventRows = eventRows
        sightings = SightingMerger(window: copyWindow)
        finalPath = path
        temporaryPath = TemporaryName.of(path)
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        for file in TemporaryName.withCompanions(path) { unlink(file) }
        let db = try Database(path: temporaryPath)
        // Index builds sort in temporary files: memory must not grow with the number of moves.
        try db.execute(
            "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA temp_store = FILE; PRAGMA cache_size = -2048;")
        try db.execute(Schema.create)
        try db.execute(Schema.movesStaging)
        database = db
    }

    private var installed = false
    private let eventRows: Bool

    deinit {
        rows?.close()
        database = nil
        // A run that did not get as far as `install()` leaves nothing behind.
        if !installed { for file in TemporaryName.withCompanions(finalPath) { unlink(file) } }
    }

    private var db: Database { database! }

    public func setMeta(_ pairs: [(String, String)]) throws {
        try flushEvents()
        let statement = try db.prepare("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)")
        try db.transaction { for (key, value) in pairs { try statement.run(key, value) } }
    }

    // MARK: Route events (streamed during the run, in large transactions)

    /// Streams one route event; copies of one advertisement are folded into its row (ID-3).
    public func addEvent(_ event: consuming RouteEvent, observationID: Int32?) throws {
        // A closure, not the method itself: a method reference retains the writer per call.
        try sightings.add(event, observation: observationID) { try addAdvertisement(consume $0, seenAt: $1) }
    }

    /// Called a few events before `addEvent(event)`: requests what folding it will read.
    public func prefetch(_ event: RouteEvent) { sightings.prefetch(event) }

    /// Streams one move into the moves table (batched with the route events).
    public func addMove(_ t: Transition, bd: Int32, mac: MACAddress) throws {
        try add(.move(t, bd: bd, mac: mac))
    }

    /// The batch holds the event; its row only names it. The writer thread then reads the event
    /// without counting a reference to it: each retain and release there pulled the event's
    /// cache line over from this thread's core, and pushed it back for the final release here.
    private func addAdvertisement(_ event: consuming RouteEvent, seenAt: ObservationSet) throws {
        let row = EventRowInserter.Row.event(Unmanaged.passUnretained(event), seenAt: seenAt)
        batch.events.append(consume event)  // before the row: `add` may send the batch
        try add(row)
    }

    private func add(_ row: consuming EventRowInserter.Row) throws {
        if rows == nil {
            let inserter = try EventRowInserter(db: db, eventRows: eventRows)
            self.inserter = inserter
            rows = BatchPipe(capacity: Self.batchesAhead) { batch in
                try inserter.insert(&batch)
                batch.rows.removeAll(keepingCapacity: true)
            }
            batch.rows.reserveCapacity(Self.rowsPerBatch)
        }
        batch.rows.append(row)
        if batch.rows.count >= Self.rowsPerBatch {
            var next = rows!.reclaim() ?? EventBatch()
            // The events the writer is done with are freed by the thread that allocated them.
            retire(&next.events)
            next.rows.reserveCapacity(Self.rowsPerBatch)
            swap(&batch, &next)
            try rows!.send(next)
        }
    }

    /// Hands the last rows to the writer thread, waits for it, and commits them.
    private func flushEvents() throws {
        try sightings.flush { try addAdvertisement(consume $0, seenAt: $1) }
        guard let rows else { return }
        if !batch.rows.isEmpty { try rows.send(batch); batch = EventBatch() }
        // The pipe and the inserter go before the database closes: their statements would keep it open.
        defer { rows.close(); self.rows = nil; inserter = nil }
        try rows.drain()
        try inserter?.commitPending()
    }

    private var movesSorted = false

    // MARK: Results

    public func write(
        inputs: [InputRecord], engine: ReplayEngine, analyzer: Analyzer, incidents: [Incident],
        dataQuality: [DataQualityNote] = []
    ) throws {
        try flushEvents()
        try db.transaction {
            let note = try db.prepare(
                "INSERT INTO data_quality(rule, subject, count, input_id, byte_offset, detail) VALUES (?, ?, ?, ?, "
                    + "?, ?)"
            )
            for item in dataQuality {
                try note.run(
                    item.rule.rawValue, item.subject, item.count, item.input.map(Int64.init), item.offset, item.detail)
            }
            let input = try db.prepare(
                """
                INSERT INTO inputs(id, path, sha256, format, compression, bytes, compressed_bytes, records, \
                route_events,
                  attribute_errors, first_time_us, last_time_us, damaged, skipped) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, \
                ?, ?, ?, ?, ?)
                """)
            let error = try db.prepare(
                "INSERT INTO decode_errors(input_id, byte_offset, message, recovered, kind) VALUES (?, ?, ?, ?, ?)")
            let router = try db.prepare(
                "INSERT INTO monitored_routers(input_id, router, sys_name, sys_descr) VALUES (?, ?, ?, ?)")
            for record in inputs {
                for item in record.routers { try router.run(record.id, Int64(item.key), item.sysName, item.sysDescr) }
                try input.run(
                    record.id, record.path, record.sha256, record.format, record.compression, record.bytes,
                    record.compressedBytes,
                    record.records, record.routeEvents, record.attributeErrors, record.firstTime, record.lastTime,
                    !record.damage.isEmpty, record.skipped)
                for damage in record.damage {
                    try error.run(record.id, damage.offset, damage.message, damage.recovered, "damage")
                }
                for problem in record.attributeProblems {
                    try error.run(record.id, problem.offset, problem.message, true, "attribute")
                }
            }
            let observation = try db.prepare(
                """
                INSERT INTO observation_points(id, router, table_name, distinguisher, peer_ip, peer_as, peer_bgp_id) \
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """)
            for (i, op) in engine.observations.enumerated() {
                try observation.run(
                    i, Int64(op.router), op.table.name, Int64(bitPattern: op.distinguisher), op.peerIP.description,
                    op.peerAS, op.peerBGPID.isZero ? nil : op.peerBGPID.description)
            }
            let liveMACs = try writeMACStates(engine)
            let pe = try db.prepare(
                """
                INSERT INTO pes(id, address, pe_source, live_macs, ethernet_segments, imet_routes, sessions_down, \
                first_seen_us, last_seen_us)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
            for (i, info) in engine.pes.enumerated() {
                try pe.run(
                    i, info.address.description, info.source.rawValue, liveMACs[i],
                    info.ethernetSegments.map(\.description).sorted().joined(separator: " "), info.imetRoutes,
                    info.sessionsDown,
                    info.firstSeen, info.lastSeen)
            }
            let bd = try db.prepare(
                "INSERT INTO broadcast_domains(id, label, route_targets, ethernet_tag) VALUES (?, ?, ?, ?)")
            for (i, domain) in engine.bds.enumerated() {
                try bd.run(
                    i, domain.label, domain.routeTargets.map(\.description).joined(separator: " "),
                    Int64(domain.ethernetTag))
            }
            let incident = try db.prepare(
                """
                INSERT INTO incidents(id, title, severity, first_time_us, last_time_us, pes, bds, mac_count, macs, \
                rules, cause, next_step, kind, impact)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
            for item in incidents {
                try incident.run(
                    item.id, item.title, item.severity.name, item.firstTime, item.lastTime,
                    item.pes.map(String.init).joined(separator: " "), item.bds.map(String.init).joined(separator: " "),
                    item.macs.count, item.macs.map(\.description).joined(separator: " "),
                    item.rules.map(\.rawValue).joined(separator: " "), item.cause, item.nextStep, item.kind.rawValue,
                    item.impact)
            }
            let finding = try db.prepare(
                """
                INSERT INTO findings(id, rule, severity, incident_id, bd_id, mac, ip, pes, first_time_us, \
                last_time_us, count, detail)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
            let evidence = try db.prepare(
                """
                INSERT INTO evidence(finding_id, time_us, pe, seq, sticky, esi, ip, event, input_id, byte_offset, \
                observation_id)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
            for item in analyzer.findings {
                try finding.run(
                    item.id, item.rule.rawValue, item.severity.name, item.incident > 0 ? Int64(item.incident) : nil,
                    item.bd >= 0 ? Int64(item.bd) : nil, item.mac?.description, item.ip?.description,
                    item.pes.map(String.init).joined(separator: " "), item.firstTime, item.lastTime, item.count,
                    item.detail)
                for e in item.evidence.sorted(by: { $0.time < $1.time }) {
                    try evidence.run(
                        item.id, e.time, e.pe.raw, e.seq, e.sticky, e.esi.description, e.ip?.description, e.event,
                        e.source.input, e.source.offset, e.observation.exists ? Int64(e.observation.raw) : nil)
                }
            }
        }
    }

    /// MAC states on their way to the writer thread: each row's numbers, and its text columns
    /// as ranges of the chunk's bytes.
    private struct MACStateChunk {
        struct Row { var state: MACState; var mac: Range<Int>; var advertisers: Range<Int>; var ips: Range<Int> }
        var rows: [Row] = []
        var text = RowText()
        static let size = 8192
    }

    /// One mac_state row per MAC (a million in a large fabric). This thread walks the engine
    /// (random reads into the route table) and writes each row's text as bytes; SQLite inserts
    /// on the writer thread meanwhile. Returns how many MACs each PE advertises.
    private func writeMACStates(_ engine: ReplayEngine) throws -> [Int] {
        var liveMACs = [Int](repeating: 0, count: engine.pes.count)
        let insert = try GroupedInsert(
            db, table: "mac_state",
            columns: [
                "bd_id", "mac", "winner_pe", "winner_seq", "moves",
                "advertisers", "ips", "first_seen_us", "last_change_us",
            ], rowsPerStatement: 32)
        let pipe = BatchPipe<MACStateChunk> { chunk in
            defer { chunk.rows.removeAll(keepingCapacity: true); chunk.text.removeAll() }
            try chunk.text.withColumns { text in
                try insert.insert(count: chunk.rows.count) { statement, index, first in
                    let row = chunk.rows[index], state = row.state
                    try statement.bind(first, Int64(state.bd))
                    try statement.bind(first + 1, stableText: text(row.mac))
                    try statement.bind(first + 2, state.winner.exists ? Int64(state.winner.raw) : nil)
                    try statement.bind(first + 3, Int64(state.winnerSeq))
                    try statement.bind(first + 4, Int64(state.moves))
                    try statement.bind(first + 5, stableText: text(row.advertisers))
                    try statement.bind(first + 6, stableText: text(row.ips))
                    try statement.bind(first + 7, state.firstSeen)
                    try statement.bind(first + 8, state.lastChange)
                }
            }
        }
        defer { pipe.close() }
        var chunk = MACStateChunk()
        var ips: [IPAddress] = []
        // In the table's key order (MAC, then broadcast domain): appends to the tree, not inserts.
        var keys: [(mac: UInt64, bd: Int32, index: Int)] = []
        keys.reserveCapacity(engine.macs.count)
        for index in engine.macs.indices {
            let state = engine.macs[index]
            keys.append((state.mac.value, state.bd, index))
        }
        keys.sort { a, b in a.mac != b.mac ? a.mac < b.mac : a.bd < b.bd }
        for (_, _, index) in keys {
            let state = engine.macs[index]
            let macColumn = chunk.text.column { $0.append(state.mac) }
            let advertisersColumn = chunk.text.column { text in
                engine.forEachAdvert(mac: MACID(index: index)) { advert in
                    liveMACs[advert.pe.index] += 1
                    if text.count > macColumn.upperBound { text.append(UInt8(ascii: " ")) }
                    text.append(decimal: UInt64(advert.pe.raw))
                    text.append(UInt8(ascii: ":"))
                    text.append(decimal: UInt64(advert.seq))
                    if advert.sticky { text.append(UInt8(ascii: "s")) }
                }
            }
            ips.removeAll(keepingCapacity: true)
            engine.forEachIP(mac: MACID(index: index)) { ips.append($0) }
            let ipsColumn = chunk.text.column { text in
                if ips.count == 1 {
                    text.append(ips[0])
                } else if !ips.isEmpty {
                    text.append(Set(ips.map(\.description)).sorted().joined(separator: " "))
                }
            }
            chunk.rows.append(
                MACStateChunk.Row(state: state, mac: macColumn, advertisers: advertisersColumn, ips: ipsColumn))
            if chunk.rows.count == MACStateChunk.size {
                var next = pipe.reclaim() ?? MACStateChunk()
                swap(&chunk, &next)
                try pipe.send(next)
            }
        }
        if !chunk.rows.isEmpty { try pipe.send(chunk) }
        try pipe.drain()
        return liveMACs
    }

    /// Builds the indexes, closes the database and renames it into place.
    public func commit() throws {
        try finishWriting()
        try install()
    }

    /// Builds the indexes and closes the database, still under its temporary name (a report can
    /// be rendered from it before either file replaces an earlier run's).
    public func finishWriting() throws {
        try flushEvents()
        // The moves' sort and the index builds sort on every core (7.1 → 5.0 s for 6.6 M route
        // events on two), and the planner's statistics come from a sample, not from reading
        // every index whole.
        try db.execute(
            "PRAGMA threads = \(ProcessInfo.processInfo.activeProcessorCount); PRAGMA analysis_limit = 1000;")
        if !movesSorted { try db.transaction { try db.execute(Schema.moveStaged) }; movesSorted = true }
        try db.execute(Schema.indexes)
        try db.execute("ANALYZE")
        try database?.close()
        database = nil
    }

    /// Renames the finished database over the target.
    public func install() throws {
        for suffix in ["-journal", "-wal", "-shm"] { unlink(finalPath + suffix) }
        guard rename(temporaryPath, finalPath) == 0 else {
            throw DatabaseError(
                message: "cannot rename \(temporaryPath) to \(finalPath): \(String(cString: strerror(errno)))")
        }
        installed = true
    }
}
