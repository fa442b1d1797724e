import ArgumentParser
import Foundation
import Generator

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write realistic MRT and BMP dumps for a scenario, with truth.json (what a correct analysis reports).")

    @Argument(help: "Scenario file (datasets/scenarios/*.json).")
    var scenario: String

    @Option(help: "Output directory: dumps/ (mrt/, bmp/) and truth.json are written there.")
    var out: String

    @Option(help: "Random seed (default: the scenario's).")
    var seed: UInt64?

    @Option(help: "Multiply the number of MACs per broadcast domain.")
    var scale: Int = 1

    @Option(help: "mixed (updates .gz, RIB .bz2, BMP .gz), gz, bz2 or plain.")
    var compression: String = "mixed"

    func run() throws {
        guard let plan = CompressionPlan(rawValue: compression) else { throw CLIUsageError(message: "--compression must be mixed, gz, bz2 or plain") }
        guard scale >= 1 else { throw CLIUsageError(message: "--scale must be at least 1") }
        let loaded: Scenario
        do { loaded = try Scenario.load(scenario) } catch { throw CLIUsageError(message: "\(error)") }
        let started = Date()
        let result: ScenarioGenerator.Result
        do {
            result = try ScenarioGenerator(scenario: loaded, outDirectory: out, seed: seed, scale: scale, compression: plan).run()
        } catch let error as GeneratorError {
            throw CLIUsageError(message: error.message)
        }
        print("generated \(loaded.name) (seed \(result.truth.seed)) in \(String(format: "%.1f", Date().timeIntervalSince(started))) s: "
              + "\(result.truth.announcements) announcements, \(result.truth.withdrawals) withdrawals, \(result.bytes) bytes")
        for file in result.files { print("  \(file)") }
        print("  \(out)/truth.json: \(result.truth.findings.count) expected findings, \(result.truth.incidents.count) expected incidents")
    }
}
