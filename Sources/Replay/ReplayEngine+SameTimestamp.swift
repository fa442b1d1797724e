/// MOB-15 for a MAC's first claims: PEs that first advertise a MAC within one timestamp (one
/// second in a BGP4MP dump) reach the dumps in any order, and the engine must count the same
/// moves whichever comes first.
extension ReplayEngine {
    /// A newcomer's first route (`seq`, `sticky`) that won a tie (MOB-4) on its lower address
    /// against a holder whose claim began at the same timestamp: with one-second dumps both PEs
    /// often learn a MAC in the same second.
    func claimedTogether(_ m: Int, holder: Int32, seq: UInt32, sticky: Bool, time: Int64) -> Bool {
        guard let held = summarize(m, pe: holder) else { return false }
        return held.lastChange == time && held.seq == seq && held.sticky == sticky
    }

    /// The holder's advertisement began at `time` and no move happened then: it learnt the MAC
    /// in this timestamp.
    func learntWithoutMove(_ m: Int, holder: Int32, at time: Int64) -> Bool {
        guard summarize(m, pe: holder)?.lastChange == time else { return false }
        return macTable[m].lastChange != time || macTable[m].moves == 0
    }
}
