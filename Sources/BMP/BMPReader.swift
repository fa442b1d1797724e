import BGPWire
import ByteStreams
import EVPNModel

/// What a BMP Initiation message said about the monitored router (strings from the network:
/// escaped before they reach a report).
public struct MonitoredRouter: Sendable {
    public var key: UInt32
    public var sysName: String?
    public var sysDescr: String?
    /// Longer names and descriptions are cut here: a router's Initiation repeated by every
    /// reconnect must not cost memory by its size (each TLV may carry 64 KiB).
    public static let maximumTextBytes = 256
}

/// RFC 7854 / RFC 8671 / RFC 9069 reader for a BMP stream file (messages back to back), or for
/// OpenBMP's raw BMP records (each message behind an OpenBMP header naming its router).
public final class BMPReader: FeedReader {
    /// A Route Monitoring message holds one BGP message (≤ 65535) behind 48 bytes of headers;
    /// the other types are smaller. Anything larger means the framing is lost.
    public static let maximumMessageLength = 1 << 20

    let stream: StreamReader
    let input: Int32
    let evpnOnly: Bool
    public var name: String { stream.source.name }
    public private(set) var stats = ReaderStats()
    private var damageLog = DamageLog()
    private var problemLog = DamageLog()
    public var damage: [InputDamage] { damageLog.entries }
    public var attributeProblems: [InputDamage] { problemLog.entries }
    public private(set) var routers: [MonitoredRouter] = []
    public var bytesRead: Int64 { stream.offset }
    public var compressedBytesRead: Int64 { stream.source.compressedOffset }
    public var sha256: String? { stream.source.sha256 }
    private var routerKey: UInt32
    private var pending: [FeedItem] = []
    private var pendingIndex = 0
    /// One message for every UPDATE (see `UpdateMessage.reset`).
    private var update = UpdateMessage()
    private var stopped = false
    private var lastTime: Int64 = 0
    /// Add-path families per (session, direction) learned from Peer Up OPENs.
    private var addPathIn: [SessionKey: AddPathFamilies] = [:]
    private var addPathOut: [SessionKey: AddPathFamilies] = [:]
    /// Each session's local address from its Peer Up, for its Peer Down.
    private var localAddresses: [SessionKey: IPAddress] = [:]
    private var localBGPIDs: [SessionKey: IPAddress] = [:]

    /// OpenBMP records: the router is the one each record's header names, not the stream's.
    let openBMP: Bool

    public init(stream: StreamReader, input: Int32, evpnOnly: Bool = false, openBMP: Bool = false) {
        self.stream = stream; self.input = input; self.evpnOnly = evpnOnly; self.openBMP = openBMP
        routerKey = 0x8000_0000 | UInt32(truncatingIfNeeded: input)
    }

    public func next() -> FeedItem? {
        while pendingIndex >= pending.count {
            pending.removeAll(keepingCapacity: true)
            pendingIndex = 0
            if stopped || !readMessage() { stopped = true; return nil }
        }
        defer { pendingIndex += 1 }
        return pending.takeItem(at: pendingIndex)
    }

    private func note(_ offset: Int64, _ message: String, recovered: Bool) {
        damageLog.append(InputDamage(file: name, offset: offset, message: message, recovered: recovered))
    }

    private enum Unwrapped { case message, skipped, end }

    /// Reads an OpenBMP record's header, leaving the stream at its BMP message; records of other
    /// object types (collector and router summaries) are skipped.
    private func unwrapOpenBMP() -> Unwrapped {
        let offset = stream.offset
        guard stream.fill(OpenBMPHeader.prefixLength) else {
            if stream.available > 0 {
                note(offset, "truncated OpenBMP header: expected 12 bytes, found \(stream.available)", recovered: false)
            }
            if let error = stream.streamError { note(error.uncompressedOffset, error.message, recovered: false) }
            return .end
        }
        do {
            var header = try stream.withBytes(OpenBMPHeader.prefixLength) { b in
                var c = ByteCursor(b, baseOffset: Int(offset))
                return try OpenBMPHeader(prefix: &c)
            }
            guard header.messageLength <= BMPReader.maximumMessageLength else {
                note(
                    offset + 8,
                    "OpenBMP message length \(header.messageLength): expected at most "
                        + "\(BMPReader.maximumMessageLength)",
                    recovered: false)
                return .end
            }
            let record = header.headerLength + header.messageLength
            guard stream.fill(record) else {
                note(
                    offset, "truncated OpenBMP record: expected \(record) bytes, found \(stream.available)",
                    recovered: false)
                if let error = stream.streamError { note(error.uncompressedOffset, error.message, recovered: false) }
                return .end
            }
            let bmpLength = try stream.withBytes(record) { b -> Int in
                var c = ByteCursor(
                    UnsafeRawBufferPointer(rebasing: b[OpenBMPHeader.prefixLength..<header.headerLength]),
                    baseOffset: Int(offset) + OpenBMPHeader.prefixLength)
                try header.readFields(&c)
                guard header.messageLength >= bmpCommonHeaderLength else { return 0 }
                let h = header.headerLength
                return Int(b[h + 1]) << 24 | Int(b[h + 2]) << 16 | Int(b[h + 3]) << 8 | Int(b[h + 4])
            }
            guard header.objectType == OpenBMPHeader.rawBMP else {
                stream.consume(record)
                return .skipped
            }
            guard bmpLength == header.messageLength else {
                note(
                    offset + Int64(header.headerLength),
                    "BMP message length \(bmpLength) in an OpenBMP record of \(header.messageLength): "
                        + "expected the same",
                    recovered: true)
                stream.consume(record)
                return .skipped
            }
            routerKey = fnv1a(header.routerHash) & 0x7FFF_FFFF
            lastTime = max(lastTime, header.collectorTime)
            stream.consume(header.headerLength)
            return .message
        } catch let error as DecodeError {
            note(Int64(error.offset), "\(error.context): expected \(error.expected)", recovered: false)
            return .end
        } catch {
            note(offset, "\(error)", recovered: false)
            return .end
        }
    }

    private func readMessage() -> Bool {
        if openBMP {
            switch unwrapOpenBMP() {
            case .end: return false
            case .skipped: return true
            case .message: break
            }
        }
        guard stream.fill(bmpCommonHeaderLength) else {
            if stream.available > 0 {
                note(
                    stream.offset,
                    "truncated BMP common header: expected \(bmpCommonHeaderLength) bytes, found \(stream.available)",
                    recovered: false)
            }
            if let error = stream.streamError { note(error.uncompressedOffset, error.message, recovered: false) }
            return false
        }
        let offset = stream.offset
        let (version, length, type) = stream.withBytes(bmpCommonHeaderLength) { b -> (UInt8, Int, UInt8) in
            var c = ByteCursor(b)
            return (try! c.readUInt8(), Int(try! c.readUInt32()), try! c.readUInt8())
        }
        guard version == bmpVersion else {
            note(offset, "BMP version \(version): expected 3 (RFC 7854)", recovered: false)
            return false
        }
        guard length >= bmpCommonHeaderLength, length <= BMPReader.maximumMessageLength else {
            note(
                offset,
                "BMP message length \(length): expected \(bmpCommonHeaderLength) to \(BMPReader.maximumMessageLength)",
                recovered: false)
            return false
        }
        guard stream.fill(length) else {
            note(
                offset, "truncated BMP message (type \(type)): expected \(length) bytes, found \(stream.available)",
                recovered: false)
            if let error = stream.streamError { note(error.uncompressedOffset, error.message, recovered: false) }
            return false
        }
        stats.records += 1
        let source = SourceRef(input: input, offset: offset)
        do {
            try stream.withBytes(length) { b in
                var c = ByteCursor(
                    UnsafeRawBufferPointer(rebasing: b[bmpCommonHeaderLength...]),
                    baseOffset: Int(offset) + bmpCommonHeaderLength)
                try decode(type: type, &c, source: source)
            }
        } catch let error as DecodeError {
            note(
                Int64(error.offset),
                "BMP message type \(type) at \(offset): \(error.context): expected \(error.expected)", recovered: true)
        } catch {
            note(offset, "\(error)", recovered: true)
        }
        stream.consume(length)
        return true
    }

    private struct PeerHeader {
        var observation: ObservationPoint
        var legacyAS: Bool
        var outbound: Bool
        var time: Int64
    }

    /// `seesTime` false: the caller reports the time to `stats` itself (route monitoring, below).
    private func readPeerHeader(_ c: inout ByteCursor, seesTime: Bool = true) throws -> PeerHeader {
        let peerType = try c.readUInt8("BMP peer type")
        let flags = try c.readUInt8("BMP peer flags")
        let distinguisher = try c.readUInt64("BMP peer distinguisher")
        let address: IPAddress
        let isLocRIB = peerType == BMPPeerType.locRIB
        if flags & BMPPeerFlag.ipv6 != 0 && !isLocRIB {
            address = try c.readIPv6("BMP peer address")
        } else {
            try c.skip(12, "BMP peer address")
            address = try c.readIPv4("BMP peer address")
        }
        let peerAS = try c.readUInt32("BMP peer AS")
        let bgpID = try c.readIPv4("BMP peer BGP ID")
        let seconds = try c.readUInt32("BMP timestamp seconds"), micros = try c.readUInt32("BMP timestamp microseconds")
        let table: ObservationPoint.Table
        let outbound = !isLocRIB && flags & BMPPeerFlag.adjRIBOut != 0
        let post = flags & BMPPeerFlag.postPolicy != 0
        switch (isLocRIB, outbound, post) {
        case (true, _, _): table = .locRIB
        case (_, true, true): table = .adjRIBOutPost
        case (_, true, false): table = .adjRIBOutPre
        case (_, false, true): table = .adjRIBInPost
        default: table = .adjRIBInPre
        }
        // Some routers send zero timestamps: keep time moving with the stream.
        var time = Int64(seconds) * 1_000_000 + Int64(micros)
        if seconds == 0 { time = lastTime } else { lastTime = max(lastTime, time) }
        if seesTime { stats.saw(time: time, offset: Int64(c.absoluteOffset)) }
        let observation = ObservationPoint(
            router: routerKey, table: table, distinguisher: distinguisher,
            peerIP: address, peerAS: peerAS, peerBGPID: bgpID)
        return PeerHeader(
            observation: observation, legacyAS: !isLocRIB && flags & BMPPeerFlag.legacyASPath != 0, outbound: outbound,
            time: time)
    }

    private func decode(type: UInt8, _ c: inout ByteCursor, source: SourceRef) throws {
        switch type {
        case BMPMessageType.routeMonitoring:
            var peer = try readPeerHeader(&c, seesTime: false)
            let headerEnd = Int64(c.absoluteOffset)
            let session = peer.observation.session
            let addPath = (peer.outbound ? addPathOut[session] : addPathIn[session]) ?? AddPathFamilies()
            let options = DecodeOptions(fourByteAS: !peer.legacyAS, addPath: addPath, evpnOnly: evpnOnly)
            update.reset()
            let decoded = try BGPMessage.decodeUpdate(&c, options: options, into: &update)
            // RFC 7854 §4.2 stamps route monitoring with the time the routes were received. GoBGP
            // stamps the withdrawals it sends at a Peer Down with the withdrawn routes' own receive
            // times, seconds before the Peer Down: such a withdrawal happened when it was sent, at
            // the stream's latest time, and is no clock step (DQ-TIME-BACKWARDS).
            if decoded && lastTime - peer.time > 1_000_000 && update.withdrawsOnly { peer.time = lastTime }
            stats.saw(time: peer.time, offset: headerEnd)
            if decoded {
                emit(&update, time: peer.time, source: source, observation: peer.observation)
            } else {
                pending.append(.heartbeat(time: peer.time))
            }
        case BMPMessageType.statisticsReport:
            let peer = try readPeerHeader(&c)
            pending.append(.heartbeat(time: peer.time))
        case BMPMessageType.peerDown:
            let peer = try readPeerHeader(&c)
            let reason = try c.readUInt8("BMP peer down reason")
            var text: String
            switch reason {
            case BMPPeerDownReason.localNotification, BMPPeerDownReason.remoteNotification:
                text =
                    reason == BMPPeerDownReason.localNotification
                    ? "local system sent NOTIFICATION" : "remote system sent NOTIFICATION"
                if case .notification(let code, let subcode, _) = try? BGPMessage.decode(&c, options: DecodeOptions()) {
                    text += " \(code)/\(subcode)"
                }
            case BMPPeerDownReason.localNoNotification:
                text = "local system closed without NOTIFICATION"
                if c.remaining >= 2 { text += ", FSM event \(try c.readUInt16())" }
            case BMPPeerDownReason.remoteNoNotification: text = "remote system closed the session"
            case BMPPeerDownReason.deconfigured: text = "peer de-configured"
            case BMPPeerDownReason.locRIBClosed: text = "local system closed (Loc-RIB)"
            default: text = "reason \(reason)"
            }
            pending.append(
                .session(
                    SessionEvent(
                        time: peer.time, source: source, observation: peer.observation, kind: .down(reason: text),
                        record: .bmp, localAddress: localAddresses[peer.observation.session],
                        localBGPID: localBGPIDs[peer.observation.session])))
        case BMPMessageType.peerUp:
            // Stamped with when the session came up: for a session older than the monitoring,
            // before the stream began (FRR 8.4 stamps the host's boot time), so it does not set
            // the input's time span.
            let peer = try readPeerHeader(&c, seesTime: false)
            // The local address has the peer address's family; IPv4 sits in the last 4 of 16 bytes.
            let localAddress: IPAddress
            if peer.observation.peerIP.isIPv6 {
                localAddress = try c.readIPv6("BMP peer up local address")
            } else {
                try c.skip(12, "BMP peer up local address")
                localAddress = try c.readIPv4("BMP peer up local address")
            }
            try c.skip(4, "BMP peer up ports")
            localAddresses[peer.observation.session] = localAddress
            let sent = try BGPMessage.decode(&c, options: DecodeOptions())
            let received = try BGPMessage.decode(&c, options: DecodeOptions())
            guard case .open(let local) = sent, case .open(let remote) = received else {
                throw c.error("BMP peer up", expected: "two BGP OPEN messages")
            }
            addPathIn[peer.observation.session] = OpenMessage.addPathFamilies(sender: remote, receiver: local)
            addPathOut[peer.observation.session] = OpenMessage.addPathFamilies(sender: local, receiver: remote)
            localBGPIDs[peer.observation.session] = local.bgpID
            pending.append(
                .session(
                    SessionEvent(
                        time: peer.time, source: source, observation: peer.observation, kind: .established,
                        record: .bmp, localAddress: localAddress, localBGPID: local.bgpID)))
        case BMPMessageType.initiation, BMPMessageType.termination:
            var router = MonitoredRouter(key: routerKey, sysName: nil, sysDescr: nil)
            var terminationReason = "monitoring session terminated"
            try InformationTLVs.forEach(in: &c) { tlvType, tlvLength, value in
                if type == BMPMessageType.termination && tlvType == BMPInformation.terminationReason && tlvLength == 2 {
                    let code = try value.readUInt16()
                    let reasons = [
                        "administratively closed", "unspecified reason", "out of resources", "redundant connection",
                        "permanently administratively closed",
                    ]
                    terminationReason =
                        "monitoring session terminated: "
                        + (Int(code) < reasons.count ? reasons[Int(code)] : "reason \(code)")
                    return
                }
                guard type == BMPMessageType.initiation,
                    tlvType == BMPInformation.sysDescr || tlvType == BMPInformation.sysName
                else { return }
                // The key comes from the whole name, so that two names sharing a long prefix stay two routers.
                let bytes = try value.readBytes(tlvLength)
                // OpenBMP names the router in every record; a plain stream by its sysName.
                if tlvType == BMPInformation.sysName && !openBMP {
                    routerKey = fnv1a(bytes) & 0x7FFF_FFFF; router.key = routerKey
                }
                let text =
                    String(decoding: bytes.prefix(MonitoredRouter.maximumTextBytes), as: UTF8.self)
                    + (bytes.count > MonitoredRouter.maximumTextBytes ? "…" : "")
                if tlvType == BMPInformation.sysDescr { router.sysDescr = text } else { router.sysName = text }
            }
            let observation = ObservationPoint(
                router: routerKey, table: .adjRIBInPre, peerIP: IPAddress(v4: 0), peerAS: 0,
                peerBGPID: IPAddress(v4: 0))
            if type == BMPMessageType.initiation {
                // One entry per router however often it reconnects; the latest Initiation wins.
                if let known = routers.firstIndex(where: { $0.key == router.key }) {
                    routers[known] = router
                } else {
                    routers.append(router)
                }
                // An Initiation carries no time: the last one seen, 0 (unknown) at the start of a stream.
                pending.append(
                    .session(
                        SessionEvent(
                            time: lastTime, source: source, observation: observation,
                            kind: .monitoringStarted(sysName: router.sysName), record: .bmp)))
            } else {
                pending.append(
                    .session(
                        SessionEvent(
                            time: lastTime, source: source, observation: observation,
                            kind: .monitoringEnded(reason: terminationReason), record: .bmp)))
            }
        case BMPMessageType.routeMirroring:
            let peer = try readPeerHeader(&c)
            while !c.isAtEnd {
                let tlvType = try c.readUInt16("BMP route mirroring TLV type")
                var value = try c.sub(
                    length: Int(try c.readUInt16("BMP route mirroring TLV length")), "BMP route mirroring TLV")
                if tlvType == BMPInformation.mirroredBGPMessage,
                    case .update(var mirrored) = try BGPMessage.decode(
                        &value, options: DecodeOptions(fourByteAS: !peer.legacyAS, evpnOnly: evpnOnly))
                {
                    emit(&mirrored, time: peer.time, source: source, observation: peer.observation)
                }
            }
            pending.append(.heartbeat(time: peer.time))
        default:
            stats.skippedRecords += 1
        }
    }

    private func emit(_ update: inout UpdateMessage, time: Int64, source: SourceRef, observation: ObservationPoint) {
        UpdateSink.emit(
            &update, time: time, source: source, observation: observation, file: name, stats: &stats,
            problems: &problemLog, record: .bmp, into: &pending)
    }
}

func fnv1a<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> UInt32 {
    var hash: UInt32 = 2_166_136_261
    for byte in bytes { hash = (hash ^ UInt32(byte)) &* 16_777_619 }
    return hash
}
