import CSQLite
import Foundation

public struct DatabaseError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// SQLITE_TRANSIENT: SQLite copies bound text before `bind` returns.
private let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// The only place that talks to the SQLite C API: a connection, prepared statements, transactions.
public final class Database {
    let handle: OpaquePointer
    public let path: String

    private static let configured: Void = { _ = evpnscope_sqlite_without_memory_statistics() }()

    public init(path: String, readOnly: Bool = false) throws {
        Self.configured
        self.path = path
        var db: OpaquePointer?
        // No connection is used by two threads at once (the row writer hands it back before the
        // caller goes on), so SQLite's per-call locking is pure cost: ~9 % of the writer thread.
        let flags =
            (readOnly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)) | SQLITE_OPEN_NOMUTEX
        guard sqlite3_open_v2(path, &db, flags, nil) == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            if let db { sqlite3_close(db) }
            throw DatabaseError(message: "\(path): \(message)")
        }
        handle = db
    }

    private var closed = false

    /// Closes the connection now. SQLite refuses while a statement is still alive (the
    /// connection and its page cache would then stay allocated), so that is an error here, not
    /// a silent leak at exit.
    public func close() throws {
        guard !closed else { return }
        guard sqlite3_close(handle) == SQLITE_OK else {
            throw DatabaseError(message: "\(path): cannot close: \(lastError)")
        }
        closed = true
    }

    deinit { if !closed { sqlite3_close(handle) } }

    public func execute(_ sql: String) throws {
        var error: UnsafeMutablePointer<CChar>?
        if sqlite3_exec(handle, sql, nil, nil, &error) != SQLITE_OK {
            let message = error.map { String(cString: $0) } ?? "unknown error"
            sqlite3_free(error)
            throw DatabaseError(message: "\(path): \(message) in: \(sql.prefix(120))")
        }
    }

    public func columnExists(_ table: String, _ column: String) throws -> Bool {
        let statement = try prepare("SELECT 1 FROM pragma_table_info(?) WHERE name = ?")
        try statement.bind([.text(table), .text(column)])
        return try statement.step()
    }

    public func tableExists(_ name: String) throws -> Bool {
        let statement = try prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?")
        try statement.bind([.text(name)])
        return try statement.step()
    }

    public func prepare(_ sql: String) throws -> Statement {
        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(handle, sql, -1, &statement, nil) == SQLITE_OK, let statement else {
            throw DatabaseError(message: "\(path): \(String(cString: sqlite3_errmsg(handle))) in: \(sql.prefix(120))")
        }
        return Statement(statement, database: self)
    }

    public func transaction(_ body: () throws -> Void) throws {
        try execute("BEGIN")
        do { try body(); try execute("COMMIT") } catch { try? execute("ROLLBACK"); throw error }
    }

    var lastError: String { String(cString: sqlite3_errmsg(handle)) }

    /// Rows of a query as text (NULL as nil), for tests and small lookups.
    public func rows(_ sql: String, _ values: [SQLValue] = []) throws -> [[String?]] {
        let statement = try prepare(sql)
        try statement.bind(values)
        var out: [[String?]] = []
        while try statement.step() {
            out.append((0..<statement.columnCount).map { statement.text($0) })
        }
        return out
    }
}

public enum SQLValue {
    case int(Int64), real(Double), text(String), null
}

public protocol SQLBindable { var sqlValue: SQLValue { get } }
extension Int: SQLBindable { public var sqlValue: SQLValue { .int(Int64(self)) } }
extension Int64: SQLBindable { public var sqlValue: SQLValue { .int(self) } }
extension Int32: SQLBindable { public var sqlValue: SQLValue { .int(Int64(self)) } }
extension UInt32: SQLBindable { public var sqlValue: SQLValue { .int(Int64(self)) } }
extension Double: SQLBindable { public var sqlValue: SQLValue { .real(self) } }
extension String: SQLBindable { public var sqlValue: SQLValue { .text(self) } }
extension Bool: SQLBindable { public var sqlValue: SQLValue { .int(self ? 1 : 0) } }
extension Optional: SQLBindable where Wrapped: SQLBindable { public var sqlValue: SQLValue { self?.sqlValue ?? .null } }

public final class Statement {
    let statement: OpaquePointer
    unowned let database: Database

    init(_ statement: OpaquePointer, database: Database) { self.statement = statement; self.database = database }
    deinit { sqlite3_finalize(statement) }

    public func bind(_ values: [SQLValue]) throws {
        sqlite3_reset(statement)
        for (i, value) in values.enumerated() {
            let index = Int32(i + 1)
            let result: Int32
            switch value {
            case .int(let v): result = sqlite3_bind_int64(statement, index, v)
            case .real(let v): result = sqlite3_bind_double(statement, index, v)
            case .text(let v): result = sqlite3_bind_text(statement, index, v, -1, transient)
            case .null: result = sqlite3_bind_null(statement, index)
            }
            if result != SQLITE_OK { throw DatabaseError(message: "bind \(index): \(database.lastError)") }
        }
    }

    /// Binds and runs an INSERT/UPDATE.
    public func run(_ values: SQLBindable...) throws {
        try bind(values.map(\.sqlValue))
        let result = sqlite3_step(statement)
        guard result == SQLITE_DONE || result == SQLITE_ROW else {
            throw DatabaseError(message: "step: \(database.lastError)")
        }
    }

    // Column by column, for the inserts that run once per route event: no array of values, no
    // boxed existentials. Indexes count from 1, as in SQL.

    public func bind(_ index: Int32, _ value: Int64?) throws {
        let result = value.map { sqlite3_bind_int64(statement, index, $0) } ?? sqlite3_bind_null(statement, index)
        if result != SQLITE_OK { throw DatabaseError(message: "bind \(index): \(database.lastError)") }
    }

    public func bind(_ index: Int32, text value: String?) throws {
        guard var value else { return try bind(index, nil) }
        let result = value.withUTF8 { sqlite3_bind_text(statement, index, $0.baseAddress, Int32($0.count), transient) }
        if result != SQLITE_OK { throw DatabaseError(message: "bind \(index): \(database.lastError)") }
    }

    /// Text SQLite reads in place (SQLITE_STATIC): it must stay unchanged until the statement
    /// has run and every column has been bound anew.
    public func bind(_ index: Int32, stableText value: UnsafeBufferPointer<UInt8>?) throws {
        guard let value else { return try bind(index, nil) }
        guard let base = value.baseAddress, !value.isEmpty else { return try bind(index, text: "") }
        let result = base.withMemoryRebound(to: CChar.self, capacity: value.count) {
            sqlite3_bind_text(statement, index, $0, Int32(value.count), nil)
        }
        if result != SQLITE_OK { throw DatabaseError(message: "bind \(index): \(database.lastError)") }
    }

    public func bind(_ index: Int32, blob value: [UInt8]) throws {
        let result = value.withUnsafeBytes {
            sqlite3_bind_blob(statement, index, $0.baseAddress, Int32($0.count), transient)
        }
        if result != SQLITE_OK { throw DatabaseError(message: "bind \(index): \(database.lastError)") }
    }

    /// Runs the bound INSERT and readies the statement for the next row.
    public func insert() throws {
        let result = sqlite3_step(statement)
        sqlite3_reset(statement)
        guard result == SQLITE_DONE else { throw DatabaseError(message: "step: \(database.lastError)") }
    }

    /// Advances to the next row; false when there is none.
    public func step() throws -> Bool {
        let result = sqlite3_step(statement)
        if result == SQLITE_ROW { return true }
        if result == SQLITE_DONE { return false }
        throw DatabaseError(message: "step: \(database.lastError)")
    }

    public var columnCount: Int { Int(sqlite3_column_count(statement)) }
    public func int(_ column: Int) -> Int64 { sqlite3_column_int64(statement, Int32(column)) }
    public func isNull(_ column: Int) -> Bool { sqlite3_column_type(statement, Int32(column)) == SQLITE_NULL }
    public func blob(_ column: Int) -> [UInt8] {
        let count = Int(sqlite3_column_bytes(statement, Int32(column)))
        guard count > 0, let base = sqlite3_column_blob(statement, Int32(column)) else { return [] }
        return Array(UnsafeRawBufferPointer(start: base, count: count))
    }
    public func text(_ column: Int) -> String? {
        guard let pointer = sqlite3_column_text(statement, Int32(column)) else { return nil }
        return String(cString: pointer)
    }
}

/// An INSERT prepared twice: for one row, and for `rowsPerStatement` rows in one statement.
/// SQLite's work per statement (step, reset, the program's set-up) is a large part of a row's
/// cost when millions go in; rows are bound group by group, the remainder one by one.
final class GroupedInsert {
    private let single: Statement, group: Statement
    private let columnCount: Int32, rowsPerStatement: Int

    init(_ db: Database, table: String, columns: [String], rowsPerStatement: Int) throws {
        let row = "(" + Array(repeating: "?", count: columns.count).joined(separator: ", ") + ")"
        let start = "INSERT INTO \(table)(\(columns.joined(separator: ", "))) VALUES "
        single = try db.prepare(start + row)
        group = try db.prepare(start + Array(repeating: row, count: rowsPerStatement).joined(separator: ", "))
        columnCount = Int32(columns.count)
        self.rowsPerStatement = rowsPerStatement
    }

    /// Inserts rows `0..<count`; `bind(statement, row, first)` binds a row's columns from
    /// parameter `first` on. Bound text must stay put until this returns.
    func insert(count: Int, bind: (Statement, Int, Int32) throws -> Void) throws {
        var row = 0
        while count - row >= rowsPerStatement {
            for k in 0..<rowsPerStatement { try bind(group, row + k, Int32(k) * columnCount + 1) }
            try group.insert()
            row += rowsPerStatement
        }
        while row < count {
            try bind(single, row, 1)
            try single.insert()
            row += 1
        }
    }
}
