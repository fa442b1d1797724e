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
        // Only the display names of tests: `@Test("…")`.
        for line in source.split(separator: "\n") where line.contains("@Test(\"") { testNames += line + "\n" }
    }
    let ids = Rule.allCases.map(\.rawValue) + DataQualityRule.allCases.map(\.rawValue)
    for id in ids {
        #expect(docs.contains("\n### \(id)\n"), "docs/rules.md has no section for \(id)")
        #expect(testNames.contains(id), "no @Test name carries \(id)")
    }
}
