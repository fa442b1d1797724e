import EVPNModel

/// Holds a few feed items back from the engine and walks each one's lookup chain a step per
/// item passed on (see `ReplayEngine.prefetchBucket`), so the memory loads of neighbouring
/// events overlap instead of queueing one after another. Items come out in the order they
/// went in; only the cache sees them early.
public final class EngineLookahead {
    private let engine: ReplayEngine
    /// An item is handed back `depth` pushes after it went in; stage k runs `2k` pushes after.
    private static let depth = 8
    private var items = [FeedItem?](repeating: nil, count: depth)
    private var targets = [ReplayEngine.PrefetchTarget](repeating: .none, count: depth)
    private var cursors = [Int32](repeating: -1, count: depth)
    private var pushes = 0
    /// Items inside the window.
    public private(set) var held = 0

    public init(engine: ReplayEngine) { self.engine = engine }

    /// An item whose turn has come, with what the read-ahead worked out for it.
    public struct Ready {
        public let item: FeedItem
        public let prefetched: ReplayEngine.PrefetchTarget
    }

    /// Takes `item` (nil when the input has ended) and returns the item whose turn has come,
    /// with what the read-ahead worked out for it (for `ReplayEngine.process`).
    public func push(_ item: FeedItem?) -> Ready? {
        let slot = pushes % Self.depth
        var leaving = item  // swapped with the slot's item: moved, where a copy would retain it
        swap(&leaving, &items[slot])
        let leavingTarget = targets[slot]
        targets[slot] = item.map { engine.prefetchBucket($0) } ?? .none
        cursors[slot] = -1
        for stage in 1...3 where pushes >= 2 * stage {
            let earlier = (pushes - 2 * stage) % Self.depth
            if targets[earlier].hash != 0 {
                cursors[earlier] = engine.prefetchChain(targets[earlier], stage: stage, cursor: cursors[earlier])
            }
        }
        pushes += 1
        held += (item == nil ? 0 : 1) - (leaving == nil ? 0 : 1)
        return leaving.map { Ready(item: $0, prefetched: leavingTarget) }
    }

    /// The next item from `source`, `depth` items late; nil once source and window are empty.
    public func next(from source: () -> FeedItem?) -> Ready? {
        while true {
            let arriving = source()
            if let ready = push(arriving) { return ready }
            if arriving == nil && held == 0 { return nil }
        }
    }
}
