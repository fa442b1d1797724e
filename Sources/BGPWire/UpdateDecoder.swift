import EVPNModel

/// Decodes the body of a BGP UPDATE (after the 19-byte header) under RFC 7606: a malformed
/// attribute is recorded with its outcome and decoding goes on; only framing that makes the
/// rest of the message unreadable throws.
public enum UpdateDecoder {
    public static func decode(_ body: inout ByteCursor, options: DecodeOptions) throws -> UpdateMessage {
        var update = UpdateMessage()
        try decode(&body, options: options, into: &update)
        return update
    }

    /// Decodes into `update` (which starts empty): the readers' path, where returning the large
    /// struct copied it on every message.
    public static func decode(_ body: inout ByteCursor, options: DecodeOptions, into update: inout UpdateMessage) throws
    {
        let withdrawnLength = Int(try body.readUInt16("UPDATE withdrawn routes length"))
        var withdrawn = try body.sub(length: withdrawnLength, "UPDATE withdrawn routes")
        let attributesLength = Int(try body.readUInt16("UPDATE path attributes length"))
        var attributeCursor: ByteCursor
        var nlri: ByteCursor
        do {
            attributeCursor = try body.sub(length: attributesLength, "UPDATE path attributes")
            nlri = body
        } catch let error as DecodeError {
            // RFC 7606 §4: an attribute length that overruns the message leaves nothing trustworthy.
            update.errors.append(AttributeError(attributeType: 0, action: .treatAsWithdraw, error: error))
            attributeCursor = try body.sub(length: 0)
            nlri = try body.sub(length: 0)
        }
        let ipv4AddPath = options.addPath.contains(.ipv4Unicast)
        if options.evpnOnly {
            update.skippedNLRIBytes += withdrawn.remaining
        } else {
            // A malformed tail of the NLRI field loses only the prefixes after it (as bgpdump does).
            do {
                try NLRICodec.decodeAll(&withdrawn, family: .ipv4Unicast, addPath: ipv4AddPath, into: &update.withdrawn)
            } catch let error as DecodeError {
                update.errors.append(AttributeError(attributeType: 0, action: .nlriDiscard, error: error))
            }
        }
        decodeAttributes(&attributeCursor, options: options, into: &update)
        if options.evpnOnly {
            update.skippedNLRIBytes += nlri.remaining
        } else {
            do {
                try NLRICodec.decodeAll(&nlri, family: .ipv4Unicast, addPath: ipv4AddPath, into: &update.announced)
            } catch let error as DecodeError {
                update.errors.append(AttributeError(attributeType: 0, action: .nlriDiscard, error: error))
            }
        }
        // RFC 7606 §3.d: missing well-known mandatory attributes when routes are announced.
        if !options.ribEntry && (!update.announced.isEmpty || !(update.reach?.nlri.isEmpty ?? true)) {
            if update.attributes.origin == nil {
                update.errors.append(
                    AttributeError(
                        attributeType: 1, action: .treatAsWithdraw,
                        error: DecodeError(context: "UPDATE", expected: "ORIGIN attribute", offset: body.baseOffset)))
            }
            if !update.announced.isEmpty && update.attributes.nextHop == nil {
                update.errors.append(
                    AttributeError(
                        attributeType: 3, action: .treatAsWithdraw,
                        error: DecodeError(
                            context: "UPDATE", expected: "NEXT_HOP attribute for IPv4 NLRI", offset: body.baseOffset)))
            }
        }
    }

    /// Decodes a path-attribute block (also used by MRT RIB entries and legacy TABLE_DUMP).
    public static func decodeAttributes(
        _ cursor: inout ByteCursor, options: DecodeOptions, into update: inout UpdateMessage
    ) {
        var seenTypes: UInt64 = 0  // bitmap of types < 64 already seen (RFC 7606 §3.g)
        var as4Path: [ASPathSegment]?
        var as4Aggregator: (UInt32, IPAddress)?
        while !cursor.isAtEnd {
            let start = cursor.absoluteOffset
            let flags: UInt8, type: UInt8
            var value: ByteCursor
            do {
                let readFlags = try cursor.readUInt8("attribute flags")
                let readType = try cursor.readUInt8("attribute type")
                flags = readFlags; type = readType
                let length =
                    readFlags & PathAttribute.extendedLength != 0
                    ? Int(try cursor.readUInt16("attribute length")) : Int(try cursor.readUInt8("attribute length"))
                value = try cursor.sub(length: length, "\(PathAttribute.name(readType)) value")
            } catch let error as DecodeError {
                update.errors.append(AttributeError(attributeType: 0, action: .treatAsWithdraw, error: error))
                return
            } catch { return }
            if type < 64 {
                let bit: UInt64 = 1 << UInt64(type)
                if seenTypes & bit != 0 && type != 14 && type != 15 {
                    continue  // repeated attribute: keep the first, discard the rest
                }
                seenTypes |= bit
            }
            do {
                try decodeAttribute(
                    type: type, flags: flags, value: &value, options: options, update: &update,
                    as4Path: &as4Path, as4Aggregator: &as4Aggregator)
            } catch let error as DecodeError {
                update.errors.append(
                    AttributeError(attributeType: type, action: errorAction(forType: type), error: error))
            } catch {
                update.errors.append(
                    AttributeError(
                        attributeType: type, action: errorAction(forType: type),
                        error: DecodeError(context: PathAttribute.name(type), expected: "valid value", offset: start)))
            }
        }
        if !options.fourByteAS {
            if let as4Path { update.attributes.asPath = mergeAS4Path(update.attributes.asPath, as4Path) }
            if let as4Aggregator, update.attributes.aggregatorAS == 23456 {
                update.attributes.aggregatorAS = as4Aggregator.0
                update.attributes.aggregatorIP = as4Aggregator.1
            }
        }
    }

    static func errorAction(forType type: UInt8) -> AttributeErrorAction {
        switch type {
        case PathAttribute.atomicAggregate, PathAttribute.aggregator, PathAttribute.as4Path,
            PathAttribute.as4Aggregator:
            return .attributeDiscard
        case PathAttribute.mpReachNLRI, PathAttribute.mpUnreachNLRI: return .familyUnparseable
        default: return .treatAsWithdraw
        }
    }

    private static func expectLength(_ value: ByteCursor, _ allowed: Int, _ type: UInt8) throws {
        if value.remaining != allowed {
            throw value.error(PathAttribute.name(type), expected: "length \(allowed), found \(value.remaining)")
        }
    }

    private static func expectMultiple(_ value: ByteCursor, _ unit: Int, _ type: UInt8) throws {
        if value.remaining % unit != 0 {
            throw value.error(
                PathAttribute.name(type),
                expected: "a multiple of \(unit) bytes, found "
                    + "\(value.remaining)")
        }
    }

    private static func decodeAttribute(
        type: UInt8, flags: UInt8, value v: inout ByteCursor, options: DecodeOptions,
        update: inout UpdateMessage, as4Path: inout [ASPathSegment]?,
        as4Aggregator: inout (UInt32, IPAddress)?
    ) throws {
        switch type {
        case PathAttribute.origin:
            try expectLength(v, 1, type)
            let origin = try v.readUInt8()
            guard origin <= 2 else { throw v.error("ORIGIN", expected: "0, 1 or 2, found \(origin)") }
            update.attributes.origin = origin
        case PathAttribute.asPath:
            update.attributes.asPath = try decodeASPath(&v, fourByte: options.fourByteAS)
        case PathAttribute.as4Path:
            as4Path = try decodeASPath(&v, fourByte: true)
        case PathAttribute.nextHop:
            try expectLength(v, 4, type)
            update.attributes.nextHop = try v.readIPv4()
        case PathAttribute.multiExitDisc:
            try expectLength(v, 4, type)
            update.attributes.med = try v.readUInt32()
        case PathAttribute.localPref:
            try expectLength(v, 4, type)
            update.attributes.localPref = try v.readUInt32()
        case PathAttribute.atomicAggregate:
            try expectLength(v, 0, type)
            update.attributes.atomicAggregate = true
        case PathAttribute.aggregator:
            if v.remaining == 8 || (v.remaining != 6 && options.fourByteAS) {
                try expectLength(v, 8, type)
                update.attributes.aggregatorAS = try v.readUInt32()
            } else {
                try expectLength(v, 6, type)
                update.attributes.aggregatorAS = UInt32(try v.readUInt16())
            }
            update.attributes.aggregatorIP = try v.readIPv4()
        case PathAttribute.as4Aggregator:
            try expectLength(v, 8, type)
            as4Aggregator = (try v.readUInt32(), try v.readIPv4())
        case PathAttribute.communities:
            try expectMultiple(v, 4, type)
            update.attributes.communities.reserveCapacity(v.remaining / 4)
            while !v.isAtEnd { update.attributes.communities.append(try v.readUInt32()) }
        case PathAttribute.originatorID:
            try expectLength(v, 4, type)
            update.attributes.originatorID = try v.readIPv4()
        case PathAttribute.clusterList:
            try expectMultiple(v, 4, type)
            while !v.isAtEnd { update.attributes.clusterList.append(try v.readUInt32()) }
        case PathAttribute.extendedCommunities:
            try expectMultiple(v, 8, type)
            update.attributes.extendedCommunities.reserveCapacity(v.remaining / 8)
            while !v.isAtEnd {
                update.attributes.extendedCommunities.append(ExtendedCommunity(raw: try v.readUInt64()))
            }
        case PathAttribute.largeCommunity:
            try expectMultiple(v, 12, type)
            while !v.isAtEnd {
                update.attributes.largeCommunities.append(
                    LargeCommunity(global: try v.readUInt32(), local1: try v.readUInt32(), local2: try v.readUInt32()))
            }
        case PathAttribute.pmsiTunnel:
            guard v.remaining >= 5 else {
                throw v.error("PMSI_TUNNEL", expected: "at least 5 bytes, found \(v.remaining)")
            }
            update.attributes.pmsiTunnel = PMSITunnel(
                flags: try v.readUInt8(), tunnelType: try v.readUInt8(),
                label: try v.readUInt24(), tunnelID: try v.readBytes(v.remaining))
        case PathAttribute.mpReachNLRI:
            try decodeMPReach(&v, options: options, update: &update)
        case PathAttribute.mpUnreachNLRI:
            let family = AddressFamily(
                afi: try v.readUInt16("MP_UNREACH AFI"), safi: try v.readUInt8("MP_UNREACH SAFI"))
            update.unreach = MPUnreach(family: family, nlri: [])  // the family stays even if an NLRI below is malformed
            if NLRICodec.isDecoded(family) && (!options.evpnOnly || family == .evpn) {
                var nlri: [NLRIEntry] = []
                swap(&nlri, &update.recycled.unreach)
                try NLRICodec.decodeAll(&v, family: family, addPath: options.addPath.contains(family), into: &nlri)
                update.unreach?.nlri = nlri
            } else {
                update.skippedNLRIBytes += max(v.remaining, 1)
            }
        default:
            update.attributes.other.append(RawAttribute(flags: flags, type: type, value: try v.readBytes(v.remaining)))
        }
    }

    private static func decodeMPReach(_ v: inout ByteCursor, options: DecodeOptions, update: inout UpdateMessage) throws
    {
        // MRT RIB entries may carry only `nh_len next_hop` (RFC 6396 §4.3.4).
        if options.ribEntry && v.remaining >= 1 && Int(v.bytes[v.position]) == v.remaining - 1 {
            let length = Int(try v.readUInt8())
            let (nextHop, linkLocal) = try readNextHop(&v, length: length)
            update.reach = MPReach(
                family: AddressFamily(afi: 0, safi: 0), nextHop: nextHop, linkLocalNextHop: linkLocal, nlri: [])
            return
        }
        let family = AddressFamily(afi: try v.readUInt16("MP_REACH AFI"), safi: try v.readUInt8("MP_REACH SAFI"))
        let length = Int(try v.readUInt8("MP_REACH next hop length"))
        var nextHopCursor = try v.sub(length: length, "MP_REACH next hop")
        // VPN next hops are prefixed by an all-zero RD (RFC 4364 §4.3.2).
        if family.safi == 128 && (length == 12 || length == 24 || length == 48) {
            try nextHopCursor.skip(8)
        }
        let (nextHop, linkLocal) = try readNextHop(&nextHopCursor, length: nextHopCursor.remaining)
        try v.skip(1, "MP_REACH reserved byte")
        update.reach = MPReach(family: family, nextHop: nextHop, linkLocalNextHop: linkLocal, nlri: [])
        if NLRICodec.isDecoded(family) && (!options.evpnOnly || family == .evpn) {
            var nlri: [NLRIEntry] = []
            swap(&nlri, &update.recycled.reach)
            try NLRICodec.decodeAll(&v, family: family, addPath: options.addPath.contains(family), into: &nlri)
            update.reach?.nlri = nlri
        } else {
            update.skippedNLRIBytes += max(v.remaining, 1)
        }
    }

    private static func readNextHop(_ v: inout ByteCursor, length: Int) throws -> (IPAddress?, IPAddress?) {
        switch length {
        case 0: return (nil, nil)
        case 4: return (try v.readIPv4(), nil)
        case 16: return (try v.readIPv6(), nil)
        case 32: return (try v.readIPv6(), try v.readIPv6())
        case 12, 24:  // RD + address in a RIB entry's abbreviated form
            try v.skip(8)
            return (length == 12 ? try v.readIPv4() : try v.readIPv6(), nil)
        default:
            throw v.error("MP_REACH next hop", expected: "length 0, 4, 16 or 32, found \(length)")
        }
    }

    static func decodeASPath(_ v: inout ByteCursor, fourByte: Bool) throws -> [ASPathSegment] {
        var segments: [ASPathSegment] = []
        while !v.isAtEnd {
            let rawKind = try v.readUInt8("AS_PATH segment type")
            guard let kind = ASPathSegment.Kind(rawValue: rawKind) else {
                throw v.error("AS_PATH", expected: "segment type 1-4, found \(rawKind)")
            }
            let count = Int(try v.readUInt8("AS_PATH segment length"))
            var asns: [UInt32] = []
            asns.reserveCapacity(count)
            for _ in 0..<count {
                asns.append(fourByte ? try v.readUInt32("AS_PATH ASN") : UInt32(try v.readUInt16("AS_PATH ASN")))
            }
            segments.append(ASPathSegment(kind: kind, asns: asns))
        }
        return segments
    }

    /// RFC 6793 §4.2.3: AS4_PATH replaces the rightmost part of a 2-byte AS_PATH.
    static func mergeAS4Path(_ asPath: [ASPathSegment], _ as4Path: [ASPathSegment]) -> [ASPathSegment] {
        func length(_ path: [ASPathSegment]) -> Int {
            path.reduce(0) { $0 + ($1.kind == .sequence ? $1.asns.count : $1.kind == .set ? 1 : 0) }
        }
        let keep = length(asPath) - length(as4Path)
        guard keep >= 0 else { return asPath }
        var merged: [ASPathSegment] = []
        var remaining = keep
        for segment in asPath where remaining > 0 {
            switch segment.kind {
            case .sequence:
                let take = min(remaining, segment.asns.count)
                merged.append(ASPathSegment(kind: .sequence, asns: Array(segment.asns.prefix(take))))
                remaining -= take
            case .set:
                merged.append(segment); remaining -= 1
            case .confedSequence, .confedSet:
                merged.append(segment)
            }
        }
        if let last = merged.last, last.kind == .sequence, let first = as4Path.first, first.kind == .sequence {
            merged[merged.count - 1].asns += first.asns
            merged += as4Path.dropFirst()
        } else {
            merged += as4Path
        }
        return merged
    }
}
