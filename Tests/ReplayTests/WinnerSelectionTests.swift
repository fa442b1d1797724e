import EVPNModel
import Replay
import TestSupport
import Testing

/// RFC 7432 §15's choice between two PEs' claims on one MAC, as pure functions (the engine's
/// `recomputeWinner` applies them over a MAC's routes).

private typealias Claim = WinnerSelection.Claim

private func displaces(_ challenger: Claim, _ holder: Claim, challengerLower: Bool) -> Bool {
    var asked = false
    let result = WinnerSelection.displaces(challenger, holder) {
        asked = true; return challengerLower
    }
    // The address decides only a tie: it must not be consulted otherwise.
    #expect(asked == (challenger == holder), "address consulted for \(challenger) vs \(holder)")
    return result
}

@Test("MOB-3: the newer sequence wins, whichever PE has the lower address")
func newerSequenceWins() {
    #expect(displaces(Claim(seq: 2, sticky: false), Claim(seq: 1, sticky: false), challengerLower: false))
    #expect(!displaces(Claim(seq: 1, sticky: false), Claim(seq: 2, sticky: false), challengerLower: true))
}

@Test("MOB-4: equal sequences go to the lower PE address")
func tieGoesToTheLowerAddress() {
    #expect(displaces(Claim(seq: 7, sticky: false), Claim(seq: 7, sticky: false), challengerLower: true))
    #expect(!displaces(Claim(seq: 7, sticky: false), Claim(seq: 7, sticky: false), challengerLower: false))
}

@Test("MOB-6: a sticky claim beats a higher sequence; two sticky claims fall back to MOB-3/4")
func stickyBeatsAnySequence() {
    #expect(displaces(Claim(seq: 0, sticky: true), Claim(seq: 900, sticky: false), challengerLower: false))
    #expect(!displaces(Claim(seq: 900, sticky: false), Claim(seq: 0, sticky: true), challengerLower: true))
    #expect(displaces(Claim(seq: 3, sticky: true), Claim(seq: 2, sticky: true), challengerLower: false))
}

@Test("MOB-10: a sequence that wrapped from the top of the range is newer, not lower")
func wrappedSequenceIsNewer() {
    #expect(displaces(Claim(seq: 0, sticky: false), Claim(seq: UInt32.max, sticky: false), challengerLower: false))
    #expect(!displaces(Claim(seq: UInt32.max, sticky: false), Claim(seq: 3, sticky: false), challengerLower: true))
    // Outside the top and bottom bands, plain order: 70,000 after 4,000,000,000 is lower.
    #expect(
        !displaces(Claim(seq: 70_000, sticky: false), Claim(seq: 4_000_000_000, sticky: false), challengerLower: true))
}

@Test("MOB-11: a PE's routes fold into one claim with their highest sequence, sticky if any route is")
func routesFoldIntoOneClaim() {
    var claim = Claim(seq: 4, sticky: false)
    claim.fold(seq: 2, sticky: false)
    #expect(claim == Claim(seq: 4, sticky: false))
    claim.fold(seq: 5, sticky: true)
    #expect(claim == Claim(seq: 5, sticky: true))
    claim.fold(seq: 1, sticky: false)
    #expect(claim == Claim(seq: 5, sticky: true))
    var top = Claim(seq: UInt32.max - 1, sticky: false)
    top.fold(seq: 1, sticky: false)
    #expect(top.seq == 1, "a wrapped route is the newer one")
}

@Test("MOB-8: the same non-zero ESI is one attachment; the zero ESI is none")
func sameSegmentNeedsANonZeroESI() {
    let esi = ESI("00:11:22:33:44:55:66:77:88:02")!
    #expect(WinnerSelection.sameSegment(esi, esi))
    #expect(!WinnerSelection.sameSegment(.zero, .zero))
    #expect(!WinnerSelection.sameSegment(esi, ESI("00:11:22:33:44:55:66:77:88:03")!))
}
