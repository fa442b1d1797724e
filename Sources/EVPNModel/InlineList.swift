/// An element an `InlineList` can hold: plain bits, with a value to fill unused inline slots.
public protocol InlineListElement: Hashable, Sendable, BitwiseCopyable {
    static var placeholder: Self { get }
}

extension UInt32: InlineListElement {
    public static var placeholder: UInt32 { 0 }
}

extension ExtendedCommunity: InlineListElement {
    public static var placeholder: ExtendedCommunity { ExtendedCommunity(raw: 0) }
}

/// A list that keeps its first four elements inside the value and the rest in an array.
/// Most UPDATEs carry a few extended communities and a one-entry cluster list; as arrays,
/// each cost every route event a heap allocation, its reference counting and its release.
public struct InlineList<Element: InlineListElement>: RandomAccessCollection, Hashable, Sendable,
    ExpressibleByArrayLiteral
{
    @usableFromInline var head = InlineArray<4, Element>(repeating: .placeholder)
    @usableFromInline var rest: [Element] = []  // elements from index 4 on
    @usableFromInline var storedCount = 0
    @inlinable public var count: Int { storedCount }

    @inlinable public init() {}
    @inlinable public init(arrayLiteral elements: Element...) { self.init(elements) }
    @inlinable public init<S: Sequence<Element>>(_ elements: S) {
        for element in elements { append(element) }
    }

    @inlinable public var startIndex: Int { 0 }
    @inlinable public var endIndex: Int { count }

    @inlinable public subscript(position: Int) -> Element {
        precondition(position >= 0 && position < count, "InlineList index out of range")
        return position < 4 ? head[position] : rest[position - 4]
    }

    @inlinable public mutating func append(_ element: Element) {
        if storedCount < 4 { head[storedCount] = element } else { rest.append(element) }
        storedCount += 1
    }

    @inlinable public mutating func reserveCapacity(_ capacity: Int) {
        if capacity > 4 { rest.reserveCapacity(capacity - 4) }
    }

    /// Without keeping capacity: the storage may be shared with copies made before.
    @inlinable public mutating func removeAll() {
        storedCount = 0
        if !rest.isEmpty { rest = [] }
    }

    /// By index: `elementsEqual`'s iterators each hold a copy of the list (a retain of `rest`).
    @inlinable public static func == (lhs: InlineList, rhs: InlineList) -> Bool {
        guard lhs.count == rhs.count else { return false }
        for i in 0..<lhs.count where lhs[i] != rhs[i] { return false }
        return true
    }

    @inlinable public func hash(into hasher: inout Hasher) {
        hasher.combine(count)
        for element in self { hasher.combine(element) }
    }
}

extension InlineList: CustomStringConvertible {
    public var description: String { Array(self).description }
}
