import EVPNModel

/// NLRI of every decoded family: IPv4/IPv6 unicast and multicast, VPNv4/VPNv6, EVPN.
public enum NLRICodec {
    public static func isDecoded(_ family: AddressFamily) -> Bool {
        switch family {
        case .ipv4Unicast, .ipv6Unicast, .ipv4Multicast, .ipv6Multicast, .vpnv4, .vpnv6, .evpn: return true
        default: return false
        }
    }

    /// Decodes every NLRI in `cursor` (to its end) for `family`.
    public static func decodeAll(
        _ cursor: inout ByteCursor, family: AddressFamily, addPath: Bool, into out: inout [NLRIEntry]
    ) throws {
        while !cursor.isAtEnd {
            let pathID: UInt32? = addPath ? try cursor.readUInt32("add-path identifier") : nil
            let nlri = try decodeOne(&cursor, family: family)
            out.append(NLRIEntry(pathID: pathID, nlri: nlri))
        }
    }

    public static func decodeOne(_ cursor: inout ByteCursor, family: AddressFamily) throws -> NLRI {
        switch family.safi {
        case 70 where family.afi == 25:
            return .evpn(try EVPNRouteCodec.decode(&cursor))
        case 128:
            let bits = Int(try cursor.readUInt8("VPN NLRI length"))
            let maxBits = (family.afi == 2 ? 128 : 32) + 88
            guard bits >= 88, bits <= maxBits else {
                throw cursor.error("VPN NLRI length", expected: "88 to \(maxBits) bits, found \(bits)")
            }
            let label = try cursor.readUInt24("VPN label")
            let rd = RouteDistinguisher(
                type: try cursor.readUInt16("RD type"), value: try cursor.readUIntN(6, "RD value"))
            let prefix = try readPrefix(&cursor, bits: bits - 88, ipv6: family.afi == 2)
            return .vpn(rd: rd, prefix: prefix, label: label)
        default:
            let bits = Int(try cursor.readUInt8("prefix length"))
            return .prefix(try readPrefix(&cursor, bits: bits, ipv6: family.afi == 2))
        }
    }

    static func readPrefix(_ cursor: inout ByteCursor, bits: Int, ipv6: Bool) throws -> IPPrefix {
        let maxBits = ipv6 ? 128 : 32
        guard bits <= maxBits else {
            throw cursor.error("prefix length", expected: "at most \(maxBits), found \(bits)")
        }
        let count = (bits + 7) / 8
        let raw = try cursor.sub(length: count, "prefix bytes")
        var high: UInt64 = 0, low: UInt64 = 0
        for i in 0..<count {
            let byte = UInt64(raw.bytes[raw.position + i])
            if ipv6 {
                if i < 8 { high |= byte << UInt64(56 - 8 * i) } else { low |= byte << UInt64(56 - 8 * (i - 8)) }
            } else {
                low |= byte << UInt64(24 - 8 * i)
            }
        }
        let address = ipv6 ? IPAddress(v6High: high, v6Low: low) : IPAddress(v4: UInt32(truncatingIfNeeded: low))
        return IPPrefix(masking: address, length: UInt8(bits))
    }

    public static func encode(_ entry: NLRIEntry, into w: inout ByteWriter) {
        if let pathID = entry.pathID { w.u32(pathID) }
        switch entry.nlri {
        case .evpn(let route): EVPNRouteCodec.encode(route, into: &w)
        case .prefix(let prefix):
            w.u8(prefix.length)
            writePrefixBytes(prefix, into: &w)
        case .vpn(let rd, let prefix, let label):
            w.u8(UInt8(Int(prefix.length) + 88))
            w.u24(label)
            w.u16(rd.type); w.u48(rd.value)
            writePrefixBytes(prefix, into: &w)
        }
    }

    static func writePrefixBytes(_ prefix: IPPrefix, into w: inout ByteWriter) {
        let count = (Int(prefix.length) + 7) / 8
        var full = ByteWriter()
        full.ip(prefix.address)
        w.append(Array(full.bytes[0..<count]))
    }
}
