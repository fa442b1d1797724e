import BGPWire
import ByteStreams
import EVPNModel

/// RFC 6396 / RFC 8050 reader: BGP4MP(_ET), TABLE_DUMP_V2, legacy TABLE_DUMP.
public final class MRTReader: FeedReader {
    public static let maximumRecordLength = 16 << 20

    let stream: StreamReader
    let input: Int32
    let evpnOnly: Bool
    public var name: String { stream.source.name }
    public private(set) var stats = ReaderStats()
    private var damageLog = DamageLog()
    private var problemLog = DamageLog()
    public var damage: [InputDamage] { damageLog.entries }
    public var attributeProblems: [InputDamage] { problemLog.entries }
    public var bytesRead: Int64 { stream.offset }
    public var compressedBytesRead: Int64 { stream.source.compressedOffset }
    public var sha256: String? { stream.source.sha256 }
    private var pending: [FeedItem] = []
    private var pendingIndex = 0
    private var peers: [(ip: IPAddress, asn: UInt32, bgpID: IPAddress)] = []
    private var sawPeerIndexTable = false
    /// Where a RIB snapshot's own routes (no peer) are seen from: the zero peer.
    private static let localRoutesPeer = (ip: IPAddress(v4: 0), asn: UInt32(0), bgpID: IPAddress(v4: 0))
    /// The collector's BGP identifier from the PEER_INDEX_TABLE: the observation points of a RIB
    /// snapshot are the collector's sessions, as BGP4MP's local address names them.
    private var collectorID: UInt32 = 0
    private var stopped = false
    /// One message for every UPDATE and RIB entry (see `UpdateMessage.reset`).
    private var update = UpdateMessage()

    public init(stream: StreamReader, input: Int32, evpnOnly: Bool = false) {
        self.stream = stream; self.input = input; self.evpnOnly = evpnOnly
        pending.reserveCapacity(64)
    }

    public func next() -> FeedItem? {
        while pendingIndex >= pending.count {
            pending.removeAll(keepingCapacity: true)
            pendingIndex = 0
            if stopped { return nil }
            if !readRecord() {
                stopped = true
                endSnapshot()
                if pending.isEmpty { return nil }
            }
        }
        defer { pendingIndex += 1 }
        return pending.takeItem(at: pendingIndex)
    }

    /// The RIB snapshot being read: where its PEER_INDEX_TABLE is, its latest time, and how much
    /// damage the input had before it (more at its end: the snapshot is not the whole table).
    private var snapshot: (collector: UInt32, source: SourceRef, time: Int64, damageBefore: Int)?

    /// A snapshot's boundaries are the collector's, not one peer's: named with the zero peer.
    private static func snapshotPoint(_ collector: UInt32) -> ObservationPoint {
        ObservationPoint(
            router: collector, table: .mrt, peerIP: localRoutesPeer.ip, peerAS: localRoutesPeer.asn,
            peerBGPID: localRoutesPeer.bgpID)
    }

    /// Closes the snapshot being read, if any: the next record is not one of its entries.
    private func endSnapshot() {
        guard let open = snapshot else { return }
        snapshot = nil
        pending.append(
            .session(
                SessionEvent(
                    time: open.time, source: open.source, observation: Self.snapshotPoint(open.collector),
                    kind: .ribSnapshotEnded(complete: damageLog.count == open.damageBefore))))
    }

    private func note(_ offset: Int64, _ message: String, recovered: Bool) {
        damageLog.append(InputDamage(file: name, offset: offset, message: message, recovered: recovered))
    }

    /// Reads one record into `pending`; false at the end of the input.
    private func readRecord() -> Bool {
        guard stream.fill(12) else {
            if stream.available > 0 {
                note(
                    stream.offset, "truncated MRT header: expected 12 bytes, found \(stream.available)",
                    recovered: false)
            }
            if let error = stream.streamError { note(error.uncompressedOffset, error.message, recovered: false) }
            return false
        }
        let recordOffset = stream.offset
        let (seconds, type, subtype, length) = stream.withBytes(12) { b -> (UInt32, UInt16, UInt16, Int) in
            var c = ByteCursor(b)
            return (try! c.readUInt32(), try! c.readUInt16(), try! c.readUInt16(), Int(try! c.readUInt32()))
        }
        guard length <= MRTReader.maximumRecordLength else {
            note(
                recordOffset,
                "MRT record length \(length) exceeds \(MRTReader.maximumRecordLength): expected an MRT header",
                recovered: false)
            return false
        }
        guard stream.fill(12 + length) else {
            note(
                recordOffset,
                "truncated MRT record (type \(type)/\(subtype)): expected \(12 + length) bytes, found "
                    + "\(stream.available)",
                recovered: false)
            if let error = stream.streamError { note(error.uncompressedOffset, error.message, recovered: false) }
            return false
        }
        stats.records += 1
        let source = SourceRef(input: input, offset: recordOffset)
        do {
            try stream.withBytes(12 + length) { b in
                var body = ByteCursor(UnsafeRawBufferPointer(rebasing: b[12...]), baseOffset: Int(recordOffset) + 12)
                var time = Int64(seconds) * 1_000_000
                if type != MRTType.tableDumpV2 { endSnapshot() }
                switch type {
                case MRTType.bgp4mp, MRTType.bgp4mpET:
                    if type == MRTType.bgp4mpET {
                        let micros = try body.readUInt32("BGP4MP_ET microseconds")
                        // Added as they stand, 4,294 s of garbage would move the record in time.
                        guard micros < 1_000_000 else {
                            throw body.error("BGP4MP_ET microseconds", expected: "below 1000000, found \(micros)")
                        }
                        time += Int64(micros)
                    } else {
                        stats.coarseUpdates += 1
                    }
                    try decodeBGP4MP(
                        subtype: subtype, &body, time: time, source: source,
                        record: type == MRTType.bgp4mpET ? .updateET : .update)
                case MRTType.tableDumpV2:
                    try decodeTableDumpV2(subtype: subtype, &body, time: time, source: source)
                case MRTType.tableDump:
                    try decodeTableDump(subtype: subtype, &body, time: time, source: source)
                default:
                    stats.skippedRecords += 1
                }
                stats.saw(time: time, offset: recordOffset)
            }
        } catch let error as DecodeError {
            note(
                Int64(error.offset),
                "MRT type \(type)/\(subtype) record at \(recordOffset): \(error.context): expected \(error.expected)",
                recovered: true)
        } catch {
            note(recordOffset, "\(error)", recovered: true)
        }
        stream.consume(12 + length)
        return true
    }

    private func recordProblems(_ update: inout UpdateMessage) {
        UpdateSink.recordProblems(&update, file: name, stats: &stats, problems: &problemLog)
    }

    private func emit(
        _ update: inout UpdateMessage, time: Int64, source: SourceRef, observation: ObservationPoint, record: RecordKind
    ) {
        UpdateSink.emit(
            &update, time: time, source: source, observation: observation, file: name, stats: &stats,
            problems: &problemLog, record: record, into: &pending)
    }

    private func decodeBGP4MP(
        subtype: UInt16, _ c: inout ByteCursor, time: Int64, source: SourceRef, record: RecordKind
    ) throws {
        typealias Subtype = BGP4MPSubtype
        let as4: Bool
        switch subtype {
        case Subtype.stateChange, Subtype.message, Subtype.entry, Subtype.messageLocal, Subtype.messageAddPath,
            Subtype.messageLocalAddPath:
            as4 = false
        case Subtype.messageAS4, Subtype.stateChangeAS4, Subtype.messageAS4Local, Subtype.messageAS4AddPath,
            Subtype.messageAS4LocalAddPath:
            as4 = true
        default: stats.skippedRecords += 1; return
        }
        let peerAS = as4 ? try c.readUInt32("BGP4MP peer AS") : UInt32(try c.readUInt16("BGP4MP peer AS"))
        _ = as4 ? try c.readUInt32("BGP4MP local AS") : UInt32(try c.readUInt16("BGP4MP local AS"))
        _ = try c.readUInt16("BGP4MP interface index")
        let afi = try c.readUInt16("BGP4MP address family")
        guard afi == 1 || afi == 2 else { throw c.error("BGP4MP address family", expected: "1 or 2, found \(afi)") }
        let peerIP = afi == 1 ? try c.readIPv4("BGP4MP peer IP") : try c.readIPv6("BGP4MP peer IP")
        let localIP = afi == 1 ? try c.readIPv4("BGP4MP local IP") : try c.readIPv6("BGP4MP local IP")
        let local = Subtype.isLocal(subtype)
        // The session is (local, peer): dumps of several routers that share a peer (every PE's
        // `dump bgp updates` shows its route reflector) are different observation points (ID-3).
        let observation = ObservationPoint(
            router: ObservationPoint.mrtRouter(localAddress: localIP), table: local ? .adjRIBOutPost : .mrt,
            peerIP: peerIP, peerAS: peerAS, peerBGPID: IPAddress(v4: 0))
        if subtype == Subtype.stateChange || subtype == Subtype.stateChangeAS4 {
            let old = try c.readUInt16("BGP4MP old state"), new = try c.readUInt16("BGP4MP new state")
            let kind: SessionEvent.Kind =
                new == BGPState.established
                ? .established
                : old == BGPState.established
                    ? .down(reason: "BGP state \(bgpStateName(old)) → \(bgpStateName(new))") : .stateChange
            pending.append(
                .session(
                    SessionEvent(
                        time: time, source: source, observation: observation, kind: kind,
                        states: BGPStateChange(old: old, new: new), record: record)))
            return
        }
        if subtype == Subtype.entry {
            try decodeBGP4MPEntry(&c, time: time, source: source, observation: observation)
            return
        }
        let addPath = Subtype.hasAddPath(subtype)
        let options = DecodeOptions(fourByteAS: as4, addPath: addPath ? .all : AddPathFamilies(), evpnOnly: evpnOnly)
        update.reset()
        if try BGPMessage.decodeUpdate(&c, options: options, into: &update) {
            emit(&update, time: time, source: source, observation: observation, record: record)
        } else {
            pending.append(.heartbeat(time: time))
        }
    }

    /// BGP4MP_ENTRY (subtype 2, from the MRT drafts; OpenBGPD writes multiprotocol RIBs with it).
    private func decodeBGP4MPEntry(
        _ c: inout ByteCursor, time: Int64, source: SourceRef, observation: ObservationPoint
    ) throws {
        _ = try c.readUInt16("BGP4MP_ENTRY view"); _ = try c.readUInt16("BGP4MP_ENTRY status")
        _ = try c.readUInt32("BGP4MP_ENTRY originated")
        let family = AddressFamily(
            afi: try c.readUInt16("BGP4MP_ENTRY AFI"), safi: try c.readUInt8("BGP4MP_ENTRY SAFI"))
        var nextHopCursor = try c.sub(
            length: Int(try c.readUInt8("BGP4MP_ENTRY next hop length")), "BGP4MP_ENTRY next hop")
        let nextHop: IPAddress? =
            nextHopCursor.remaining == 4
            ? try nextHopCursor.readIPv4() : nextHopCursor.remaining >= 16 ? try nextHopCursor.readIPv6() : nil
        guard NLRICodec.isDecoded(family), !evpnOnly || family == .evpn else {
            stats.skippedNLRIBytes += c.remaining; return
        }
        let nlri = try NLRICodec.decodeOne(&c, family: family)
        var attributes = try c.sub(
            length: Int(try c.readUInt16("BGP4MP_ENTRY attribute length")), "BGP4MP_ENTRY attributes")
        update.reset()
        UpdateDecoder.decodeAttributes(
            &attributes, options: DecodeOptions(fourByteAS: false, ribEntry: true), into: &update)
        recordProblems(&update)
        pending.append(
            .route(
                RouteEvent(
                    time: time, source: source, observation: observation, isWithdraw: false, family: family,
                    entry: NLRIEntry(nlri: nlri), attributes: update.attributes,
                    nextHop: nextHop ?? update.reach?.nextHop ?? update.attributes.nextHop, record: .bgp4mpEntry)))
        stats.routeEvents += 1
    }

    private func decodeTableDumpV2(subtype: UInt16, _ c: inout ByteCursor, time: Int64, source: SourceRef) throws {
        typealias Subtype = TableDumpV2Subtype
        if subtype != Subtype.peerIndexTable, let open = snapshot, time > open.time { snapshot!.time = time }
        switch subtype {
        case Subtype.peerIndexTable:
            collectorID = try c.readUInt32("collector BGP ID")
            // GoBGP (3.10) writes 0.0.0.0 for every router: such snapshots are told apart by their
            // input, or two PEs' own routes would be one observation point.
            if collectorID == 0 { collectorID = ObservationPoint.anonymousCollector(input: input) }
            let nameLength = Int(try c.readUInt16("view name length"))
            try c.skip(nameLength, "view name")
            let count = Int(try c.readUInt16("peer count"))
            endSnapshot()
            peers.removeAll(keepingCapacity: true)
            sawPeerIndexTable = true
            for _ in 0..<count {
                let peerType = try c.readUInt8("peer type")
                let bgpID = try c.readIPv4("peer BGP ID")
                let ip = peerType & 1 != 0 ? try c.readIPv6("peer IP") : try c.readIPv4("peer IP")
                let asn = peerType & 2 != 0 ? try c.readUInt32("peer AS") : UInt32(try c.readUInt16("peer AS"))
                peers.append((ip, asn, bgpID))
            }
            snapshot = (collectorID, source, time, damageLog.count)
            pending.append(
                .session(
                    SessionEvent(
                        time: time, source: source, observation: Self.snapshotPoint(collectorID),
                        kind: .ribSnapshotStarted)))
        case Subtype.ribIPv4Unicast, Subtype.ribIPv4Multicast, Subtype.ribIPv6Unicast, Subtype.ribIPv6Multicast,
            Subtype.ribIPv4UnicastAddPath, Subtype.ribIPv4MulticastAddPath, Subtype.ribIPv6UnicastAddPath,
            Subtype.ribIPv6MulticastAddPath:
            let family: AddressFamily
            switch subtype {
            case Subtype.ribIPv4Unicast, Subtype.ribIPv4UnicastAddPath: family = .ipv4Unicast
            case Subtype.ribIPv4Multicast, Subtype.ribIPv4MulticastAddPath: family = .ipv4Multicast
            case Subtype.ribIPv6Unicast, Subtype.ribIPv6UnicastAddPath: family = .ipv6Unicast
            default: family = .ipv6Multicast
            }
            if evpnOnly { stats.skippedNLRIBytes += c.remaining; pending.append(.heartbeat(time: time)); return }
            _ = try c.readUInt32("RIB sequence number")
            let nlri = try NLRICodec.decodeOne(&c, family: family)
            try decodeRIBEntries(
                &c, family: family, nlri: nlri, addPath: subtype >= Subtype.ribIPv4UnicastAddPath, time: time,
                source: source)
        case Subtype.ribGeneric, Subtype.ribGenericAddPath:
            _ = try c.readUInt32("RIB sequence number")
            let family = AddressFamily(
                afi: try c.readUInt16("RIB_GENERIC AFI"), safi: try c.readUInt8("RIB_GENERIC SAFI"))
            guard NLRICodec.isDecoded(family), !evpnOnly || family == .evpn else {
                stats.skippedNLRIBytes += c.remaining; pending.append(.heartbeat(time: time)); return
            }
            let nlri = try NLRICodec.decodeOne(&c, family: family)
            try decodeRIBEntries(
                &c, family: family, nlri: nlri, addPath: subtype == Subtype.ribGenericAddPath, time: time,
                source: source)
        default:
            stats.skippedRecords += 1
        }
    }

    private func decodeRIBEntries(
        _ c: inout ByteCursor, family: AddressFamily, nlri: NLRI, addPath: Bool, time: Int64, source: SourceRef
    ) throws {
        let count = Int(try c.readUInt16("RIB entry count"))
        // A local, swapped in: reading a stored message's fields (`action`, `attributes`) would
        // copy the whole message for each entry.
        var update = UpdateMessage()
        swap(&update, &self.update)
        defer { swap(&update, &self.update) }
        for _ in 0..<count {
            let peerIndex = Int(try c.readUInt16("RIB entry peer index"))
            _ = try c.readUInt32("RIB entry originated time")
            let pathID: UInt32? = addPath ? try c.readUInt32("RIB entry path identifier") : nil
            let length = Int(try c.readUInt16("RIB entry attribute length"))
            var attributes = try c.sub(length: length, "RIB entry attributes")
            // GoBGP (3.10) gives the routes it originates itself the index one past its table:
            // they are the router's own, the "peer" 0.0.0.0 its table lists first for them.
            guard sawPeerIndexTable else { throw c.error("RIB entry", expected: "a PEER_INDEX_TABLE before it") }
            guard peerIndex <= peers.count else {
                throw c.error(
                    "RIB entry",
                    expected: "peer index at most \(peers.count) (a PEER_INDEX_TABLE peer, or the router's own), "
                        + "found \(peerIndex)")
            }
            let peer = peerIndex < peers.count ? peers[peerIndex] : Self.localRoutesPeer
            update.reset()
            UpdateDecoder.decodeAttributes(
                &attributes, options: DecodeOptions(fourByteAS: true, ribEntry: true, evpnOnly: evpnOnly), into: &update
            )
            recordProblems(&update)
            let observation = ObservationPoint(
                router: collectorID, table: .mrt, peerIP: peer.ip, peerAS: peer.asn, peerBGPID: peer.bgpID)
            let withdraw = update.action >= .treatAsWithdraw
            pending.append(
                .route(
                    RouteEvent(
                        time: time, source: source, observation: observation, isWithdraw: withdraw,
                        family: family, entry: NLRIEntry(pathID: pathID, nlri: nlri),
                        attributes: withdraw ? .empty : update.attributes,
                        nextHop: update.reach?.nextHop ?? update.attributes.nextHop, treatedAsWithdraw: withdraw,
                        record: .tableDumpV2)))
            stats.routeEvents += 1
        }
        if count == 0 { pending.append(.heartbeat(time: time)) }
    }

    private func decodeTableDump(subtype: UInt16, _ c: inout ByteCursor, time: Int64, source: SourceRef) throws {
        guard subtype == TableDumpSubtype.ipv4 || subtype == TableDumpSubtype.ipv6 else {
            stats.skippedRecords += 1; return
        }
        let v6 = subtype == TableDumpSubtype.ipv6
        if evpnOnly { stats.skippedNLRIBytes += c.remaining; pending.append(.heartbeat(time: time)); return }
        _ = try c.readUInt16("TABLE_DUMP view"); _ = try c.readUInt16("TABLE_DUMP sequence")
        let address = v6 ? try c.readIPv6("TABLE_DUMP prefix") : try c.readIPv4("TABLE_DUMP prefix")
        let length = try c.readUInt8("TABLE_DUMP prefix length")
        _ = try c.readUInt8("TABLE_DUMP status"); _ = try c.readUInt32("TABLE_DUMP originated")
        let peerIP = v6 ? try c.readIPv6("TABLE_DUMP peer IP") : try c.readIPv4("TABLE_DUMP peer IP")
        let peerAS = UInt32(try c.readUInt16("TABLE_DUMP peer AS"))
        var attributes = try c.sub(
            length: Int(try c.readUInt16("TABLE_DUMP attribute length")), "TABLE_DUMP attributes")
        update.reset()
        UpdateDecoder.decodeAttributes(
            &attributes, options: DecodeOptions(fourByteAS: false, ribEntry: true), into: &update)
        recordProblems(&update)
        let observation = ObservationPoint(
            router: 0, table: .mrt, peerIP: peerIP, peerAS: peerAS, peerBGPID: IPAddress(v4: 0))
        pending.append(
            .route(
                RouteEvent(
                    time: time, source: source, observation: observation, isWithdraw: false,
                    family: v6 ? .ipv6Unicast : .ipv4Unicast,
                    entry: NLRIEntry(nlri: .prefix(IPPrefix(address: address, length: length))),
                    attributes: update.attributes, nextHop: update.reach?.nextHop ?? update.attributes.nextHop,
                    record: .tableDump)))
        stats.routeEvents += 1
    }
}

public func bgpStateName(_ state: UInt16) -> String {
    switch state {
    case BGPState.idle: return "Idle"
    case BGPState.connect: return "Connect"
    case BGPState.active: return "Active"
    case BGPState.openSent: return "OpenSent"
    case BGPState.openConfirm: return "OpenConfirm"
    case BGPState.established: return "Established"
    // FRR's `dump bgp all` writes its own FSM's states past RFC 6396's six.
    case BGPState.frrClearing: return "Clearing"
    case BGPState.frrDeleted: return "Deleted"
    default: return "state\(state)"
    }
}
