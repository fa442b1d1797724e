/// An index into one of the engine's tables, typed by the table, so that a PE's index cannot be
/// passed where a MAC's is expected. Stored as an Int32 as the tables store them (millions of
/// rows); `none` (-1) where a transition has no such party.
@frozen
public struct TableID<Table>: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var raw: Int32

    @inlinable public init(_ raw: Int32) { self.raw = raw }
    @inlinable public init(index: Int) { raw = Int32(truncatingIfNeeded: index) }

    @inlinable public static var none: TableID { TableID(-1) }
    @inlinable public var exists: Bool { raw >= 0 }
    /// The row in the table (`exists` first).
    @inlinable public var index: Int { Int(raw) }

    @inlinable public static func < (a: TableID, b: TableID) -> Bool { a.raw < b.raw }
    public var description: String { "\(raw)" }
}

public enum PETable {}
public enum MACTable {}
public enum ObservationTable {}
/// A row of `ReplayEngine.pes`.
public typealias PEID = TableID<PETable>
/// A row of `ReplayEngine.macs` (one MAC in one broadcast domain).
public typealias MACID = TableID<MACTable>
/// A row of `ReplayEngine.observations`.
public typealias ObservationID = TableID<ObservationTable>
