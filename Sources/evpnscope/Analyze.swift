import ArgumentParser

struct Analyze: ParsableCommand {
    func run() throws { throw CLIUsageError(message: "not yet available") }
}
