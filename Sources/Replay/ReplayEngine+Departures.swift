import EVPNModel

/// MOB-14 and ID-3: what the engine remembers of advertisements that ended lately.
extension ReplayEngine {
    /// A PE's advertisement of a MAC that ended lately (every route of it withdrawn or flushed):
    /// MOB-14 proves a move across it, ID-3 recognises late copies of it.
    /// 24 bytes: whether the PE owned the MAC rides in the observation point's top bit.
    struct Departure {
        var time: Int64
        var pe: Int32
        var seq: UInt32
        /// The sequence the last observation point to withdraw had seen: older than `seq` when
        /// the advertisement's newest sequence reached only other points (MOB-15).
        var seqAtLastObservation: UInt32
        private var observationAndOwner: UInt32
        init(pe: Int32, seq: UInt32, seqAtLastObservation: UInt32, observation: Int32, time: Int64, wasOwner: Bool) {
            self.time = time; self.pe = pe; self.seq = seq; self.seqAtLastObservation = seqAtLastObservation
            observationAndOwner = UInt32(bitPattern: observation) & 0x7FFF_FFFF | (wasOwner ? 1 << 31 : 0)
        }
        var observation: Int32 { Int32(bitPattern: observationAndOwner & 0x7FFF_FFFF) }
        var wasOwner: Bool { observationAndOwner >> 31 != 0 }
    }

    static let departuresKept = 4

    /// The MAC's departure list, made on first use.
    func departureList(_ m: Int) -> Int32 {
        if macTable[m].departures >= 0 { return macTable[m].departures }
        let list = departureLists.add([])
        if Int(list) == departureListOwners.count {
            departureListOwners.append(Int32(m))
        } else {
            departureListOwners[Int(list)] = Int32(m)
        }
        macTable[m].departures = list
        return list
    }

    /// ID-3: an announcement from `pe` that repeats, within the copy lag, an advertisement that
    /// has just been withdrawn everywhere it was seen, at an observation point that had not seen
    /// that sequence: another point, or the last to withdraw when it had only an older one
    /// (MOB-15: several moves in one second reach the dumps in different orders).
    func isLateCopy(_ m: Int, pe: Int32, seq: UInt32, op: Int32, time: Int64) -> Bool {
        let list = macTable[m].departures
        guard list >= 0 else { return false }
        return departureLists[Int(list)].contains {
            $0.pe == pe && ($0.observation != op || SequenceOrder.newer($0.seq, than: $0.seqAtLastObservation))
                && TimeSpan.between($0.time, time) <= options.copyLag && !SequenceOrder.newer(seq, than: $0.seq)
        }
    }

    /// MOB-14: the last other PE that owned the MAC when its advertisement ended, within the window.
    func departedOwner(_ m: Int, notPE pe: Int32, time: Int64) -> Departure? {
        let list = macTable[m].departures
        guard list >= 0, let last = departureLists[Int(list)].last(where: { $0.wasOwner && $0.pe != pe }) else {
            return nil
        }
        return TimeSpan.between(last.time, time) <= options.moveWindow ? last : nil
    }

    func recordDeparture(_ m: Int, _ departure: Departure) {
        let list = Int(departureList(m))
        departureLists[list].removeAll { $0.pe == departure.pe }
        if departureLists[list].count >= Self.departuresKept { departureLists[list].removeFirst() }
        departureLists[list].append(departure)
    }

    /// Releases the departure lists of MACs not withdrawn anywhere since `time` (MOB-14 looks
    /// back one window, ID-3 one copy lag), so memory follows the MACs withdrawn lately.
    public func forgetDepartures(before time: Int64) {
        for list in departureListOwners.indices where departureListOwners[list] >= 0 {
            guard (departureLists[list].last?.time ?? .min) < time else { continue }
            departureLists[list] = []
            departureLists.release(Int32(list))
            macTable[Int(departureListOwners[list])].departures = -1
            departureListOwners[list] = -1
        }
    }
}
