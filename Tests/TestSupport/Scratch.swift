import Foundation

/// Scratch folders for tests. Every folder a test asks for lies under one folder per test
/// process, removed when the process exits, so a test run leaves nothing behind in the system's
/// temporary directory (the end-to-end tests alone write megabytes per run).
public enum Scratch {
    public static let root: String = {
        let path = NSTemporaryDirectory() + "evpnscope-tests-\(getpid())"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(atPath: Scratch.root) }
        return path
    }()

    /// A new empty folder; `label` names the helper that asked, for whoever looks while tests run.
    public static func directory(_ label: String) -> String {
        let path = root + "/\(label)-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}
