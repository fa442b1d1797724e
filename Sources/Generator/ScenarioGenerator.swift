import Analysis
import BGPWire
import BMP
import ByteStreams
import EVPNModel
import Foundation
import MRT

/// Writes what route collectors record for a scenario — MRT update dumps (BGP4MP_ET) from a
/// collector peering with two route reflectors, a TABLE_DUMP_V2 snapshot, and a BMP stream
/// from the first reflector (pre-policy, post-policy, Loc-RIB) — plus truth.json.
/// Streaming: memory holds the fabric's MAC table, never the dump.
public final class ScenarioGenerator {
    public struct Result {
        public var files: [String]
        public var truth: Truth
        public var bytes: Int64
    }

    /// The detector defaults the truth is computed for (docs/evpn-mobility.md §5).
    static let maxMoves = Thresholds().maxMoves

    static let window = Thresholds().window

    static let incidentGap = Thresholds().incidentGap

    static let loopMinimumMACs = Thresholds().loopMinimumMACs

    let scenario: Scenario
    let seed: UInt64
    let scale: Int
    let outDirectory: String
    let plan: CompressionPlan
    var random: SeededRandom
    let asn: UInt32
    let rr1 = IPAddress(v4: 0x0AFF_0001)  // 10.255.0.1
    let rr2 = IPAddress(v4: 0x0AFF_0002)  // 10.255.0.2
    let collector = IPAddress(v4: 0x0AFF_0064)  // 10.255.0.100
    var peAddresses: [IPAddress] = []
    var peUp: [Bool] = []
    struct HostMAC {
        var bd: Int
        var mac: MACAddress
        var ip: IPAddress?
        var owners: [Int]  // PE indexes (0-based)
        var seq: UInt32 = 0
        var sticky = false
        var community = true
        var esi = ESI.zero
        var used = false  // taken by an episode: churn leaves it alone
        var hostRouteAt: [Int] = []  // PEs that still advertise its VPN host route
    }

    var macs: [HostMAC] = []
    var mrt: RotatingWriter?
    var bmp: CompressedWriter?
    var rib: CompressedWriter?
    var files: [String] = []
    /// Every move written, per MAC, in time order: the DUP-MAC-FLAP truth is counted from these
    /// (what was written), not from what the episodes meant.
    var moveLog: [Int: [(time: Int64, from: Int, to: Int)]] = [:]
    var findings: [ExpectedFinding] = []
    var incidents: [String] = []
    var announcements = 0
    var withdrawals = 0
    var addPath: Bool
    let oneSecond: Bool, withdrawFirst: Bool, bmpWithdrawOnly: Bool, firstMoveKeepsSequence: Bool
    /// MACs that have moved once (GoBGP keeps seq 0 only on the first move).
    var movedOnce = Set<Int>()
    /// Moves written without a sequence increment while the old PE still advertised.
    var missingIncrements: [(time: Int64, mac: Int, pair: [Int])] = []
    var startTime: Int64 = 0
    var endTime: Int64 = 0
    var lastTime: Int64 = 0
    public init(
        scenario: Scenario, outDirectory: String, seed: UInt64? = nil, scale: Int = 1,
        compression: CompressionPlan = .mixed
    ) {
        self.scenario = scenario
        self.seed = seed ?? scenario.seed ?? 1
        self.scale = max(1, scale)
        self.outDirectory = outDirectory
        self.plan = compression
        random = SeededRandom(seed: self.seed)
        asn = scenario.fabric.asn ?? 65000
        addPath = scenario.output?.addPath ?? true
        oneSecond = scenario.output?.oneSecondTimestamps ?? false
        withdrawFirst = scenario.output?.withdrawBeforeAdvertise ?? false
        bmpWithdrawOnly = scenario.output?.bmpWithdrawOnly ?? false
        firstMoveKeepsSequence = scenario.output?.firstMoveKeepsSequence ?? false
    }

    func pe(_ number: Int) throws -> Int {
        guard number >= 1, number <= peAddresses.count else {
            throw GeneratorError(message: "PE \(number) does not exist (the fabric has \(peAddresses.count))")
        }
        return number - 1
    }

    func rd(_ pe: Int, bd: Int) -> RouteDistinguisher { .ipv4(peAddresses[pe].v4, UInt16(41000 + bd)) }

    func routeTarget(bd: Int) -> RouteTarget { .as2(UInt16(truncatingIfNeeded: asn), UInt32(41000 + bd)) }

    let l3RouteTarget = RouteTarget.as2(65000, 5000)

    func buildFabric() throws {
        let f = scenario.fabric
        guard f.pes >= 2, f.pes <= 250, f.broadcastDomains >= 1, f.broadcastDomains <= 250 else {
            throw GeneratorError(message: "fabric: 2-250 PEs and 1-250 broadcast domains")
        }
        peAddresses = (1...f.pes).map { IPAddress(v4: 0x0AFF_FF00 | UInt32($0)) }
        peUp = Array(repeating: true, count: f.pes)
        let perBD = f.macsPerBD * scale
        let ipEvery = (f.ipFraction ?? 0.5) > 0 ? max(1, Int((1 / (f.ipFraction ?? 0.5)).rounded())) : Int.max
        macs.reserveCapacity(perBD * f.broadcastDomains)
        for bd in 0..<f.broadcastDomains {
            for j in 0..<perBD {
                let mac = MACAddress(0x0200_0000_0000 | UInt64(bd) << 32 | UInt64(j))
                let ip: IPAddress? = j % ipEvery == 0 ? hostAddress(bd: bd, index: j) : nil
                macs.append(HostMAC(bd: bd, mac: mac, ip: ip, owners: [(bd + j) % f.pes]))
            }
        }
        for (g, group) in (f.multihomed ?? []).enumerated() {
            let owners = try group.pes.map { try pe($0) }
            var esiBytes: [UInt8] = [0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, UInt8(g + 1)]
            esiBytes[0] = 0  // type 0: operator-configured
            let esi = ESI(bytes: esiBytes)
            for j in 0..<group.macs {
                let bd = j % f.broadcastDomains
                let mac = MACAddress(0x0200_00F0_0000 | UInt64(g) << 16 | UInt64(j))
                macs.append(HostMAC(bd: bd, mac: mac, ip: nil, owners: owners, esi: esi, used: true))
            }
        }
    }

    var actions: [Action] = []
    /// Emissions due a little later than the action that caused them, in time order.
    var deferred: [Action] = []
    var deferredOrder = 0
    var churn: Churn?
    public func run() throws -> Result {
        guard let start = Timestamp.parse(scenario.start) else {
            throw GeneratorError(message: "start: '\(scenario.start)' is not a time")
        }
        startTime = start
        endTime = start + (try duration(scenario.duration))
        try buildFabric()
        let dumps = outDirectory + "/dumps"
        try FileManager.default.createDirectory(atPath: dumps + "/mrt", withIntermediateDirectories: true)
        let rotate = Int64(scenario.output?.rotateMinutes ?? 15) * 60_000_000
        mrt = RotatingWriter(
            directory: dumps + "/mrt", prefix: "updates", compression: plan.forKind("updates"), period: rotate)
        if scenario.output?.bmp ?? true {
            try FileManager.default.createDirectory(atPath: dumps + "/bmp", withIntermediateDirectories: true)
            let path = dumps + "/bmp/rr1.\(fileStamp(start))\(CompressedWriter.fileExtension(plan.forKind("bmp")))"
            bmp = try CompressedWriter(path: path, compression: plan.forKind("bmp"))
            files.append(path)
        }
        for (i, e) in scenario.episodes.enumerated() { try schedule(e, index: i) }
        actions.sort { ($0.time, $0.order) < ($1.time, $1.order) }

        // Session set-up: BMP initiation and one Peer Up per PE, then the steady fabric.
        if let bmp {
            bmp.write(BMPEncoder.initiation(sysName: "rr1", sysDescr: "evpnscope generator, scenario \(scenario.name)"))
            // VPNv6 only where the fabric numbers hosts in IPv6 (large scales).
            let families: [AddressFamily] =
                macs.contains { $0.ip?.isIPv6 == true } ? [.evpn, .vpnv4, .vpnv6] : [.evpn, .vpnv4]
            var local = OpenMessage(myAS: asn, bgpID: rr1)
            local.fourByteAS = true; local.multiprotocol = families
            for pe in peAddresses.indices {
                var remote = OpenMessage(myAS: asn, bgpID: peAddresses[pe])
                remote.fourByteAS = true; remote.multiprotocol = families
                bmp.write(
                    BMPEncoder.peerUp(
                        BMPEncoder.PeerHeader(address: peAddresses[pe], asn: asn, bgpID: peAddresses[pe], time: start),
                        localAddress: rr1, sentOpen: local, receivedOpen: remote))
            }
        }
        try emitSegmentRoutes(time: start)
        let initial = macs.filter { !$0.owners.isEmpty }.count
        let spacing = max(Int64(1), 10_000_000 / Int64(max(initial, 1)))
        var k: Int64 = 0
        for m in macs.indices where !macs[m].owners.isEmpty {
            for pe in macs[m].owners { try advertise(m, pe: pe, time: start + 1_000_000 + k * spacing) }
            k += 1
        }
        if scenario.output?.ribSnapshot ?? true {
            let snapshotTime = start + 60_000_000
            let path =
                dumps + "/mrt/bview.\(fileStamp(snapshotTime))\(CompressedWriter.fileExtension(plan.forKind("rib")))"
            rib = try CompressedWriter(path: path, compression: plan.forKind("rib"))
            try writeSnapshot(time: snapshotTime)
            try rib?.close()
            files.append(path)
        }
        var nextStats = start + 300_000_000
        var index = 0
        while true {
            let nextAction = index < actions.count ? actions[index].time : Int64.max
            let nextChurn = churn.map { $0.next <= $0.until ? $0.next : Int64.max } ?? Int64.max
            let nextDeferred = deferred.first?.time ?? Int64.max
            let next = min(nextAction, nextChurn, nextDeferred)
            if nextStats <= min(next, endTime) {
                try heartbeat(nextStats)
                nextStats += 300_000_000
                continue
            }
            if next == Int64.max || next > endTime { break }
            if nextDeferred == next {
                try deferred.removeFirst().run()
            } else if nextChurn < nextAction {
                try churnStep(nextChurn)
                churn!.next += churn!.step
            } else {
                try actions[index].run()
                index += 1
            }
        }
        for action in deferred { try action.run() }
        // The scheduled closures capture self: drop them so the generator and its writers are freed.
        actions.removeAll()
        deferred.removeAll()
        try heartbeat(max(endTime, lastTime))
        try mrt?.close()
        try bmp?.close()
        files += mrt?.files ?? []
        truthFromWrittenMoves()
        var quality: [String] = []
        if bmpWithdrawOnly && bmp != nil { quality.append("DQ-WITHDRAW-ONLY") }
        if oneSecond { quality.append("DQ-COARSE-TIME") }
        let truth = Truth(
            scenario: scenario.name, seed: seed, findings: findings, incidents: incidents,
            announcements: announcements, withdrawals: withdrawals, dataQuality: quality)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(truth).write(to: URL(fileURLWithPath: outDirectory + "/truth.json"))
        let bytes = files.reduce(Int64(0)) {
            $0 + ((try? FileManager.default.attributesOfItem(atPath: $1)[.size] as? Int64) ?? 0)
        }
        return Result(files: files.sorted(), truth: truth, bytes: bytes)
    }

    /// MOB-7 over the moves written: a MAC's N-th move within the window opens a DUP-MAC-FLAP
    /// naming the PEs its last N moves went to and the PE it just left; later moves within the
    /// window of its last one belong to it and add their PEs; a move without an increment is a
    /// SEQ-MISSING-ON-MOVE. Incidents: these findings of one PE set within the incident gap of
    /// each other — a layer-2 loop from `loopMinimumMACs` flapping MACs up, a duplicate MAC for
    /// fewer, else a sequence-number anomaly.
    func truthFromWrittenMoves() {
        struct Flap { var mac: Int; var pes: Set<Int>; var first: Int64; var last: Int64; var isFlap = true }
        var flaps: [Flap] = []
        for m in moveLog.keys.sorted() {
            let log = moveLog[m]!
            var open: Int?
            var start = 0
            for (k, move) in log.enumerated() {
                while log[start].time < move.time - Self.window { start += 1 }
                guard k - start + 1 >= Self.maxMoves else { continue }
                let involved = Set(log[(k - Self.maxMoves + 1)...k].map(\.to) + [move.from])
                if let index = open, TimeSpan.between(flaps[index].last, move.time) <= Self.window {
                    flaps[index].last = move.time
                    flaps[index].pes.formUnion(involved)
                } else {
                    open = flaps.count
                    flaps.append(Flap(mac: m, pes: involved, first: log[start].time, last: move.time))
                }
            }
        }
        flaps += missingIncrements.map {
            Flap(mac: $0.mac, pes: Set($0.pair), first: $0.time, last: $0.time, isFlap: false)
        }
        flaps.sort { ($0.first, $0.mac) < ($1.first, $1.mac) }
        var clusters: [(pes: [Int], last: Int64, flapping: Set<Int>)] = []
        var openCluster: [[Int]: Int] = [:]
        for flap in flaps {
            let pes = flap.pes.sorted()
            expect(
                flap.isFlap ? "DUP-MAC-FLAP" : "SEQ-MISSING-ON-MOVE", mac: flap.mac, pes: pes, episode: "moves written")
            if let index = openCluster[pes], flap.first <= clusters[index].last + Self.incidentGap {
                clusters[index].last = max(clusters[index].last, flap.last)
                if flap.isFlap { clusters[index].flapping.insert(flap.mac) }
            } else {
                openCluster[pes] = clusters.count
                clusters.append((pes, flap.last, flap.isFlap ? [flap.mac] : []))
            }
        }
        incidents += clusters.map {
            $0.flapping.count >= Self.loopMinimumMACs
                ? "Layer-2 loop" : $0.flapping.isEmpty ? "Sequence-number anomaly" : "Duplicate MAC"
        }
    }

    /// Proof of life for the analyzer's timers: a keepalive in the update dump, statistics in BMP.
    func heartbeat(_ time: Int64) throws {
        try mrt?.write(
            time: time,
            MRTEncoder.bgp4mpMessage(
                time: time, peerAS: asn, localAS: asn, peerIP: rr1, localIP: collector,
                message: BGPEncoder.keepalive, extendedTime: !oneSecond))
        if let bmp {
            let peer = BMPEncoder.PeerHeader(address: peAddresses[0], asn: asn, bgpID: peAddresses[0], time: time)
            bmp.write(BMPEncoder.statistics(peer, counters: [(0, UInt32(macs.count))]))
        }
    }
}
