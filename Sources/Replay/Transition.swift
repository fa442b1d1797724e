import EVPNModel

/// What the replay engine tells the detectors: one change of EVPN state, with the event that
/// caused it. Indexes (mac, pe) refer to the engine's tables.
public struct Transition: Sendable {
    public enum Kind: String, Sendable, CaseIterable {
        /// A MAC appears with no competing advertisement (MOB-1).
        case learned
        /// The winner changed from `otherPE` to `pe` on an announcement (MOB-2/3/4).
        case moved
        /// `pe` still advertises after `otherPE` won with a higher sequence (MOB-5).
        case superseded
        /// `pe` no longer advertises the MAC at any observation point.
        case withdrawn
        /// `pe`'s advertisement vanished because a session was lost (MOB-12).
        case flushed
        /// `pe` advertises the MAC on the same non-zero ESI as the winner (MOB-8).
        case aliased
        /// `pe` advertised a MAC that `otherPE` holds as sticky, or both hold it sticky (MOB-6).
        case stickyConflict
        /// Same PE, same MAC re-announced (MOB-13); `seqBefore`/`seqAfter` may differ.
        case updated
        /// `pe` advertised with a sequence that did not beat the winner `otherPE` (MOB-3/4).
        case rejected
        /// An IP's binding moved from the MAC in `otherMAC` to this transition's MAC (MOB-11).
        case ipMoved
        /// A BGP session whose peer is the PE `pe` went down at one observation point.
        case peerDown
    }

    public var kind: Kind
    public var time: Int64
    public var mac: MACID  // none for peerDown
    public var pe: PEID
    public var otherPE = PEID.none
    public var seqBefore: UInt32 = 0
    public var seqAfter: UInt32 = 0
    public var ip: IPAddress?
    public var otherMAC = MACID.none
    public var sticky = false
    /// Winner chosen by the lowest-IP tie rule (MOB-4).
    public var tie = false
    /// Sequence wrapped from the top of the range (MOB-10).
    public var wrap = false
    public var source: SourceRef
    public var observation = ObservationID.none
    public var detail: String = ""

    public init(kind: Kind, time: Int64, mac: MACID, pe: PEID, source: SourceRef) {
        self.kind = kind; self.time = time; self.mac = mac; self.pe = pe; self.source = source
    }
}
