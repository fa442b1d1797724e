import ArgumentParser
import Foundation
import Reports
import Store

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Re-render the Markdown report from an analysis database.",
        discussion: """
            Example: evpnscope report --db reports/demo/analysis.sqlite --out - | less
            """)

    @Option(help: "Analysis database written by `analyze`.")
    var db: String

    @Option(help: "Where to write the report (default: report.md beside the database; - for stdout).")
    var out: String?

    func run() throws {
        guard FileManager.default.fileExists(atPath: db) else {
            throw CLIUsageError(message: "\(db): no such database")
        }
        let database = try Database(path: db, readOnly: true)
        let markdown = try MarkdownReport(database: database).render()
        let target = out ?? ((db as NSString).deletingLastPathComponent as NSString).appendingPathComponent("report.md")
        if target == "-" {
            print(markdown, terminator: "")
        } else {
            try writeAtomically(markdown, to: target); print(target)
        }
    }
}
