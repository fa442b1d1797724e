import Foundation
import Store
import Testing

/// Issue 20 item 2: inputs as people have them on disk — links, loops, FIFOs, process
/// substitution, very deep trees. No hang, every file read once, every path left out named.

private let demoDumps = repository.path + "/datasets/demo/dumps/mrt"

/// A hang is a failure (exit 124), not a stuck test run.
private func evpnscopeBounded(_ arguments: [String]) throws -> CommandResult { try evpnscope(arguments, timeout: 120) }

private func moveCount(_ db: String) throws -> String? {
    try Database(path: db, readOnly: true).rows("SELECT count(*) FROM moves")[0][0]
}

@Test func symbolicLinkLoopsAndSecondLinksAreReadOnce() throws {
    let directory = scratch()
    let dumps = directory + "/dumps"
    try FileManager.default.copyItem(atPath: demoDumps, toPath: dumps)
    let once = try evpnscopeBounded([
        "analyze", dumps, "--db", directory + "/once.sqlite", "--report", directory + "/once.md",
    ])
    #expect(once.status == 0, "\(once.stderr)")

    try FileManager.default.createSymbolicLink(atPath: dumps + "/self", withDestinationPath: ".")
    try FileManager.default.createSymbolicLink(atPath: dumps + "/loop-a", withDestinationPath: "loop-b")
    try FileManager.default.createSymbolicLink(atPath: dumps + "/loop-b", withDestinationPath: "loop-a")
    try FileManager.default.createSymbolicLink(
        atPath: dumps + "/same.gz", withDestinationPath: dumps + "/updates.20261124.0215.gz")
    try FileManager.default.createSymbolicLink(atPath: dumps + "/gone.gz", withDestinationPath: "nowhere.gz")
    let linked = try evpnscopeBounded([
        "analyze", dumps, dumps + "/updates.20261124.0230.gz", "--db", directory + "/linked.sqlite",
        "--report", directory + "/linked.md",
    ])
    #expect(linked.status == 0, "\(linked.stderr)")
    #expect(try moveCount(directory + "/linked.sqlite") == moveCount(directory + "/once.sqlite"), "each dump read once")
    let notice = linked.stderr.split(separator: "\n").filter { $0.contains("skipped") }
    #expect(notice.count == 1)
    for passed in [
        "self (the directory \(dumps) again", "loop-a (a symbolic link loop)",
        "0215.gz (the file \(dumps)/same.gz again, through a link: read once)",
        "gone.gz (a broken symbolic link)", "0230.gz (the file \(dumps)/updates.20261124.0230.gz again",
    ] {
        #expect(notice.first?.contains(passed) == true, "notice lacks \(passed): \(linked.stderr)")
    }
}

@Test func aFIFOInADirectoryIsPassedOverAndANamedOneIsRead() throws {
    let directory = scratch()
    let dumps = directory + "/dumps"
    try FileManager.default.copyItem(atPath: demoDumps, toPath: dumps)
    #expect(mkfifo(dumps + "/pipe", 0o600) == 0)
    let walked = try evpnscopeBounded([
        "analyze", dumps, "--db", directory + "/a.sqlite", "--report", directory + "/a.md",
    ])
    #expect(walked.status == 0, "\(walked.stderr)")
    #expect(
        walked.stderr.contains("pipe (a FIFO, not a file; name it on the command line to read it)"), "\(walked.stderr)")

    // Named on the command line, the FIFO is read once, as it streams, and decodes like the file.
    let file = dumps + "/updates.20261124.0215.gz"
    let expected = try evpnscopeBounded(["decode", file])
    let writer = Thread {
        if let bytes = FileManager.default.contents(atPath: file),
            let handle = FileHandle(forWritingAtPath: dumps + "/pipe")
        {
            handle.write(bytes)
            try? handle.close()
        }
    }
    writer.start()
    let streamed = try evpnscopeBounded(["decode", dumps + "/pipe"])
    #expect(streamed.status == 0, "\(streamed.stderr)")
    #expect(
        !expected.stdout.isEmpty
            && streamed.stdout.replacingOccurrences(of: dumps + "/pipe", with: file) == expected.stdout)
}

@Test func processSubstitutionIsReadOnce() throws {
    let directory = scratch()
    let file = demoDumps + "/updates.20261124.0200.gz"
    let direct = try evpnscopeBounded([
        "analyze", file, "--db", directory + "/a.sqlite", "--report", directory + "/a.md",
    ])
    #expect(direct.status == 0, "\(direct.stderr)")
    let shell = Process()
    shell.executableURL = URL(fileURLWithPath: "/bin/bash")
    shell.arguments = [
        "-c", "exec timeout 120 \"$0\" analyze <(cat \"$1\") --db \"$2\" --report \"$3\"", binary, file,
        directory + "/b.sqlite", directory + "/b.md",
    ]
    let err = Pipe()
    shell.standardError = err
    shell.standardOutput = FileHandle.nullDevice
    try shell.run()
    let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    shell.waitUntilExit()
    #expect(shell.terminationStatus == 0, "\(stderr)")
    #expect(try moveCount(directory + "/b.sqlite") == moveCount(directory + "/a.sqlite"))
    let row = try Database(path: directory + "/b.sqlite", readOnly: true).rows("SELECT bytes, damaged FROM inputs")
    let expected = try Database(path: directory + "/a.sqlite", readOnly: true).rows("SELECT bytes FROM inputs")[0][0]
    #expect(row.count == 1 && row[0][0] == expected && row[0][1] == "0", "\(row)")
}

@Test func pathsPastTheSystemLimitAreErrors() throws {
    let directory = scratch()
    defer {
        _ = try? Process.run(URL(fileURLWithPath: "/bin/rm"), arguments: ["-rf", directory + "/deep"]).waitUntilExit()
    }
    let long = directory + "/" + String(repeating: "d", count: 200) + String(repeating: "/x", count: 2200)
    let named = try evpnscopeBounded(["decode", long])
    #expect(named.status == 2 && named.stderr.contains("longer than the system's limit"), "\(named.stderr)")

    // A tree deeper than PATH_MAX, built relative to each level's descriptor.
    var fd = open(directory, O_RDONLY | O_DIRECTORY)
    #expect(mkdirat(fd, "deep", 0o755) == 0)
    var next = openat(fd, "deep", O_RDONLY | O_DIRECTORY)
    close(fd); fd = next
    let name = String(repeating: "n", count: 250)
    for _ in 0..<20 {
        #expect(mkdirat(fd, name, 0o755) == 0)
        next = openat(fd, name, O_RDONLY | O_DIRECTORY)
        close(fd); fd = next
    }
    close(openat(fd, "dump.mrt", O_WRONLY | O_CREAT, 0o644))
    close(fd)
    let walked = try evpnscopeBounded(["decode", directory + "/deep"])
    #expect(walked.status == 2 && walked.stderr.contains("longer than the system's limit"), "\(walked.stderr)")
}
