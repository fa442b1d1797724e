import EVPNModel
import Foundation

/// A scenario file (datasets/scenarios/*.json): a fabric and the episodes that happen in it.
public struct Scenario: Decodable {
    public var name: String
    public var description: String?
    public var start: String
    public var duration: String
    public var seed: UInt64?
    public var fabric: Fabric
    public var output: Output?
    public var episodes: [Episode]

    public struct Fabric: Decodable {
        public var pes: Int
        public var asn: UInt32?
        public var broadcastDomains: Int
        public var macsPerBD: Int
        /// Fraction of MACs that also have a MAC+IP route (and a VPNv4 host route).
        public var ipFraction: Double?
        public var multihomed: [MultiHomed]?
        public var prefixesPerPE: Int?
    }

    public struct MultiHomed: Decodable {
        public var pes: [Int]
        public var macs: Int
    }

    public struct Output: Decodable {
        public var rotateMinutes: Int?
        public var ribSnapshot: Bool?
        public var bmp: Bool?
        /// RR2's collector session negotiates add-path (FP-3).
        public var addPath: Bool?
        /// What real routers write (FRR 8.4, GoBGP 3.10): BGP4MP with one-second timestamps, as
        /// FRR's `dump bgp updates` …
        public var oneSecondTimestamps: Bool?
        /// … the old PE's withdrawal before the new PE's advertisement (FRR: same second) …
        public var withdrawBeforeAdvertise: Bool?
        /// … a BMP exporter that sends EVPN announcements as MP_UNREACH (FRR 8.4.4) …
        public var bmpWithdrawOnly: Bool?
        /// … and GoBGP's first move of a MAC, which keeps seq 0 (no MAC Mobility increment).
        public var firstMoveKeepsSequence: Bool?
    }

    public struct Episode: Decodable {
        public var type: String
        public var at: String
        public var from: Int?
        public var to: Int?
        public var pe: Int?
        public var pes: [Int]?
        public var macs: Int?
        public var flaps: Int?
        public var interval: String?
        public var stale: Bool?
        public var rate: Double?
        public var until: String?
    }

    public static func load(_ path: String) throws -> Scenario {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        do { return try JSONDecoder().decode(Scenario.self, from: data) } catch {
            throw GeneratorError(message: "\(path): not a valid scenario: \(error)")
        }
    }
}

public struct GeneratorError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

func duration(_ text: String) throws -> TimeSpan {
    guard let value = Timestamp.parseDuration(text) else {
        throw GeneratorError(message: "'\(text)' is not a duration")
    }
    return value
}

/// What a correct analyzer reports for the scenario (truth.json).
public struct ExpectedFinding: Codable, Hashable {
    public var rule: String
    public var mac: String?
    public var ip: String?
    public var pes: [String]
    public var episode: String
}

public struct Truth: Codable {
    public var scenario: String
    public var seed: UInt64
    public var findings: [ExpectedFinding]
    /// Incident titles' leading words, one per expected incident, e.g. "Layer-2 loop".
    public var incidents: [String]
    public var announcements: Int
    public var withdrawals: Int
    /// Data-quality IDs (DQ-*) the inputs must raise, each once however many times it applies.
    public var dataQuality: [String]?
}
