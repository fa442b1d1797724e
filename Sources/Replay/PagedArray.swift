/// A growable array stored in fixed-size pages. Appending never copies what is already stored,
/// so a table of millions of routes grows without the moment at which both the old and the
/// doubled buffer are resident, and capacity beyond the last page is never allocated.
public final class PagedArray<Element>: RandomAccessCollection {
    private static var pageShift: Int { 14 }
    private static var pageSize: Int { 1 << pageShift }
    private var pages: [UnsafeMutablePointer<Element>] = []
    public private(set) var count = 0

    public init() {}

    deinit {
        var remaining = count
        for page in pages {
            let used = Swift.min(remaining, Self.pageSize)
            page.deinitialize(count: used)
            page.deallocate()
            remaining -= used
        }
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { count }

    /// Readable everywhere; only the module that owns the table changes it, in place.
    public internal(set) subscript(index: Int) -> Element {
        get {
            precondition(index >= 0 && index < count, "PagedArray index out of range")
            return pages[index >> Self.pageShift][index & (Self.pageSize - 1)]
        }
        _modify {
            precondition(index >= 0 && index < count, "PagedArray index out of range")
            yield &pages[index >> Self.pageShift][index & (Self.pageSize - 1)]
        }
    }

    func append(_ element: Element) {
        if count == pages.count << Self.pageShift {
            pages.append(UnsafeMutablePointer<Element>.allocate(capacity: Self.pageSize))
        }
        (pages[count >> Self.pageShift] + (count & (Self.pageSize - 1))).initialize(to: element)
        count += 1
    }
}
