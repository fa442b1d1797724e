import Foundation

/// How a run names a result while it is being written: `<target>.tmp-<pid>`, renamed over the
/// target when complete. The pid lets a later run tell a dead process's leftovers from a live
/// run's; the database's temporary has SQLite's companions beside it.
public enum TemporaryName {
    static let marker = ".tmp-"

    public static func of(_ target: String, pid: Int32 = getpid()) -> String { target + marker + "\(pid)" }

    /// The temporary of `target` and SQLite's companion files of it.
    public static func withCompanions(_ target: String) -> [String] {
        ["", "-journal", "-wal", "-shm"].map { of(target) + $0 }
    }

    /// The pid in a file name that is a temporary of `target` (or of its companions), else nil.
    public static func pid(in name: String, target: String) -> Int32? {
        let prefix = (target as NSString).lastPathComponent + marker
        guard name.hasPrefix(prefix) else { return nil }
        return Int32(name.dropFirst(prefix.count).prefix { $0.isNumber })
    }
}
