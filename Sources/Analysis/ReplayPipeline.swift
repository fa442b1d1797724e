import EVPNModel
import Replay

/// Feed items → the engine's read-ahead → the engine and its detectors: the one wiring `analyze`,
/// the engine benchmark and the tests share. Without an analyzer (the benchmark's first pass)
/// items go to the engine alone.
public final class ReplayPipeline {
    public let engine: ReplayEngine
    public let analyzer: Analyzer?
    @usableFromInline let lookahead: EngineLookahead
    @usableFromInline let readAhead: Bool

    /// `readAhead`: walk each item's lookups a few items early (`EngineLookahead`); off, items
    /// are replayed as they come (the tests check both give the same transitions).
    public init(engine: ReplayEngine, analyzer: Analyzer?, readAhead: Bool = true) {
        self.engine = engine
        self.analyzer = analyzer
        lookahead = EngineLookahead(engine: engine)
        self.readAhead = readAhead
    }

    /// Items taken but not yet replayed (the read-ahead's window).
    public var held: Int { lookahead.held }

    /// Takes `item` (nil once the input has ended) and replays the item whose turn has come: with
    /// read-ahead, one taken a few pushes earlier. Returns nothing: handing the item back costs a
    /// retain and a release per route event, which the benchmark would count.
    // Inlinable: the loop runs once per route event, in the caller's module.
    @inlinable
    public func push(_ item: FeedItem?) {
        guard readAhead else {
            if let item { Self.replay(item, .none, analyzer: analyzer, engine: engine) }
            return
        }
        guard let ready = lookahead.push(item) else { return }
        Self.replay(ready.item, ready.prefetched, analyzer: analyzer, engine: engine)
    }

    /// Replays what the read-ahead still holds.
    @inlinable
    public func drain() {
        while held > 0 { push(nil) }
    }

    /// Replays `source` to its end, or up to the first item `stop` refuses (that one is not
    /// replayed); `replayed` sees each item just after the engine and the detectors did.
    @inlinable
    public func run(
        _ source: () -> FeedItem?, stop: (FeedItem) -> Bool = { _ in false }, replayed: (FeedItem) -> Void = { _ in }
    ) {
        // Locals, not the stored properties: calling through a stored reference retains and
        // releases it around each call, once per route event.
        let analyzer = analyzer, engine = engine
        guard readAhead else {
            while let item = source() {
                if stop(item) { return }
                Self.replay(item, .none, analyzer: analyzer, engine: engine)
                replayed(item)
            }
            return
        }
        while let ready = lookahead.next(from: source) {
            if stop(ready.item) { return }
            Self.replay(ready.item, ready.prefetched, analyzer: analyzer, engine: engine)
            replayed(ready.item)
        }
    }

    @inlinable
    static func replay(
        _ item: FeedItem, _ prefetched: ReplayEngine.PrefetchTarget, analyzer: Analyzer?, engine: ReplayEngine
    ) {
        // Not `if let`: binding the reference would retain and release it once per route event.
        if analyzer != nil {
            analyzer.unsafelyUnwrapped.process(item, prefetched: prefetched)
        } else {
            engine.process(item, prefetched: prefetched)
        }
    }
}
