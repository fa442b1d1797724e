import HostileReportCheck

/// libFuzzer target: the Markdown report. The input, split at zero bytes, fills every text
/// field of a report's data (names from BMP, paths, a crafted database's strings); the report
/// must keep the outline plain texts give (no heading, table row, cell or list a text adds) and
/// show no control or bidi character (HostileReport, shared with the tests).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzReport(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let texts = bytes.split(separator: 0, maxSplits: 8, omittingEmptySubsequences: false).map {
        String(decoding: $0, as: UTF8.self)
    }
    do {
        if let problem = try HostileReport.problem(with: texts) { fatalError("report structure changed: \(problem)") }
    } catch {
        fatalError("rendering failed: \(error)")
    }
    return 0
}
