import Analysis
import Foundation
import Testing

/// docs/rules.md explains every finding and data-quality ID, and every ID has a test whose name
/// carries it: a rule added without either fails here.
@Test("Every rule and data-quality ID has a section in docs/rules.md and a test named after it")
func everyRuleIsDocumentedAndTested() throws {
    let docs = try String(contentsOf: repository.appendingPathComponent("docs/rules.md"), encoding: .utf8)
    var testNames = ""
    let tests = repository.appendingPathComponent("Tests")
    for case let file as URL in FileManager.default.enumerator(at: tests, includingPropertiesForKeys: nil)!
    where file.pathExtension == "swift" {
        let source = try String(contentsOf: file, encoding: .utf8)
        // Only the display names of tests: `@Test("…")`, or a long one as a multi-line literal.
        for part in source.components(separatedBy: "@Test(").dropFirst() {
            let name = part.drop { $0 == " " || $0 == "\n" }
            if name.hasPrefix("\"\"\"") {
                testNames += name.dropFirst(3).components(separatedBy: "\"\"\"")[0] + "\n"
            } else if name.hasPrefix("\"") {
                testNames += name.prefix { $0 != "\n" } + "\n"
            }
        }
    }
    let ids = Rule.allCases.map(\.rawValue) + DataQualityRule.allCases.map(\.rawValue)
    for id in ids {
        #expect(docs.contains("\n### \(id)\n"), "docs/rules.md has no section for \(id)")
        #expect(testNames.contains(id), "no @Test name carries \(id)")
    }
}
