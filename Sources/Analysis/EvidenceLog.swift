import EVPNModel
import Replay

/// The analyzer's memory of recent transitions, quoted as evidence when a finding opens.
///
/// One time-ordered ring shared by every MAC, each record linked to the same MAC's previous
/// record. Records older than the horizon are overwritten, so memory follows the number of
/// transitions inside the detection window, not the number of MACs ever seen.
struct EvidenceLog {
    private struct Record {
        var time: Int64
        var previous: Int64
        var sourceOffset: Int64
        var ipHigh: UInt64
        var ipLow: UInt64
        var esiLow: UInt64
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

    let horizon: Int64
    private var ring: [Record] = []
    /// Absolute positions: records `oldest..<next` are live; position p sits at ring[p & (ring.count - 1)].
    private var oldest: Int64 = 0
    private var next: Int64 = 0
    /// Per MAC index: absolute position of its newest record, -1 for none.
    private var newest: [Int64] = []

    init(horizon: Int64) { self.horizon = horizon }

    var liveRecords: Int { Int(next - oldest) }

    mutating func append(mac: Int32, _ item: Evidence, kind: Transition.Kind) {
        guard mac >= 0 else { return }
        while oldest < next && ring[slot(oldest)].time < item.time - horizon { oldest += 1 }
        if next - oldest == Int64(ring.count) { grow() }
        if Int(mac) >= newest.count { newest.append(contentsOf: repeatElement(-1, count: Int(mac) + 1 - newest.count)) }
        var flags: UInt8 = item.sticky ? Record.sticky : 0
        if let ip = item.ip { flags |= Record.hasIP | (ip.isIPv6 ? Record.ipv6 : 0) }
        ring[slot(next)] = Record(time: item.time, previous: newest[Int(mac)], sourceOffset: item.source.offset, ipHigh: item.ip?.high ?? 0,
                                  ipLow: item.ip?.low ?? 0, esiLow: item.esi.low, pe: item.pe, seq: item.seq, observation: item.observation,
                                  sourceInput: item.source.input, esiHigh: item.esi.high, kind: kind, flags: flags)
        newest[Int(mac)] = next
        next += 1
    }

    /// The MAC's last `count` records still inside the horizon, oldest first.
    func last(_ count: Int, of mac: Int32) -> [Evidence] {
        guard mac >= 0, Int(mac) < newest.count else { return [] }
        var result: [Evidence] = []
        var position = newest[Int(mac)]
        while position >= oldest && result.count < count {
            let record = ring[slot(position)]
            result.append(record.evidence)
            position = record.previous
        }
        return result.reversed()
    }

    private func slot(_ position: Int64) -> Int { Int(position) & (ring.count - 1) }

    private mutating func grow() {
        let capacity = max(1024, ring.count * 2)
        let placeholder = Record(time: 0, previous: -1, sourceOffset: 0, ipHigh: 0, ipLow: 0, esiLow: 0, pe: 0, seq: 0, observation: 0,
                                 sourceInput: 0, esiHigh: 0, kind: .learned, flags: 0)
        var larger = [Record](repeating: placeholder, count: capacity)
        var position = oldest
        while position < next {
            larger[Int(position) & (capacity - 1)] = ring[slot(position)]
            position += 1
        }
        ring = larger
    }
}
