import EVPNModel

/// Writes the exact bytes of BGP messages; the tests and the scenario generator build
/// their input with it, so every decoder test goes through real wire bytes.
public enum BGPEncoder {
    public static func frame(type: UInt8, body: [UInt8]) -> [UInt8] {
        var w = ByteWriter()
        w.u64(UInt64.max); w.u64(UInt64.max)
        w.u16(UInt16(body.count + BGPMessage.headerLength))
        w.u8(type)
        w.append(body)
        return w.bytes
    }

    public static var keepalive: [UInt8] { frame(type: BGPMessageType.keepalive, body: []) }

    /// A whole UPDATE message (header included).
    public static func update(_ update: UpdateMessage, options: DecodeOptions = DecodeOptions()) -> [UInt8] {
        frame(type: BGPMessageType.update, body: updateBody(update, options: options))
    }

    public static func updateBody(_ update: UpdateMessage, options: DecodeOptions) -> [UInt8] {
        var w = ByteWriter()
        w.lengthPrefixed16 { w in for entry in update.withdrawn { NLRICodec.encode(entry, into: &w) } }
        w.lengthPrefixed16 { w in
            writeAttributes(update.attributes, options: options, into: &w, reach: update.reach, unreach: update.unreach)
        }
        for entry in update.announced { NLRICodec.encode(entry, into: &w) }
        return w.bytes
    }

    private typealias Code = PathAttribute
    /// The flag combinations of RFC 4271 §4.3 the encoder writes.
    private static let wellKnown = PathAttribute.transitive
    private static let optionalTransitive = PathAttribute.optional | PathAttribute.transitive
    private static let optionalNonTransitive = PathAttribute.optional

    private static func attribute(_ flags: UInt8, _ type: UInt8, _ value: [UInt8], into w: inout ByteWriter) {
        if value.count > 255 || flags & PathAttribute.extendedLength != 0 {
            w.u8(flags | PathAttribute.extendedLength); w.u8(type); w.u16(UInt16(value.count))
        } else {
            w.u8(flags); w.u8(type); w.u8(UInt8(value.count))
        }
        w.append(value)
    }

    /// Path attributes in type order, as BGP speakers write them.
    public static func writeAttributes(
        _ a: PathAttributes, options: DecodeOptions, into w: inout ByteWriter,
        reach: MPReach? = nil, unreach: MPUnreach? = nil, abbreviatedReach: Bool = false
    ) {
        var v = ByteWriter()
        if let origin = a.origin { attribute(wellKnown, Code.origin, [origin], into: &w) }
        if a.origin != nil || !a.asPath.isEmpty {
            v = ByteWriter()
            for segment in a.asPath {
                v.u8(segment.kind.rawValue); v.u8(UInt8(segment.asns.count))
                for asn in segment.asns {
                    if options.fourByteAS { v.u32(asn) } else { v.u16(UInt16(truncatingIfNeeded: asn)) }
                }
            }
            attribute(wellKnown, Code.asPath, v.bytes, into: &w)
        }
        if let nextHop = a.nextHop {
            v = ByteWriter(); v.ip(nextHop); attribute(wellKnown, Code.nextHop, v.bytes, into: &w)
        }
        if let med = a.med {
            v = ByteWriter(); v.u32(med); attribute(optionalNonTransitive, Code.multiExitDisc, v.bytes, into: &w)
        }
        if let localPref = a.localPref {
            v = ByteWriter(); v.u32(localPref); attribute(wellKnown, Code.localPref, v.bytes, into: &w)
        }
        if a.atomicAggregate { attribute(wellKnown, Code.atomicAggregate, [], into: &w) }
        if let asn = a.aggregatorAS, let ip = a.aggregatorIP {
            v = ByteWriter()
            if options.fourByteAS { v.u32(asn) } else { v.u16(UInt16(truncatingIfNeeded: asn)) }
            v.ip(ip)
            attribute(optionalTransitive, Code.aggregator, v.bytes, into: &w)
        }
        if !a.communities.isEmpty {
            v = ByteWriter(); a.communities.forEach { v.u32($0) };
            attribute(optionalTransitive, Code.communities, v.bytes, into: &w)
        }
        if let originator = a.originatorID {
            v = ByteWriter(); v.ip(originator); attribute(optionalNonTransitive, Code.originatorID, v.bytes, into: &w)
        }
        if !a.clusterList.isEmpty {
            v = ByteWriter(); a.clusterList.forEach { v.u32($0) };
            attribute(optionalNonTransitive, Code.clusterList, v.bytes, into: &w)
        }
        if let reach {
            v = ByteWriter()
            if abbreviatedReach {
                var nh = ByteWriter()
                if let nextHop = reach.nextHop { nh.ip(nextHop) }
                v.u8(UInt8(nh.bytes.count)); v.append(nh.bytes)
            } else {
                v.u16(reach.family.afi); v.u8(reach.family.safi)
                var nh = ByteWriter()
                if reach.family.safi == 128 { nh.u64(0) }
                if let nextHop = reach.nextHop { nh.ip(nextHop) }
                if let linkLocal = reach.linkLocalNextHop { nh.ip(linkLocal) }
                v.u8(UInt8(nh.bytes.count)); v.append(nh.bytes)
                v.u8(0)
                for entry in reach.nlri { NLRICodec.encode(entry, into: &v) }
            }
            attribute(optionalNonTransitive | PathAttribute.extendedLength, Code.mpReachNLRI, v.bytes, into: &w)
        }
        if let unreach {
            v = ByteWriter()
            v.u16(unreach.family.afi); v.u8(unreach.family.safi)
            for entry in unreach.nlri { NLRICodec.encode(entry, into: &v) }
            attribute(optionalNonTransitive | PathAttribute.extendedLength, Code.mpUnreachNLRI, v.bytes, into: &w)
        }
        if !a.extendedCommunities.isEmpty {
            v = ByteWriter(); a.extendedCommunities.forEach { v.u64($0.raw) };
            attribute(optionalTransitive, Code.extendedCommunities, v.bytes, into: &w)
        }
        if let pmsi = a.pmsiTunnel {
            v = ByteWriter(); v.u8(pmsi.flags); v.u8(pmsi.tunnelType); v.u24(pmsi.label); v.append(pmsi.tunnelID)
            attribute(optionalTransitive, Code.pmsiTunnel, v.bytes, into: &w)
        }
        if !a.largeCommunities.isEmpty {
            v = ByteWriter()
            for c in a.largeCommunities { v.u32(c.global); v.u32(c.local1); v.u32(c.local2) }
            attribute(optionalTransitive, Code.largeCommunity, v.bytes, into: &w)
        }
        for raw in a.other { attribute(raw.flags & ~PathAttribute.extendedLength, raw.type, raw.value, into: &w) }
    }
}
