import ArgumentParser
import EVPNModel
import Foundation
import Ingest

struct Decode: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print every decoded route and session event, one per line.")

    @Argument(help: "MRT or BMP files (plain, gzip, bzip2), directories, or - for stdin.")
    var inputs: [String]

    @Option(help: "Output format: jsonl or text.")
    var format: String = "jsonl"

    @Option(help: "Families to print: evpn or all.")
    var family: String = "all"

    func run() throws {
        guard let outputFormat = EventFormatter.Format(rawValue: format) else { throw CLIUsageError(message: "--format must be jsonl or text") }
        guard family == "evpn" || family == "all" else { throw CLIUsageError(message: "--family must be evpn or all") }
        let inputSet: InputSet
        do { inputSet = try InputSet(paths: inputs, evpnOnly: family == "evpn") } catch let error as UsageError {
            throw CLIUsageError(message: error.description)
        }
        let formatter = EventFormatter(format: outputFormat, files: inputSet.files)
        var buffer = ""
        buffer.reserveCapacity(1 << 16)
        while let item = inputSet.next() {
            guard let line = formatter.line(item) else { continue }
            buffer += line
            buffer += "\n"
            if buffer.utf8.count > 1 << 16 { fputs(buffer, stdout); buffer.removeAll(keepingCapacity: true) }
        }
        fputs(buffer, stdout)
        fflush(stdout)
        let damage = inputSet.damage
        for problem in damage { printError("evpnscope: damaged input: \(problem)") }
        if !damage.isEmpty { throw ExitStatusError(code: ExitStatus.damaged) }
    }
}
