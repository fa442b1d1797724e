import EVPNModel

/// Which families carry an RFC 7911 path identifier before each NLRI on this session.
public struct AddPathFamilies: Hashable, Sendable {
    private var keys: [UInt32] = []
    public init() {}
    public init(_ families: [AddressFamily]) { for family in families { insert(family) } }
    public static let all = AddPathFamilies(allFamilies: true)
    private var everything = false
    private init(allFamilies: Bool) { everything = allFamilies }
    public mutating func insert(_ family: AddressFamily) {
        let key = UInt32(family.afi) << 8 | UInt32(family.safi)
        if !keys.contains(key) { keys.append(key) }
    }
    @inline(__always)
    public func contains(_ family: AddressFamily) -> Bool {
        everything || keys.contains(UInt32(family.afi) << 8 | UInt32(family.safi))
    }
    public var isEmpty: Bool { !everything && keys.isEmpty }
}

public struct DecodeOptions: Sendable {
    /// AS numbers in AS_PATH/AGGREGATOR are 4 bytes (AS4 MRT subtypes, BMP without the A flag).
    public var fourByteAS: Bool
    public var addPath: AddPathFamilies
    /// TABLE_DUMP_V2 RIB entry: MP_REACH_NLRI may be the abbreviated `nh_len next_hop` form.
    public var ribEntry: Bool
    /// Decode NLRI of every family, or EVPN only (other families are counted and skipped).
    public var evpnOnly: Bool
    public init(
        fourByteAS: Bool = true, addPath: AddPathFamilies = AddPathFamilies(), ribEntry: Bool = false,
        evpnOnly: Bool = false
    ) {
        self.fourByteAS = fourByteAS; self.addPath = addPath; self.ribEntry = ribEntry; self.evpnOnly = evpnOnly
    }
}

/// RFC 7606 outcomes, ordered so that `max()` picks the one that applies to the UPDATE.
public enum AttributeErrorAction: Int, Comparable, Sendable {
    case none = 0, attributeDiscard, nlriDiscard, treatAsWithdraw, familyUnparseable
    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
    public var name: String {
        switch self {
        case .none: return "none"
        case .attributeDiscard: return "attribute-discard"
        case .nlriDiscard: return "nlri-discard"
        case .treatAsWithdraw: return "treat-as-withdraw"
        case .familyUnparseable: return "mp-nlri-unparseable"
        }
    }
}

public struct AttributeError: Error, Hashable, Sendable, CustomStringConvertible {
    public var attributeType: UInt8
    public var action: AttributeErrorAction
    public var error: DecodeError
    public init(attributeType: UInt8, action: AttributeErrorAction, error: DecodeError) {
        self.attributeType = attributeType; self.action = action; self.error = error
    }
    public var description: String { "attribute \(attributeType) (\(action.name)): \(error)" }
}

extension DecodeError: Hashable {
    public func hash(into hasher: inout Hasher) { hasher.combine(offset); hasher.combine(context) }
}

public struct MPReach: Hashable, Sendable {
    public var family: AddressFamily
    public var nextHop: IPAddress?
    public var linkLocalNextHop: IPAddress?
    public var nlri: [NLRIEntry]
    public init(family: AddressFamily, nextHop: IPAddress?, linkLocalNextHop: IPAddress? = nil, nlri: [NLRIEntry]) {
        self.family = family; self.nextHop = nextHop; self.linkLocalNextHop = linkLocalNextHop; self.nlri = nlri
    }
}

public struct MPUnreach: Hashable, Sendable {
    public var family: AddressFamily
    public var nlri: [NLRIEntry]
    public init(family: AddressFamily, nlri: [NLRIEntry]) { self.family = family; self.nlri = nlri }
}

public struct UpdateMessage: Hashable, Sendable {
    public var withdrawn: [NLRIEntry] = []  // IPv4 unicast withdrawn-routes field
    public var attributes = PathAttributes()
    public var announced: [NLRIEntry] = []  // IPv4 unicast NLRI field
    public var reach: MPReach?
    public var unreach: MPUnreach?
    public var errors: [AttributeError] = []
    /// NLRI of families that were skipped (not decoded); counted, never allocated.
    public var skippedNLRIBytes = 0
    /// The NLRI lists' storage kept from the UPDATE before (see `reset`).
    var recycled = RecycledNLRI()
    public init() {}

    /// Empties the message for the next UPDATE: a reader decodes millions into one message.
    /// Fresh messages cost each UPDATE new NLRI arrays and a release call for every list
    /// field, most of them empty; here the NLRI storage is kept and empty lists are left alone.
    public mutating func reset() {
        // The lists are moved out in place (a copy would leave two owners, and emptying one of
        // them would not keep the storage).
        if case .some = reach {
            swap(&recycled.reach, &reach!.nlri)
            recycled.reach.removeAll(keepingCapacity: true)
            reach = nil
        }
        if case .some = unreach {
            swap(&recycled.unreach, &unreach!.nlri)
            recycled.unreach.removeAll(keepingCapacity: true)
            unreach = nil
        }
        if !withdrawn.isEmpty { withdrawn.removeAll(keepingCapacity: true) }
        if !announced.isEmpty { announced.removeAll(keepingCapacity: true) }
        if !errors.isEmpty { errors.removeAll(keepingCapacity: true) }
        skippedNLRIBytes = 0
        attributes.reset()
    }

    public var action: AttributeErrorAction { errors.lazy.map(\.action).max() ?? .none }

    /// Withdraws routes and announces none.
    public var withdrawsOnly: Bool {
        announced.isEmpty && (reach?.nlri.isEmpty ?? true) && !(withdrawn.isEmpty && (unreach?.nlri.isEmpty ?? true))
    }

    /// RFC 4724 End-of-RIB: an empty UPDATE (IPv4) or one with only an empty MP_UNREACH.
    public var endOfRIB: AddressFamily? {
        // Matched, not compared with `== nil`: that picks Equatable's `==` and copies the whole
        // MP_REACH, arrays and all, for every UPDATE.
        if case .some = reach { return nil }
        guard withdrawn.isEmpty, announced.isEmpty, skippedNLRIBytes == 0 else { return nil }
        switch unreach {
        case .some(let unreach): return unreach.nlri.isEmpty && attributes == PathAttributes() ? unreach.family : nil
        case .none: return attributes == PathAttributes() ? .ipv4Unicast : nil
        }
    }
}

/// Empty NLRI arrays from an UPDATE already handled, for the next one to decode into.
/// Storage, not part of a message's value.
struct RecycledNLRI: Hashable, Sendable {
    var reach: [NLRIEntry] = []
    var unreach: [NLRIEntry] = []
    static func == (lhs: RecycledNLRI, rhs: RecycledNLRI) -> Bool { true }
    func hash(into hasher: inout Hasher) {}
}
