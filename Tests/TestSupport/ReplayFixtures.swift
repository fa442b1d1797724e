import Analysis
import BGPWire
import BMP
import ByteStreams
import EVPNModel
import Foundation
import Ingest
import MRT
import Replay

// Fixtures of the replay and rule tests: PEs, route reflectors and a collector of the worked
// examples (docs/evpn-mobility.md §7), steps written as real dumps, and the pipeline run over them.

/// PE n of the worked examples (docs/evpn-mobility.md §7) is 10.255.255.n.
public func peAddress(_ n: Int) -> IPAddress { IPAddress(v4: 0x0AFF_FF00 | UInt32(n)) }
public let rr1 = IPAddress("10.255.0.1")!
public let rr2 = IPAddress("10.255.0.2")!
public let collectorIP = IPAddress("10.255.0.100")!
public let epoch: Int64 = 1_795_485_600_000_000  // 2026-11-24T02:00:00Z

/// One PE announcement or withdrawal of a MAC (and optionally its IP) as a route reflector
/// reflects it to the collector.
public struct Step {
    public var at: Double  // seconds after `epoch`
    public var pe: Int
    public var mac: String
    public var seq: UInt32? = nil  // nil: no MAC Mobility community
    public var sticky = false
    public var esi = ESI.zero
    public var ip: String? = nil
    public var withdraw = false
    public var routeTarget: UInt32 = 41000
    public var mobilityCommunities = 1
    public var hostRoute: String? = nil  // a VPNv4 /32 (VPNv6 /128) instead of an EVPN route
    public var keepalive = false  // a record that only moves time forward
    public var originator: Int? = nil  // ORIGINATOR_ID of another PE than the RD's (DQ-PE-CONFLICT)
    public var typeZeroRD = false  // an RD that names no router (ID-1 rule 1 fails)

    public init(
        at: Double, pe: Int, mac: String, seq: UInt32? = nil, sticky: Bool = false, esi: ESI = .zero,
        ip: String? = nil, withdraw: Bool = false, routeTarget: UInt32 = 41000, mobilityCommunities: Int = 1,
        hostRoute: String? = nil, keepalive: Bool = false, originator: Int? = nil, typeZeroRD: Bool = false
    ) {
        self.at = at; self.pe = pe; self.mac = mac; self.seq = seq; self.sticky = sticky; self.esi = esi
        self.ip = ip; self.withdraw = withdraw; self.routeTarget = routeTarget
        self.mobilityCommunities = mobilityCommunities; self.hostRoute = hostRoute; self.keepalive = keepalive
        self.originator = originator; self.typeZeroRD = typeZeroRD
    }

    public var time: Int64 { epoch + Int64(at * 1_000_000) }

    public func nlri() -> [NLRI] {
        if let hostRoute {
            let address = IPAddress(hostRoute)!
            return [
                .vpn(
                    rd: .ipv4(peAddress(pe).v4, 5000),
                    prefix: IPPrefix(address: address, length: address.isIPv6 ? 128 : 32), label: 16001)
            ]
        }
        let rd =
            typeZeroRD
            ? RouteDistinguisher.as2(65000, UInt32(pe))
            : RouteDistinguisher.ipv4(peAddress(pe).v4, UInt16(routeTarget & 0xFFFF))
        var out: [NLRI] = [.evpn(.macIP(MACIPAdvertisement(rd: rd, esi: esi, mac: MACAddress(mac)!, label1: 10000)))]
        if let ip {
            out.append(
                .evpn(
                    .macIP(
                        MACIPAdvertisement(rd: rd, esi: esi, mac: MACAddress(mac)!, ip: IPAddress(ip)!, label1: 10000)))
            )
        }
        return out
    }

    public func update(cluster: IPAddress?, pathID: UInt32? = nil) -> UpdateMessage {
        var u = UpdateMessage()
        let family: AddressFamily = hostRoute.map { IPAddress($0)!.isIPv6 ? .vpnv6 : .vpnv4 } ?? .evpn
        let entries = nlri().map { NLRIEntry(pathID: pathID, nlri: $0) }
        if withdraw {
            u.unreach = MPUnreach(family: family, nlri: entries)
            return u
        }
        u.attributes.origin = 0
        u.attributes.localPref = 100
        if let cluster {
            u.attributes.originatorID = peAddress(originator ?? pe); u.attributes.clusterList = [cluster.v4]
        }
        u.attributes.extendedCommunities = [.routeTarget(.as2(65000, routeTarget)), .encapsulation(8)]
        if let seq {
            for k in 0..<mobilityCommunities {
                u.attributes.extendedCommunities.append(.macMobility(sequence: seq &- UInt32(k), sticky: sticky))
            }
        }
        u.reach = MPReach(family: family, nextHop: peAddress(pe), nlri: entries)
        return u
    }
}

public func temporaryPath(_ name: String) -> String {
    Scratch.directory("replay") + "/" + name
}

/// Writes the steps as a collector's BGP4MP_ET update dump: through RR1, and through RR2 too
/// when `viaBothReflectors` (FP-2), RR2 with add-path identifiers when `addPath` (FP-3).
public func mrtDump(
    _ steps: [Step], viaBothReflectors: Bool = false, addPath: Bool = false, compression: Compression = .gzip
) throws -> String {
    let path = temporaryPath("updates.mrt" + CompressedWriter.fileExtension(compression))
    let writer = try CompressedWriter(path: path, compression: compression)
    for step in steps.sorted(by: { $0.at < $1.at }) {
        if step.keepalive {
            writer.write(
                MRTEncoder.bgp4mpMessage(
                    time: step.time, peerAS: 65000, localAS: 65000, peerIP: rr1, localIP: collectorIP,
                    message: BGPEncoder.keepalive))
            continue
        }
        writer.write(
            MRTEncoder.bgp4mpMessage(
                time: step.time, peerAS: 65000, localAS: 65000, peerIP: rr1, localIP: collectorIP,
                message: BGPEncoder.update(step.update(cluster: rr1))))
        if viaBothReflectors {
            let options = DecodeOptions(addPath: addPath ? .all : AddPathFamilies())
            for pathID: UInt32 in addPath ? [1, 2] : [0] {
                writer.write(
                    MRTEncoder.bgp4mpMessage(
                        time: step.time, peerAS: 65000, localAS: 65000, peerIP: rr2, localIP: collectorIP,
                        message: BGPEncoder.update(
                            step.update(cluster: rr2, pathID: addPath ? pathID : nil), options: options),
                        addPath: addPath))
            }
        }
    }
    try writer.close()
    return path
}

/// The result of replaying and analysing some inputs, with every transition kept.
public struct Run {
    public let engine: ReplayEngine
    public let analyzer: Analyzer
    public let incidents: [Incident]
    public let transitions: [Transition]
    public let inputs: InputSet

    public func findings(_ rule: Rule) -> [Finding] { analyzer.findings.filter { $0.rule == rule } }
    public var rules: [String] { analyzer.findings.map(\.rule.rawValue).sorted() }
    public func transitions(_ kind: Transition.Kind) -> [Transition] { transitions.filter { $0.kind == kind } }
    public func pe(_ n: Int) -> PEID { engine.peID(of: peAddress(n))! }
    public func state(_ mac: String, routeTarget: UInt32 = 41000) -> MACState? {
        macIndex(mac, routeTarget: routeTarget).map { engine.macs[$0.index] }
    }
    public func macIndex(_ mac: String, routeTarget: UInt32 = 41000) -> MACID? {
        engine.macs.firstIndex {
            $0.mac == MACAddress(mac)! && engine.bds[Int($0.bd)].routeTargets == [.as2(65000, routeTarget)]
        }.map { MACID(index: $0) }
    }
    public func adverts(_ mac: String) -> [PEAdvertisement] { macIndex(mac).map { engine.adverts(mac: $0) } ?? [] }
    /// The routes of the first PE advertising `mac`.
    public func firstRoutes(_ mac: String) -> [RouteState] {
        guard let index = macIndex(mac), let first = engine.adverts(mac: index).first else { return [] }
        return engine.routes(mac: index, pe: first.pe)
    }
}

public func analyze(
    _ paths: [String], thresholds: Thresholds = Thresholds(), lookahead: Bool = false,
    engineOptions: ReplayEngine.Options = ReplayEngine.Options()
) throws -> Run {
    let inputs = try InputSet(paths: paths)
    let engine = ReplayEngine(options: engineOptions)
    let analyzer = Analyzer(engine: engine, thresholds: thresholds)
    var transitions: [Transition] = []
    let forward = engine.onTransition
    engine.onTransition = {
        transitions.append($0); forward($0)
    }
    ReplayPipeline(engine: engine, analyzer: analyzer, readAhead: lookahead).run(inputs.next)
    let incidents = analyzer.finish()
    return Run(engine: engine, analyzer: analyzer, incidents: incidents, transitions: transitions, inputs: inputs)
}

public func analyze(_ steps: [Step], viaBothReflectors: Bool = false, addPath: Bool = false) throws -> Run {
    try analyze([try mrtDump(steps, viaBothReflectors: viaBothReflectors, addPath: addPath)])
}

/// The steps by time, steps of one time in the order they are given in.
public func timeOrdered(_ steps: [Step]) -> [Step] {
    steps.enumerated().sorted { ($0.element.at, $0.offset) < ($1.element.at, $1.offset) }.map(\.element)
}

/// A router's own update dump as FRR's `dump bgp updates` writes it: what `local` receives from
/// its route reflector `peer` (every PE's routes, reflected), or with `peer` nil the reflector's
/// own dump (each PE's routes on that PE's session, as sent), as BGP4MP with one-second
/// timestamps unless `extendedTime`.
public func routerDump(
    _ steps: [Step], local: IPAddress, peer: IPAddress? = rr1, name: String, extendedTime: Bool = false
) throws -> String {
    let path = temporaryPath(name)
    let writer = try CompressedWriter(path: path, compression: .plain)
    for step in timeOrdered(steps) {
        let message = step.keepalive ? BGPEncoder.keepalive : BGPEncoder.update(step.update(cluster: peer))
        writer.write(
            MRTEncoder.bgp4mpMessage(
                time: step.time, peerAS: 65000, localAS: 65000, peerIP: peer ?? peAddress(step.pe),
                localIP: local, message: message, extendedTime: extendedTime))
    }
    try writer.close()
    return path
}

/// A RIB snapshot (TABLE_DUMP_V2) taken at `at` by collector `collectorID`: each step's routes as
/// one entry from `peer` (the route reflector `cluster`, when given, in the CLUSTER_LIST).
public func ribSnapshot(
    _ steps: [Step], at: Double, collectorID: IPAddress, peer: MRTEncoder.Peer, cluster: IPAddress? = nil,
    name: String, compression: Compression = .plain
) throws -> String {
    let path = temporaryPath(name)
    let writer = try CompressedWriter(path: path, compression: compression)
    let time = epoch + Int64(at * 1_000_000)
    writer.write(MRTEncoder.peerIndexTable(time: time, collectorID: collectorID, viewName: "", peers: [peer]))
    var sequence: UInt32 = 0
    for step in steps {
        let attributes = step.update(cluster: cluster).attributes
        for nlri in step.nlri() {
            var family = AddressFamily.evpn
            if case .vpn(_, let prefix, _) = nlri { family = prefix.address.isIPv6 ? .vpnv6 : .vpnv4 }
            writer.write(
                MRTEncoder.ribGeneric(
                    time: time, sequence: sequence, family: family, nlri: nlri,
                    entries: [
                        MRTEncoder.RIBEntry(
                            peerIndex: 0, originated: 0, attributes: attributes, nextHop: peAddress(step.pe))
                    ]))
            sequence += 1
        }
    }
    try writer.close()
    return path
}
