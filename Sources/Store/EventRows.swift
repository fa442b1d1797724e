import Containers
import EVPNModel
import Foundation
import Replay

/// Stores route events as compressed blocks (and, when asked, as rows of the route_events table)
/// and moves as rows. Most text columns repeat from one event to the next
/// (a PE's route distinguisher, next hop and route targets, the zero ESI, the family), so their
/// text is kept by value instead of being formatted again for each of millions of rows.
final class EventRowInserter {
    private let db: Database
    private let events: GroupedInsert?, moves: GroupedInsert
    private let blockInsert: Statement
    private var block = EventBlockEncoder()
    private var inTransaction = 0
    static let rowsPerTransaction = 100_000

    private var rdText = TextMemo<RouteDistinguisher>()
    private var esiText = TextMemo<ESI>()
    private var addressText = TextMemo<IPAddress>()
    private var familyText = TextMemo<AddressFamily>()
    private var targetsText = TextMemo<InlineList<ExtendedCommunity>>()

    /// `eventRows`: also one route_events row per event (`--events table`).
    init(db: Database, eventRows: Bool) throws {
        self.db = db
        blockInsert = try db.prepare(
            "INSERT INTO route_event_blocks(first_time_us, last_time_us, events, mac_filter, data) VALUES (?, ?, ?, "
                + "?, ?)"
        )
        // 16 rows to a statement: the writer thread bounds a run that stores every route event.
        events =
            !eventRows
            ? nil
            : try GroupedInsert(
                db, table: "route_events",
                columns: [
                    "time_us", "input_id", "byte_offset", "observation_id", "event", "family", "route_type", "rd",
                    "esi", "eth_tag",
                    "mac", "ip", "prefix", "next_hop", "seq", "sticky", "route_targets", "originator_id", "path_id",
                    "seen_at",
                ], rowsPerStatement: 16)
        moves = try GroupedInsert(
            db, table: "temp.moves_staging",
            columns: [
                "time_us", "bd_id", "mac", "from_pe", "to_pe", "seq_before", "seq_after", "tie", "wrap", "input_id",
                "byte_offset",
            ],
            rowsPerStatement: 16)
    }

    private func rowsAdded(_ count: Int) throws {
        inTransaction += count
        if inTransaction >= Self.rowsPerTransaction { try db.execute("COMMIT"); inTransaction = 0 }
    }

    private func beginIfNeeded() throws { if inTransaction == 0 { try db.execute("BEGIN") } }

    func commitPending() throws {
        try beginIfNeeded()
        inTransaction += 1  // the transaction is open, however few rows it holds
        if block.count > 0 { try writeBlock() }
        if inTransaction > 0 { try db.execute("COMMIT"); inTransaction = 0 }
    }

    /// The text of the batch's columns that do not recur (MAC, a MAC's IP, prefix).
    private var rowText = RowText()
    private static let announceText = TextMemo<Int>.copy("announce")
    private static let withdrawText = TextMemo<Int>.copy("withdraw")

    deinit {
        rdText.release(); esiText.release(); addressText.release(); familyText.release(); targetsText.release()
    }

    /// A row of either table, as it travels to the writer thread.
    enum Row {
        /// One advertisement, its copies at other observation points folded in (ID-3): the event
        /// is held by the row's batch (`EventBatch.events`) until the batch comes back.
        case event(Unmanaged<RouteEvent>, seenAt: ObservationSet)
        case move(Transition, bd: Int32, mac: MACAddress)
        /// What a row leaves behind in its batch once taken (`insert` empties the batch).
        case taken
    }

    private var eventRows: [EventColumns] = []
    private var moveRows: [MoveColumns] = []

    /// Inserts a batch, each table's rows in their order in the batch: every row's columns
    /// first (text as ranges of one buffer, recurring text from the memos), then the statements.
    func insert(_ batch: inout EventBatch) throws {
        try beginIfNeeded()
        // Texts bound for any row must stay put until its statement has run: the memos may let
        // go of theirs only here, between batches.
        rdText.startBatch(); esiText.startBatch(); addressText.startBatch(); familyText.startBatch();
        targetsText.startBatch()
        rowText.removeAll()
        // Emptied on the way out: the rows hold their events, which should go with the batch.
        defer { eventRows.removeAll(keepingCapacity: true); moveRows.removeAll(keepingCapacity: true) }
        for index in batch.rows.indices {
            // Moved out of the batch, not copied: a copy retains what the row holds again.
            var row = Row.taken
            swap(&row, &batch.rows[index])
            switch consume row {
            case .taken: continue
            case .event(let event, let seenAt):
                // Unretained: the batch holds the event while this thread writes it.
                try event._withUnsafeGuaranteedRef { try store($0, seenAt: seenAt) }
            case .move(let move, let bd, let mac):
                moveRows.append(MoveColumns(move: move, bd: bd, mac: rowText.column { $0.append(mac) }))
            }
        }
        try rowText.withColumns { text in
            try events?.insert(count: eventRows.count) { s, index, first in
                let row = eventRows[index], event = row.event
                try s.bind(first, event.time)
                try s.bind(first + 1, Int64(event.source.input))
                try s.bind(first + 2, event.source.offset)
                try s.bind(first + 3, row.observation.map(Int64.init))
                try s.bind(first + 4, stableText: event.isWithdraw ? Self.withdrawText : Self.announceText)
                try s.bind(first + 5, stableText: row.family)
                try s.bind(first + 6, row.routeType)
                try s.bind(first + 7, stableText: row.rd)
                try s.bind(first + 8, stableText: row.esi)
                try s.bind(first + 9, row.tag)
                try s.bind(first + 10, stableText: row.mac.map(text))
                try s.bind(first + 11, stableText: row.address ?? row.ip.map(text))
                try s.bind(first + 12, stableText: row.prefix.map(text))
                try s.bind(first + 13, stableText: row.nextHop)
                try s.bind(first + 14, row.mobility.map { Int64($0.sequence) })
                try s.bind(first + 15, row.mobility.map { $0.sticky ? 1 : 0 })
                try s.bind(first + 16, stableText: row.targets)
                try s.bind(first + 17, stableText: row.originator)
                try s.bind(first + 18, event.entry.pathID.map { Int64($0) })
                try s.bind(first + 19, stableText: row.seenAt.isEmpty ? nil : text(row.seenAt))
            }
            try moves.insert(count: moveRows.count) { s, index, first in
                let row = moveRows[index], t = row.move
                try s.bind(first, t.time)
                try s.bind(first + 1, Int64(row.bd))
                try s.bind(first + 2, stableText: text(row.mac))
                try s.bind(first + 3, Int64(t.otherPE.raw))
                try s.bind(first + 4, Int64(t.pe.raw))
                try s.bind(first + 5, Int64(t.seqBefore))
                try s.bind(first + 6, Int64(t.seqAfter))
                try s.bind(first + 7, t.tie ? 1 : 0)
                try s.bind(first + 8, t.wrap ? 1 : 0)
                try s.bind(first + 9, Int64(t.source.input))
                try s.bind(first + 10, t.source.offset)
            }
        }
        try rowsAdded(batch.rows.count)
    }

    /// One advertisement, with every observation point that carried it, into the block (and the
    /// table's rows when asked).
    private func store(_ event: RouteEvent, seenAt: ObservationSet) throws {
        block.append(event, seenAt: seenAt)
        if block.isFull { try writeBlock() }
        guard events != nil else { return }
        var eventColumns = columns(of: event, observation: seenAt.first.map { Int32(bitPattern: $0) })
        eventColumns.seenAt = rowText.column { text in
            var separator = false
            seenAt.forEach { id in
                if separator { text.append(UInt8(ascii: " ")) }
                text.append(decimal: UInt64(id))
                separator = true
            }
        }
        eventRows.append(eventColumns)
    }

    private func writeBlock() throws {
        let finished = block.finish()
        try blockInsert.bind(1, finished.firstTime)
        try blockInsert.bind(2, finished.lastTime)
        try blockInsert.bind(3, Int64(finished.events))
        try blockInsert.bind(4, blob: finished.filter)
        try blockInsert.bind(5, blob: finished.data)
        try blockInsert.insert()
    }

    /// What a route-event row binds; text that does not recur is a range of `rowText`.
    private struct EventColumns {
        typealias Text = UnsafeBufferPointer<UInt8>
        var event: RouteEvent, observation: Int32?, family: Text
        var routeType: Int64?, rd: Text?, esi: Text?, tag: Int64?, address: Text?, nextHop: Text?, targets: Text?,
            originator: Text?
        var mac: Range<Int>?, ip: Range<Int>?, prefix: Range<Int>?, seenAt: Range<Int> = 0..<0
        var mobility: ExtendedCommunity.MACMobility?
    }

    private struct MoveColumns {
        var move: Transition, bd: Int32, mac: Range<Int>
    }

    private func columns(of event: RouteEvent, observation: Int32?) -> EventColumns {
        var row = EventColumns(event: event, observation: observation, family: familyText[event.family])
        switch event.entry.nlri {
        case .prefix(let p): row.prefix = rowText.column { $0.append(p.description) }
        case .vpn(let d, let p, _): row.rd = rdText[d]; row.prefix = rowText.column { $0.append(p.description) }
        case .evpn(let route):
            row.routeType = Int64(route.routeType)
            row.rd = route.rd.map { rdText[$0] }
            switch route {
            case .macIP(let r):
                row.esi = esiText[r.esi]; row.tag = Int64(r.ethernetTag)
                row.mac = rowText.column { $0.append(r.mac) }
                row.ip = r.ip.map { value in rowText.column { $0.append(value) } }
            case .ethernetAD(let r): row.esi = esiText[r.esi]; row.tag = Int64(r.ethernetTag)
            case .inclusiveMulticast(let r): row.tag = Int64(r.ethernetTag); row.address = addressText[r.originatingIP]
            case .ethernetSegment(let r): row.esi = esiText[r.esi]; row.address = addressText[r.originatingIP]
            case .ipPrefix(let r):
                row.esi = esiText[r.esi]; row.tag = Int64(r.ethernetTag);
                row.prefix = rowText.column { $0.append(r.prefix.description) }
            case .unknown: break
            }
        }
        if !event.isWithdraw {
            row.mobility = event.attributes.macMobility
            row.nextHop = event.nextHop.map { addressText[$0] }
            row.targets = targetsText.text(for: event.attributes.extendedCommunities) {
                $0.compactMap { $0.isRouteTarget ? RouteTarget(raw: $0.raw).description : nil }.joined(separator: " ")
            }
        }
        row.originator = event.attributes.originatorID.map { addressText[$0] }
        return row
    }
}

/// A value a `TextMemo` can be keyed by: two machine words that tell it apart (equal values
/// give equal words; unequal values may share them, and `==` decides).
protocol MemoKey: Equatable {
    var memoWords: (UInt64, UInt64) { get }
}

extension RouteDistinguisher: MemoKey { var memoWords: (UInt64, UInt64) { (word, 0) } }
extension ESI: MemoKey { var memoWords: (UInt64, UInt64) { (UInt64(high), low) } }
extension IPAddress: MemoKey { var memoWords: (UInt64, UInt64) { (high, low) } }
extension AddressFamily: MemoKey { var memoWords: (UInt64, UInt64) { (UInt64(afi) << 8 | UInt64(safi), 0) } }
extension Int: MemoKey { var memoWords: (UInt64, UInt64) { (UInt64(bitPattern: Int64(self)), 0) } }
extension InlineList: MemoKey where Element == ExtendedCommunity {
    var memoWords: (UInt64, UInt64) {
        var folded: UInt64 = 0
        for community in self { folded = (folded ^ community.raw) &* 0x9E37_79B9_7F4A_7C15 }
        return (folded, UInt64(count))
    }
}

/// Text of values that recur, up to a bound, in memory that stays put until `startBatch` lets
/// it go: SQLite reads it in place, without copying each bound value (SQLITE_STATIC). It starts
/// over past the bound, so memory stays flat however many distinct values a run sees.
///
/// Found through the engine's `IDIndex` under `WordHasher`, not a Dictionary: every stored route
/// event looks up five or six texts, and SipHash was 7 % of the writer thread, which bounds such
/// a run.
struct TextMemo<Key: MemoKey> {
    private var keys: [Key] = []
    private var texts: [UnsafeBufferPointer<UInt8>] = []
    /// Positions in `keys`. A reference, which a copy of the memo would share: memos are kept in
    /// place and never copied.
    private let index = IDIndex()
    private let hasher = WordHasher()
    private static var limit: Int { 4096 }

    /// Called before any row of a batch takes a text: only then may earlier texts be released.
    mutating func startBatch() {
        guard keys.count >= Self.limit else { return }
        release()
    }

    mutating func release() {
        for text in texts { text.deallocate() }
        keys.removeAll(keepingCapacity: true)
        texts.removeAll(keepingCapacity: true)
        index.removeAll()
    }

    subscript(key: Key) -> UnsafeBufferPointer<UInt8> where Key: CustomStringConvertible {
        mutating get { text(for: key) { $0.description } }
    }

    /// `text` in memory of its own, which stays put until deallocated.
    static func copy(_ text: String) -> UnsafeBufferPointer<UInt8> {
        let bytes = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: max(text.utf8.count, 1))
        _ = bytes.initialize(from: text.utf8)
        return UnsafeBufferPointer(rebasing: bytes[0..<text.utf8.count])
    }

    mutating func text(for key: Key, _ make: (Key) -> String) -> UnsafeBufferPointer<UInt8> {
        let words = key.memoWords
        let hash = hasher.hash(words.0, words.1)
        if let known = index.find(hash, { keys[Int($0)] == key }) { return texts[Int(known)] }
        let text = Self.copy(make(key))
        index.insert(Int32(keys.count), hash: hash)
        keys.append(key)
        texts.append(text)
        return text
    }
}

/// The text columns of some rows, written one after another into a buffer reused from batch to
/// batch and bound in place once the batch is complete (a column's bytes may move while the
/// buffer grows, so columns are kept as ranges until then).
struct RowText {
    private var bytes: [UInt8] = []

    mutating func removeAll() { bytes.removeAll(keepingCapacity: true) }

    /// Appends what `write` puts at the pointer (at most `capacity` bytes; it returns the count).
    /// Written on the stack, then copied in: appending `capacity` zeros first went element by element.
    @inline(__always) mutating func append(capacity: Int, _ write: (UnsafeMutablePointer<UInt8>) -> Int) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: capacity) { buffer in
            let written = write(buffer.baseAddress!)
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[0..<written]))
        }
    }

    mutating func append(_ byte: UInt8) { bytes.append(byte) }
    mutating func append(_ text: String) { bytes.append(contentsOf: text.utf8) }
    mutating func append(decimal value: UInt64) { append(capacity: 20) { writeDecimal(value, to: $0) } }
    mutating func append(_ mac: MACAddress) { append(capacity: 17) { writeColonHex(mac.value, bytes: 6, to: $0) } }
    mutating func append(_ ip: IPAddress) {
        if ip.isIPv6 { append(ip.description) } else { append(capacity: 15) { writeDottedQuad(ip.v4, to: $0) } }
    }

    /// Appends one column's text with `write` and returns where it lies.
    mutating func column(_ write: (inout RowText) -> Void) -> Range<Int> {
        let start = bytes.count
        write(&self)
        return start..<bytes.count
    }

    /// Bytes written so far: a column is the range between two counts.
    var count: Int { bytes.count }

    /// Runs `body` with a view that turns column ranges into text SQLite may read in place.
    func withColumns<R>(_ body: ((Range<Int>) -> UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        try bytes.withUnsafeBufferPointer { all in try body { UnsafeBufferPointer(rebasing: all[$0]) } }
    }
}

/// Route events and moves on their way to the writer thread. The batch holds its rows' events
/// there and back, and the caller frees them when it reclaims the batch: freed on the writer
/// thread, each of a large run's 13 M events took the allocator's arena lock that the caller's
/// allocations hold, and the two threads slept on it (1.1 M context switches in a 60 s run).
struct EventBatch {
    var rows: [EventRowInserter.Row] = []
    var events: [RouteEvent] = []
}

/// Batches of rows handed to a thread of their own, which writes them in order, so formatting
/// and SQLite's work overlap the caller's instead of adding to it. One thread touches the
/// database at a time: the caller only after `drain()`. `write` empties each batch (so what its
/// rows hold is released on the writer thread, not the caller's) and the empty batch comes
/// back through `reclaim()`, its storage reused instead of allocated again.
final class BatchPipe<Batch>: @unchecked Sendable {
    private let condition = NSCondition()
    private var queue: [Batch] = []
    private var spent: [Batch] = []
    private var writing = false
    private var closed = false
    private var failure: Error?
    /// Batches queued before `send` waits (and as many emptied ones kept for `reclaim`).
    private let capacity: Int
    /// Holds what the rows are written with (statements): dropped by `close()`, because a
    /// connection with a statement still alive does not close.
    private var write: ((inout Batch) throws -> Void)?
    private var started = false
    private var running = false

    init(capacity: Int = 2, write: @escaping (inout Batch) throws -> Void) {
        self.capacity = capacity
        self.write = write
    }

    private func start() {
        started = true
        running = true
        Thread { [self] in
            while true {
                condition.lock()
                while queue.isEmpty && !closed { condition.wait() }
                if queue.isEmpty {
                    running = false
                    condition.broadcast()
                    condition.unlock()
                    return
                }
                var batch = queue.removeFirst()
                let write = self.write  // read while the lock is held; released before the thread ends
                writing = true
                let failed = failure != nil
                condition.broadcast()
                condition.unlock()
                var error: Error?
                if !failed {
                    do { try write?(&batch) } catch let caught { error = caught }
                }
                condition.lock()
                if let error, failure == nil { failure = error }
                if error == nil && spent.count < capacity { spent.append(batch) }  // a failed batch may not be empty
                writing = false
                condition.broadcast()
                condition.unlock()
            }
        }.start()
    }

    /// Queues a batch, waiting while the writer is `capacity` batches behind; throws the
    /// writer's first error.
    func send(_ batch: Batch) throws {
        if !started { start() }
        condition.lock()
        defer { condition.unlock() }
        while queue.count >= capacity && failure == nil { condition.wait() }
        if let failure { throw failure }
        queue.append(batch)
        condition.broadcast()
    }

    /// An emptied batch the writer is done with, for the caller to fill again.
    func reclaim() -> Batch? {
        condition.lock()
        defer { condition.unlock() }
        return spent.popLast()
    }

    /// Waits until every queued batch is written; the database is then the caller's again.
    func drain() throws {
        condition.lock()
        defer { condition.unlock() }
        while !queue.isEmpty || writing { condition.wait() }
        if let failure { throw failure }
    }

    /// Lets the thread finish what is queued and end, and drops `write` (and what it holds).
    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        while running { condition.wait() }
        spent.removeAll()
        write = nil
        condition.unlock()
    }
}
