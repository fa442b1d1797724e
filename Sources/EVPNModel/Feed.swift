/// Damage in one input that was skipped: where, and what was expected there.
public struct InputDamage: Sendable, CustomStringConvertible {
    public var file: String
    public var offset: Int64
    public var message: String
    /// false when decoding of this input had to stop (framing lost or stream damaged).
    public var recovered: Bool
    public init(file: String, offset: Int64, message: String, recovered: Bool) {
        self.file = file; self.offset = offset; self.message = message; self.recovered = recovered
    }
    public var description: String {
        "\(file) at byte \(offset): \(message)\(recovered ? "" : " (rest of input unreadable)")"
    }
}

/// The damage of one input: every entry up to `detailLimit`, then one summary per kind of
/// damage ("and 3,999,000 more like it, first at byte …, last at …"), so that a dump of
/// millions of broken records costs a few lines, not a row (and a stderr line) per record.
public struct DamageLog: Sendable {
    public static let detailLimit = 1000
    /// Kinds summarised separately; past them, one summary for the rest.
    static let kindLimit = 100

    private struct Overflow: Sendable {
        var example: InputDamage
        var count = 0
        var last: Int64
    }
    public private(set) var details: [InputDamage] = []
    private var overflow: [UInt64: Overflow] = [:]
    private var kindsInOrder: [UInt64] = []
    /// Every entry, kept or summarised.
    public private(set) var count = 0

    public init() {}

    public var isEmpty: Bool { count == 0 }

    public mutating func append(_ damage: InputDamage) {
        count += 1
        guard details.count >= Self.detailLimit else { details.append(damage); return }
        var kind = Self.kind(of: damage)
        if overflow[kind] == nil && overflow.count >= Self.kindLimit { kind = 0 }
        if overflow[kind] == nil {
            overflow[kind] = Overflow(example: damage, last: damage.offset); kindsInOrder.append(kind)
        }
        overflow[kind]!.count += 1
        overflow[kind]!.last = damage.offset
    }

    /// The kept entries, then a summary entry per kind of the rest, at the first one's offset.
    public var entries: [InputDamage] {
        details
            + kindsInOrder.map { kind in
                let summary = overflow[kind]!
                var entry = summary.example
                guard summary.count > 1 else { return entry }
                let like = kind == 0 ? "of other kinds" : "like it"
                entry.message +=
                    "; and \(summary.count - 1) more \(like) up to byte \(summary.last)"
                    + " (an input's first \(Self.detailLimit) are listed one by one)"
                return entry
            }
    }

    /// A hash of the message with its numbers left out: "at byte 24 … found 0" and "at byte 48 …
    /// found 0" are one kind. 0 stands for every kind past `kindLimit`.
    static func kind(of damage: InputDamage) -> UInt64 {
        var hash: UInt64 = damage.recovered ? 14_695_981_039_346_656_037 : 1_099_511_628_211
        var inNumber = false
        for byte in damage.message.utf8 {
            let digit = byte &- 48 < 10
            if !digit || !inNumber { hash = (hash ^ UInt64(digit ? 35 : byte)) &* 1_099_511_628_211 }
            inNumber = digit
        }
        return hash | 1
    }
}

/// Counters every reader keeps; they end up in the inputs table and the report.
public struct ReaderStats: Sendable {
    public var records = 0
    public var routeEvents = 0
    public var skippedRecords = 0
    public var attributeErrors = 0
    public var skippedNLRIBytes = 0
    public var firstTime: Int64?
    public var lastTime: Int64?
    /// Update and state records with one-second timestamps (BGP4MP without _ET, DQ-COARSE-TIME);
    /// a RIB snapshot's records are one state at one time and are not counted.
    public var coarseUpdates = 0
    /// Records more than a second older than the record before them (DQ-TIME-BACKWARDS).
    public var timeStepsBack = 0
    public var firstStepBackOffset: Int64?
    private var previousTime: Int64?
    public init() {}
    public mutating func saw(time: Int64, offset: Int64) {
        if firstTime == nil || time < firstTime! { firstTime = time }
        if lastTime == nil || time > lastTime! { lastTime = time }
        if let previousTime, previousTime - time > 1_000_000 {
            timeStepsBack += 1
            if firstStepBackOffset == nil { firstStepBackOffset = offset }
        }
        previousTime = time
    }
}

/// A source of time-stamped feed items from one input (MRT or BMP).
public protocol FeedReader: AnyObject {
    var name: String { get }
    var stats: ReaderStats { get }
    var damage: [InputDamage] { get }
    /// Attribute-level problems (RFC 7606) worth listing; capped per input.
    var attributeProblems: [InputDamage] { get }
    var bytesRead: Int64 { get }
    var compressedBytesRead: Int64 { get }
    /// SHA-256 of the raw input file, once read to its end.
    var sha256: String? { get }
    func next() -> FeedItem?
}
