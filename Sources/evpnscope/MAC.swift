import ArgumentParser

struct MAC: ParsableCommand {
    func run() throws { throw CLIUsageError(message: "not yet available") }
}
