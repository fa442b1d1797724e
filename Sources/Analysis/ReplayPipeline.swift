import EVPNModel
import Replay

/// Feed items → the engine's read-ahead → the engine and its detectors: the one wiring `analyze`,
/// the engine benchmark and the tests share. Without an analyzer (the benchmark's first pass)
/// items go to the engine alone.
public final class ReplayPipeline {
    public let engine: ReplayEngine
    public let analyzer: Analyzer?
    private let lookahead: EngineLookahead?

    /// `readAhead`: walk each item's lookups a few items early (`EngineLookahead`); off, items
    /// are replayed as they come (the tests check both give the same transitions).
    public init(engine: ReplayEngine, analyzer: Analyzer?, readAhead: Bool = true) {
        self.engine = engine
        self.analyzer = analyzer
        lookahead = readAhead ? EngineLookahead(engine: engine) : nil
    }

    /// Items taken but not yet replayed (the read-ahead's window).
    public var held: Int { lookahead?.held ?? 0 }

    /// Takes `item` (nil once the input has ended) and replays the item whose turn has come,
    /// which it returns: with read-ahead, one taken a few pushes earlier.
    @discardableResult
    public func push(_ item: FeedItem?) -> FeedItem? {
        guard let lookahead else {
            if let item { replay(item, .none) }
            return item
        }
        guard let ready = lookahead.push(item) else { return nil }
        replay(ready.item, ready.prefetched)
        return ready.item
    }

    /// Replays what the read-ahead still holds.
    public func drain() {
        while held > 0 { push(nil) }
    }

    /// Replays `source` to its end, or up to the first item `stop` refuses (that one is not
    /// replayed); `replayed` sees each item just after the engine and the detectors did.
    public func run(
        _ source: () -> FeedItem?, stop: (FeedItem) -> Bool = { _ in false }, replayed: (FeedItem) -> Void = { _ in }
    ) {
        guard let lookahead else {
            while let item = source() {
                if stop(item) { return }
                replay(item, .none)
                replayed(item)
            }
            return
        }
        while let ready = lookahead.next(from: source) {
            if stop(ready.item) { return }
            replay(ready.item, ready.prefetched)
            replayed(ready.item)
        }
    }

    @inline(__always)
    private func replay(_ item: FeedItem, _ prefetched: ReplayEngine.PrefetchTarget) {
        if let analyzer {
            analyzer.process(item, prefetched: prefetched)
        } else {
            engine.process(item, prefetched: prefetched)
        }
    }
}
