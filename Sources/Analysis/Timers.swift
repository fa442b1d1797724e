import Replay
import EVPNModel

/// A check a rule makes some time after a transition ("still advertised G seconds later?").
struct Timer {
    /// One kind per rule that waits, with the rule's fixed delay (see `TimerQueue`).
    enum Kind: Int, CaseIterable {
        case staleAfterMove, staleHostRoute, stalePeerDown, macIPSeqMismatch, seqTie, seqMissingOnMove

        var rule: Rule {
            switch self {
            case .staleAfterMove: return .staleAfterMove
            case .staleHostRoute: return .staleHostRoute
            case .stalePeerDown: return .stalePeerDown
            case .macIPSeqMismatch: return .macIPSeqMismatch
            case .seqTie: return .seqTie
            case .seqMissingOnMove: return .seqMissingOnMove
            }
        }
    }
    var due: Int64
    var kind: Kind
    var mac: MACID
    var pe: PEID
    var otherPE: PEID
    var reference: Int64
    var seq: UInt32
    var ip: IPAddress?
    var source: SourceRef
    var order = 0
}

/// Timers in firing order: by due time, then by insertion (deterministic). Each kind's delay is
/// fixed, so a kind's timers arrive in due order as input time advances: they wait in a queue
/// per kind, and the next timer is the earliest of a few queue heads, not a heap path of swaps
/// of 80-byte timers. A timer due before the last of its kind (input time went back) waits in
/// a heap instead.
struct TimerQueue {
    private var queues = [[Timer]](repeating: [], count: Timer.Kind.allCases.count)
    private var heads = [Int](repeating: 0, count: Timer.Kind.allCases.count)
    private var late = TimerHeap()
    private var inserted = 0
    /// At or before every held timer's due time (`Int64.max` when none is held): nearly every
    /// item passes no timer, and this spares it the scan of every queue.
    private var earliestDue = Int64.max

    var count: Int { zip(queues, heads).reduce(late.count) { $0 + $1.0.count - $1.1 } }

    mutating func push(_ timer: Timer) {
        var t = timer
        inserted += 1
        t.order = inserted
        earliestDue = min(earliestDue, t.due)
        let k = t.kind.rawValue
        if heads[k] < queues[k].count, t.due < queues[k][queues[k].count - 1].due {
            late.push(t)
        } else {
            queues[k].append(t)
        }
    }

    /// The earliest timer if it is due at or before `time`, removed.
    mutating func pop(dueBy time: Int64) -> Timer? {
        guard time >= earliestDue else { return nil }
        var best = -1  // a queue, or queues.count for the heap
        var bestKey = (time, Int.max)
        var earliest = Int64.max
        for k in queues.indices where heads[k] < queues[k].count {
            let t = queues[k][heads[k]]
            earliest = min(earliest, t.due)
            if (t.due, t.order) <= bestKey { best = k; bestKey = (t.due, t.order) }
        }
        if let t = late.peek() {
            earliest = min(earliest, t.due)
            if (t.due, t.order) <= bestKey { best = queues.count }
        }
        if best < 0 {
            earliestDue = earliest
            return nil
        }
        if best == queues.count { return late.pop() }
        let timer = queues[best][heads[best]]
        heads[best] += 1
        if heads[best] == queues[best].count {
            queues[best].removeAll(keepingCapacity: true); heads[best] = 0
        } else if heads[best] >= 4096 && heads[best] * 2 >= queues[best].count {
            queues[best].removeFirst(heads[best]); heads[best] = 0  // memory stays bounded by the live timers
        }
        return timer
    }
}

/// A binary min-heap on (due, insertion order), for timers that arrive out of due order.
struct TimerHeap {
    private var items: [Timer] = []
    private func less(_ a: Timer, _ b: Timer) -> Bool { (a.due, a.order) < (b.due, b.order) }
    var count: Int { items.count }
    func peek() -> Timer? { items.first }
    mutating func push(_ timer: Timer) {
        items.append(timer)
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard less(items[i], items[parent]) else { break }
            items.swapAt(i, parent); i = parent
        }
    }
    mutating func pop() -> Timer? {
        guard !items.isEmpty else { return nil }
        items.swapAt(0, items.count - 1)
        let top = items.removeLast()
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            var smallest = i
            if l < items.count && less(items[l], items[smallest]) { smallest = l }
            if r < items.count && less(items[r], items[smallest]) { smallest = r }
            if smallest == i { break }
            items.swapAt(i, smallest); i = smallest
        }
        return top
    }
}
