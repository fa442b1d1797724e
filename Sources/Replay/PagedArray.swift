import CPrefetch
import Glibc

/// Memory for the pages of the engine's and analyzer's large tables, mapped from the system
/// directly. glibc serves blocks this large from its heap once its mmap threshold has risen
/// (it rises each time a large block is freed), and a block freed inside the heap stays
/// resident until something reuses it: the evidence log, which frees a snapshot's worth of
/// pages as they age out of the window, kept the process at that peak for the rest of the run.
/// Pages mapped here go back to the system when released, and read as zeros until written.
public enum MappedPages {
    public static func allocate<Element>(_ count: Int, of _: Element.Type) -> UnsafeMutablePointer<Element> {
        let bytes = count * MemoryLayout<Element>.stride
        let address = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        guard let address, address != MAP_FAILED else { fatalError("out of memory: \(bytes) bytes for a table") }
        return address.bindMemory(to: Element.self, capacity: count)
    }

    public static func release<Element>(_ page: UnsafeMutablePointer<Element>, count: Int) {
        munmap(page, count * MemoryLayout<Element>.stride)
    }
}

/// A growable array stored in fixed-size pages. Appending never copies what is already stored,
/// so a table of millions of routes grows without the moment at which both the old and the
/// doubled buffer are resident, and capacity beyond the last page is never allocated.
public final class PagedArray<Element>: RandomAccessCollection {
    @usableFromInline static var pageShift: Int { 14 }
    @usableFromInline static var pageSize: Int { 1 << pageShift }
    @usableFromInline var pages: [UnsafeMutablePointer<Element>] = []
    public private(set) var count = 0

    public init() {}

    deinit {
        var remaining = count
        for page in pages {
            let used = Swift.min(remaining, Self.pageSize)
            page.deinitialize(count: used)
            MappedPages.release(page, count: Self.pageSize)
            remaining -= used
        }
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { count }

    /// Readable everywhere; only the module that owns the table changes it, in place. Inlinable:
    /// the analyzer and the store read MAC states by the million, and an unspecialised generic
    /// read looked up type metadata and copied through a value witness each time.
    public internal(set) subscript(index: Int) -> Element {
        @inlinable get {
            precondition(index >= 0 && index < count, "PagedArray index out of range")
            return pages[index >> Self.pageShift][index & (Self.pageSize - 1)]
        }
        _modify {
            precondition(index >= 0 && index < count, "PagedArray index out of range")
            yield &pages[index >> Self.pageShift][index & (Self.pageSize - 1)]
        }
    }

    /// Starts loading row `index` into the cache; rows past the end are ignored.
    @inline(__always)
    func prefetch(_ index: Int) {
        guard index >= 0 && index < count else { return }
        evpnscope_prefetch(pages[index >> Self.pageShift] + (index & (Self.pageSize - 1)))
    }

    func append(_ element: Element) {
        if count == pages.count << Self.pageShift {
            pages.append(MappedPages.allocate(Self.pageSize, of: Element.self))
        }
        (pages[count >> Self.pageShift] + (count & (Self.pageSize - 1))).initialize(to: element)
        count += 1
    }
}

/// A paged table whose released rows are handed out again before it grows: the engine's
/// routes, RIB entries and host routes come and go by the million.
final class RecyclingTable<Element> {
    private let rows = PagedArray<Element>()
    private var released: [Int32] = []

    /// Rows in use.
    var liveCount: Int { rows.count - released.count }
    /// Rows ever used (live or released): the range to scan, and what is resident.
    var highWater: Int { rows.count }

    subscript(index: Int) -> Element {
        get { rows[index] }
        _modify { yield &rows[index] }
    }

    func prefetch(_ index: Int) { rows.prefetch(index) }

    func add(_ element: Element) -> Int32 {
        if let id = released.popLast() {
            rows[Int(id)] = element
            return id
        }
        rows.append(element)
        return Int32(rows.count - 1)
    }

    /// Makes the row available again; its contents stay until reused (callers that scan the
    /// table mark released rows themselves).
    func release(_ id: Int32) { released.append(id) }
}
