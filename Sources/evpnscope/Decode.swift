import ArgumentParser
import EVPNModel
import Foundation
import Ingest

struct Decode: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print every decoded route and session event, one per line.",
        discussion: """
            Keys are the database's column names (docs/schema.md): byte_offset, seq, sticky, table_name, …; a BMP \
            router is \
            named by its sysName (router_name) from the Initiation message; \
            entries of a RIB snapshot carry "rib_entry": true (bgpdump's B lines), updates do not. Filters combine: \
            --mac, --rd and --route-type keep EVPN routes only; --peer and the time window also keep session events.

            Example: evpnscope decode updates.20261124.0200.gz --mac 02:00:00:00:00:01 --since 2026-11-24T02:10Z
            """)

    @Argument(help: "MRT or BMP files (plain, gzip, bzip2), directories, or - for stdin.")
    var inputs: [String]

    /// What `decode` prints.
    enum OutputFormat: String, ExpressibleByArgument, CaseIterable { case jsonl, text, bgpdump }
    enum Families: String, ExpressibleByArgument, CaseIterable { case evpn, all }

    @Option(help: "Output format: jsonl, text, or bgpdump (the lines of `bgpdump -m`, EVPN routes included).")
    var format: OutputFormat = .jsonl

    @Option(help: "Families to print: evpn or all.")
    var family: Families = .all

    @Option(help: "Only EVPN routes of this MAC.")
    var mac: String?

    @Option(help: "Only routes and session events of this BGP peer (its address).")
    var peer: String?

    @Option(help: "Only routes with this route distinguisher (e.g. 10.255.255.1:41000).")
    var rd: String?

    @Option(help: "Only EVPN routes of this type (1-5; 2 is MAC/IP).")
    var routeType: UInt8?

    @OptionGroup(title: "Time window") var timeWindow: TimeWindowOptions

    func run() throws {
        let bgpdump = format == .bgpdump
        let outputFormat: EventFormatter.Format = format == .jsonl ? .jsonl : .text
        let filter = try DecodeFilter(
            mac: mac, peer: peer, rd: rd, routeType: routeType, window: try timeWindow.times())
        let inputSet: InputSet
        do {
            inputSet = try InputSet(paths: inputs, evpnOnly: family == .evpn || filter.evpnOnly, fingerprints: false)
            noticeSkipped(inputSet)
        } catch let error as UsageError {
            throw CLIUsageError(message: error.description)
        }
        var formatter = EventFormatter(format: outputFormat, files: inputSet.files)
        var bgpdumpFormatter = BgpdumpFormatter()
        let buffer = OutputBuffer()
        let feed = PrefetchedFeed(inputSet)
        while let item = feed.next() {
            if !bgpdump { formatter.note(item) }
            guard filter.keeps(item),
                bgpdump ? bgpdumpFormatter.write(item, into: buffer) : formatter.write(item, into: buffer)
            else { continue }
            buffer.append(10)
            if buffer.count > 1 << 16 {
                fwrite(buffer.base, 1, buffer.count, stdout)
                buffer.removeAll()
            }
        }
        fwrite(buffer.base, 1, buffer.count, stdout)
        fflush(stdout)
        let finished = feed.finish()
        // An attribute RFC 7606 lets the rest of the UPDATE survive still cost routes or attributes
        // that the lines above lack: say so, or a file whose NLRI cannot be read decodes silently
        // to fewer lines (BIRD's add-path NLRI in records that declare none).
        let problems = finished.attributeProblems
        for problem in problems.prefix(Self.attributeProblemLines) {
            printError("evpnscope: attribute problem: \(problem)")
        }
        if problems.count > Self.attributeProblemLines {
            printError(
                "evpnscope: … and \(problems.count - Self.attributeProblemLines) more attribute problems "
                    + "(analyze stores each in decode_errors)")
        }
        let damage = finished.damage
        for problem in damage { printError("evpnscope: damaged input: \(problem)") }
        if !damage.isEmpty { throw ExitStatusError(code: ExitStatus.damaged) }
    }

    /// Attribute problems printed before the rest is summarised in one line.
    static let attributeProblemLines = 20
}

/// What `decode`'s filters keep. Route filters (MAC, RD, route type) drop session events;
/// the peer and the time window apply to both.
struct DecodeFilter {
    var mac: MACAddress?
    var peer: IPAddress?
    var rd: String?
    var routeType: UInt8?
    var since: Int64?
    var until: Int64?

    init(mac: String?, peer: String?, rd: String?, routeType: UInt8?, window: (since: Int64?, until: Int64?)) throws {
        self.mac = try mac.map { try parseMAC($0, option: "--mac") }
        self.peer = try peer.map { try parseIP($0, option: "--peer") }
        // Compared as printed: types 0 and 2 print alike ("65000:100"), and either may be meant.
        self.rd = try rd.map { text in
            let parts = text.split(separator: ":")
            guard parts.count == 2, UInt64(parts[1]) != nil,
                UInt32(parts[0]) != nil || IPAddress(String(parts[0]))?.isIPv6 == false
            else {
                throw CLIUsageError(message: "--rd: '\(text)' is not a route distinguisher (ASN:n or IPv4:n)")
            }
            return text
        }
        if let routeType, !(1...5).contains(routeType) { throw CLIUsageError(message: "--route-type must be 1 to 5") }
        self.routeType = routeType
        (since, until) = window
    }

    /// Only EVPN routes can match: the readers may skip every other family.
    var evpnOnly: Bool { mac != nil || routeType != nil }

    func keeps(_ item: FeedItem) -> Bool {
        if let since, item.time < since { return false }
        if let until, item.time > until { return false }
        switch item.payload {
        case .heartbeat: return false
        case .session(let event):
            if event.kind.isRIBSnapshotBoundary { return false }
            return mac == nil && rd == nil && routeType == nil && (peer == nil || event.observation.peerIP == peer)
        case .route(let event):
            if let peer, event.observation.peerIP != peer { return false }
            if mac == nil && rd == nil && routeType == nil { return true }
            let evpn: EVPNRoute?
            var routeRD: RouteDistinguisher?
            switch event.entry.nlri {
            case .evpn(let route): evpn = route; routeRD = route.rd
            case .vpn(let distinguisher, _, _): evpn = nil; routeRD = distinguisher
            case .prefix: evpn = nil
            }
            if let rd, routeRD?.description != rd { return false }
            if let routeType, evpn?.routeType != routeType { return false }
            if let mac {
                guard case .macIP(let route)? = evpn, route.mac == mac else { return false }
            }
            return true
        }
    }
}
