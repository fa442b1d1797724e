import EVPNModel

/// Holds a few feed items back from the engine and walks each one's lookup chain a step per
/// item passed on (see `ReplayEngine.prefetchBucket`), so the memory loads of neighbouring
/// events overlap instead of queueing one after another. Items come out in the order they
/// went in; only the cache sees them early.
public final class EngineLookahead {
    private let engine: ReplayEngine
    /// An item is handed back `depth` pushes after it went in; stage k runs `2k` pushes after.
    private static let depth = 8
    // Fixed rings of `depth` slots, allocated once: as arrays, each write checked the array's
    // uniqueness and bounds, per item.
    private let items = UnsafeMutablePointer<FeedItem?>.allocate(capacity: depth)
    private let targets = UnsafeMutablePointer<ReplayEngine.PrefetchTarget>.allocate(capacity: depth)
    private let cursors = UnsafeMutablePointer<Int32>.allocate(capacity: depth)
    private var pushes = 0
    /// Items inside the window.
    public private(set) var held = 0
    /// The last push brought no item: the input has ended.
    private var sourceEnded = false

    public init(engine: ReplayEngine) {
        self.engine = engine
        items.initialize(repeating: nil, count: Self.depth)
        targets.initialize(repeating: .none, count: Self.depth)
        cursors.initialize(repeating: -1, count: Self.depth)
    }

    deinit {
        items.deinitialize(count: Self.depth); items.deallocate()
        targets.deallocate(); cursors.deallocate()
    }

    /// An item whose turn has come, with what the read-ahead worked out for it. Not copyable:
    /// every stage borrows the item where it is, and a copy would retain its event and release
    /// it again, per route event.
    public struct Ready: ~Copyable {
        public let item: FeedItem
        public let prefetched: ReplayEngine.PrefetchTarget
    }

    /// Takes `item` (nil when the input has ended) and returns the item whose turn has come,
    /// with what the read-ahead worked out for it (for `ReplayEngine.process`).
    public func push(_ item: consuming FeedItem?) -> Ready? {
        let slot = pushes % Self.depth
        let leavingTarget = targets[slot]
        let arriving = item != nil
        sourceEnded = !arriving
        targets[slot] = engine.prefetchBucket(item)
        cursors[slot] = -1
        var leaving = consume item  // swapped with the slot's item: moved, where a copy would retain it
        swap(&leaving, &items[slot])
        for stage in 1...3 where pushes >= 2 * stage {
            let earlier = (pushes - 2 * stage) % Self.depth
            if targets[earlier].hash != 0 {
                cursors[earlier] = engine.prefetchChain(targets[earlier], stage: stage, cursor: cursors[earlier])
            }
        }
        pushes += 1
        held += (arriving ? 1 : 0) - (leaving == nil ? 0 : 1)
        // Moved into the result: `map`'s closure would borrow the item and copy it.
        switch consume leaving {
        case .some(let item): return Ready(item: item, prefetched: leavingTarget)
        case .none: return nil
        }
    }

    /// The next item from `source`, `depth` items late; nil once source and window are empty.
    public func next(from source: () -> FeedItem?) -> Ready? {
        while true {
            // The item goes straight into `push`: kept in a variable, it was copied into the call.
            if let ready = push(source()) { return ready }
            if sourceEnded && held == 0 { return nil }
        }
    }
}
