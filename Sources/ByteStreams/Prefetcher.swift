import Foundation

/// Runs a producer on a thread of its own, at most `capacity` elements ahead of the consumer:
/// one core decompresses or decodes while the other consumes. The producer returns nil when
/// it is done; dropping the prefetcher stops it at its next element.
///
/// A consumer done with an element may hand it back (`recycle`): the producer receives it with
/// its next call and empties it there. Heap objects are then freed on the thread that made
/// them, where the allocator needs no lock, instead of contending with the producer for it.
public final class Prefetcher<Element> {
    /// Shared with the producer thread; the prefetcher itself is not, so dropping it cancels.
    private final class Shared: @unchecked Sendable {
        let condition = NSCondition()
        var queue: [Element?] = []
        var head = 0
        var returned: [Element] = []
        var done = false
        var cancelled = false
        var running = true
        let capacity: Int
        init(capacity: Int) { self.capacity = capacity }
    }
    private let shared: Shared

    public convenience init(capacity: Int, produce: @escaping () -> Element?) {
        self.init(capacity: capacity, reusing: { _ in produce() })
    }

    /// `produce` gets an element the consumer recycled, if any, to empty and refill.
    public init(capacity: Int, reusing produce: @escaping (_ recycled: Element?) -> Element?) {
        shared = Shared(capacity: capacity)
        let shared = self.shared
        let thread = Thread {
            defer {
                shared.condition.lock(); shared.running = false; shared.condition.broadcast(); shared.condition.unlock()
            }
            while true {
                shared.condition.lock()
                let recycled = shared.returned.popLast()
                shared.condition.unlock()
                let element = produce(recycled)
                shared.condition.lock()
                while shared.queue.count - shared.head >= shared.capacity && !shared.cancelled {
                    shared.condition.wait()
                }
                if shared.cancelled { shared.condition.unlock(); return }
                if let element { shared.queue.append(element) } else { shared.done = true }
                shared.condition.broadcast()
                let stop = shared.done
                shared.condition.unlock()
                if stop { return }
            }
        }
        thread.start()
    }

    deinit {
        shared.condition.lock(); shared.cancelled = true; shared.condition.broadcast(); shared.condition.unlock()
    }

    /// Stops the producer and waits until its thread has finished with everything it shares
    /// with the caller (after this, state the producer used may be read safely).
    public func stop() {
        shared.condition.lock()
        shared.cancelled = true
        shared.condition.broadcast()
        while shared.running { shared.condition.wait() }
        shared.condition.unlock()
    }

    /// Hands a consumed element back to the producer thread (at most `capacity` are kept).
    public func recycle(_ element: Element) {
        shared.condition.lock()
        if shared.returned.count < shared.capacity { shared.returned.append(element) }
        shared.condition.unlock()
    }

    /// The next element, waiting for the producer; nil once it is done or stopped.
    public func next() -> Element? {
        shared.condition.lock()
        defer { shared.condition.unlock() }
        while shared.head == shared.queue.count && !shared.done && !shared.cancelled { shared.condition.wait() }
        if shared.head == shared.queue.count { return nil }
        let element = shared.queue[shared.head]
        shared.queue[shared.head] = nil  // release it now, not when the slot is compacted
        shared.head += 1
        if shared.head > 64 { shared.queue.removeFirst(shared.head); shared.head = 0 }
        shared.condition.broadcast()
        return element
    }
}
