import ArgumentParser

struct Generate: ParsableCommand {
    func run() throws { throw CLIUsageError(message: "not yet available") }
}
