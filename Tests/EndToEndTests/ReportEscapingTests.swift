import Foundation
import Store
import Testing
import TestSupport

/// Texts that tried to change the report's structure through the Character-based escaping (issue
/// 20): a CRLF is one Character, and so is a `|`, backtick or `[` followed by a zero-width joiner
/// or a combining mark; a right-to-left override reorders what a reader sees; a BMP sysName
/// closes a table and writes its own heading, list and link.
let hostileTexts = [
    "x |\r\n\r\n# All clear: no incidents\r\n- nothing to see\r\n[details](http://example.invalid)",
    "|\u{200D} ok |\u{0301}", "`\u{0301}code`\u{200D}", "[\u{200D}link](javascript:alert(1))", "evil\u{202E}txt.exe",
    "a\u{2028}## line separator", "b\u{0085}### next line", "nul\u{0}and bell\u{7}", "\u{FEFF}bom",
    "<script>alert(1)</script>",
    "***bold*** __u__ ~~s~~ \\| \\\\|", "\n\n| a | b |\n|---|---|", "```\nfence", "    indented code",
    "\u{200D}`",  // after "option." in a meta key, the dot and the joiner are one Character (found by the fuzz target)
    "dumps/\0\0\0\u{0301}[a",  // a NUL in an input's path trapped in NSString (found by the fuzz target)
]

@Test(
    """
    report escaping (issue 20): no text in any field adds a heading, table row, cell, list or fence, or shows a \
    bidi/control character
    """,
    arguments: hostileTexts)
func hostileTextsKeepTheReportOutline(_ text: String) throws {
    #expect(try HostileReport.problem(with: [text]) == nil)
}

@Test func allHostileTextsAtOnceKeepTheReportOutline() throws {
    let problem = try HostileReport.problem(with: hostileTexts)
    #expect(problem == nil, "\(problem ?? "")")
    // The check can fail: raw text in a table cell changes the outline.
    #expect(HostileReport.outline("| a | b |\n| x | y | z |") == ["row 3", "row 4"])
}

/// `report --db` on a crafted database: a NULL meta key, a bare `threshold.` key, times at the
/// ends of the 64-bit range and a MAC that tries to close its code span and the table all render
/// without a crash and without raw Markdown.
@Test func reportOfACraftedDatabase() throws {
    let directory = scratch()
    let db = directory + "/a.sqlite"
    #expect(try evpnscope(["analyze", "datasets/demo/dumps", "--db", db, "--report", directory + "/r.md"]).status == 0)
    let database = try Database(path: db)
    try database.execute(
        """
        INSERT INTO meta(key, value) VALUES (NULL, 'x'), ('threshold.', 'y'), ('option.|evil', '# heading');
        UPDATE incidents SET first_time_us = -9223372036854775808, last_time_us = 9223372036854775807 WHERE id = 1;
        UPDATE findings SET mac = '02:00`| x |\n# All clear', first_time_us = 9223372036854775807 WHERE id = 1;
        UPDATE evidence SET time_us = -9223372036854775808;
        UPDATE moves SET time_us = 9223372036854775807 WHERE id IN (SELECT id FROM moves LIMIT 5);
        """)
    let result = try evpnscope(["report", "--db", db, "--out", directory + "/crafted.md"])
    #expect(result.status == 0, "\(result.stderr)")
    let report = try String(contentsOfFile: directory + "/crafted.md", encoding: .utf8)
    #expect(
        !report.contains("\n# All clear") && !report.contains("\n# heading") && report.contains("0001-01-01T00:00:00Z"))
    #expect(report.contains("9999-12-31T23:59:59.999999Z"))
}
