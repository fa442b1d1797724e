import ArgumentParser
import ByteStreams
import Collect
import EVPNModel
import Foundation

/// `evpnscope collect`: a BMP station whose archive `analyze` reads (docs/collect.md).
struct Collect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Record BMP from routers (a BMP station, RFC 7854) into rotated, compressed files for analyze.",
        discussion: """
            Routers connect to --listen. Each router's messages, exactly as received, go to \
            DIR/bmp/ROUTER/ROUTER_TIME.bmp.gz, rotated at multiples of --rotate (UTC); a file being written is \
            hidden (.NAME.partial) until closed, so `evpnscope analyze DIR/bmp` reads closed files only. SIGTERM or \
            SIGINT closes every file and exits 0; SIGUSR1 prints the messages per router. Exit 5: the archive could \
            not be written (a full disk); every file is closed, what was written is kept.
            """)

    enum Packing: String, ExpressibleByArgument, CaseIterable {
        case gz, bz2, none
        var compression: Compression { self == .gz ? .gzip : self == .bz2 ? .bzip2 : .plain }
    }

    @Option(help: "Address and port to listen on: 0.0.0.0:11019, [::]:11019, 127.0.0.1:0 (any free port).")
    var listen: String

    @Option(help: "Archive directory (files in DIR/bmp/ROUTER/, analyses in DIR/analysis/).")
    var out: String

    @Option(help: "Rotation interval: files are closed at its multiples (UTC).")
    var rotate = "15m"

    @Option(help: "Compression of the files: gz, bz2 or none.")
    var compress: Packing = .gz

    @Option(help: "Analyse the closed files this often, refreshing DIR/analysis/report.md and analysis.sqlite.")
    var analyzeEvery: String?

    @Option(help: "Send TCP keepalive probes after a session has been silent this long (a router gone for good).")
    var keepalive = "60s"

    @Option(help: "Close a session that stops in the middle of a message for this long.")
    var stallTimeout = "120s"

    @Option(help: "Make received messages readable on disk this often (gzip sync flush, end of a bzip2 block).")
    var flushEvery = "5s"

    func run() throws {
        guard let colon = listen.lastIndex(of: ":"), let port = UInt16(listen[listen.index(after: colon)...]) else {
            throw CLIUsageError(message: "--listen \(listen): expected ADDRESS:PORT, e.g. 0.0.0.0:11019")
        }
        var host = String(listen[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        var options = Station.Options(host: host, port: port, directory: out + "/bmp")
        options.compression = compress.compression
        options.rotation = try parseDuration(rotate, option: "--rotate")
        guard options.rotation.microseconds >= 1_000_000 else {
            throw CLIUsageError(message: "--rotate must be at least 1 s")
        }
        options.keepalive = try parseDuration(keepalive, option: "--keepalive")
        options.stallTimeout = try parseDuration(stallTimeout, option: "--stall-timeout")
        options.flushInterval = try parseDuration(flushEvery, option: "--flush-every")
        let analysisInterval = try analyzeEvery.map { try parseDuration($0, option: "--analyze-every") }
        let station: Station
        do { station = try Station(options: options) } catch { throw CLIUsageError(message: "\(error)") }
        station.log("listening on \(host) port \(station.port); archive \(options.directory)")
        fflush(stdout)

        // A parent may hand its blocked signals down (a test runner, a shell script's job): a station
        // that cannot be stopped or asked for its counts is no station.
        var handled = sigset_t()
        sigemptyset(&handled)
        for number in [SIGTERM, SIGINT, SIGUSR1] { sigaddset(&handled, number) }
        pthread_sigmask(SIG_UNBLOCK, &handled, nil)
        var signalSources: [DispatchSourceSignal] = []
        for (number, action) in [
            (SIGTERM, station.requestStop), (SIGINT, station.requestStop), (SIGUSR1, station.requestCounts),
        ] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler(handler: action)
            source.resume()
            signalSources.append(source)
        }
        signal(SIGPIPE, SIG_IGN)
        signal(SIGXFSZ, SIG_IGN)  // a file size limit is a write error like a full disk, not a kill
        let analyses = analysisInterval.map { PeriodicAnalysis(archive: out, interval: $0, log: station.log) }
        station.onFilesClosed = { analyses?.filesClosed($0.count) }
        analyses?.start()

        var failure: Error?
        do { try station.run() } catch { failure = error }
        analyses?.stop()
        station.log(station.countsText())
        if let failure {
            printError("evpnscope collect: \(failure); every file closed, what was written is kept")
            throw ExitStatusError(code: ExitStatus.failed)
        }
    }
}

/// `--analyze-every`: `evpnscope analyze DIR/bmp` in a child process, one at a time, when files
/// were closed since the last one; the station keeps receiving meanwhile.
final class PeriodicAnalysis: @unchecked Sendable {
    private let archive: String
    private let interval: TimeSpan
    private let log: (String) -> Void
    private let lock = NSLock()
    private var closedFiles = 0
    private var analysedFiles = 0
    private var running: Process?
    private var timer: DispatchSourceTimer?

    init(archive: String, interval: TimeSpan, log: @escaping (String) -> Void) {
        self.archive = archive; self.interval = interval; self.log = log
    }

    func filesClosed(_ count: Int) { lock.withLock { closedFiles = count } }

    func start() {
        let timer = DispatchSource.makeTimerSource(queue: .global())
        let seconds = Double(interval.microseconds) / 1e6
        timer.schedule(deadline: .now() + seconds, repeating: seconds)
        timer.setEventHandler { [weak self] in self?.runIfDue() }
        timer.resume()
        self.timer = timer
    }

    /// Stops the timer and waits for an analysis under way, so that its report is complete.
    func stop() {
        timer?.cancel()
        if let process = lock.withLock({ running }), process.isRunning {
            log("waiting for the analysis under way")
            process.waitUntilExit()
        }
    }

    private func runIfDue() {
        let files: Int? = lock.withLock {
            guard running == nil, closedFiles > analysedFiles else { return nil }
            return closedFiles
        }
        guard let files else { return }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: PeriodicAnalysis.executable)
        let output = archive + "/analysis"
        process.arguments = [
            "analyze", archive + "/bmp", "--db", output + "/analysis.sqlite", "--report", output + "/report.md",
        ]
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        process.terminationHandler = { [weak self] finished in
            guard let self else { return }
            let status = finished.terminationStatus
            let meaning =
                status == 0 ? "no finding" : status == ExitStatus.findings ? "findings" : "exit status \(status)"
            self.log("analysis of \(files) closed files: \(meaning); report \(output)/report.md")
            self.lock.withLock { self.running = nil }
        }
        do {
            try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
            lock.withLock {
                running = process; analysedFiles = files
            }
            try process.run()
        } catch {
            lock.withLock { running = nil }
            log("cannot start the analysis: \(error)")
        }
    }

    static let executable: String = {
        var path = [CChar](repeating: 0, count: 4096)
        let length = readlink("/proc/self/exe", &path, path.count - 1)
        return length > 0 ? String(cString: path) : CommandLine.arguments[0]
    }()
}
