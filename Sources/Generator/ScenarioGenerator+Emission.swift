import Analysis
import BGPWire
import BMP
import ByteStreams
import EVPNModel
import Foundation
import MRT

/// What a fabric's routers write: EVPN and VPN routes as BGP4MP updates, BMP route monitoring
/// and TABLE_DUMP_V2 snapshots.
extension ScenarioGenerator {
    func basicAttributes(pe: Int, bd: Int, seq: UInt32, sticky: Bool, community: Bool) -> PathAttributes {
        var a = PathAttributes()
        a.origin = 0
        a.localPref = 100
        a.extendedCommunities = [.routeTarget(routeTarget(bd: bd)), .encapsulation(8)]
        if community && (seq > 0 || sticky) {
            a.extendedCommunities.append(.macMobility(sequence: seq, sticky: sticky))
        }
        return a
    }

    func evpnNLRI(_ m: Int, pe: Int) -> [NLRI] {
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
    func hostAddress(bd: Int, index: Int) -> IPAddress {
        if index + 10 <= 0xFFFF && bd <= 0xFF {
            return IPAddress(v4: 0x0A00_0000 | UInt32(bd) << 16 | UInt32(index + 10))
        }
        return IPAddress(v6High: 0xFD00_0000_0000_0000 | UInt64(bd), v6Low: UInt64(index))
    }

    func hostRouteNLRI(_ ip: IPAddress, pe: Int) -> NLRI {
        .vpn(
            rd: .ipv4(peAddresses[pe].v4, 5000), prefix: IPPrefix(address: ip, length: UInt8(ip.bitLength)),
            label: 16000 << 4 | 1)
    }

    struct Views: OptionSet {
        let rawValue: Int
        static let rr1 = Views(rawValue: 1), rr2 = Views(rawValue: 2), bmpAdjIn = Views(rawValue: 4),
            bmpLocRIB = Views(rawValue: 8)
        static let bmp: Views = [.bmpAdjIn, .bmpLocRIB]
        static let all: Views = [.rr1, .rr2, .bmp]
    }

    /// One PE's announcement or withdrawal, as every view records it.
    func emit(
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

    func secondPath(_ m: Int) -> Bool { m % 10 == 0 }

    func advertise(_ m: Int, pe: Int, time: Int64, views: Views = .all, hostRoute: Bool = true) throws {
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

    func withdraw(_ m: Int, pe: Int, time: Int64, views: Views = .all, hostRoute: Bool = true) throws {
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
    func move(_ m: Int, to newPE: Int, time: Int64, withdrawOld: Bool = true) throws {
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

    func emitSegmentRoutes(time: Int64) throws {
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

    func writeSnapshot(time: Int64) throws {
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
}
