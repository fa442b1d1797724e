import ByteStreams
import EVPNModel
import Foundation
import MRT
import Store
import Testing

/// Issue 20 item 1: memory is set by live routing state and a fixed budget per open input, never
/// by how many damaged records, BMP Initiations or large records an input holds. Each case runs
/// the built binary and watches its peak RSS.

/// Runs evpnscope with stdout and stderr in files; the exit status, the child's peak RSS in
/// bytes and its stderr. The peak is the kernel's high-water mark of the child's own address
/// space (VmHWM), read until it exits: wait4's ru_maxrss would count this test process's memory
/// too, which a spawned child carries over into exec.
func evpnscopeMeasured(
    _ arguments: [String], in directory: String
) throws -> (status: Int32, peakRSS: Int, stderr: String) {
    let errPath = directory + "/stderr.txt"
    var actions: posix_spawn_file_actions_t = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    let argv = ([binary] + arguments).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var pid: pid_t = 0
    let spawned = posix_spawn(&pid, binary, &actions, nil, argv, environ)
    guard spawned == 0 else { throw POSIXError(POSIXErrorCode(rawValue: spawned) ?? .EIO) }
    var status: Int32 = 0
    var peakKB = 0
    while true {
        if let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
            let kilobytes = Int(line.dropFirst(6).trimmingCharacters(in: .whitespaces).split(separator: " ")[0])
        {
            peakKB = max(peakKB, kilobytes)
        }
        let reaped = waitpid(pid, &status, WNOHANG)
        if reaped == pid || (reaped < 0 && errno != EINTR) { break }
        usleep(10_000)
    }
    let exitStatus = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
    let stderr = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
    return (exitStatus, peakKB * 1024, stderr)
}

private let megabyte = 1 << 20

/// A sanitizer's shadow memory and quarantine (`make check`) add hundreds of MB to any run of the
/// binary built with it: the bounds below are evpnscope's own memory, checked in the plain build
/// (`make test`, CI).
let underSanitizer: Bool = {
    guard let handle = dlopen(nil, RTLD_NOW) else { return false }
    defer { dlclose(handle) }
    let runtimes: [String] = ["__asan_init", "__tsan_init"]
    return runtimes.contains { dlsym(handle, $0) != nil }
}()

func expectPeakRSS(
    _ peak: Int, below limit: Int, _ what: String = "", sourceLocation: SourceLocation = #_sourceLocation
) {
    let measured = "peak RSS \(peak / megabyte) MB" + (what.isEmpty ? "" : " " + what)
    guard !underSanitizer else {
        print("SKIPPED: a memory bound under a sanitizer (\(measured))")
        return
    }
    #expect(peak < limit, "\(measured)", sourceLocation: sourceLocation)
}

/// 200,000 records that each break the same way: the first 1000 are listed, the rest are one
/// summary line naming how many more and where the last was; stderr and decode_errors stay small.
@Test func damagedRecordsAreListedUpToALimitThenSummarisedPerKind() throws {
    let directory = scratch()
    let record = MRTEncoder.record(seconds: 1_795_485_600, type: 16, subtype: 4, body: [UInt8](repeating: 0, count: 8))
    let count = 200_000
    let path = directory + "/broken.mrt.gz"
    let writer = try CompressedWriter(path: path, compression: .gzip)
    var bytes: [UInt8] = []
    bytes.reserveCapacity(count * record.count)
    for _ in 0..<count { bytes += record }
    writer.write(bytes)
    try writer.close()
    let db = directory + "/a.sqlite"
    let run = try evpnscopeMeasured(["analyze", path, "--db", db, "--report", directory + "/r.md"], in: directory)
    #expect(run.status == 4, "damage, and no EVPN at all: \(run.stderr.suffix(500))")
    let damageLines = run.stderr.split(separator: "\n").filter { $0.contains("damaged input") }
    #expect(damageLines.count == DamageLog.detailLimit + 1)
    let summary = "and \(count - DamageLog.detailLimit - 1) more like it up to byte \(count * record.count)"
    #expect(damageLines.last?.contains(summary) == true, "\(damageLines.last ?? "")")
    let rows = try Database(path: db, readOnly: true).rows(
        "SELECT count(*), max(message LIKE '%more like it%') FROM decode_errors")
    #expect(rows[0] == ["\(DamageLog.detailLimit + 1)", "1"])
    expectPeakRSS(run.peakRSS, below: 120 * megabyte)
}

/// A router reconnecting 300 times, each Initiation ~1 MiB of TLVs: one monitored router with
/// its name and description cut to a bounded length, and memory that does not grow with them.
@Test func bmpInitiationsKeepOneBoundedEntryPerRouter() throws {
    let directory = scratch()
    let filler = [UInt8](repeating: UInt8(ascii: "x"), count: 65_535)
    var body: [UInt8] = []
    for type: UInt16 in [2, 1] + [UInt16](repeating: 0, count: 14) {
        let value = type == 2 ? Array("pe-7.example".utf8) : filler
        body += [UInt8(type >> 8), UInt8(type & 0xFF), UInt8(value.count >> 8), UInt8(value.count & 0xFF)] + value
    }
    let length = 6 + body.count
    let initiation =
        [3, UInt8(length >> 24), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF), 4] + body
    let path = directory + "/station.bmp.gz"
    let writer = try CompressedWriter(path: path, compression: .gzip)
    for _ in 0..<300 { writer.write(initiation) }
    try writer.close()
    let db = directory + "/a.sqlite"
    let run = try evpnscopeMeasured(["analyze", path, "--db", db, "--report", directory + "/r.md"], in: directory)
    #expect(run.status == 4, "no EVPN at all: \(run.stderr.suffix(500))")
    let routers = try Database(path: db, readOnly: true).rows(
        "SELECT sys_name, length(sys_descr) FROM monitored_routers")
    #expect(routers.count == 1 && routers.first?[0] == "pe-7.example", "\(routers.map { $0.map { $0 ?? "NULL" } })")
    #expect(routers.first?[1] == "257", "256 bytes and an ellipsis")
    expectPeakRSS(run.peakRSS, below: 120 * megabyte)
}

/// Four .bz2 inputs whose 16 MiB records overlap in time are open at once. Each record is zeros,
/// which bzip2's run-length stage packs ~45 MB to a block: a decoded block must not be held whole
/// per input (it was ~106 MB per input), nor the largest record's buffer kept.
@Test func largeRecordsInManyBzip2InputsStayWithinAFixedBudgetEach() throws {
    let directory = scratch()
    let body = [UInt8](repeating: 0, count: MRTReader.maximumRecordLength - 64)
    let inputs = 4
    for file in 0..<inputs {
        let writer = try CompressedWriter(path: directory + "/f\(file).mrt.bz2", compression: .bzip2)
        for k in 0..<2 {
            writer.write(
                MRTEncoder.record(seconds: 1_795_485_600 + UInt32(k * 10 + file), type: 16, subtype: 4, body: body))
        }
        try writer.close()
    }
    let db = directory + "/a.sqlite"
    let run = try evpnscopeMeasured(
        ["analyze"] + (0..<inputs).map { directory + "/f\($0).mrt.bz2" } + [
            "--db", db, "--report", directory + "/r.md",
        ],
        in: directory)
    #expect(run.status == 4, "every record is damage, no EVPN at all: \(run.stderr.suffix(500))")
    let errors = try Database(path: db, readOnly: true).rows("SELECT count(*) FROM decode_errors")
    #expect(errors[0][0] == "\(inputs * 2)", "each record decoded and reported once")
    expectPeakRSS(run.peakRSS, below: 40 * megabyte * inputs, "for \(inputs) inputs")
}
