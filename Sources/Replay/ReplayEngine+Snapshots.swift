import EVPNModel

/// One bit per RIB entry id, grown on demand.
struct EntryBits {
    private var words: [UInt64] = []

    func contains(_ id: Int32) -> Bool {
        let word = Int(id) >> 6
        return word < words.count && words[word] & (1 << UInt64(id & 63)) != 0
    }

    mutating func set(_ id: Int32, _ value: Bool) {
        let word = Int(id) >> 6
        if word >= words.count {
            guard value else { return }
            words.append(contentsOf: repeatElement(0, count: max(word + 1 - words.count, words.count / 2)))
        }
        if value { words[word] |= 1 << UInt64(id & 63) } else { words[word] &= ~(1 << UInt64(id & 63)) }
    }
}

/// RIB snapshots (TABLE_DUMP_V2): a complete snapshot is its router's whole table at its time,
/// and a router's periodic table dumps carry no withdrawals (GoBGP's `dump-type = "table"`, a
/// collector's bviews). A route the router's previous snapshot put at one of its observation
/// points, that nothing announced since, and that the new snapshot lacks was withdrawn in
/// between; the new snapshot's end withdraws it. A route an update put there
/// is the updates' to withdraw, so a snapshot beside an update stream (FP-6) and the first
/// snapshot of a router withdraw nothing.
struct SnapshotState {
    /// The RIB entries (MAC/IP, host routes) whose last announcement came from a RIB snapshot.
    var fromSnapshot = EntryBits(), hostsFromSnapshot = EntryBits()
    /// Each router whose snapshot is being read, with the entries it has named: nearly always
    /// one, so a list, whose element is changed in place where a Dictionary's subscript
    /// allocated for every entry of the snapshot.
    var open: [(router: UInt32, entries: EntryBits, hosts: EntryBits)] = []
    /// Any snapshot begun: until then no entry needs a bit.
    var begun = false
}

extension ReplayEngine {
    /// Keeps the snapshot bits of MAC/IP RIB entry `id` (a host route's when `host`), just
    /// announced by `event` at `op`.
    @inline(__always)
    func noteAnnouncement(_ id: Int32, _ event: RouteEvent, op: Int32, host: Bool = false) {
        guard snapshots.begun else { return }
        let fromSnapshot = event.record == .tableDumpV2
        if host {
            snapshots.hostsFromSnapshot.set(id, fromSnapshot)
        } else {
            snapshots.fromSnapshot.set(id, fromSnapshot)
        }
        guard fromSnapshot, !snapshots.open.isEmpty, observations[Int(op)].table == .mrt else { return }
        let router = observations[Int(op)].router
        guard let index = snapshots.open.firstIndex(where: { $0.router == router }) else { return }
        if host { snapshots.open[index].hosts.set(id, true) } else { snapshots.open[index].entries.set(id, true) }
    }

    func processSnapshotBoundary(_ event: SessionEvent) {
        let router = event.observation.router
        switch event.kind {
        case .ribSnapshotStarted:
            snapshots.begun = true
            snapshots.open.removeAll { $0.router == router }
            snapshots.open.append((router, EntryBits(), EntryBits()))
        case .ribSnapshotEnded(let complete):
            guard let index = snapshots.open.firstIndex(where: { $0.router == router }) else { return }
            let named = snapshots.open.remove(at: index)
            counters.ribSnapshots += 1
            // A snapshot cut short by damage says nothing of the routes it did not reach.
            guard complete else { return }
            let points = Set(
                observations.indices.filter { observations[$0].router == router && observations[$0].table == .mrt }
                    .map(Int32.init))
            guard !points.isEmpty else { return }
            let gone = entries(at: points) { id, host in
                host
                    ? snapshots.hostsFromSnapshot.contains(id) && !named.hosts.contains(id)
                    : snapshots.fromSnapshot.contains(id) && !named.entries.contains(id)
            }
            counters.snapshotWithdrawals += gone.macIP.count + gone.hosts.count
            dropRIBEntries(gone.macIP, kind: .withdrawn, time: event.time, source: event.source)
            dropHostEntries(gone.hosts)
        default: return
        }
    }
}
