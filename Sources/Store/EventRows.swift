import EVPNModel
import Foundation
import Replay

/// Inserts route events and moves as rows. Most text columns repeat from one event to the next
/// (a PE's route distinguisher, next hop and route targets, the zero ESI, the family), so their
/// text is kept by value instead of being formatted again for each of millions of rows.
final class EventRowInserter {
    private let db: Database
    private let events: Statement
    private let moves: Statement
    private var inTransaction = 0
    static let rowsPerTransaction = 100_000

    private var rdText = TextMemo<RouteDistinguisher>()
    private var esiText = TextMemo<ESI>()
    private var addressText = TextMemo<IPAddress>()
    private var familyText = TextMemo<AddressFamily>()
    private var targetsText = TextMemo<InlineList<ExtendedCommunity>>()

    init(db: Database) throws {
        self.db = db
        events = try db.prepare("""
            INSERT INTO route_events(time_us, input_id, byte_offset, observation_id, event, family, route_type, rd, esi, eth_tag,
              mac, ip, prefix, next_hop, seq, sticky, route_targets, originator_id, path_id)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        moves = try db.prepare("""
            INSERT INTO moves(time_us, bd_id, mac, from_pe, to_pe, seq_before, seq_after, tie, wrap, input_id, byte_offset)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
    }

    private func rowAdded() throws {
        inTransaction += 1
        if inTransaction >= Self.rowsPerTransaction { try db.execute("COMMIT"); inTransaction = 0 }
    }

    private func beginIfNeeded() throws { if inTransaction == 0 { try db.execute("BEGIN") } }

    func commitPending() throws {
        if inTransaction > 0 { try db.execute("COMMIT"); inTransaction = 0 }
    }

    /// The text of this row's columns that do not recur (MAC, a MAC's IP, prefix).
    private var rowText = RowText()
    private static let announceText = TextMemo<Int>.copy("announce")
    private static let withdrawText = TextMemo<Int>.copy("withdraw")

    deinit {
        rdText.release(); esiText.release(); addressText.release(); familyText.release(); targetsText.release()
    }

    /// A row of either table, as it travels to the writer thread.
    enum Row {
        case event(RouteEvent, observation: Int32?)
        case move(Transition, bd: Int32, mac: MACAddress)
    }

    func insert(_ row: Row) throws {
        switch row {
        case .event(let event, let observation): try insert(event, observationID: observation)
        case .move(let move, let bd, let mac): try insert(move: move, bd: bd, mac: mac)
        }
    }

    func insert(_ event: RouteEvent, observationID: Int32?) throws {
        try beginIfNeeded()
        rdText.startRow(); esiText.startRow(); addressText.startRow(); familyText.startRow(); targetsText.startRow()
        let s = events
        typealias Text = UnsafeBufferPointer<UInt8>
        rowText.removeAll()
        var routeType: Int64?, rd: Text?, esi: Text?, tag: Int64?, address: Text?
        var mac: Range<Int>?, ip: Range<Int>?, prefix: Range<Int>?
        switch event.entry.nlri {
        case .prefix(let p): prefix = rowText.column { $0.append(p.description) }
        case .vpn(let d, let p, _): rd = rdText[d]; prefix = rowText.column { $0.append(p.description) }
        case .evpn(let route):
            routeType = Int64(route.routeType)
            rd = route.rd.map { rdText[$0] }
            switch route {
            case .macIP(let r):
                esi = esiText[r.esi]; tag = Int64(r.ethernetTag)
                mac = rowText.column { $0.append(r.mac) }
                ip = r.ip.map { value in rowText.column { $0.append(value) } }
            case .ethernetAD(let r): esi = esiText[r.esi]; tag = Int64(r.ethernetTag)
            case .inclusiveMulticast(let r): tag = Int64(r.ethernetTag); address = addressText[r.originatingIP]
            case .ethernetSegment(let r): esi = esiText[r.esi]; address = addressText[r.originatingIP]
            case .ipPrefix(let r): esi = esiText[r.esi]; tag = Int64(r.ethernetTag); prefix = rowText.column { $0.append(r.prefix.description) }
            case .unknown: break
            }
        }
        let announce = !event.isWithdraw
        let mobility = announce ? event.attributes.macMobility : nil
        try rowText.withColumns { text in
            try s.bind(1, event.time)
            try s.bind(2, Int64(event.source.input))
            try s.bind(3, event.source.offset)
            try s.bind(4, observationID.map(Int64.init))
            try s.bind(5, stableText: announce ? Self.announceText : Self.withdrawText)
            try s.bind(6, stableText: familyText[event.family])
            try s.bind(7, routeType)
            try s.bind(8, stableText: rd)
            try s.bind(9, stableText: esi)
            try s.bind(10, tag)
            try s.bind(11, stableText: mac.map(text))
            try s.bind(12, stableText: address ?? ip.map(text))
            try s.bind(13, stableText: prefix.map(text))
            try s.bind(14, stableText: announce ? event.nextHop.map { addressText[$0] } : nil)
            try s.bind(15, mobility.map { Int64($0.sequence) })
            try s.bind(16, mobility.map { $0.sticky ? 1 : 0 })
            try s.bind(17, stableText: announce ? targetsText.text(for: event.attributes.extendedCommunities) {
                $0.compactMap { $0.isRouteTarget ? RouteTarget(raw: $0.raw).description : nil }.joined(separator: " ")
            } : nil)
            try s.bind(18, stableText: event.attributes.originatorID.map { addressText[$0] })
            try s.bind(19, event.entry.pathID.map { Int64($0) })
            try s.insert()
        }
        try rowAdded()
    }

    func insert(move t: Transition, bd: Int32, mac: MACAddress) throws {
        try beginIfNeeded()
        let s = moves
        try s.bind(1, t.time)
        try s.bind(2, Int64(bd))
        rowText.removeAll()
        let macColumn = rowText.column { $0.append(mac) }
        try rowText.withColumns { text in
            try s.bind(3, stableText: text(macColumn))
            try s.bind(4, Int64(t.otherPE))
            try s.bind(5, Int64(t.pe))
            try s.bind(6, Int64(t.seqBefore))
            try s.bind(7, Int64(t.seqAfter))
            try s.bind(8, t.tie ? 1 : 0)
            try s.bind(9, t.wrap ? 1 : 0)
            try s.bind(10, Int64(t.source.input))
            try s.bind(11, t.source.offset)
            try s.insert()
        }
        try rowAdded()
    }
}

/// Text of values that recur, up to a bound, in memory that stays put until `startRow` lets
/// it go: SQLite reads it in place, without copying each bound value (SQLITE_STATIC). It starts
/// over past the bound, so memory stays flat however many distinct values a run sees.
struct TextMemo<Key: Hashable> {
    private var texts: [Key: UnsafeBufferPointer<UInt8>] = [:]
    private static var limit: Int { 4096 }

    /// Called before a row binds anything: only then may earlier texts be released.
    mutating func startRow() {
        guard texts.count >= Self.limit else { return }
        release()
    }

    mutating func release() {
        for text in texts.values { text.deallocate() }
        texts.removeAll(keepingCapacity: true)
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
        if let known = texts[key] { return known }
        let text = Self.copy(make(key))
        texts[key] = text
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
    @inline(__always) mutating func append(capacity: Int, _ write: (UnsafeMutablePointer<UInt8>) -> Int) {
        let start = bytes.count
        bytes.append(contentsOf: repeatElement(0, count: capacity))
        let written = bytes.withUnsafeMutableBufferPointer { write($0.baseAddress! + start) }
        bytes.removeLast(capacity - written)
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
    private let capacity = 2
    /// Holds what the rows are written with (statements): dropped by `close()`, because a
    /// connection with a statement still alive does not close.
    private var write: ((inout Batch) throws -> Void)?
    private var started = false
    private var running = false

    init(write: @escaping (inout Batch) throws -> Void) { self.write = write }

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
