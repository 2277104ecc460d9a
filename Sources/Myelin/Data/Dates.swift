import Foundation

/// A generated sequence-to-sequence task: dates written in many human formats ("Wed, 3 Apr
/// 2024", "the 3rd of April, 2024", "4/3/2024", "03.04.2024", "20240403", …) to be rewritten
/// as ISO 8601 `YYYY-MM-DD`.
///
/// Every format is unambiguous: slashes are always month/day/year (US), dots always
/// day.month.year (European), and years always have four digits. Dates range over
/// 1900-01-01 … 2099-12-31. The split is by calendar date, not by string: a held-out date
/// never appears in training in any format, so test accuracy measures generalisation to new
/// inputs. Everything follows from `seed`.
///
/// Token ids (shared by source and target): 0 padding, 1 start of target, 2 end of target,
/// then the characters of `DateTask.characters`.
///
/// ```swift
/// let task = DateTask(trainCount: 20_000, validationCount: 1_000, testCount: 2_000, seed: 0)
/// task.train[0]                          // (source: "April 3, 2024", target: "2024-04-03")
/// let (inputs, targets) = task.tensors(task.train)
/// // inputs [N, sourceLength + targetLength]: padded source ids, then 1 and the target ids
/// // targets [N, targetLength]: the target ids, then 2
/// ```
public struct DateTask {
    /// One example: a human-written date and its ISO form.
    public typealias Example = (source: String, target: String)

    /// Padding, start-of-target and end-of-target ids.
    public static let padding = 0, start = 1, end = 2
    /// Every character an input or output may contain, in id order after the three specials.
    public static let characters: [Character] = Array(" '-,./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
    /// Ids of the vocabulary: 3 specials plus the characters.
    public static var vocabularySize: Int { 3 + characters.count }
    /// Longest source the tensors hold (longer inputs cannot occur: the longest format is 33 characters).
    public static let sourceLength = 34
    /// Target characters plus the end id: "YYYY-MM-DD" and 2.
    public static let targetLength = 11

    public let train: [Example]
    public let validation: [Example]
    public let test: [Example]

    static let index: [Character: Int] = {
        var d: [Character: Int] = [:]
        for (i, c) in characters.enumerated() { d[c] = i + 3 }
        return d
    }()

    /// Draws `trainCount`, `validationCount` and `testCount` examples; the three come from
    /// disjoint sets of calendar dates (the test and validation dates are each a twentieth
    /// of all dates).
    public init(trainCount: Int, validationCount: Int, testCount: Int, seed: UInt64) {
        check(trainCount > 0 && validationCount >= 0 && testCount > 0,
              "DateTask: need trainCount > 0, validationCount ≥ 0, testCount > 0, got \(trainCount), \(validationCount), \(testCount)")
        let generator = Generator(seed: seed)
        var days = Array(0..<DateTask.dayCount)
        for i in stride(from: days.count - 1, to: 0, by: -1) { days.swapAt(i, generator.nextInt(below: i + 1)) }
        let share = days.count / 20
        let testDays = Array(days[0..<share]), validationDays = Array(days[share..<(2 * share)]), trainDays = Array(days[(2 * share)...])
        func draw(_ pool: [Int], _ n: Int) -> [Example] {
            (0..<n).map { _ in
                let date = DateTask.date(dayNumber: pool[generator.nextInt(below: pool.count)])
                return (DateTask.write(date, format: generator.nextInt(below: DateTask.formatCount), generator: generator), DateTask.iso(date))
            }
        }
        train = draw(trainDays, trainCount)
        validation = draw(validationDays, validationCount)
        test = draw(testDays, testCount)
    }

    // MARK: Calendar

    /// A calendar date.
    public struct Date: Equatable { public var year: Int, month: Int, day: Int }

    static let firstYear = 1900, lastYear = 2099
    static let monthNames = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
                             "October", "November", "December"]
    static let weekdayNames = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

    static func isLeap(_ y: Int) -> Bool { (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 }
    static func daysIn(month m: Int, year y: Int) -> Int { m == 2 ? (isLeap(y) ? 29 : 28) : [4, 6, 9, 11].contains(m) ? 30 : 31 }
    static let dayCount: Int = (firstYear...lastYear).reduce(0) { $0 + (isLeap($1) ? 366 : 365) }

    /// The date `n` days after 1900-01-01.
    static func date(dayNumber n: Int) -> Date {
        var rest = n, y = firstYear
        while rest >= (isLeap(y) ? 366 : 365) { rest -= isLeap(y) ? 366 : 365; y += 1 }
        var m = 1
        while rest >= daysIn(month: m, year: y) { rest -= daysIn(month: m, year: y); m += 1 }
        return Date(year: y, month: m, day: rest + 1)
    }

    /// 0 = Monday (1900-01-01 was a Monday).
    static func weekday(_ d: Date) -> Int {
        var n = 0
        for y in firstYear..<d.year { n += isLeap(y) ? 366 : 365 }
        for m in 1..<d.month { n += daysIn(month: m, year: d.year) }
        return (n + d.day - 1) % 7
    }

    /// `YYYY-MM-DD`.
    public static func iso(_ d: Date) -> String { "\(d.year)-\(two(d.month))-\(two(d.day))" }

    static func two(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
    static func ordinal(_ v: Int) -> String {
        let suffix = (11...13).contains(v % 100) ? "th" : [1: "st", 2: "nd", 3: "rd"][v % 10] ?? "th"
        return "\(v)\(suffix)"
    }

    // MARK: Formats

    static let formatCount = 20

    /// The date in human format `format` (0..<formatCount); some formats draw their spelling
    /// (case, abbreviation dot) from `generator`.
    public static func write(_ d: Date, format: Int, generator: Generator) -> String {
        let month = monthNames[d.month - 1], short = String(month.prefix(3))
        let weekday = weekdayNames[weekday(d)], shortWeekday = String(weekday.prefix(3))
        let y = "\(d.year)"
        switch format {
        case 0: return "\(d.day) \(month) \(y)"
        case 1: return "\(two(d.day)) \(short) \(y)"
        case 2: return "\(month) \(d.day), \(y)"
        case 3: return "\(short) \(d.day), \(y)"
        case 4: return "\(weekday), \(month) \(d.day), \(y)"
        case 5: return "\(shortWeekday), \(d.day) \(short) \(y)"
        case 6: return "\(ordinal(d.day)) of \(month) \(y)"
        case 7: return "the \(ordinal(d.day)) of \(month), \(y)"
        case 8: return "\(d.month)/\(d.day)/\(y)"
        case 9: return "\(two(d.month))/\(two(d.day))/\(y)"
        case 10: return "\(d.day).\(d.month).\(y)"
        case 11: return "\(two(d.day)).\(two(d.month)).\(y)"
        case 12: return "\(y)/\(two(d.month))/\(two(d.day))"
        case 13: return "\(y)\(two(d.month))\(two(d.day))"
        case 14: return iso(d)
        case 15: return "\(month.uppercased()) \(d.day) \(y)"
        case 16: return "\(d.day)-\(short.lowercased())-\(y)"
        case 17: return "\(y) \(month) \(d.day)"
        case 18: return "\(short)\(generator.nextInt(below: 2) == 0 ? "." : "") \(ordinal(d.day)), \(y)"
        default: return "\(month.lowercased()) \(ordinal(d.day)) '\(y)"
        }
    }

    // MARK: Tokens

    /// Ids of `text`'s characters; nil when one is outside the vocabulary (callers say which input was bad).
    public static func encode(_ text: String) -> [Int]? {
        var ids: [Int] = []
        for c in text {
            guard let i = index[c] else { return nil }
            ids.append(i)
        }
        return ids
    }

    /// The characters of `ids`, stopping at the end id and skipping padding and start ids.
    public static func decode(_ ids: [Int]) -> String {
        var s = ""
        for i in ids {
            if i == end { break }
            if i >= 3 && i < vocabularySize { s.append(characters[i - 3]) }
        }
        return s
    }

    /// Padded source ids `[sourceLength]` (a source longer than `sourceLength` or with a
    /// character outside the vocabulary is a programming error: `check` stops).
    public static func sourceIds(_ source: String) -> [Int] {
        guard let ids = encode(source) else { fatalError("DateTask: \"\(source)\" has characters outside the vocabulary") }
        check(ids.count <= sourceLength, "DateTask: \"\(source)\" is longer than \(sourceLength) characters")
        return ids + [Int](repeating: padding, count: sourceLength - ids.count)
    }

    /// Training tensors of `examples`: inputs `[N, sourceLength + targetLength]` (padded source
    /// ids, then the start id and the target ids: the decoder's teacher-forced input) and
    /// targets `[N, targetLength]` (the target ids, then the end id), ids as whole floats.
    public func tensors(_ examples: [Example]) -> (inputs: Tensor, targets: Tensor) {
        let s = Self.sourceLength, t = Self.targetLength
        var x = [Float](), y = [Float]()
        x.reserveCapacity(examples.count * (s + t)); y.reserveCapacity(examples.count * t)
        for e in examples {
            let target = Self.encode(e.target)!
            x += Self.sourceIds(e.source).map(Float.init)
            x += ([Self.start] + target).map(Float.init)
            y += (target + [Self.end]).map(Float.init)
        }
        return (Tensor(shape: [examples.count, s + t], data: x), Tensor(shape: [examples.count, t], data: y))
    }
}
