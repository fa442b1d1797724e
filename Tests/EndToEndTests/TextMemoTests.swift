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

/// The memo's own hash table: thousands of new keys inside one batch (past its limit, so its
/// slots grow while earlier texts must stay put), keys whose words collide (an IPv4 address and
/// the IPv6 address with the same bits), and route-target lists that differ only in order each
/// get their own text, found again at the same address until the batch ends.
@Test func textMemoTellsEveryKeyApartThroughGrowthAndCollidingWords() {
    var addresses = TextMemo<IPAddress>()
    var targets = TextMemo<InlineList<ExtendedCommunity>>()
    defer { addresses.release(); targets.release() }
    for batch in 0..<3 {
        addresses.startBatch(); targets.startBatch()
        var seen: [(IPAddress, UnsafeBufferPointer<UInt8>)] = []
        for n in 0..<7_000 {
            let v4 = IPAddress(v4: UInt32(batch * 100_000 + n))
            let v6 = IPAddress(v6High: 0, v6Low: UInt64(batch * 100_000 + n))  // the same two words
            for address in [v4, v6] {
                let text = addresses.text(for: address) { $0.description }
                #expect(String(decoding: text, as: UTF8.self) == address.description)
                seen.append((address, text))
            }
        }
        for (address, text) in seen {
            let again = addresses.text(for: address) { _ in "never made" }
            #expect(
                again.baseAddress == text.baseAddress && String(decoding: text, as: UTF8.self) == address.description)
        }
        let a = ExtendedCommunity(raw: 0x0002_FDE8_0000_A028), b = ExtendedCommunity(raw: 0x0002_FDE8_0000_A029)
        let ab = targets.text(for: [a, b]) { _ in "a b" }, ba = targets.text(for: [b, a]) { _ in "b a" }
        #expect(String(decoding: ab, as: UTF8.self) == "a b" && String(decoding: ba, as: UTF8.self) == "b a")
        #expect(targets.text(for: [a, b]) { _ in "never made" }.baseAddress == ab.baseAddress)
    }
}
