import Testing
@testable import Store

/// The row writer binds memoised text in place (SQLITE_STATIC): every text a row took stays
/// intact until the next row starts, even when the memo starts over between rows.
@Test func textMemoKeepsARowsTextsUntilTheNextRow() {
    var memo = TextMemo<Int>()
    defer { memo.release() }
    for row in 0..<10_000 {
        memo.startRow()
        let first = memo.text(for: row) { "value \($0)" }
        let second = memo.text(for: row + 1) { "value \($0)" }
        let again = memo.text(for: row) { _ in "never made: the first call's text is kept" }
        #expect(String(decoding: first, as: UTF8.self) == "value \(row)")
        #expect(String(decoding: second, as: UTF8.self) == "value \(row + 1)")
        #expect(again.baseAddress == first.baseAddress)
    }
    var column = StableText()
    defer { column.release() }
    let long = String(repeating: "x", count: 300)
    #expect(column.hold(long).map { String(decoding: $0, as: UTF8.self) } == long)
    #expect(column.hold("").map(\.count) == 0)
    #expect(column.hold(nil) == nil)
}
