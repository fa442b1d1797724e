import EVPNModel
import Testing
@testable import Store

/// The row writer binds memoised text in place (SQLITE_STATIC): every text a batch of rows
/// took stays intact until the next batch starts, even when the memo starts over between them.
@Test func textMemoKeepsABatchsTextsUntilTheNextBatch() {
    var memo = TextMemo<Int>()
    defer { memo.release() }
    for row in 0..<10_000 {  // a batch of one row each time
        memo.startBatch()
        let first = memo.text(for: row) { "value \($0)" }
        let second = memo.text(for: row + 1) { "value \($0)" }
        let again = memo.text(for: row) { _ in "never made: the first call's text is kept" }
        #expect(String(decoding: first, as: UTF8.self) == "value \(row)")
        #expect(String(decoding: second, as: UTF8.self) == "value \(row + 1)")
        #expect(again.baseAddress == first.baseAddress)
    }
}

/// Row text (MAC, IP, prefix, mac_state's lists) is written column after column into one buffer
/// that grows; a column is found again by its range however much the buffer moved meanwhile.
@Test func rowTextColumnsKeepTheirTextAcrossGrowth() {
    var row = RowText()
    let mac = row.column { $0.append(MACAddress("02:00:5e:00:53:0a")!) }
    let empty = row.column { _ in }
    let v4 = row.column { $0.append(IPAddress("192.0.2.255")!) }
    let v6 = row.column { $0.append(IPAddress("2001:db8::1")!) }
    let long = row.column { $0.append(String(repeating: "x", count: 100_000)) }  // moves the buffer
    let number = row.column { $0.append(decimal: 18_446_744_073_709_551_615) }
    row.withColumns { text in
        #expect(String(decoding: text(mac), as: UTF8.self) == "02:00:5e:00:53:0a")
        #expect(text(empty).count == 0)
        #expect(String(decoding: text(v4), as: UTF8.self) == "192.0.2.255")
        #expect(String(decoding: text(v6), as: UTF8.self) == "2001:db8::1")
        #expect(text(long).count == 100_000 && text(long).allSatisfy { $0 == UInt8(ascii: "x") })
        #expect(String(decoding: text(number), as: UTF8.self) == "18446744073709551615")
    }
    row.removeAll()
    #expect(row.count == 0)
}
