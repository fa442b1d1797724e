import CPrefetch
import Glibc

/// Memory for the pages of the engine's and analyzer's large tables, mapped from the system
/// directly. glibc serves blocks this large from its heap once its mmap threshold has risen
/// (it rises each time a large block is freed), and a block freed inside the heap stays
/// resident until something reuses it: the evidence log, which frees a snapshot's worth of
/// pages as they age out of the window, kept the process at that peak for the rest of the run.
/// Pages mapped here go back to the system when released, and read as zeros until written.
public enum MappedPages {
    @inlinable
    public static func allocate<Element>(_ count: Int, of _: Element.Type) -> UnsafeMutablePointer<Element> {
        let bytes = count * MemoryLayout<Element>.stride
        let address = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        guard let address, address != MAP_FAILED else { fatalError("out of memory: \(bytes) bytes for a table") }
        return address.bindMemory(to: Element.self, capacity: count)
    }

    @inlinable
    public static func release<Element>(_ page: UnsafeMutablePointer<Element>, count: Int) {
        munmap(page, count * MemoryLayout<Element>.stride)
    }
}

/// A growable array stored in fixed-size pages. Appending never copies what is already stored,
/// so a table of millions of routes grows without the moment at which both the old and the
/// doubled buffer are resident, and capacity beyond the last page is never allocated.
/// The module that owns a table changes it; others read it through a `PagedView`.
public final class PagedArray<Element>: RandomAccessCollection {
    @inlinable static var pageShift: Int { 14 }
    @inlinable static var pageSize: Int { 1 << pageShift }
    @usableFromInline var pages: [UnsafeMutablePointer<Element>] = []
    @usableFromInline var used = 0
    @inlinable public var count: Int { used }

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

    @inlinable public var startIndex: Int { 0 }
    @inlinable public var endIndex: Int { used }

    /// Inlinable: the engine, the analyzer and the store read and change rows by the million, and
    /// an unspecialised generic access looked up type metadata and copied through a value
    /// witness each time.
    @inlinable
    public subscript(index: Int) -> Element {
        get {
            precondition(index >= 0 && index < count, "PagedArray index out of range")
            return pages[index >> Self.pageShift][index & (Self.pageSize - 1)]
        }
        _modify {
            precondition(index >= 0 && index < count, "PagedArray index out of range")
            yield &pages[index >> Self.pageShift][index & (Self.pageSize - 1)]
        }
    }

    /// Starts loading row `index` into the cache; rows past the end are ignored.
    @inlinable
    public func prefetch(_ index: Int) {
        guard index >= 0 && index < count else { return }
        evpnscope_prefetch(pages[index >> Self.pageShift] + (index & (Self.pageSize - 1)))
    }

    @inlinable
    public func append(_ element: Element) {
        if used == pages.count << Self.pageShift {
            pages.append(MappedPages.allocate(Self.pageSize, of: Element.self))
        }
        (pages[used >> Self.pageShift] + (used & (Self.pageSize - 1))).initialize(to: element)
        used += 1
    }
}

/// A table read by modules that do not own it: every row, no way to change one.
public struct PagedView<Element>: RandomAccessCollection {
    @usableFromInline let table: PagedArray<Element>
    @inlinable public init(_ table: PagedArray<Element>) { self.table = table }
    @inlinable public var startIndex: Int { 0 }
    @inlinable public var endIndex: Int { table.count }
    @inlinable public subscript(index: Int) -> Element { table[index] }
}

/// A paged table whose released rows are handed out again before it grows: the engine's
/// routes, RIB entries and host routes come and go by the million.
public final class RecyclingTable<Element> {
    @usableFromInline let rows = PagedArray<Element>()
    @usableFromInline var released: [Int32] = []

    public init() {}

    /// Rows in use.
    @inlinable public var liveCount: Int { rows.count - released.count }
    /// Rows ever used (live or released): the range to scan, and what is resident.
    @inlinable public var highWater: Int { rows.count }

    @inlinable
    public subscript(index: Int) -> Element {
        get { rows[index] }
        _modify { yield &rows[index] }
    }

    @inlinable public func prefetch(_ index: Int) { rows.prefetch(index) }

    @inlinable
    public func add(_ element: Element) -> Int32 {
        if let id = released.popLast() {
            rows[Int(id)] = element
            return id
        }
        rows.append(element)
        return Int32(rows.count - 1)
    }

    /// Makes the row available again; its contents stay until reused (callers that scan the
    /// table mark released rows themselves).
    @inlinable public func release(_ id: Int32) { released.append(id) }
}
