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

    private var mrt: RotatingWriter?
    private var bmp: CompressedWriter?
    private var rib: CompressedWriter?
    private var files: [String] = []
    /// Every move written, per MAC, in time order: the DUP-MAC-FLAP truth is counted from these
    /// (what was written), not from what the episodes meant.
    private var moveLog: [Int: [(time: Int64, from: Int, to: Int)]] = [:]
    private var findings: [ExpectedFinding] = []
    private var incidents: [String] = []
    private var announcements = 0
    private var withdrawals = 0
    private var addPath: Bool
    private let oneSecond: Bool, withdrawFirst: Bool, bmpWithdrawOnly: Bool, firstMoveKeepsSequence: Bool
    /// MACs that have moved once (GoBGP keeps seq 0 only on the first move).
    private var movedOnce = Set<Int>()
    /// Moves written without a sequence increment while the old PE still advertised.
    private var missingIncrements: [(time: Int64, mac: Int, pair: [Int])] = []
    private var startTime: Int64 = 0
    private var endTime: Int64 = 0
    private var lastTime: Int64 = 0

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

    // MARK: - Fabric

    func pe(_ number: Int) throws -> Int {
        guard number >= 1, number <= peAddresses.count else {
            throw GeneratorError(message: "PE \(number) does not exist (the fabric has \(peAddresses.count))")
        }
        return number - 1
    }

    func rd(_ pe: Int, bd: Int) -> RouteDistinguisher { .ipv4(peAddresses[pe].v4, UInt16(41000 + bd)) }
    func routeTarget(bd: Int) -> RouteTarget { .as2(UInt16(truncatingIfNeeded: asn), UInt32(41000 + bd)) }
    let l3RouteTarget = RouteTarget.as2(65000, 5000)

    private func buildFabric() throws {
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

    // MARK: - Emission

    private func basicAttributes(pe: Int, bd: Int, seq: UInt32, sticky: Bool, community: Bool) -> PathAttributes {
        var a = PathAttributes()
        a.origin = 0
        a.localPref = 100
        a.extendedCommunities = [.routeTarget(routeTarget(bd: bd)), .encapsulation(8)]
        if community && (seq > 0 || sticky) {
            a.extendedCommunities.append(.macMobility(sequence: seq, sticky: sticky))
        }
        return a
    }

    private func evpnNLRI(_ m: Int, pe: Int) -> [NLRI] {
        let host = macs[m]
        let vni = UInt32(10000 + host.bd)
        var out: [NLRI] = [
            .evpn(.macIP(MACIPAdvertisement(rd: rd(pe, bd: host.bd), esi: host.esi, mac: host.mac, label1: vni)))
        ]
        if let ip = host.ip {
            out.append(
                .evpn(
                    .macIP(
                        MACIPAdvertisement(
                            rd: rd(pe, bd: host.bd), esi: host.esi, mac: host.mac, ip: ip, label1: vni, label2: 5000))))
        }
        return out
    }

    /// Unique at any scale: 10.<bd>.x.y for a domain's first 65,526 hosts (the committed
    /// datasets), IPv6 fd00:0:<bd>::<index> beyond, as a dual-stack fabric would number them.
    private func hostAddress(bd: Int, index: Int) -> IPAddress {
        if index + 10 <= 0xFFFF && bd <= 0xFF {
            return IPAddress(v4: 0x0A00_0000 | UInt32(bd) << 16 | UInt32(index + 10))
        }
        return IPAddress(v6High: 0xFD00_0000_0000_0000 | UInt64(bd), v6Low: UInt64(index))
    }

    private func hostRouteNLRI(_ ip: IPAddress, pe: Int) -> NLRI {
        .vpn(
            rd: .ipv4(peAddresses[pe].v4, 5000), prefix: IPPrefix(address: ip, length: UInt8(ip.bitLength)),
            label: 16000 << 4 | 1)
    }

    private struct Views: OptionSet {
        let rawValue: Int
        static let rr1 = Views(rawValue: 1), rr2 = Views(rawValue: 2), bmpAdjIn = Views(rawValue: 4),
            bmpLocRIB = Views(rawValue: 8)
        static let bmp: Views = [.bmpAdjIn, .bmpLocRIB]
        static let all: Views = [.rr1, .rr2, .bmp]
    }

    /// One PE's announcement or withdrawal, as every view records it.
    private func emit(
        time: Int64, pe: Int, family: AddressFamily, nlri: [NLRI], attributes: PathAttributes?, views: Views = .all,
        secondPath: Bool = false
    ) throws {
        lastTime = max(lastTime, time)
        let nextHop = peAddresses[pe]
        func update(cluster: InlineList<UInt32>, pathID: UInt32?, reflected: Bool) -> UpdateMessage {
            var u = UpdateMessage()
            let entries = nlri.map { NLRIEntry(pathID: pathID, nlri: $0) }
            if var a = attributes {
                if reflected { a.originatorID = nextHop; a.clusterList = cluster }
                u.attributes = a
                u.reach = MPReach(family: family, nextHop: nextHop, nlri: entries)
            } else {
                u.unreach = MPUnreach(family: family, nlri: entries)
            }
            return u
        }
        let fourByte = DecodeOptions(fourByteAS: true)
        if views.contains(.rr1), let mrt {
            let message = BGPEncoder.update(update(cluster: [rr1.v4], pathID: nil, reflected: true), options: fourByte)
            try mrt.write(
                time: time,
                MRTEncoder.bgp4mpMessage(
                    time: time, peerAS: asn, localAS: asn, peerIP: rr1, localIP: collector, message: message,
                    extendedTime: !oneSecond))
        }
        if views.contains(.rr2), let mrt {
            let options = DecodeOptions(fourByteAS: true, addPath: addPath ? .all : AddPathFamilies())
            let message = BGPEncoder.update(
                update(cluster: [rr2.v4], pathID: addPath ? 1 : nil, reflected: true), options: options)
            try mrt.write(
                time: time,
                MRTEncoder.bgp4mpMessage(
                    time: time, peerAS: asn, localAS: asn, peerIP: rr2, localIP: collector,
                    message: message, addPath: addPath, extendedTime: !oneSecond))
            if addPath && secondPath {
                // FP-3: RR2 also holds the path reflected by RR1 and sends both.
                let second = BGPEncoder.update(
                    update(cluster: [rr2.v4, rr1.v4], pathID: 2, reflected: true), options: options)
                try mrt.write(
                    time: time,
                    MRTEncoder.bgp4mpMessage(
                        time: time, peerAS: asn, localAS: asn, peerIP: rr2, localIP: collector,
                        message: second, addPath: true, extendedTime: !oneSecond))
            }
        }
        if !views.isDisjoint(with: .bmp), let bmp {
            var monitored = update(cluster: [], pathID: nil, reflected: false)
            if bmpWithdrawOnly, let reach = monitored.reach {
                // FRR 8.4.4's BMP: the announcement's NLRI in an MP_UNREACH, attributes dropped.
                monitored = UpdateMessage()
                monitored.unreach = MPUnreach(family: reach.family, nlri: reach.nlri)
            }
            let message = BGPEncoder.update(monitored, options: fourByte)
            if views.contains(.bmpAdjIn) && peUp[pe] {
                let peer = BMPEncoder.PeerHeader(address: nextHop, asn: asn, bgpID: nextHop, time: time)
                bmp.write(BMPEncoder.routeMonitoring(peer, update: message))
                var post = peer
                post.flags = 0x40
                bmp.write(BMPEncoder.routeMonitoring(post, update: message))
            }
            // RR1's own table: it loses a dead PE's routes whatever the other reflector does.
            if views.contains(.bmpLocRIB) {
                let locRIB = BMPEncoder.PeerHeader(type: 3, address: IPAddress(v4: 0), asn: asn, bgpID: rr1, time: time)
                bmp.write(BMPEncoder.routeMonitoring(locRIB, update: message))
            }
        }
    }

    private func secondPath(_ m: Int) -> Bool { m % 10 == 0 }

    private func advertise(_ m: Int, pe: Int, time: Int64, views: Views = .all, hostRoute: Bool = true) throws {
        let host = macs[m]
        try emit(
            time: time, pe: pe, family: .evpn, nlri: evpnNLRI(m, pe: pe),
            attributes: basicAttributes(
                pe: pe, bd: host.bd, seq: host.seq, sticky: host.sticky, community: host.community),
            views: views, secondPath: secondPath(m))
        announcements += 1
        if hostRoute, let ip = host.ip, !macs[m].hostRouteAt.contains(pe) {
            var a = PathAttributes()
            a.origin = 0; a.localPref = 100
            a.extendedCommunities = [.routeTarget(l3RouteTarget)]
            try emit(
                time: time, pe: pe, family: ip.isIPv6 ? .vpnv6 : .vpnv4, nlri: [hostRouteNLRI(ip, pe: pe)],
                attributes: a, views: views)
            if views == .all { macs[m].hostRouteAt.append(pe) }
        }
    }

    private func withdraw(_ m: Int, pe: Int, time: Int64, views: Views = .all, hostRoute: Bool = true) throws {
        try emit(
            time: time, pe: pe, family: .evpn, nlri: evpnNLRI(m, pe: pe), attributes: nil, views: views,
            secondPath: secondPath(m))
        withdrawals += 1
        if hostRoute, let ip = macs[m].ip, macs[m].hostRouteAt.contains(pe) {
            try emit(
                time: time, pe: pe, family: ip.isIPv6 ? .vpnv6 : .vpnv4, nlri: [hostRouteNLRI(ip, pe: pe)],
                attributes: nil, views: views)
            if views == .all { macs[m].hostRouteAt.removeAll { $0 == pe } }
        }
    }

    /// A clean RFC 7432 move: the new PE advertises seq+1, the old PE withdraws (20 ms later, or
    /// first with `withdrawBeforeAdvertise`). With `firstMoveKeepsSequence`, a MAC's first move
    /// keeps its sequence as GoBGP does: SEQ-MISSING-ON-MOVE when the old PE withdraws after the
    /// new PE advertised, and no move at all when it withdrew first (a fresh learn, MOB-14).
    private func move(_ m: Int, to newPE: Int, time: Int64, withdrawOld: Bool = true) throws {
        let old = macs[m].owners
        let keepsSequence = firstMoveKeepsSequence && !movedOnce.contains(m)
        movedOnce.insert(m)
        let withdrawsFirst = withdrawFirst && withdrawOld
        if let from = old.first, from != newPE {
            if keepsSequence && !withdrawsFirst { missingIncrements.append((time, m, [from, newPE].sorted())) }
            if !(keepsSequence && withdrawsFirst) { moveLog[m, default: []].append((time, from, newPE)) }
        }
        if !keepsSequence { macs[m].seq &+= 1 }
        macs[m].owners = [newPE]
        if withdrawsFirst { for pe in old where pe != newPE { try withdraw(m, pe: pe, time: time) } }
        try advertise(m, pe: newPE, time: time)
        if withdrawOld && !withdrawsFirst {
            for pe in old where pe != newPE {
                later(time + 20_000) { try self.withdraw(m, pe: pe, time: time + 20_000) }
            }
        }
    }

    private func emitSegmentRoutes(time: Int64) throws {
        // IMET (type 3) per PE and BD; Ethernet AD (type 1) and ES (type 4) for multi-homed segments.
        for pe in peAddresses.indices {
            for bd in 0..<scenario.fabric.broadcastDomains {
                var a = basicAttributes(pe: pe, bd: bd, seq: 0, sticky: false, community: false)
                a.pmsiTunnel = PMSITunnel(
                    flags: 0, tunnelType: 6, label: UInt32(10000 + bd), tunnelID: [10, 255, 255, UInt8(pe + 1)])
                try emit(
                    time: time, pe: pe, family: .evpn,
                    nlri: [
                        .evpn(
                            .inclusiveMulticast(
                                InclusiveMulticastRoute(
                                    rd: rd(pe, bd: bd), ethernetTag: 0, originatingIP: peAddresses[pe])))
                    ],
                    attributes: a)
            }
        }
        for (g, group) in (scenario.fabric.multihomed ?? []).enumerated() {
            guard let sample = macs.first(where: { $0.mac.value >> 16 == (0x0200_00F0_0000 | UInt64(g) << 16) >> 16 })
            else { continue }
            for number in group.pes {
                let pe = try self.pe(number)
                var a = PathAttributes()
                a.origin = 0; a.localPref = 100
                a.extendedCommunities = [.routeTarget(routeTarget(bd: 0)), .esiLabel(singleActive: false, label: 0)]
                try emit(
                    time: time, pe: pe, family: .evpn,
                    nlri: [
                        .evpn(
                            .ethernetAD(
                                EthernetAutoDiscovery(
                                    rd: rd(pe, bd: 0), esi: sample.esi, ethernetTag: 0xFFFF_FFFF, label: 0)))
                    ],
                    attributes: a)
                var es = PathAttributes()
                es.origin = 0; es.localPref = 100
                es.extendedCommunities = [.esImport(MACAddress(0x0011_2233_4455))]
                try emit(
                    time: time, pe: pe, family: .evpn,
                    nlri: [
                        .evpn(
                            .ethernetSegment(
                                EthernetSegmentRoute(
                                    rd: .ipv4(peAddresses[pe].v4, 1), esi: sample.esi, originatingIP: peAddresses[pe])))
                    ],
                    attributes: es)
            }
        }
    }

    private func writeSnapshot(time: Int64) throws {
        guard let rib else { return }
        rib.write(
            MRTEncoder.peerIndexTable(
                time: time, collectorID: collector, viewName: scenario.name,
                peers: [MRTEncoder.Peer(bgpID: rr1, ip: rr1, asn: asn), MRTEncoder.Peer(bgpID: rr2, ip: rr2, asn: asn)])
        )
        var sequence: UInt32 = 0
        for m in macs.indices where !macs[m].owners.isEmpty {
            for pe in macs[m].owners {
                for nlri in evpnNLRI(m, pe: pe) {
                    var a = basicAttributes(
                        pe: pe, bd: macs[m].bd, seq: macs[m].seq, sticky: macs[m].sticky, community: macs[m].community)
                    a.originatorID = peAddresses[pe]
                    var first = a; first.clusterList = [rr1.v4]
                    var second = a; second.clusterList = [rr2.v4]
                    var entries = [
                        MRTEncoder.RIBEntry(
                            peerIndex: 0, originated: UInt32(time / 1_000_000), pathID: addPath ? 0 : nil,
                            attributes: first, nextHop: peAddresses[pe]),
                        MRTEncoder.RIBEntry(
                            peerIndex: 1, originated: UInt32(time / 1_000_000), pathID: addPath ? 1 : nil,
                            attributes: second, nextHop: peAddresses[pe]),
                    ]
                    if addPath && secondPath(m) {
                        var third = a; third.clusterList = [rr2.v4, rr1.v4]
                        entries.append(
                            MRTEncoder.RIBEntry(
                                peerIndex: 1, originated: UInt32(time / 1_000_000), pathID: 2, attributes: third,
                                nextHop: peAddresses[pe]))
                    }
                    rib.write(
                        MRTEncoder.ribGeneric(
                            time: time, sequence: sequence, family: .evpn, nlri: nlri, entries: entries))
                    sequence &+= 1
                }
            }
        }
    }

    // MARK: - Episodes

    private struct Action { var time: Int64; var order: Int; var run: () throws -> Void }
    private var actions: [Action] = []
    private func at(_ time: Int64, _ run: @escaping () throws -> Void) {
        actions.append(Action(time: time, order: actions.count, run: run))
    }

    private func expect(_ rule: String, mac: Int? = nil, ip: IPAddress? = nil, pes: [Int], episode: String) {
        findings.append(
            ExpectedFinding(
                rule: rule, mac: mac.map { macs[$0].mac.description }, ip: ip?.description,
                pes: pes.sorted { peAddresses[$0] < peAddresses[$1] }.map { peAddresses[$0].description },
                episode: episode))
    }

    private func pick(owner: Int, count: Int, withIP: Bool?) throws -> [Int] {
        var chosen: [Int] = []
        let offset = random.below(max(macs.count, 1))
        for k in 0..<macs.count where chosen.count < count {
            let m = (offset + k) % macs.count
            let host = macs[m]
            guard !host.used, host.owners == [owner], withIP == nil || (host.ip != nil) == withIP! else { continue }
            chosen.append(m)
        }
        guard chosen.count == count else {
            throw GeneratorError(
                message:
                    "PE \(owner + 1) owns only \(chosen.count) free MACs\(withIP == nil ? "" : withIP! ? " with an IP" : " without an IP"); the episode needs \(count)"
            )
        }
        for m in chosen { macs[m].used = true }
        return chosen
    }

    private func newMAC(bd: Int) -> Int {
        let index = macs.count
        macs.append(HostMAC(bd: bd, mac: MACAddress(0x02EE_0000_0000 | UInt64(index)), ip: nil, owners: [], used: true))
        return index
    }

    private func schedule(_ e: Scenario.Episode, index: Int) throws {
        let t = startTime + (try duration(e.at))
        let label = "\(index + 1):\(e.type)"
        switch e.type {
        case "move":
            let from = try pe(e.from ?? 1), to = try pe(e.to ?? 2)
            for (k, m) in try pick(owner: from, count: e.macs ?? 1, withIP: nil).enumerated() {
                at(t + Int64(k) * 2_000_000) { try self.move(m, to: to, time: t + Int64(k) * 2_000_000) }
            }
        case "loop", "duplicate":
            guard let pair = e.pes, pair.count == 2 else {
                throw GeneratorError(message: "episode \(label): needs pes: [A, B]")
            }
            let a = try pe(pair[0]), b = try pe(pair[1])
            let count = e.type == "duplicate" ? 1 : (e.macs ?? 50)
            let flaps = e.flaps ?? 6
            let interval = try duration(e.interval ?? "15s")
            let chosen = try pick(owner: a, count: count, withIP: nil)
            for k in 1...flaps {
                for (j, m) in chosen.enumerated() {
                    let time = t + Int64(k - 1) * interval + Int64(j) * 2_000
                    let target = k % 2 == 1 ? b : a
                    at(time) { try self.move(m, to: target, time: time) }
                }
            }
        // DUP-MAC-FLAP and its incident come from the moves written (`duplicateMACTruth`).
        case "no-withdraw":
            let from = try pe(e.from ?? 1), to = try pe(e.to ?? 2)
            let m = try pick(owner: from, count: 1, withIP: false)[0]
            at(t) { try self.move(m, to: to, time: t, withdrawOld: false) }
            expect("STALE-AFTER-MOVE", mac: m, pes: [from, to], episode: label)
            incidents.append("Old PE did not withdraw")
        case "stale-host-route":
            let from = try pe(e.from ?? 1), to = try pe(e.to ?? 2)
            let m = try pick(owner: from, count: 1, withIP: true)[0]
            at(t) {
                self.moveLog[m, default: []].append((t, from, to))
                self.macs[m].seq &+= 1
                self.macs[m].owners = [to]
                try self.advertise(m, pe: to, time: t)
                self.later(t + 20_000) { try self.withdraw(m, pe: from, time: t + 20_000, hostRoute: false) }  // the /32 stays behind
            }
            expect("STALE-HOST-ROUTE", mac: m, ip: macs[m].ip, pes: [from, to], episode: label)
            incidents.append("Host routes still pointing at the old PE")
        case "pe-down":
            let down = try pe(e.pe ?? 1)
            let stale = e.stale ?? false
            at(t) {
                if let bmp = self.bmp {
                    let peer = BMPEncoder.PeerHeader(
                        address: self.peAddresses[down], asn: self.asn, bgpID: self.peAddresses[down], time: t)
                    bmp.write(BMPEncoder.peerDown(peer, reason: 4))
                }
                self.peUp[down] = false
                for m in self.macs.indices where self.macs[m].owners.contains(down) {
                    try self.withdraw(
                        m, pe: down, time: t + 1_000, views: stale ? [.rr1, .bmpLocRIB] : [.rr1, .rr2, .bmpLocRIB])
                    self.macs[m].owners.removeAll { $0 == down }
                    self.macs[m].used = true
                }
            }
            if stale {
                expect("STALE-PEER-DOWN", pes: [down], episode: label)
                incidents.append("PE failure")
            }
        case "sticky":
            let from = try pe(e.from ?? 1), to = try pe(e.to ?? 2)
            let m = newMAC(bd: 0)
            at(t) {
                self.macs[m].sticky = true; self.macs[m].owners = [from]; try self.advertise(m, pe: from, time: t)
            }
            at(t + 10_000_000) {
                self.macs[m].sticky = false; self.macs[m].seq = 1
                try self.advertise(m, pe: to, time: t + 10_000_000)
            }
            expect("STICKY-MOVED", mac: m, pes: [from, to], episode: label)
            incidents.append("Sticky")
        case "seq-decrease":
            let p = try pe(e.pe ?? 1)
            let m = newMAC(bd: 0)
            at(t) {
                self.macs[m].seq = 4; self.macs[m].owners = [p]; try self.advertise(m, pe: p, time: t)
            }
            at(t + 10_000_000) {
                self.macs[m].seq = 2; try self.advertise(m, pe: p, time: t + 10_000_000)
            }
            expect("SEQ-DECREASE", mac: m, pes: [p], episode: label)
            incidents.append("Sequence-number anomaly")
        case "seq-tie", "seq-missing":
            let from = try pe(e.from ?? 1), to = try pe(e.to ?? 2)
            let m = newMAC(bd: 0)
            let tie = e.type == "seq-tie"
            at(t) {
                self.macs[m].seq = tie ? 3 : 2; self.macs[m].owners = [from]; try self.advertise(m, pe: from, time: t)
            }
            at(t + 10_000_000) {
                if !tie { self.macs[m].seq = 0; self.macs[m].community = false }
                try self.advertise(m, pe: to, time: t + 10_000_000)
            }
            expect(tie ? "SEQ-TIE" : "SEQ-MISSING-ON-MOVE", mac: m, pes: [from, to], episode: label)
            incidents.append("Sequence-number anomaly")
        case "seq-wrap":
            let from = try pe(e.from ?? 1), to = try pe(e.to ?? 2)
            let m = newMAC(bd: 0)
            at(t) {
                self.macs[m].seq = UInt32.max; self.macs[m].owners = [from]; try self.advertise(m, pe: from, time: t)
            }
            at(t + 10_000_000) { try self.move(m, to: to, time: t + 10_000_000) }
            expect("SEQ-WRAP", mac: m, pes: [from, to], episode: label)
            incidents.append("Sequence-number anomaly")
        case "ip-move":
            let p = try pe(e.pe ?? 1)
            let old = try pick(owner: p, count: 1, withIP: true)[0]
            let ip = macs[old].ip!
            let m = newMAC(bd: macs[old].bd)
            macs[m].ip = ip
            at(t) {
                try self.withdraw(old, pe: p, time: t, hostRoute: false)
                self.macs[old].owners = []
                self.macs[m].seq = self.macs[old].seq &+ 1
                self.macs[m].owners = [p]
                self.macs[m].hostRouteAt = [p]  // the host route stays: same IP, same PE
                self.macs[old].hostRouteAt = []
                try self.advertise(m, pe: p, time: t + 1_000)
            }
            expect("IP-MOVE-NEW-MAC", mac: m, ip: ip, pes: [p], episode: label)
            incidents.append("IP address moved")
        case "refresh":
            at(t) {
                var k: Int64 = 0
                for m in self.macs.indices {
                    for pe in self.macs[m].owners {
                        try self.advertise(m, pe: pe, time: t + k * 1_000, views: [.rr1], hostRoute: false); k += 1
                    }
                }
            }
        case "session-reset":
            at(t) {
                guard let mrt = self.mrt else { return }
                try mrt.write(
                    time: t,
                    MRTEncoder.bgp4mpStateChange(
                        time: t, peerAS: self.asn, localAS: self.asn, peerIP: self.rr2, localIP: self.collector, old: 6,
                        new: 1))
                try mrt.write(
                    time: t + 5_000_000,
                    MRTEncoder.bgp4mpStateChange(
                        time: t + 5_000_000, peerAS: self.asn, localAS: self.asn, peerIP: self.rr2,
                        localIP: self.collector, old: 5, new: 6))
                var k: Int64 = 0
                for m in self.macs.indices {
                    for pe in self.macs[m].owners {
                        try self.advertise(m, pe: pe, time: t + 5_000_000 + k * 1_000, views: [.rr2], hostRoute: false);
                        k += 1
                    }
                }
            }
        case "churn":
            let rate = e.rate ?? 10
            let until = startTime + (try duration(e.until ?? scenario.duration))
            guard rate > 0 else { break }
            churn = Churn(next: t, step: Int64(1_000_000 / rate), until: until)
        default:
            throw GeneratorError(message: "episode \(label): unknown type '\(e.type)'")
        }
    }

    /// Emissions due a little later than the action that caused them, in time order.
    private var deferred: [Action] = []
    private var deferredOrder = 0
    private func later(_ time: Int64, _ run: @escaping () throws -> Void) {
        deferredOrder += 1
        let action = Action(time: time, order: deferredOrder, run: run)
        let index = deferred.firstIndex { ($0.time, $0.order) > (time, deferredOrder) } ?? deferred.count
        deferred.insert(action, at: index)
    }

    private struct Churn { var next: Int64; var step: Int64; var until: Int64 }
    private var churn: Churn?

    private func churnStep(_ time: Int64) throws {
        for _ in 0..<16 {
            let m = random.below(macs.count)
            guard !macs[m].used, macs[m].owners.count == 1 else { continue }
            // Not again before its previous old PE has withdrawn (20 ms): a receiver would see
            // the two moves as one.
            if let last = moveLog[m]?.last, time - last.time <= 20_000 { continue }
            let up = peAddresses.indices.filter { peUp[$0] && $0 != macs[m].owners[0] }
            guard !up.isEmpty else { return }
            try move(m, to: up[random.below(up.count)], time: time)
            return
        }
    }

    // MARK: - Run

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
    private func truthFromWrittenMoves() {
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
                if let index = open, move.time - flaps[index].last <= Self.window {
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
    private func heartbeat(_ time: Int64) throws {
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
