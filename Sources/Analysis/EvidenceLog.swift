import Containers
import EVPNModel
import Replay

/// The analyzer's memory of recent transitions, quoted as evidence when a finding opens.
///
/// One time-ordered log shared by every MAC, each record linked to the same MAC's previous
/// record. Records older than the horizon are dropped a page at a time, so memory follows the
/// number of transitions inside the detection window, not the number of MACs ever seen, and
/// the log never copies itself to grow. A snapshot seeds a million routes at one timestamp, all
/// inside the window at once, so a record is 32 bytes: the IPv6 addresses, non-zero ESIs and
/// PE or observation ids past 12 bits that few records carry live in a second log of wide fields.
final class EvidenceLog {
    private struct Record {
        var time: Int64
        var source: UInt64  // SourceRef.packed
        /// The IPv4 address (with `Record.hasIP`), or (with `Record.wide`) the low 32 bits of the
        /// wide fields' position.
        var address: UInt32
        /// Distance back to the same MAC's previous record; 0 for none.
        var previousDistance: UInt32
        var seq: UInt32
        /// PE id (12 bits), observation id (12 bits), transition kind (4 bits) and flags (4 bits).
        var packed: UInt32

        static let sticky: UInt32 = 1, hasIP: UInt32 = 2, wide: UInt32 = 4
        static let narrowLimit: Int32 = 1 << 12
        private static let peShift: UInt32 = 20, observationShift: UInt32 = 8, kindShift: UInt32 = 4
        static let kinds = Transition.Kind.allCases

        /// `pe` and `observation` are 0 when they do not fit in 12 bits (the wide fields hold them).
        init(
            time: Int64, source: UInt64, address: UInt32, previousDistance: UInt32, seq: UInt32,
            pe: Int32, observation: Int32, kind: Transition.Kind, flags: UInt32
        ) {
            self.time = time; self.source = source; self.address = address; self.previousDistance = previousDistance;
            self.seq = seq
            packed =
                UInt32(pe) << Self.peShift | UInt32(observation) << Self.observationShift
                | UInt32(Self.kinds.firstIndex(of: kind)!) << Self.kindShift | flags
        }

        var pe: Int32 { Int32(packed >> Self.peShift) }
        var observation: Int32 { Int32(packed >> Self.observationShift & 0xFFF) }
        var kind: Transition.Kind { Self.kinds[Int(packed >> Self.kindShift & 0xF)] }
        var flags: UInt32 { packed & 0xF }
    }

    /// What a record carries when its IP is IPv6, its ESI is not zero or its PE or observation
    /// id needs more than 12 bits (few records: kept whole).
    private struct WideFields {
        var ip: IPAddress?
        var esi: ESI
        var pe: Int32
        var observation: Int32
    }

    let horizon: TimeSpan
    private let records = PagedQueue<Record>()
    private let wideFields = PagedQueue<WideFields>()
    /// Records at positions `oldest..<records.end` are live.
    private var oldest: Int64 = 0
    /// Per MAC index: the low 32 bits of its newest record's position. A MAC without a live
    /// record holds a position before `oldest`; `forgetDroppedNewest` keeps every stored value
    /// within 2^32 of the end, so the 32 bits always name one position.
    private var newest: [UInt32] = []

    init(horizon: TimeSpan) { self.horizon = horizon }

    func append(mac id: MACID, _ item: Evidence, kind: Transition.Kind) {
        guard id.exists else { return }
        let mac = id.raw
        let next = records.end
        while oldest < next {
            let record = records[oldest]
            guard record.time < item.time - horizon else { break }
            if record.flags & Record.wide != 0 {
                wideFields.release(before: wideFields.position(low32: record.address) + 1)
            }
            oldest += 1
        }
        records.release(before: oldest)
        if next > 0 && next & (1 << 31 - 1) == 0 { forgetDroppedNewest() }
        if Int(mac) >= newest.count {
            newest.append(
                contentsOf: repeatElement(UInt32(truncatingIfNeeded: oldest - 1), count: Int(mac) + 1 - newest.count))
        }
        let previous = newestPosition(mac)
        let distance = previous >= oldest && next - previous <= Int64(UInt32.max) ? UInt32(next - previous) : 0

        var flags: UInt32 = item.sticky ? Record.sticky : 0
        var address: UInt32 = 0
        let narrow =
            (0..<Record.narrowLimit).contains(item.pe.raw) && (0..<Record.narrowLimit).contains(item.observation.raw)
        if item.ip?.isIPv6 == true || !item.esi.isZero || !narrow {
            flags |= Record.wide
            address = UInt32(
                truncatingIfNeeded: wideFields.append(
                    WideFields(ip: item.ip, esi: item.esi, pe: item.pe.raw, observation: item.observation.raw)))
        } else if let ip = item.ip {
            flags |= Record.hasIP
            address = ip.v4
        }
        _ = records.append(
            Record(
                time: item.time, source: item.source.packed, address: address, previousDistance: distance,
                seq: item.seq,
                pe: narrow ? item.pe.raw : 0, observation: narrow ? item.observation.raw : 0, kind: kind, flags: flags))
        newest[Int(mac)] = UInt32(truncatingIfNeeded: next)
    }

    private func newestPosition(_ mac: Int32) -> Int64 { records.position(low32: newest[Int(mac)]) }

    /// Every 2^31 records: MACs whose newest record was dropped are reset to just before
    /// `oldest`, so no stored value falls 2^32 positions behind the end and aliases a live one.
    private func forgetDroppedNewest() {
        let before = UInt32(truncatingIfNeeded: oldest - 1)
        for mac in newest.indices where newestPosition(Int32(mac)) < oldest { newest[mac] = before }
    }

    private func evidence(_ record: Record) -> Evidence {
        var ip: IPAddress? = record.flags & Record.hasIP != 0 ? IPAddress(v4: record.address) : nil, esi = ESI.zero
        var (pe, observation) = (record.pe, record.observation)
        if record.flags & Record.wide != 0 {
            let wide = wideFields[wideFields.position(low32: record.address)]
            (ip, esi, pe, observation) = (wide.ip, wide.esi, wide.pe, wide.observation)
        }
        return Evidence(
            time: record.time, pe: PEID(pe), seq: record.seq, sticky: record.flags & Record.sticky != 0, esi: esi,
            ip: ip,
            event: record.kind.rawValue, source: SourceRef(packed: record.source),
            observation: ObservationID(observation))
    }

    /// The MAC's last `count` records still inside the horizon, oldest first.
    func last(_ count: Int, of id: MACID) -> [Evidence] {
        let mac = id.raw
        guard mac >= 0, Int(mac) < newest.count else { return [] }
        var result: [Evidence] = []
        var position = newestPosition(mac)
        while position >= oldest && result.count < count {
            let record = records[position]
            result.append(evidence(record))
            guard record.previousDistance > 0 else { break }
            position -= Int64(record.previousDistance)
        }
        return result.reversed()
    }
}

/// A first-in first-out table of plain values addressed by absolute position: appends fill the
/// last page, and pages wholly before the oldest position still needed are released (one kept
/// for reuse), so it never copies itself to grow.
private final class PagedQueue<Element> {
    private static var pageShift: Int { 14 }
    private static var pageSize: Int { 1 << pageShift }
    private var pages: [UnsafeMutablePointer<Element>] = []
    private var spare: UnsafeMutablePointer<Element>?
    /// Page k of `pages` holds positions from (firstPage + k) << pageShift.
    private var firstPage: Int64 = 0
    /// The position the next append takes.
    private(set) var end: Int64 = 0

    init() { precondition(_isPOD(Element.self), "PagedQueue releases pages without deinitializing their elements") }

    deinit {
        for page in pages { MappedPages.release(page, count: Self.pageSize) }
        if let spare { MappedPages.release(spare, count: Self.pageSize) }
    }

    subscript(position: Int64) -> Element {
        pages[Int((position >> Int64(Self.pageShift)) - firstPage)][Int(position & Int64(Self.pageSize - 1))]
    }

    /// The position before `end` whose low 32 bits are `low32`, of the 2^32 positions before it.
    func position(low32: UInt32) -> Int64 { end - 1 - Int64(UInt32(truncatingIfNeeded: end - 1) &- low32) }

    func append(_ element: Element) -> Int64 {
        if end >> Int64(Self.pageShift) - firstPage == Int64(pages.count) {
            pages.append(spare ?? MappedPages.allocate(Self.pageSize, of: Element.self))
            spare = nil
        }
        (pages[Int((end >> Int64(Self.pageShift)) - firstPage)] + Int(end & Int64(Self.pageSize - 1))).initialize(
            to: element)
        end += 1
        return end - 1
    }

    /// Positions before `position` will not be read again.
    func release(before position: Int64) {
        while firstPage < position >> Int64(Self.pageShift) && !pages.isEmpty {
            let page = pages.removeFirst()
            if spare == nil { spare = page } else { MappedPages.release(page, count: Self.pageSize) }
            firstPage += 1
        }
    }
}
