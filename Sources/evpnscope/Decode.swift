import ArgumentParser
import EVPNModel
import Foundation
import Ingest

struct Decode: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print every decoded route and session event, one per line.",
        discussion: """
            Keys are the database's column names (docs/schema.md): byte_offset, seq, sticky, table_name, …

            Example: evpnscope decode updates.20261124.0200.gz --family evpn | jq 'select(.mac == "02:00:00:00:00:01")'
            """)

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
        do {
            inputSet = try InputSet(paths: inputs, evpnOnly: family == "evpn", fingerprints: false)
            noticeSkipped(inputSet)
        } catch let error as UsageError {
            throw CLIUsageError(message: error.description)
        }
        var formatter = EventFormatter(format: outputFormat, files: inputSet.files)
        let buffer = OutputBuffer()
        let feed = PrefetchedFeed(inputSet)
        while let item = feed.next() {
            guard formatter.write(item, into: buffer) else { continue }
            buffer.append(10)
            if buffer.count > 1 << 16 {
                fwrite(buffer.base, 1, buffer.count, stdout)
                buffer.removeAll()
            }
        }
        fwrite(buffer.base, 1, buffer.count, stdout)
        fflush(stdout)
        let damage = feed.finish().damage
        for problem in damage { printError("evpnscope: damaged input: \(problem)") }
        if !damage.isEmpty { throw ExitStatusError(code: ExitStatus.damaged) }
    }
}
