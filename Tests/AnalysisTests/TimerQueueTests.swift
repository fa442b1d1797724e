import EVPNModel
import TestSupport
import Testing
@testable import Analysis
import Replay

/// Timers (STALE-AFTER-MOVE, MAC-IP-SEQ-MISMATCH, host routes, STALE-PEER-DOWN) must fire in
/// one order whatever the input: by due time, ties by the order they were set. The queue keeps
/// each kind in a FIFO; this checks it against a plain sort, with input time that sometimes
/// goes back (out-of-order timers take the heap).
@Test(
    "timers fire by due time, ties in the order they were set, even when input time goes back",
    arguments: [1, 2, 3, 4, 5])
func timerQueueFiresInDueThenInsertionOrder(seed: UInt64) {
    var random = SplitMix(seed: seed)
    var queue = TimerQueue()
    var expected: [(due: Int64, order: Int, mac: Int32)] = []  // still pending, in the oracle
    var fired: [Int32] = [], oracle: [Int32] = []
    var now: Int64 = 0
    let delays: [Timer.Kind: Int64] = [
        .staleAfterMove: 30, .staleHostRoute: 10, .stalePeerDown: 120, .macIPSeqMismatch: 30,
    ]
    var set = 0
    for step in 0..<20_000 {
        // Input time mostly advances; one step in 50 it goes back a little (a late record).
        now += random.below(50) == 0 ? -Int64(random.below(20)) : Int64(random.below(4))
        for _ in 0..<random.below(3) {
            let kind = Timer.Kind.allCases[random.below(4)]
            set += 1
            let timer = Timer(
                due: now + delays[kind]!, kind: kind, mac: MACID(Int32(step)), pe: PEID(Int32(set)), otherPE: .none,
                reference: now,
                seq: 0, ip: nil, source: SourceRef(input: 0, offset: 0))
            queue.push(timer)
            expected.append((timer.due, set, Int32(step)))
        }
        while let timer = queue.pop(dueBy: now) { fired.append(timer.mac.raw) }
        expected.sort { ($0.due, $0.order) < ($1.due, $1.order) }
        while let first = expected.first, first.due <= now { oracle.append(first.mac); expected.removeFirst() }
        #expect(queue.count == expected.count)
    }
    #expect(fired.count > 10_000)
    #expect(fired == oracle)
}
