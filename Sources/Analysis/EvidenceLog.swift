import EVPNModel
import Replay

/// The analyzer's memory of recent transitions, quoted as evidence when a finding opens.
///
/// One time-ordered log shared by every MAC, each record linked to the same MAC's previous
/// record. Records older than the horizon are dropped a page at a time, so memory follows the
/// number of transitions inside the detection window, not the number of MACs ever seen, and
/// the log never copies itself to grow.
final class EvidenceLog {
    private struct Record {
        var time: Int64
        var sourceOffset: Int64
        var ipHigh: UInt64
        var ipLow: UInt64
        var esiLow: UInt64
        /// Distance back to the same MAC's previous record; 0 for none.
        var previousDistance: UInt32
        var pe: Int32
        var seq: UInt32
        var observation: Int32
        var sourceInput: Int32
        var esiHigh: UInt16
        var kind: Transition.Kind
        var flags: UInt8

        static let sticky: UInt8 = 1, hasIP: UInt8 = 2, ipv6: UInt8 = 4

        var evidence: Evidence {
            let ip: IPAddress? = flags & Self.hasIP == 0 ? nil
                : flags & Self.ipv6 != 0 ? IPAddress(v6High: ipHigh, v6Low: ipLow) : IPAddress(v4: UInt32(truncatingIfNeeded: ipLow))
            return Evidence(time: time, pe: pe, seq: seq, sticky: flags & Self.sticky != 0, esi: ESI(high: esiHigh, low: esiLow), ip: ip,
                            event: kind.rawValue, source: SourceRef(input: sourceInput, offset: sourceOffset), observation: observation)
        }
    }

    private static let pageShift = 14
    private static let pageSize = 1 << pageShift

    let horizon: Int64
    /// Records at absolute positions `oldest..<next` are live; page k of `pages` holds positions
    /// starting at (firstPage + k) << pageShift.
    private var pages: [UnsafeMutablePointer<Record>] = []
    private var spare: UnsafeMutablePointer<Record>?
    private var firstPage: Int64 = 0
    private var oldest: Int64 = 0
    private var next: Int64 = 0
    /// Per MAC index: absolute position of its newest record, -1 for none.
    private var newest: [Int64] = []

    init(horizon: Int64) { self.horizon = horizon }

    deinit {
        for page in pages { page.deallocate() }
        spare?.deallocate()
    }

    private func record(at position: Int64) -> UnsafeMutablePointer<Record> {
        pages[Int((position >> Int64(Self.pageShift)) - firstPage)] + Int(position & Int64(Self.pageSize - 1))
    }

    func append(mac: Int32, _ item: Evidence, kind: Transition.Kind) {
        guard mac >= 0 else { return }
        while oldest < next && record(at: oldest).pointee.time < item.time - horizon { oldest += 1 }
        // Release pages left wholly behind the oldest live record (keep one for reuse).
        while firstPage < oldest >> Int64(Self.pageShift) {
            let page = pages.removeFirst()
            if spare == nil { spare = page } else { page.deallocate() }
            firstPage += 1
        }
        if next >> Int64(Self.pageShift) - firstPage == Int64(pages.count) {
            pages.append(spare ?? UnsafeMutablePointer<Record>.allocate(capacity: Self.pageSize))
            spare = nil
        }
        if Int(mac) >= newest.count { newest.append(contentsOf: repeatElement(-1, count: Int(mac) + 1 - newest.count)) }
        let previous = newest[Int(mac)]
        let distance = previous >= oldest && next - previous <= Int64(UInt32.max) ? UInt32(next - previous) : 0
        var flags: UInt8 = item.sticky ? Record.sticky : 0
        if let ip = item.ip { flags |= Record.hasIP | (ip.isIPv6 ? Record.ipv6 : 0) }
        record(at: next).initialize(to: Record(time: item.time, sourceOffset: item.source.offset, ipHigh: item.ip?.high ?? 0,
                                               ipLow: item.ip?.low ?? 0, esiLow: item.esi.low, previousDistance: distance, pe: item.pe,
                                               seq: item.seq, observation: item.observation, sourceInput: item.source.input,
                                               esiHigh: item.esi.high, kind: kind, flags: flags))
        newest[Int(mac)] = next
        next += 1
    }

    /// The MAC's last `count` records still inside the horizon, oldest first.
    func last(_ count: Int, of mac: Int32) -> [Evidence] {
        guard mac >= 0, Int(mac) < newest.count else { return [] }
        var result: [Evidence] = []
        var position = newest[Int(mac)]
        while position >= oldest && result.count < count {
            let entry = record(at: position).pointee
            result.append(entry.evidence)
            guard entry.previousDistance > 0 else { break }
            position -= Int64(entry.previousDistance)
        }
        return result.reversed()
    }
}
