import EVPNModel

/// MOB-10: sequence numbers are 32-bit; a value falling from the top of the range to the
/// bottom is a wrap (newer), never a decrease.
public enum SequenceOrder {
    public static let top: UInt32 = UInt32.max - (1 << 16) + 1
    public static let bottom: UInt32 = 1 << 16

    public static func isWrap(from old: UInt32, to new: UInt32) -> Bool { old >= top && new < bottom }

    /// True when `a` is newer than `b`.
    public static func newer(_ a: UInt32, than b: UInt32) -> Bool {
        if isWrap(from: b, to: a) { return true }
        if isWrap(from: a, to: b) { return false }
        return a > b
    }
}

/// RFC 7432 §15 as a receiver applies it to the PEs advertising one MAC, apart from how the
/// engine stores routes, so each rule is checked on its own (`WinnerSelectionTests`).
public enum WinnerSelection {
    /// What one PE advertises for a MAC, folded over its routes.
    public struct Claim: Sendable, Equatable {
        public var seq: UInt32
        public var sticky: Bool
        public init(seq: UInt32, sticky: Bool) { self.seq = seq; self.sticky = sticky }

        /// MOB-11: a PE's MAC-only and MAC+IP routes are one claim, with the highest sequence of
        /// them and sticky when any of them is.
        @inline(__always)
        public mutating func fold(seq other: UInt32, sticky otherSticky: Bool) {
            if SequenceOrder.newer(other, than: seq) { seq = other }
            if otherSticky { sticky = true }
        }
    }

    /// MOB-6, MOB-3, MOB-4 in that order: a sticky claim beats one that is not, whatever the
    /// sequences; then the newer sequence (MOB-10's order); on equal sequences the PE with the
    /// lower address. `lowerAddress` is asked only for a tie.
    @inline(__always)
    public static func displaces(_ challenger: Claim, _ holder: Claim, lowerAddress: () -> Bool) -> Bool {
        if challenger.sticky != holder.sticky { return challenger.sticky }
        if challenger.seq != holder.seq { return SequenceOrder.newer(challenger.seq, than: holder.seq) }
        return lowerAddress()
    }

    /// MOB-8: two PEs advertising a MAC on the same non-zero ESI are one multi-homed attachment
    /// (aliasing), not a move between them.
    public static func sameSegment(_ a: ESI, _ b: ESI) -> Bool { !a.isZero && a == b }
}
