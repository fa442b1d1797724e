import EVPNModel

/// One stored route event: what the route_events table's columns say, typed.
public struct StoredRouteEvent: Equatable, Sendable {
    public var time: Int64
    public var source: SourceRef
    /// Every observation point that carried the advertisement, the first one first (ID-3).
    public var seenAt: [UInt32]
    public var isWithdraw: Bool
    public var family: AddressFamily
    public var routeType: UInt8?
    public var rd: RouteDistinguisher?
    public var esi: ESI?
    public var ethernetTag: UInt32?
    public var mac: MACAddress?
    /// The MAC's IP (type 2), or the originating router's (types 3 and 4).
    public var ip: IPAddress?
    public var prefix: IPPrefix?
    public var nextHop: IPAddress?
    public var mobility: ExtendedCommunity.MACMobility?
    public var routeTargets: [RouteTarget]
    public var originator: IPAddress?
    public var pathID: UInt32?

    public var observation: UInt32? { seenAt.first }

    /// The route_events table's columns, in its order: `events --format csv` and JSON use the
    /// same names.
    public static let columnNames = [
        "time_us", "input_id", "byte_offset", "observation_id", "event", "family", "route_type", "rd", "esi", "eth_tag",
        "mac", "ip", "prefix", "next_hop", "seq", "sticky", "route_targets", "originator_id", "path_id", "seen_at",
    ]

    /// The columns' values as the table holds them (nil for NULL).
    public var columnTexts: [String?] {
        [
            String(time), String(source.input), String(source.offset), observation.map { String($0) },
            isWithdraw ? "withdraw" : "announce",
            family.description, routeType.map { String($0) }, rd?.description, esi?.description,
            ethernetTag.map { String($0) },
            mac?.description, ip?.description, prefix?.description, nextHop?.description,
            mobility.map { String($0.sequence) },
            mobility.map { $0.sticky ? "1" : "0" },
            isWithdraw ? nil : routeTargets.map(\.description).joined(separator: " "),
            originator?.description, pathID.map { String($0) },
            seenAt.isEmpty ? nil : seenAt.map { String($0) }.joined(separator: " "),
        ]
    }
}

/// The stored route events of a database, block by block.
public struct StoredEvents {
    private let db: Database

    public init(db: Database) throws {
        guard try db.tableExists("route_event_blocks") else {
            throw EventBlockError(
                description:
                    "\(db.path) was written by an earlier evpnscope without route event blocks: run analyze again")
        }
        self.db = db
    }

    /// Events in storage (time) order; only blocks whose times overlap `since...until` and whose
    /// filter may hold `mac` are decompressed.
    public func forEach(
        mac: MACAddress? = nil, since: Int64? = nil, until: Int64? = nil,
        _ body: (StoredRouteEvent) throws -> Void
    ) throws {
        let statement = try db.prepare(
            """
            SELECT id, mac_filter FROM route_event_blocks WHERE last_time_us >= ? AND first_time_us <= ? ORDER BY id
            """)
        try statement.bind([.int(since ?? .min), .int(until ?? .max)])
        var wanted: [Int64] = []
        while try statement.step() {
            if let mac, !EventBlockDecoder.mayContain(mac, filter: statement.blob(1)) { continue }
            wanted.append(statement.int(0))
        }
        let read = try db.prepare("SELECT data FROM route_event_blocks WHERE id = ?")
        for id in wanted {
            try read.bind([.int(id)])
            guard try read.step() else { continue }
            let events: [StoredRouteEvent]
            do { events = try EventBlockDecoder.decode(read.blob(0)) } catch let error as EventBlockError {
                throw EventBlockError(description: "\(db.path): block \(id): \(error.description)")
            }
            for event in events {
                if let mac, event.mac != mac { continue }
                if let since, event.time < since { continue }
                if let until, event.time > until { continue }
                try body(event)
            }
        }
    }
}
