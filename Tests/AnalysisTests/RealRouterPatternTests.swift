import Analysis
import BGPWire
import ByteStreams
import MRT
import EVPNModel
import Foundation
import Replay
import TestSupport
import Testing

/// What real routers write, replayed through MRT bytes: FRR 8.4.4's `dump bgp updates` (BGP4MP,
/// one-second timestamps, the old PE's withdrawal before the new PE's advertisement, every PE's
/// dump holding every PE's routes through the route reflector) and GoBGP 3.10's first move.
/// docs/evpn-mobility.md W-13..W-15, MOB-14, MOB-15.

/// A host behind PE2 (learnt without a community) moving `count` times between PE1 and PE2, every
/// `every` seconds from t=22, each move the old PE's withdrawal then the new PE's advertisement
/// in the same second, as FRR numbers them: seq 1, 2, … (W-14).
func frrHostMoves(_ mac: String, count: Int, every: Double = 4, withdrawFirst: Bool = true) -> [Step] {
    var steps = [Step(at: 10, pe: 2, mac: mac)]
    for k in 1...count {
        let at = 22 + every * Double(k - 1)
        let to = k % 2 == 1 ? 1 : 2, from = 3 - to
        let withdrawal = Step(at: at, pe: from, mac: mac, withdraw: true)
        let advertisement = Step(at: at, pe: to, mac: mac, seq: UInt32(k))
        steps += withdrawFirst ? [withdrawal, advertisement] : [advertisement, withdrawal]
    }
    return steps
}

/// Two hosts sharing one MAC behind PE2 and PE3: each PE re-learns it with the other's sequence
/// plus one, and the other withdraws (FRR's leap-frog, ~4 moves a second).
func leapFrog(_ mac: String, count: Int, from start: Double = 5, every: Double = 0.25) -> [Step] {
    var steps = [Step(at: start, pe: 2, mac: mac)]
    for k in 1...count {
        let at = start + every * Double(k)
        let to = k % 2 == 1 ? 3 : 2, from = 5 - to
        steps += [
            Step(at: at, pe: to, mac: mac, seq: UInt32(k)), Step(at: at + 0.01, pe: from, mac: mac, withdraw: true),
        ]
    }
    return steps
}

/// `count` moves of `m` between PE2 and PE3, one every `every` seconds.
func alternating(_ count: Int, every: Double) -> [Step] {
    var steps: [Step] = []
    for k in 0...count {
        let pe = k % 2 == 0 ? 2 : 3
        steps.append(Step(at: every * Double(k), pe: pe, mac: m, seq: UInt32(k + 1)))
    }
    return steps
}

func keepaliveAt(_ at: Double) -> Step { Step(at: at, pe: 1, mac: m, keepalive: true) }

@Test("W-14 withdraw first, same second (MOB-14): six moves, DUP-MAC-FLAP at the fifth, no sequence finding")
func w14WithdrawFirstSameSecond() throws {
    let steps = frrHostMoves(m, count: 6) + [keepaliveAt(200)]
    let dump = try routerDump(steps, local: peAddress(1), name: "pe1-updates")
    let run = try analyze([dump])
    let moves = run.transitions(.moved)
    #expect(moves.count == 6)
    #expect(moves.map(\.seqAfter) == [1, 2, 3, 4, 5, 6])
    #expect(moves.allSatisfy { $0.detail == "across a withdrawal" })
    #expect(moves.first.map { [$0.otherPE, $0.pe] } == [run.pe(2), run.pe(1)])
    #expect(run.rules == ["DUP-MAC-FLAP"])
    let flap = try #require(run.findings(.dupMACFlap).first)
    // Opened by the fifth move at t=38 (first of the window t=22), the sixth at t=42 adds to it.
    #expect(flap.firstTime == epoch + 22_000_000 && flap.lastTime == epoch + 42_000_000 && flap.count == 2)
    #expect(run.engine.counters.unknownWithdrawals == 0)

    // The advertisement first in the same second is a plain supersede: the same six moves.
    let announceFirst = try analyze([
        try routerDump(
            frrHostMoves(m, count: 6, withdrawFirst: false) + [keepaliveAt(200)],
            local: peAddress(1), name: "pe1-announce-first")
    ])
    #expect(announceFirst.transitions(.moved).map(\.seqAfter) == [1, 2, 3, 4, 5, 6])
    #expect(announceFirst.rules == ["DUP-MAC-FLAP"])
}

@Test("W-14 from two routers' dumps in either order (MOB-15): the same six moves and one DUP-MAC-FLAP")
func w14TwoDumpsEitherOrder() throws {
    let steps = frrHostMoves(m, count: 6) + [keepaliveAt(200)]
    let first = try routerDump(steps, local: peAddress(1), name: "a-pe1")
    let second = try routerDump(steps, local: peAddress(2), name: "b-pe2")
    let forward = try analyze([first, second]), backward = try analyze([second, first])
    for run in [forward, backward] {
        #expect(run.transitions(.moved).map(\.seqAfter) == [1, 2, 3, 4, 5, 6])
        #expect(run.rules == ["DUP-MAC-FLAP"])
        #expect(run.engine.observations.count == 2)
        #expect(run.state(m)?.winner == run.pe(2) && run.state(m)?.winnerSeq == 6)
    }
    // The same files under names that sort the other way round.
    let swappedA = try routerDump(steps, local: peAddress(2), name: "a-pe2"),
        swappedB = try routerDump(steps, local: peAddress(1), name: "b-pe1")
    let swapped = try analyze([swappedA, swappedB])
    #expect(
        swapped.transitions(.moved).map { [$0.seqBefore, $0.seqAfter] }
            == forward.transitions(.moved).map { [$0.seqBefore, $0.seqAfter] })
    #expect(swapped.rules == forward.rules)
}

/// Recorded from FRR 8.4 (the interop test's duplicate MAC, CI): pe2 takes the MAC with seq 1;
/// within one later second pe1 takes it back with seq 2, pe2 with seq 3, and pe1 withdraws. pe2's
/// dump gets pe1's first withdrawal a second late, just before pe1's seq 2.
@Test(
    """
    MOB-15 and ID-3: a PE's newest sequence, seen and withdrawn at one dump within a second, reaching another \
    dump late is a copy, not a SEQ-MISSING-ON-MOVE, in either order
    """
)
func lateCopyOfANewerSequenceAtALaggingDump() throws {
    let learnt = [Step(at: 10, pe: 1, mac: m), Step(at: 15, pe: 2, mac: m, seq: 1), keepaliveAt(100)]
    let oneSecond = [
        Step(at: 20, pe: 1, mac: m, seq: 2), Step(at: 20, pe: 2, mac: m, withdraw: true),
        Step(at: 20, pe: 2, mac: m, seq: 3), Step(at: 20, pe: 1, mac: m, withdraw: true),
    ]
    let pe1Withdraws = Step(at: 15, pe: 1, mac: m, withdraw: true)
    let pe1Dump = try routerDump(learnt + [pe1Withdraws] + oneSecond, local: peAddress(1), name: "late-pe1")
    var late = pe1Withdraws
    late.at = 20
    let pe2Dump = try routerDump(learnt + [late] + oneSecond, local: peAddress(2), name: "late-pe2")
    for inputs in [[pe1Dump, pe2Dump], [pe2Dump, pe1Dump]] {
        let run = try analyze(inputs)
        #expect(run.rules.isEmpty, "\(run.analyzer.findings.map(\.detail))")
        #expect(run.transitions(.moved).map { [$0.seqBefore, $0.seqAfter] } == [[0, 1], [1, 2], [2, 3]])
        #expect(run.state(m)?.winner == run.pe(2))
    }
}

/// Seen on FRR 8.4 (the interop test's duplicate MAC, CI): both hosts sharing a MAC came up at
/// once, so pe1 and pe2 learnt it in the same second without a community; the reflector's dump had
/// pe2 first. pe2 then leap-frogged with seq 1 and pe1 withdrew: FRR counts one move.
@Test(
    """
    MOB-15 and MOB-4: two PEs learning a MAC in the same second is no move to the lower address, in either \
    order; a second apart it is a tied move (W-13)
    """
)
func sameSecondFirstLearnIsNoMove() throws {
    let leapFrog = [
        Step(at: 12, pe: 2, mac: m, seq: 1), Step(at: 12, pe: 1, mac: m, withdraw: true), keepaliveAt(100),
    ]
    let pe2First = try routerDump(
        [Step(at: 10, pe: 2, mac: m), Step(at: 10, pe: 1, mac: m)] + leapFrog, local: rr1, peer: nil,
        name: "tie-pe2-first")
    let pe1First = try routerDump(
        [Step(at: 10, pe: 1, mac: m), Step(at: 10, pe: 2, mac: m)] + leapFrog, local: rr1, peer: nil,
        name: "tie-pe1-first")
    var outcomes: [[String]] = []
    for dump in [pe2First, pe1First] {
        let run = try analyze([dump])
        #expect(run.transitions(.moved).map { [$0.otherPE, $0.pe] } == [[run.pe(1), run.pe(2)]], "\(dump)")
        #expect(run.transitions(.rejected).map { [$0.pe, $0.otherPE] } == [[run.pe(2), run.pe(1)]], "\(dump)")
        #expect(run.state(m)?.winner == run.pe(2) && run.state(m)?.moves == 1)
        outcomes.append(run.rules)
    }
    #expect(outcomes[0] == outcomes[1])

    // A second apart, the later PE took the MAC without raising the sequence: a tied move.
    let apart = try analyze([
        try routerDump(
            [Step(at: 10, pe: 2, mac: m), Step(at: 11, pe: 1, mac: m), keepaliveAt(100)], local: rr1, peer: nil,
            name: "tie-apart")
    ])
    #expect(apart.transitions(.moved).map { [$0.seqBefore, $0.seqAfter] } == [[0, 0]])
    #expect(apart.transitions(.moved).first?.tie == true)
}

@Test(
    """
    MOB-15 and MOB-2: a MAC first seen in one second at two PEs with different sequences moved from the lower to \
    the higher, in either order, and the lower one's route is stale
    """
)
func sameSecondFirstClaimsWithDifferentSequences() throws {
    var outcomes: [[String]] = []
    for higherFirst in [true, false] {
        let claims = [Step(at: 10, pe: 1, mac: m, seq: 2), Step(at: 10, pe: 2, mac: m, seq: 1)]
        let run = try analyze([
            try routerDump(
                (higherFirst ? claims : claims.reversed()) + [keepaliveAt(100)], local: rr1, peer: nil,
                name: "claims-\(higherFirst)")
        ])
        #expect(run.transitions(.moved).map { [$0.otherPE, $0.pe] } == [[run.pe(2), run.pe(1)]])
        #expect(run.transitions(.moved).map { [$0.seqBefore, $0.seqAfter] } == [[1, 2]])
        #expect(run.state(m)?.winner == run.pe(1))
        outcomes.append(run.rules)
    }
    #expect(outcomes[0] == outcomes[1], "\(outcomes)")
    #expect(outcomes[0] == ["STALE-AFTER-MOVE"], "\(outcomes)")
}

@Test("W-15 not a move (MOB-14): a MAC learnt afresh without a community after the only advertiser withdrew")
func w15FreshLearnIsNoMove() throws {
    let run = try analyze([
        Step(at: 0, pe: 1, mac: m, seq: 3), Step(at: 5, pe: 1, mac: m, withdraw: true),
        Step(at: 15, pe: 2, mac: m), keepaliveAt(200),
    ])
    #expect(run.transitions(.moved).isEmpty)
    #expect(run.transitions(.learned).map(\.pe) == [run.pe(1), run.pe(2)])
    #expect(run.analyzer.findings.isEmpty)
    // seq ≤ the withdrawn owner's is a fresh learn too, and so is a higher seq after the window.
    let equal = try analyze([
        Step(at: 0, pe: 1, mac: m, seq: 3), Step(at: 5, pe: 1, mac: m, withdraw: true),
        Step(at: 15, pe: 2, mac: m, seq: 3),
    ])
    #expect(equal.transitions(.moved).isEmpty && equal.analyzer.findings.isEmpty)
    let late = try analyze([
        Step(at: 0, pe: 1, mac: m, seq: 3), Step(at: 5, pe: 1, mac: m, withdraw: true),
        Step(at: 190, pe: 2, mac: m, seq: 4),
    ])
    #expect(late.transitions(.moved).isEmpty)
}

@Test("MOB-14 a move across a withdrawal counts for MOB-7 like a supersede, and the old PE is not stale")
func mob14MovesAcrossWithdrawalsCount() throws {
    // Five moves, each the old PE's withdrawal one second before the new PE's higher sequence.
    var steps = [Step(at: 0, pe: 2, mac: m)]
    for k in 1...5 {
        let to = k % 2 == 1 ? 3 : 2
        steps += [
            Step(at: 10 * Double(k), pe: 5 - to, mac: m, withdraw: true),
            Step(at: 10 * Double(k) + 1, pe: to, mac: m, seq: UInt32(k)),
        ]
    }
    let run = try analyze(steps + [keepaliveAt(200)])
    let moves = run.transitions(.moved)
    #expect(moves.count == 5)
    #expect(moves.map { [$0.seqBefore, $0.seqAfter] } == [[0, 1], [1, 2], [2, 3], [3, 4], [4, 5]])
    #expect(run.state(m)?.moves == 5)
    #expect(run.rules == ["DUP-MAC-FLAP"])
}

@Test("MOB-7 --max-moves 5, 16 and 100: N-1 moves in the window are no duplicate, the N-th is")
func maxMovesAtFiveSixteenAndAHundred() throws {
    for limit in [5, 16, 100] {
        var thresholds = Thresholds()
        thresholds.maxMoves = limit
        let below = try analyze([try mrtDump(alternating(limit - 1, every: 1))], thresholds: thresholds)
        #expect(below.transitions(.moved).count == limit - 1)
        #expect(below.findings(.dupMACFlap).isEmpty, "limit \(limit)")
        let at = try analyze([try mrtDump(alternating(limit, every: 1))], thresholds: thresholds)
        let flap = try #require(at.findings(.dupMACFlap).first, "limit \(limit)")
        #expect(flap.detail.hasPrefix("\(limit) moves in"), "limit \(limit)")
        #expect(flap.lastTime == epoch + Int64(limit) * 1_000_000)
    }
}

@Test(
    "ID-3 SEQ-DECREASE is about one observation point's successive advertisements, not a copy arriving late elsewhere")
func seqDecreaseNeedsOneObservationPoint() throws {
    // RR2 passes PE1's intermediate seq 5 after RR1 already showed seq 6: a late copy, not a decrease.
    let a = try routerDump(
        [Step(at: 0, pe: 1, mac: m, seq: 4), Step(at: 5, pe: 1, mac: m, seq: 6)], local: collectorIP, peer: rr1,
        name: "rr1", extendedTime: true)
    let b = try routerDump(
        [Step(at: 0, pe: 1, mac: m, seq: 4), Step(at: 5.5, pe: 1, mac: m, seq: 5), Step(at: 6, pe: 1, mac: m, seq: 6)],
        local: collectorIP, peer: rr2, name: "rr2", extendedTime: true)
    let run = try analyze([a, b])
    #expect(!run.rules.contains("SEQ-DECREASE"))
    #expect(run.state(m)?.winnerSeq == 6)
    // The same observation point going from 6 down to 5 is the PE's own decrease.
    let c = try routerDump(
        [Step(at: 0, pe: 1, mac: m, seq: 4), Step(at: 5.5, pe: 1, mac: m, seq: 6), Step(at: 6, pe: 1, mac: m, seq: 5)],
        local: collectorIP, peer: rr2, name: "rr2-decrease", extendedTime: true)
    let decrease = try analyze([a, c])
    #expect(decrease.findings(.seqDecrease).first?.pes == [decrease.pe(1)])
}

/// The moves of a run as (MAC, from, to, seq before, seq after), the findings as (rule, MAC, PEs,
/// count) and every MAC's final owner: what MOB-15 says must not depend on the order of inputs.
private func outcome(_ run: Run) -> (moves: [String], findings: [String], state: [String]) {
    let address = { (pe: PEID) in pe.exists ? run.engine.pes[pe.index].address.description : "-" }
    let moves = run.transitions(.moved).map { t in
        "\(run.engine.macs[t.mac.index].mac) \(address(t.otherPE))>\(address(t.pe)) \(t.seqBefore)>\(t.seqAfter)"
    }
    let findings = run.analyzer.findings.map { f in
        "\(f.rule.rawValue) \(f.mac?.description ?? "-") \(f.pes.map(address).sorted()) \(f.count)"
    }.sorted()
    let state = run.engine.macs.indices.map { i in
        let s = run.engine.macs[i]
        return "\(s.mac) \(address(s.winner)) \(s.winnerSeq) \(s.moves)"
    }.sorted()
    return (moves, findings, state)
}

@Test(
    """
    MOB-15 property: every PE's dump and the reflector's, in any order and with copies lagging each other, give the \
    same moves, findings and state
    """,
    arguments: [false, true])
func mob15OrderInsideATimestampChangesNothing(microseconds: Bool) throws {
    let hostMAC = "aa:aa:aa:00:00:01", duplicateMAC = "aa:aa:aa:00:00:02", cleanMAC = "aa:aa:aa:00:00:03",
        freshMAC = "aa:aa:aa:00:00:04"
    let steps = timeOrdered(
        frrHostMoves(hostMAC, count: 6) + leapFrog(duplicateMAC, count: 40)
            + [
                Step(at: 3, pe: 1, mac: cleanMAC), Step(at: 50, pe: 1, mac: cleanMAC, withdraw: true),
                Step(at: 50, pe: 3, mac: cleanMAC, seq: 1),
                Step(at: 4, pe: 3, mac: freshMAC, seq: 2), Step(at: 60, pe: 3, mac: freshMAC, withdraw: true),
                Step(at: 70, pe: 1, mac: freshMAC),
                keepaliveAt(300),
            ])
    let truthMoves = 6 + 40 + 1
    var generator = SplitMix(seed: microseconds ? 7 : 3)
    var reference: (moves: [String], findings: [String], state: [String])?
    for trial in 0..<6 {
        // Each router's copy of an update arrives a little later than the reflector's; within one
        // second of a BGP4MP dump they all share the timestamp and only the file order is left.
        var paths: [String] = []
        for pe in 1...3 {
            var lagged: [Step] = []
            var last = -1.0
            for step in steps {
                var copy = step
                if microseconds { copy.at = max(step.at + Double.random(in: 0.001..<0.3, using: &generator), last) }
                last = copy.at
                lagged.append(copy)
            }
            let name = "\(String(UInt32.random(in: 0...UInt32.max, using: &generator), radix: 16))-pe\(pe)-\(trial)"
            paths.append(try routerDump(lagged, local: peAddress(pe), name: name, extendedTime: microseconds))
        }
        if trial % 2 == 1 {
            paths.append(try routerDump(steps, local: rr1, peer: nil, name: "rr-\(trial)", extendedTime: microseconds))
        }
        paths.shuffle(using: &generator)
        let run = try analyze(paths)
        let result = outcome(run)
        #expect(result.moves.count == truthMoves, "trial \(trial)")
        #expect(result.findings.allSatisfy { $0.hasPrefix("DUP-MAC-FLAP") }, "trial \(trial): \(result.findings)")
        #expect(result.findings.count == 2, "trial \(trial): \(result.findings)")
        if let reference {
            #expect(result.moves == reference.moves, "trial \(trial)")
            #expect(result.findings == reference.findings, "trial \(trial)")
            #expect(result.state == reference.state, "trial \(trial)")
        } else {
            reference = result
        }
    }
}

@Test("DQ-PE-CONFLICT and DQ-NO-PE: an RD naming another PE than ORIGINATOR_ID, and routes no --pe-key rule can place")
func peIdentificationNotes() throws {
    let conflict = try analyze([
        Step(at: 0, pe: 1, mac: m, originator: 2), Step(at: 1, pe: 3, mac: "aa:aa:aa:33:33:33"),
    ])
    let notes = DataQuality.assess(engine: conflict.engine, inputs: [])
    #expect(notes.map(\.rule) == [.peConflict])
    #expect(notes.first?.count == 1)
    #expect(notes.first?.detail.contains("first: RD 10.255.255.1, ORIGINATOR_ID 10.255.255.2") == true)
    #expect(conflict.state(m)?.winner == conflict.pe(1))

    let unplaced = try analyze(
        [try mrtDump([Step(at: 0, pe: 1, mac: m, typeZeroRD: true)])], engineOptions: ReplayEngine.Options(peKey: .rd))
    let none = DataQuality.assess(engine: unplaced.engine, inputs: [])
    #expect(none.map(\.rule) == [.noPE])
    #expect(none.first?.count == 1)
    #expect(unplaced.engine.macs.count == 0)
    #expect(!DataQuality.isBlind(none, engine: unplaced.engine))
}

@Test("DQ-TIME-BACKWARDS and DQ-COARSE-TIME: a dump whose clock steps back, with one-second timestamps")
func timeGoingBackIsNoted() throws {
    let later = try routerDump(
        [Step(at: 50, pe: 1, mac: m), Step(at: 60, pe: 1, mac: m, seq: 1)], local: peAddress(2), name: "later")
    let earlier = try routerDump([Step(at: 10, pe: 1, mac: m)], local: peAddress(2), name: "earlier")
    let joined = temporaryPath("joined")
    let bytes = try Data(contentsOf: URL(fileURLWithPath: later)) + Data(contentsOf: URL(fileURLWithPath: earlier))
    try bytes.write(to: URL(fileURLWithPath: joined))
    let run = try analyze([joined])
    let inputs = run.inputs.files.compactMap { file in
        file.reader.map { InputTimes(id: file.index, path: file.path, stats: $0.stats) }
    }
    let notes = DataQuality.assess(engine: run.engine, inputs: inputs)
    #expect(Set(notes.map(\.rule)) == [.timeBackwards, .coarseTime])
    let back = try #require(notes.first { $0.rule == .timeBackwards })
    #expect(back.count == 1)
    // The third record (after two of the later file) is where time went back.
    let recordLength = Int64(try Data(contentsOf: URL(fileURLWithPath: later)).count / 2)
    #expect(back.offset == 2 * recordLength)
    #expect(notes.first { $0.rule == .coarseTime }?.count == 3)
}

@Test(
    """
    MOB-5 with late withdrawals: the owner leaving before the PE it superseded falls back to a stale route, which \
    is no move
    """
)
func fallbackToASupersededRouteIsNoMove() throws {
    let run = try analyze([
        Step(at: 0, pe: 1, mac: m, seq: 5), Step(at: 10, pe: 2, mac: m, seq: 6),
        Step(at: 10.5, pe: 2, mac: m, withdraw: true),
        Step(at: 10.6, pe: 1, mac: m, withdraw: true), Step(at: 12, pe: 1, mac: m, seq: 7), keepaliveAt(100),
    ])
    #expect(run.transitions(.moved).map { [$0.seqBefore, $0.seqAfter] } == [[5, 6], [6, 7]])
    #expect(run.analyzer.findings.isEmpty)
}

/// A MAC that roams .1 → .2 → .3 → .4 → .1 → .2 within the window is one flap that names every
/// PE it reached, not a finding "between" the last two (MOB-7, issue 19).
@Test("MOB-7 a flap across four PEs is one DUP-MAC-FLAP naming all four, and its incident too")
func mob7FlapAcrossFourPEsNamesThemAll() throws {
    var steps = [Step(at: 1, pe: 1, mac: m, seq: 0)]
    for (k, pe) in [2, 3, 4, 1, 2].enumerated() {
        steps.append(Step(at: Double(10 + 10 * k), pe: pe, mac: m, seq: UInt32(k + 1)))
        steps.append(Step(at: Double(10 + 10 * k) + 0.1, pe: [1, 2, 3, 4, 1][k], mac: m, withdraw: true))
    }
    let run = try analyze(steps + [keepaliveAt(300)])
    let flaps = run.findings(.dupMACFlap)
    #expect(flaps.count == 1)
    #expect(Set(flaps.first?.pes ?? []) == Set((1...4).map(run.pe)))
    #expect(flaps.first?.detail.contains("among 4 PEs") == true, "\(flaps.first?.detail ?? "")")
    let incident = try #require(run.incidents.first { $0.rules.contains(.dupMACFlap) })
    #expect(incident.title == "Duplicate MAC flapping among 10.255.255.1, 10.255.255.2, 10.255.255.3 and 10.255.255.4")
}
