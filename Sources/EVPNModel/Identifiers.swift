/// Identifiers are value types; text is made only at the edges (report, JSON, SQLite).

/// A 48-bit MAC address kept in the low bits of a UInt64.
public struct MACAddress: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var value: UInt64
    public init(_ value: UInt64) { self.value = value & 0xFFFF_FFFF_FFFF }

    public init?(_ text: String) {
        let parts = text.split(whereSeparator: { $0 == ":" || $0 == "-" || $0 == "." })
        var result: UInt64 = 0
        if parts.count == 6 {
            for part in parts {
                guard part.count <= 2, let byte = UInt64(part, radix: 16) else { return nil }
                result = result << 8 | byte
            }
        } else if parts.count == 3 {  // Cisco dotted form aaaa.bbbb.cccc
            for part in parts {
                guard part.count == 4, let word = UInt64(part, radix: 16) else { return nil }
                result = result << 16 | word
            }
        } else {
            return nil
        }
        self.value = result
    }

    public static func < (a: MACAddress, b: MACAddress) -> Bool { a.value < b.value }

    public var description: String {
        let value = value
        return String(unsafeUninitializedCapacity: 17) { writeColonHex(value, bytes: 6, to: $0.baseAddress!) }
    }
}

/// Writes the low `bytes` bytes of `value`, most significant first, as lower-case hex pairs
/// joined by colons (a MAC, an ESI's parts) at `p`, and returns the length, `3 * bytes - 1`.
@inlinable public func writeColonHex(_ value: UInt64, bytes: Int, to p: UnsafeMutablePointer<UInt8>) -> Int {
    for i in 0..<bytes {
        let byte = UInt8(truncatingIfNeeded: value >> UInt64(8 * (bytes - 1 - i)))
        if i > 0 { p[3 * i - 1] = 58 }
        p[3 * i] = hexDigit(byte >> 4)
        p[3 * i + 1] = hexDigit(byte & 0x0F)
    }
    return 3 * bytes - 1
}

/// Writes `value` in decimal at `p` (at most 20 bytes) and returns its length.
/// Two digits per 64-bit division, and the length from comparisons, not divisions: the event
/// formatter and the row writer write a 16-digit microsecond time and several more per event.
@inlinable public func writeDecimal(_ value: UInt64, to p: UnsafeMutablePointer<UInt8>) -> Int {
    var length = 1, bound: UInt64 = 10
    while length < 20 && value >= bound { length += 1; bound &*= 10 }
    var v = value, i = length
    while v >= 100 {
        let pair = UInt8(truncatingIfNeeded: v % 100)
        v /= 100
        i -= 2
        p[i] = 48 + pair / 10
        p[i + 1] = 48 + pair % 10
    }
    let last = UInt8(truncatingIfNeeded: v)
    if last >= 10 { p[0] = 48 + last / 10; p[1] = 48 + last % 10 } else { p[0] = 48 + last }
    return length
}

/// The lower-case ASCII hex digit of a nibble (0...15).
@inlinable @inline(__always) public func hexDigit(_ nibble: UInt8) -> UInt8 { nibble < 10 ? 48 + nibble : 87 + nibble }

/// Writes `address` as a dotted quad at `p` (at most 15 bytes) and returns its length: the
/// one IPv4 text of `IPAddress.description` and of the event formatter.
@inlinable public func writeDottedQuad(_ address: UInt32, to p: UnsafeMutablePointer<UInt8>) -> Int {
    var n = 0
    for shift in stride(from: UInt32(24), through: 0, by: -8) {
        let octet = UInt8(truncatingIfNeeded: address >> shift)
        if shift != 24 { p[n] = 46; n += 1 }
        if octet >= 100 { p[n] = 48 + octet / 100; n += 1 }
        if octet >= 10 { p[n] = 48 + octet / 10 % 10; n += 1 }
        p[n] = 48 + octet % 10; n += 1
    }
    return n
}

@inline(__always)
func appendHexByte(_ byte: UInt8, to text: inout String) {
    text.unicodeScalars.append(UnicodeScalar(hexDigit(byte >> 4)))
    text.unicodeScalars.append(UnicodeScalar(hexDigit(byte & 0x0F)))
}

/// An IPv4 or IPv6 address as two 64-bit words; IPv4 lives in the low 32 bits of `low`.
public struct IPAddress: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var high: UInt64
    public var low: UInt64
    public var isIPv6: Bool

    public init(v4: UInt32) { high = 0; low = UInt64(v4); isIPv6 = false }
    public init(v6High: UInt64, v6Low: UInt64) { high = v6High; low = v6Low; isIPv6 = true }

    public var v4: UInt32 { UInt32(truncatingIfNeeded: low) }
    public var bitLength: Int { isIPv6 ? 128 : 32 }
    /// 0.0.0.0 or ::, also what a reader stores for a field its input does not carry (a BGP
    /// identifier in BGP4MP): never a real router's identifier.
    public var isZero: Bool { high == 0 && low == 0 }

    public init?(_ text: String) {
        if text.contains(":") {
            guard let words = IPAddress.parseV6(text) else { return nil }
            self.init(v6High: words.0, v6Low: words.1)
        } else {
            let parts = text.split(separator: ".", omittingEmptySubsequences: false)
            guard parts.count == 4 else { return nil }
            var value: UInt32 = 0
            for part in parts {
                guard let byte = UInt8(part) else { return nil }
                value = value << 8 | UInt32(byte)
            }
            self.init(v4: value)
        }
    }

    private static func parseV6(_ text: String) -> (UInt64, UInt64)? {
        var halves: [String] = []
        let chars = Array(text)
        var split: Int?
        for i in 0..<max(chars.count - 1, 0) where chars[i] == ":" && chars[i + 1] == ":" {
            if split != nil { return nil }
            split = i
        }
        if let split {
            halves = [String(chars[..<split]), String(chars[(split + 2)...])]
        } else {
            halves = [text]
        }
        func groups(_ part: String) -> [UInt16]? {
            if part.isEmpty { return [] }
            var out: [UInt16] = []
            for group in part.split(separator: ":", omittingEmptySubsequences: false) {
                if group.contains("."), let v4 = IPAddress(String(group)), !v4.isIPv6 {  // ::ffff:192.0.2.1
                    out.append(UInt16(v4.v4 >> 16)); out.append(UInt16(v4.v4 & 0xFFFF))
                    continue
                }
                guard group.count <= 4, let word = UInt16(group, radix: 16) else { return nil }
                out.append(word)
            }
            return out
        }
        guard let head = groups(halves[0]) else { return nil }
        var words = head
        if halves.count == 2 {
            guard let tail = groups(halves[1]), head.count + tail.count < 8 else { return nil }
            words += Array(repeating: 0, count: 8 - head.count - tail.count) + tail
        }
        guard words.count == 8 else { return nil }
        var high: UInt64 = 0, low: UInt64 = 0
        for i in 0..<4 { high = high << 16 | UInt64(words[i]) }
        for i in 4..<8 { low = low << 16 | UInt64(words[i]) }
        return (high, low)
    }

    public static func < (a: IPAddress, b: IPAddress) -> Bool {
        if a.isIPv6 != b.isIPv6 { return !a.isIPv6 }
        return (a.high, a.low) < (b.high, b.low)
    }

    public var description: String {
        if !isIPv6 {
            let v = v4
            return String(unsafeUninitializedCapacity: 15) { writeDottedQuad(v, to: $0.baseAddress!) }
        }
        var words: [UInt16] = []
        for i in 0..<4 { words.append(UInt16(truncatingIfNeeded: high >> UInt64(48 - 16 * i))) }
        for i in 0..<4 { words.append(UInt16(truncatingIfNeeded: low >> UInt64(48 - 16 * i))) }
        // RFC 5952: compress the longest run (length >= 2) of zero groups.
        var bestStart = -1, bestLength = 0, index = 0
        while index < 8 {
            if words[index] == 0 {
                var end = index
                while end < 8 && words[end] == 0 { end += 1 }
                if end - index > bestLength && end - index >= 2 { bestStart = index; bestLength = end - index }
                index = end
            } else {
                index += 1
            }
        }
        var text = ""
        var i = 0
        while i < 8 {
            if i == bestStart {
                text += "::"
                i += bestLength
                continue
            }
            if !text.isEmpty && !text.hasSuffix(":") { text += ":" }
            text += String(words[i], radix: 16)
            i += 1
        }
        return text
    }
}

/// An IP prefix (unicast or VPN NLRI, EVPN type 5).
public struct IPPrefix: Hashable, Sendable, CustomStringConvertible {
    public var address: IPAddress
    public var length: UInt8
    public init(address: IPAddress, length: UInt8) { self.address = address; self.length = length }
    /// The prefix with the address's bits past `length` cleared: they are not part of it (some
    /// writers leave them set). `length` must not exceed the address's bit length.
    public init(masking address: IPAddress, length: UInt8) {
        var masked = address
        let bits = UInt64(length)
        if address.isIPv6 {
            if bits < 64 {
                masked.high &= bits == 0 ? 0 : ~UInt64(0) << (64 - bits); masked.low = 0
            } else if bits < 128 {
                masked.low &= ~UInt64(0) << (128 - bits)
            }
        } else {
            masked.low &= bits == 0 ? 0 : UInt64(~UInt32(0) << UInt32(32 - bits))
        }
        self.init(address: masked, length: length)
    }
    public var description: String { "\(address)/\(length)" }
    public var isHostRoute: Bool { Int(length) == address.bitLength }
}

/// Route Distinguisher, RFC 4364: all three types; unknown types keep their value.
public struct RouteDistinguisher: Hashable, Sendable, CustomStringConvertible {
    public var type: UInt16
    public var value: UInt64  // the 6 bytes after the type, big-endian in the low 48 bits

    public init(type: UInt16, value: UInt64) { self.type = type; self.value = value & 0xFFFF_FFFF_FFFF }

    /// Type and value in one word (type in the top 16 bits), for compact keys and tables.
    public var word: UInt64 { UInt64(type) << 48 | value }
    public init(word: UInt64) { self.init(type: UInt16(truncatingIfNeeded: word >> 48), value: word) }

    public static func ipv4(_ address: UInt32, _ number: UInt16) -> RouteDistinguisher {
        RouteDistinguisher(type: 1, value: UInt64(address) << 16 | UInt64(number))
    }
    public static func as2(_ asn: UInt16, _ number: UInt32) -> RouteDistinguisher {
        RouteDistinguisher(type: 0, value: UInt64(asn) << 32 | UInt64(number))
    }
    public static func as4(_ asn: UInt32, _ number: UInt16) -> RouteDistinguisher {
        RouteDistinguisher(type: 2, value: UInt64(asn) << 16 | UInt64(number))
    }

    /// ID-1 rule 1: a type 1 RD names its PE's router id.
    public var routerIP: IPAddress? { type == 1 ? IPAddress(v4: UInt32(truncatingIfNeeded: value >> 16)) : nil }

    /// The assigned-number half (for `--bd-key rd-number`).
    public var assignedNumber: UInt32 {
        switch type {
        case 0: return UInt32(truncatingIfNeeded: value)
        default: return UInt32(truncatingIfNeeded: value & 0xFFFF)
        }
    }

    public var description: String {
        switch type {
        case 0: return "\(value >> 32):\(value & 0xFFFF_FFFF)"
        case 1: return "\(IPAddress(v4: UInt32(truncatingIfNeeded: value >> 16))):\(value & 0xFFFF)"
        case 2: return "\(value >> 16):\(value & 0xFFFF)"
        default: return "type\(type):\(String(value, radix: 16))"
        }
    }
}

/// Ethernet Segment Identifier (10 bytes): type byte + 9 value bytes.
public struct ESI: Hashable, Sendable, CustomStringConvertible {
    public var high: UInt16  // type byte and first value byte
    public var low: UInt64  // remaining 8 value bytes
    public init(high: UInt16, low: UInt64) { self.high = high; self.low = low }
    public static let zero = ESI(high: 0, low: 0)
    public var type: UInt8 { UInt8(truncatingIfNeeded: high >> 8) }
    public var isZero: Bool { high == 0 && low == 0 }
    public var isMax: Bool { high == 0xFFFF && low == UInt64.max }

    public init?(_ text: String) {
        let parts = text.split(separator: ":")
        guard parts.count == 10 else { return nil }
        var bytes: [UInt8] = []
        for part in parts {
            guard let byte = UInt8(part, radix: 16) else { return nil }
            bytes.append(byte)
        }
        self.init(bytes: bytes)
    }

    public init(bytes: [UInt8]) {
        precondition(bytes.count == 10)
        high = UInt16(bytes[0]) << 8 | UInt16(bytes[1])
        var low: UInt64 = 0
        for byte in bytes[2...] { low = low << 8 | UInt64(byte) }
        self.low = low
    }

    public var bytes: [UInt8] {
        var out = [UInt8(high >> 8), UInt8(high & 0xFF)]
        for shift in stride(from: 56, through: 0, by: -8) {
            out.append(UInt8(truncatingIfNeeded: low >> UInt64(shift)))
        }
        return out
    }

    public var description: String {
        var text = ""
        for (i, byte) in bytes.enumerated() {
            if i > 0 { text.append(":") }
            appendHexByte(byte, to: &text)
        }
        return text
    }
}

/// Route target extended community, kept as its 8 raw bytes (type, subtype, value) so that
/// the three forms sort and compare without allocation.
public struct RouteTarget: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var raw: UInt64
    public init(raw: UInt64) { self.raw = raw }
    public static func < (a: RouteTarget, b: RouteTarget) -> Bool { a.raw < b.raw }
    public static func as2(_ asn: UInt16, _ number: UInt32) -> RouteTarget {
        RouteTarget(raw: 0x0002 << 48 | UInt64(asn) << 32 | UInt64(number))
    }
    public var description: String {
        let type = UInt8(truncatingIfNeeded: raw >> 56) & 0x3F
        let value = raw & 0xFFFF_FFFF_FFFF
        switch type {
        case 0: return "\(value >> 32):\(value & 0xFFFF_FFFF)"
        case 1: return "\(IPAddress(v4: UInt32(truncatingIfNeeded: value >> 16))):\(value & 0xFFFF)"
        case 2: return "\(value >> 16):\(value & 0xFFFF)"
        default: return String(raw, radix: 16)
        }
    }
}
