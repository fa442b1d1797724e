import ArgumentParser

struct Replay: ParsableCommand {
    func run() throws { throw CLIUsageError(message: "not yet available") }
}
