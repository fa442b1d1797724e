import ArgumentParser
import Foundation

/// Exit statuses are part of the interface (README, `analyze --help`).
enum ExitStatus {
    static let findings: Int32 = 1
    static let usage: Int32 = 2
    static let damaged: Int32 = 3
    /// No input can support an analysis: no EVPN route, or only withdraw-only observation points.
    static let blind: Int32 = 4
    /// The run failed (an output could not be written, a full disk, any other error): nothing
    /// replaced, earlier results untouched. Never 1, which means findings.
    static let failed: Int32 = 5
    // Interrupted: 128 + the signal (130 SIGINT, 143 SIGTERM), see `Interrupts`.
}

struct Evpnscope: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evpnscope",
        abstract:
            "Find EVPN MAC mobility problems (duplicate MACs, loops, stale routes, sequence anomalies) in MRT and "
            + "BMP dumps.",
        discussion: """
            Start with: evpnscope analyze DUMPS... (a report and a database per run). Every finding ID is explained in \
            docs/rules.md, every database table in docs/schema.md, the code's layout in docs/architecture.md.
            """,
        version: toolVersion,
        subcommands: [
            Analyze.self, Decode.self, Replay.self, Report.self, MAC.self, Events.self, Generate.self, Collect.self,
        ]
    )
}

@main
enum Entry {
    static func main() {
        setvbuf(stdout, nil, _IOFBF, 1 << 16)
        do {
            var command = try Evpnscope.parseAsRoot()
            try command.run()
        } catch let status as ExitStatusError {
            fflush(stdout)
            exit(status.code)
        } catch let usage as ValidationError {
            FileHandle.standardError.write(Data("evpnscope: \(usage.message)\n".utf8))
            exit(ExitStatus.usage)
        } catch let error as CLIUsageError {
            FileHandle.standardError.write(Data("evpnscope: \(error.message)\n".utf8))
            exit(ExitStatus.usage)
        } catch let error as OutputError {
            FileHandle.standardError.write(Data("evpnscope: \(error); earlier results there untouched\n".utf8))
            exit(ExitStatus.failed)
        } catch {
            let code = Evpnscope.exitCode(for: error)
            let message = Evpnscope.fullMessage(for: error)
            if code == .success {
                print(message)
                exit(0)
            }
            FileHandle.standardError.write(Data("\(message)\n".utf8))
            exit(code == .validationFailure ? ExitStatus.usage : ExitStatus.failed)
        }
        fflush(stdout)
    }
}

struct ExitStatusError: Error { var code: Int32 }
struct CLIUsageError: Error { var message: String }

func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}
