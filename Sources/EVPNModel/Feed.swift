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
    public var description: String { "\(file) at byte \(offset): \(message)\(recovered ? "" : " (rest of input unreadable)")" }
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

