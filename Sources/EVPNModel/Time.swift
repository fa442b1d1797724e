/// Timestamps are microseconds since the Unix epoch; text is ISO 8601 UTC.
public enum Timestamp {
    /// The times a timestamp shows: years 1 to 9999.
    public static let representable: ClosedRange<Int64> = -62_135_596_800_000_000...253_402_300_799_999_999

    public static func clamped(_ micros: Int64) -> Int64 {
        min(max(micros, representable.lowerBound), representable.upperBound)
    }

    /// "2026-11-24T02:14:00.123456Z" (fraction omitted when zero); a time outside years 1–9999
    /// shows as the nearest one.
    public static func format(_ time: Int64) -> String {
        let micros = clamped(time)
        let seconds = micros >= 0 ? micros / 1_000_000 : (micros - 999_999) / 1_000_000
        let fraction = micros - seconds * 1_000_000
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        let (year, month, day) = civil(fromDays: days)
        func two(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }
        let yearText = String(year)
        let date = "-\(two(month))-\(two(day))"
        let clock = "T\(two(secondOfDay / 3600)):\(two(secondOfDay / 60 % 60)):\(two(secondOfDay % 60))"
        var text = String(repeating: "0", count: max(0, 4 - yearText.count)) + yearText + date + clock
        if fraction != 0 {
            let digits = String(fraction)
            text += "." + String(repeating: "0", count: 6 - digits.count) + digits
        }
        return text + "Z"
    }

    /// Accepts RFC 3339 / ISO 8601 (a date, or date and time with optional seconds, fraction and
    /// `Z` or a `+01:00` offset) or epoch seconds; nil for anything else, never a trap.
    public static func parse(_ text: String) -> Int64? {
        let maxEpochSeconds = 253_402_300_799.0  // 9999-12-31T23:59:59Z
        if !text.isEmpty, text.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }) {
            guard let seconds = Double(text), seconds.isFinite, seconds <= maxEpochSeconds else { return nil }
            return Int64((seconds * 1_000_000).rounded())
        }
        var body = Substring(text)
        var offset: Int64 = 0
        if body.hasSuffix("Z") || body.hasSuffix("z") {
            body = body.dropLast()
        } else if let clockStart = body.firstIndex(where: { $0 == "T" || $0 == " " }),
            let sign = body[clockStart...].lastIndex(where: { $0 == "+" || $0 == "-" })
        {
            // A zone offset after the time: ±HH:MM or ±HHMM.
            let digits = body[body.index(after: sign)...].filter { $0 != ":" }
            guard digits.count == 4, digits.allSatisfy(\.isNumber), let hours = Int64(digits.prefix(2)),
                let minutes = Int64(digits.suffix(2)),
                hours < 24, minutes < 60
            else { return nil }
            offset = (hours * 60 + minutes) * 60_000_000 * (body[sign] == "+" ? 1 : -1)
            body = body[..<sign]
        }
        let parts = body.split(separator: "T", maxSplits: 1, omittingEmptySubsequences: false)
            .flatMap { $0.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false) }
        guard let datePart = parts.first else { return nil }
        let date = datePart.split(separator: "-", omittingEmptySubsequences: false)
        guard date.count == 3, date[0].count == 4, date[1].count == 2, date[2].count == 2,
            let y = Int64(date[0]), let m = Int64(date[1]), let d = Int64(date[2]),
            (1...9999).contains(y), (1...12).contains(m), (1...daysIn(month: m, year: y)).contains(d)
        else { return nil }
        var micros: Int64 = 0
        if parts.count > 1 {
            let clock = parts[1].split(separator: ":", omittingEmptySubsequences: false)
            guard clock.count == 2 || clock.count == 3, clock[0].count == 2, clock[1].count == 2,
                let h = Int64(clock[0]), let mi = Int64(clock[1]), h < 24, mi < 60
            else { return nil }
            var s: Double = 0
            if clock.count == 3 {
                guard clock[2].first?.isNumber == true, let value = Double(clock[2]), value.isFinite, value >= 0,
                    value < 61
                else { return nil }
                s = value
            }
            micros = (h * 3600 + mi * 60) * 1_000_000 + Int64((s * 1_000_000).rounded())
        }
        return days(fromCivil: y, m, d) * 86_400_000_000 + micros - offset
    }

    static func daysIn(month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Howard Hinnant's days-from-civil algorithm (proleptic Gregorian).
    static func days(fromCivil y0: Int64, _ m: Int64, _ d: Int64) -> Int64 {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civil(fromDays z0: Int64) -> (Int64, Int64, Int64) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    /// Parses "180", "180s", "3m", "1h", "500ms" into microseconds; nil for anything else.
    public static func parseDuration(_ text: String) -> TimeSpan? {
        let units: [(String, Double)] = [("ms", 1_000), ("s", 1_000_000), ("m", 60_000_000), ("h", 3_600_000_000)]
        // Up to ten years, so no value overflows the microsecond clock.
        func micros(_ number: Substring, _ scale: Double) -> Int64? {
            guard number.first?.isNumber == true, let value = Double(number), value.isFinite, value >= 0,
                value * scale <= 315_576_000_000_000
            else { return nil }
            return Int64(value * scale)
        }
        let unit = units.first { text.hasSuffix($0.0) }
        return micros(text.dropLast(unit?.0.count ?? 0), unit?.1 ?? 1_000_000).map(TimeSpan.init(microseconds:))
    }
}

/// A length of time. A timestamp is a plain Int64 of microseconds; a span carries its unit in its
/// type, so a threshold cannot be compared with or added to a time in the wrong unit.
public struct TimeSpan: Comparable, Hashable, Sendable, CustomStringConvertible {
    public var microseconds: Int64

    public init(microseconds: Int64) { self.microseconds = microseconds }
    public static func seconds(_ seconds: Int64) -> TimeSpan { TimeSpan(microseconds: seconds * 1_000_000) }
    /// From `start` to `end` (negative when time went back).
    public static func between(_ start: Int64, _ end: Int64) -> TimeSpan { TimeSpan(microseconds: end &- start) }

    public static func < (a: TimeSpan, b: TimeSpan) -> Bool { a.microseconds < b.microseconds }
    public static func + (time: Int64, span: TimeSpan) -> Int64 { time + span.microseconds }
    public static func - (time: Int64, span: TimeSpan) -> Int64 { time - span.microseconds }

    /// "1m30s", "45s", "2h05m", as reports show durations.
    public var description: String {
        let s = microseconds / 1_000_000
        if s < 60 { return "\(s)s" }
        if s < 3600 { return "\(s / 60)m\(s % 60 < 10 ? "0" : "")\(s % 60)s" }
        return "\(s / 3600)h\(s / 60 % 60 < 10 ? "0" : "")\(s / 60 % 60)m"
    }
}

/// JSON string escaping for every text that leaves the tool as JSON.
public func jsonString(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if scalar.value < 0x20 {
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
    }
    return out + "\""
}
