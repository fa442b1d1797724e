import EVPNModel
import Replay
import TestSupport
import Testing
@testable import Analysis

/// The analyzer's evidence log against a list that keeps everything: 32-byte records with their
/// IPv6 addresses, ESIs and PE or observation ids past 12 bits in a second log, chains per MAC,
/// and pages dropped behind the horizon must give back exactly the records a plain filter over
/// the full history gives.
@Test func evidenceLogAgreesWithAFullHistoryThroughPageDropsAndWideFields() {
    var random = SplitMix(seed: 7)
    let horizon = TimeSpan.seconds(180)
    let log = EvidenceLog(horizon: horizon)
    var history: [Int32: [Evidence]] = [:]
    var time: Int64 = 1_795_485_600_000_000
    let kinds = Transition.Kind.allCases
    // An id just past 12 bits (and -1, a PE not known) must come back whole, not truncated.
    func id(_ small: Int) -> Int32 {
        switch random.below(50) {
        case 0: Int32(4095 + random.below(3))
        case 1: Int32(random.below(1 << 20))
        case 2: -1
        default: Int32(random.below(small))
        }
    }
    for step in 0..<120_000 {
        // Bursts at one timestamp (a snapshot) and quiet stretches longer than the horizon.
        time += step % 40_000 < 30_000 ? Int64(random.below(3)) : Int64(random.below(20_000_000))
        let mac = Int32(random.below(step < 30_000 ? 30_000 : 2_000))
        let ip: IPAddress? =
            switch random.below(4) {
            case 0: nil
            case 1: IPAddress(v4: UInt32(truncatingIfNeeded: random.next()))
            case 2: IPAddress(v6High: random.next(), v6Low: random.next())
            default: IPAddress(v4: 0)
            }
        let esi =
            random.below(5) == 0 ? ESI(high: UInt16(truncatingIfNeeded: random.next()), low: random.next()) : .zero
        let kind = kinds[random.below(kinds.count)]
        let item = Evidence(
            time: time, pe: PEID(id(16)), seq: UInt32(truncatingIfNeeded: random.next()), sticky: random.below(7) == 0,
            esi: esi, ip: ip, event: kind.rawValue,
            source: SourceRef(input: Int32(random.below(3)), offset: Int64(random.below(1 << 40))),
            observation: ObservationID(id(4)))
        log.append(mac: MACID(mac), item, kind: kind)
        history[mac, default: []].append(item)
        if step % 997 == 0 || step == 119_999 {
            for probe in 0..<50 {
                let asked = probe == 0 ? mac : Int32(random.below(30_000))
                let count = 1 + random.below(5)
                let expected = (history[asked] ?? []).filter { $0.time >= time - horizon }.suffix(count)
                let got = log.last(count, of: MACID(asked))
                #expect(got.count == expected.count, "MAC \(asked) at step \(step)")
                for (a, b) in zip(got, expected) {
                    #expect(
                        a.time == b.time && a.pe == b.pe && a.seq == b.seq && a.sticky == b.sticky && a.esi == b.esi
                            && a.ip == b.ip
                            && a.event == b.event && a.source == b.source && a.observation == b.observation,
                        "MAC \(asked) at step \(step)")
                }
            }
        }
    }
}
