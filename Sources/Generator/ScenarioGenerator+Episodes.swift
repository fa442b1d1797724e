import Analysis
import BGPWire
import BMP
import ByteStreams
import EVPNModel
import Foundation
import MRT

/// The scenario's episodes (moves, flaps, loops, stale routes) scheduled as timed actions, each
/// with the findings a correct analysis reports for it.
extension ScenarioGenerator {
    struct Action { var time: Int64; var order: Int; var run: () throws -> Void }

    func at(_ time: Int64, _ run: @escaping () throws -> Void) {
        actions.append(Action(time: time, order: actions.count, run: run))
    }

    func expect(_ rule: String, mac: Int? = nil, ip: IPAddress? = nil, pes: [Int], episode: String) {
        findings.append(
            ExpectedFinding(
                rule: rule, mac: mac.map { macs[$0].mac.description }, ip: ip?.description,
                pes: pes.sorted { peAddresses[$0] < peAddresses[$1] }.map { peAddresses[$0].description },
                episode: episode))
    }

    func pick(owner: Int, count: Int, withIP: Bool?) throws -> [Int] {
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
                    "PE \(owner + 1) owns only \(chosen.count) free "
                    + "MACs\(withIP == nil ? "" : withIP! ? " with an IP" : " without an IP"); the episode needs "
                    + "\(count)"
            )
        }
        for m in chosen { macs[m].used = true }
        return chosen
    }

    func newMAC(bd: Int) -> Int {
        let index = macs.count
        macs.append(HostMAC(bd: bd, mac: MACAddress(0x02EE_0000_0000 | UInt64(index)), ip: nil, owners: [], used: true))
        return index
    }

    func schedule(_ e: Scenario.Episode, index: Int) throws {
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
            let interval = try duration(e.interval ?? "15s").microseconds
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
                // The /32 stays behind.
                self.later(t + 20_000) { try self.withdraw(m, pe: from, time: t + 20_000, hostRoute: false) }
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

    func later(_ time: Int64, _ run: @escaping () throws -> Void) {
        deferredOrder += 1
        let action = Action(time: time, order: deferredOrder, run: run)
        let index = deferred.firstIndex { ($0.time, $0.order) > (time, deferredOrder) } ?? deferred.count
        deferred.insert(action, at: index)
    }

    struct Churn { var next: Int64; var step: Int64; var until: Int64 }

    func churnStep(_ time: Int64) throws {
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
}
