import ByteStreams
import Dispatch
import Foundation
import Store

/// A result file that could not be written: the path, why, and that earlier results stand.
struct OutputError: Error, CustomStringConvertible {
    var path: String
    var reason: String
    var description: String { "cannot write \(path): \(reason)" }
}

/// The database and report a run replaces. Both are written under temporary names
/// (`TemporaryName`) and renamed into place only when both are complete, so an error, a
/// full disk or an interrupt leaves the earlier run's files as they were.
enum RunOutputs {
    /// Checks both targets before the replay (not after an hour of it), clears what dead runs
    /// left beside them, and removes this run's temporaries if it is interrupted.
    static func prepare(database: String, report: String) throws {
        guard Self.canonical(database) != Self.canonical(report) else {
            throw CLIUsageError(message: "--db and --report name the same file (\(database))")
        }
        for target in [database, report] {
            try Self.makeFolder(of: target)
            if let kind = Self.nonRegularKind(target) {
                throw OutputError(path: target, reason: "it is \(kind), not a file")
            }
            Self.removeDeadTemporaries(of: target)
        }
        try Self.probeWritable(report)
        Interrupts.install(
            temporaries: [database, report].flatMap(TemporaryName.withCompanions) + [database + ".lock"],
            untouched: [database, report])
    }

    /// Runs a step that writes `path`, turning any failure into an `OutputError` for that path.
    static func writing<T>(_ path: String, _ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as OutputError { throw error } catch {
            var reason = "\(error)"
            // SQLite names its own (temporary) file first; the user knows the target.
            for prefix in [TemporaryName.of(path) + ": ", path + ": "] where reason.hasPrefix(prefix) {
                reason.removeFirst(prefix.count)
            }
            throw OutputError(path: path, reason: reason)
        }
    }

    private static func canonical(_ path: String) -> String {
        let absolute = (path as NSString).isAbsolutePath ? path : FileManager.default.currentDirectoryPath + "/" + path
        let folder = (absolute as NSString).deletingLastPathComponent
        let resolved = realpath(folder, nil).map { pointer -> String in
            defer { free(pointer) }; return String(cString: pointer)
        }
        return (resolved ?? folder) + "/" + (absolute as NSString).lastPathComponent
    }

    private static func makeFolder(of target: String) throws {
        let folder = (target as NSString).deletingLastPathComponent
        guard !folder.isEmpty else { return }
        var built = folder.hasPrefix("/") ? "/" : ""
        for part in folder.split(separator: "/") {
            built += (built.isEmpty || built.hasSuffix("/") ? "" : "/") + part
            var info = stat()
            if stat(built, &info) == 0 {
                guard info.st_mode & S_IFMT == S_IFDIR else {
                    throw OutputError(path: target, reason: "\(built) is not a folder")
                }
                continue
            }
            guard mkdir(built, 0o755) == 0 || errno == EEXIST else {
                throw OutputError(
                    path: target, reason: "cannot create folder \(built): \(String(cString: strerror(errno)))")
            }
        }
    }

    private static func nonRegularKind(_ path: String) -> String? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        switch info.st_mode & S_IFMT {
        case S_IFREG: return nil
        case S_IFDIR: return "a folder"
        default: return "a device, FIFO or socket"
        }
    }

    /// Where a result given as a symbolic link is written: the file the link points to (the link
    /// stays a link; replacing it by a file would cut whatever it served).
    static func followingLinks(_ path: String) -> String {
        var current = path
        for _ in 0..<40 {  // the kernel's own limit on links in a path
            guard let destination = try? FileManager.default.destinationOfSymbolicLink(atPath: current) else {
                return current
            }
            current =
                (destination as NSString).isAbsolutePath
                ? destination
                : ((current as NSString).deletingLastPathComponent as NSString).appendingPathComponent(destination)
        }
        return current
    }

    /// A result file that is also an input (`--db` naming a dump) would be overwritten with
    /// SQLite before the run reads it: a usage error.
    static func refuseInputs(_ inputs: [String], targets: [(option: String, path: String)]) throws {
        for target in targets {
            var targetInfo = stat()
            guard stat(target.path, &targetInfo) == 0 else { continue }
            for input in inputs {
                var inputInfo = stat()
                if stat(input, &inputInfo) == 0, inputInfo.st_dev == targetInfo.st_dev,
                    inputInfo.st_ino == targetInfo.st_ino
                {
                    throw CLIUsageError(
                        message:
                            "\(target.option) \(target.path) is one of the inputs: choose another file for the results")
                }
            }
        }
    }

    private static func probeWritable(_ target: String) throws {
        let probe = TemporaryName.of(target)
        let fd = open(probe, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw OutputError(path: target, reason: String(cString: strerror(errno))) }
        close(fd)
        unlink(probe)
    }

    /// Temporaries of `target` left by processes that no longer exist (a kill -9, a crash, a
    /// power cut); a live run's are left alone.
    static func removeDeadTemporaries(of target: String) {
        let folder = (target as NSString).deletingLastPathComponent
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder.isEmpty ? "." : folder) else {
            return
        }
        for name in names {
            guard let pid = TemporaryName.pid(in: name, target: target), pid > 0, pid != getpid() else { continue }
            if kill(pid, 0) == -1 && errno == ESRCH {
                unlink(((folder.isEmpty ? "." : folder) as NSString).appendingPathComponent(name))
            }
        }
    }
}

/// One run at a time writes a database: a second run on the same target fails at once, naming
/// the first, instead of leaving a database of one run beside the report of the other. The lock
/// is an flock on `<database>.lock`, which the kernel releases however the run ends; the file
/// holds the owner's pid and start time for the message.
final class RunLock {
    private let fd: Int32
    let path: String

    init(database: String) throws {
        path = database + ".lock"
        while true {
            let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw OutputError(path: path, reason: String(cString: strerror(errno))) }
            if flock(fd, LOCK_EX | LOCK_NB) != 0 {
                let owner =
                    (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(
                        in: .whitespacesAndNewlines) ?? ""
                close(fd)
                throw OutputError(
                    path: database,
                    reason: "another evpnscope run is writing it\(owner.isEmpty ? "" : " (\(owner))"); "
                        + "wait for it or choose another --db")
            }
            // The lock file may have been removed by the run that held it between open and flock:
            // a lock on a removed file protects nothing, so start again.
            var held = stat(), named = stat()
            if fstat(fd, &held) == 0, stat(path, &named) == 0, held.st_ino == named.st_ino, held.st_dev == named.st_dev
            {
                let owner = "pid \(getpid()), started \(ISO8601DateFormatter().string(from: Date()))\n"
                _ = ftruncate(fd, 0)
                _ = owner.withCString { write(fd, $0, strlen($0)) }
                self.fd = fd
                return
            }
            close(fd)
        }
    }

    deinit {
        unlink(path)
        close(fd)
    }
}

/// Ctrl-C and SIGTERM during a run: the temporaries go, the earlier results stay, and the exit
/// status says which signal (128 + its number, as shells do).
enum Interrupts {
    nonisolated(unsafe) private static var sources: [DispatchSourceSignal] = []

    static func install(temporaries: [String], untouched: [String]) {
        let message = "evpnscope: interrupted: earlier results in \(untouched.joined(separator: " and ")) untouched\n"
        for signalNumber in [SIGINT, SIGTERM] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler {
                for path in temporaries { unlink(path) }
                FileHandle.standardError.write(Data(message.utf8))
                _exit(128 + signalNumber)
            }
            source.resume()
            sources.append(source)
        }
    }

    /// Once the results are in place there is nothing left to protect: a signal acts as usual.
    static func uninstall() {
        for source in sources { source.cancel() }
        sources.removeAll()
        for signalNumber in [SIGINT, SIGTERM] { signal(signalNumber, SIG_DFL) }
    }
}

/// Which inputs a run read, as stored in its database's meta (`inputs`), so that a later run
/// can tell whether it replaces the same analysis or another one that happens to share a name.
struct RunIdentity: Equatable {
    /// The command line's inputs, absolute and with links resolved, one per line.
    let inputs: String

    init(arguments: [String]) {
        inputs = arguments.map { argument -> String in
            guard argument != "-" else { return "-" }
            if let resolved = realpath(argument, nil) { defer { free(resolved) }; return String(cString: resolved) }
            return argument
        }.joined(separator: "\n")
    }

    init(stored: String) { inputs = stored }

    /// Six hex digits of the inputs' SHA-256: tells apart two input sets of one default name.
    var shortHash: String {
        var hash = SHA256()
        Array(inputs.utf8).withUnsafeBytes { hash.update($0) }
        return String(hash.hexDigest().prefix(6))
    }

    /// The run an existing database holds, if it is one of ours that says.
    static func previous(at path: String) -> (identity: RunIdentity, started: String)? {
        guard FileManager.default.fileExists(atPath: path), let db = try? Database(path: path, readOnly: true),
            let rows = try? db.rows("SELECT key, value FROM meta WHERE key IN ('inputs', 'started')")
        else { return nil }
        let meta = Dictionary(
            rows.compactMap { row in row[0].map { ($0, row[1] ?? "") } }, uniquingKeysWith: { a, _ in a })
        guard let inputs = meta["inputs"] else { return nil }
        return (RunIdentity(stored: inputs), meta["started"] ?? "an unknown time")
    }

    var listed: String { inputs.split(separator: "\n").joined(separator: ", ") }
}
