import ArgumentParser
import Foundation
import Generator

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Write realistic MRT and BMP dumps for a scenario, with truth.json (what a correct analysis reports).",
        discussion: """
            Scenarios are JSON files; a name (demo, layer2-loop, real-routers-frr, …) stands for \
            datasets/scenarios/NAME.json, looked up from the current directory and from the tool's own \
            repository.

            Example: evpnscope generate layer2-loop --out /tmp/loop && evpnscope analyze /tmp/loop/dumps
            """)

    @Argument(help: "Scenario name (demo, layer2-loop, …) or file (datasets/scenarios/*.json).")
    var scenario: String

    @Option(help: "Output directory: dumps/ (mrt/, bmp/) and truth.json are written there.")
    var out: String

    @Option(help: "Random seed (default: the scenario's).")
    var seed: UInt64?

    @Option(help: "Multiply the number of MACs per broadcast domain.")
    var scale: Int = 1

    @Option(help: "mixed (updates .gz, RIB .bz2, BMP .gz), gz, bz2 or plain.")
    var compression: CompressionPlan = .mixed

    func run() throws {
        guard scale >= 1 else { throw CLIUsageError(message: "--scale must be at least 1") }
        let loaded: Scenario
        do { loaded = try Scenario.load(try Self.scenarioPath(scenario)) } catch let error as CLIUsageError {
            throw error
        } catch {
            throw CLIUsageError(message: "\(scenario): \(error)")
        }
        let started = Date()
        let result: ScenarioGenerator.Result
        do {
            result = try ScenarioGenerator(
                scenario: loaded, outDirectory: out, seed: seed, scale: scale, compression: compression
            ).run()
        } catch let error as GeneratorError {
            throw CLIUsageError(message: error.message)
        }
        print(
            "generated \(loaded.name) (seed \(result.truth.seed)) in "
                + "\(String(format: "%.1f", Date().timeIntervalSince(started))) s: "
                + "\(result.truth.announcements) announcements, \(result.truth.withdrawals) withdrawals, "
                + "\(result.bytes) bytes"
        )
        for file in result.files { print("  \(file)") }
        print(
            "  \(out)/truth.json: \(result.truth.findings.count) expected findings, \(result.truth.incidents.count) "
                + "expected incidents"
        )
    }

    /// Folders that may hold the named scenarios: the current directory's, then the repository's
    /// the binary was built in (…/.build/release/evpnscope).
    static var scenarioFolders: [String] {
        var folders = [FileManager.default.currentDirectoryPath + "/datasets/scenarios"]
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
            .deletingLastPathComponent()
        for _ in 0..<4 {
            folders.append(directory.appendingPathComponent("datasets/scenarios").path)
            directory = directory.deletingLastPathComponent()
        }
        return folders
    }

    /// The file a scenario argument names: a path as given, or NAME for NAME.json in a scenario folder.
    static func scenarioPath(_ argument: String) throws -> String {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: argument, isDirectory: &isDirectory) && !isDirectory.boolValue {
            return argument
        }
        let folders = scenarioFolders
        for folder in folders where FileManager.default.fileExists(atPath: folder + "/" + argument + ".json") {
            return folder + "/" + argument + ".json"
        }
        let known =
            folders.lazy.compactMap { try? FileManager.default.contentsOfDirectory(atPath: $0) }.first { !$0.isEmpty }
            ?? []
        let names = known.filter { $0.hasSuffix(".json") }.map { String($0.dropLast(5)) }.sorted()
        throw CLIUsageError(
            message: "no scenario '\(argument)': give a scenario file"
                + (names.isEmpty ? "" : " or one of: " + names.joined(separator: ", ")))
    }
}

extension CompressionPlan: ExpressibleByArgument {}
