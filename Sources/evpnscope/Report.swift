import ArgumentParser

struct Report: ParsableCommand {
    func run() throws { throw CLIUsageError(message: "not yet available") }
}
