import CPrefetch
import Glibc

/// An open-addressing hash index from keys to Int32 ids whose keys live in the caller's own
/// records. Storing only the id and 32 bits of the hash per bucket (8 bytes) instead of a copy
/// of the key keeps the engine's large tables small; the caller supplies the hash and a
/// predicate that compares a candidate's record with the key.
///
/// Linear probing with backward-shift deletion: no tombstones, so lookups stay short however
/// many routes come and go.
///
/// Growing never holds two full copies of a large index: the new buckets are zero pages until
/// written, and the home bucket is monotone in the hash tag, so moving the old buckets in order
/// fills the new ones in order while the old ones already moved are handed back to the system.
public final class IDIndex {
    /// Bucket = hash tag (high 32 bits) and id + 1 (low 32 bits), so a probe touches one cache
    /// line; an empty bucket is all zero bits, as fresh pages are.
    @usableFromInline var buckets: UnsafeMutablePointer<UInt64>
    /// Any size, grown by a quarter when 80 % full, so load stays between 64 and 80 %: growing
    /// by half when 75 % full left the 1 M MAC BMP fabric's indexes (one bucket per route per
    /// observation point) at 56–66 % load and 9 MiB larger. Probes stay short at 80 %: a bucket
    /// is 8 bytes, so a cache line holds eight of them.
    @usableFromInline var size: Int
    /// Ids held.
    @inlinable public var count: Int { held }
    @usableFromInline var held = 0
    @inlinable static var empty: UInt64 { 0 }

    public init() {
        size = 16
        buckets = BucketMemory.allocate(size)
    }

    deinit { BucketMemory.release(buckets, count: size) }

    public var bucketCount: Int { size }

    @inlinable static func id(_ bucket: UInt64) -> Int32 { Int32(truncatingIfNeeded: bucket) &- 1 }
    @inlinable static func tag(_ bucket: UInt64) -> UInt32 { UInt32(truncatingIfNeeded: bucket >> 32) }
    /// The tag scaled onto 0..<size (multiply-shift: no power-of-two size needed, and the home
    /// grows with the tag, which is what lets `grow` fill the new buckets in order).
    @inlinable func home(_ tag: UInt32) -> Int { Int((UInt64(tag) &* UInt64(size)) >> 32) }
    @inlinable func after(_ i: Int) -> Int { i + 1 == size ? 0 : i + 1 }
    @inlinable func distance(_ from: Int, _ to: Int) -> Int { to >= from ? to - from : to + size - from }

    /// Asks the CPU to load the hash's home bucket now, ahead of a `find` a few events later.
    @inlinable
    public func prefetch(_ hash: UInt64) {
        evpnscope_prefetch(buckets + home(UInt32(truncatingIfNeeded: hash)))
    }

    /// The id whose record `matches`, probing from the hash's home bucket.
    @inlinable
    public func find(_ hash: UInt64, _ matches: (Int32) -> Bool) -> Int32? {
        let tag = UInt32(truncatingIfNeeded: hash)
        var i = home(tag)
        while true {
            let bucket = buckets[i]
            if bucket == Self.empty { return nil }
            if Self.tag(bucket) == tag && matches(Self.id(bucket)) { return Self.id(bucket) }
            i = after(i)
        }
    }

    /// Adds `id` (not negative); the caller has checked that its key is not present.
    @inlinable
    public func insert(_ id: Int32, hash: UInt64) {
        if (held + 1) * 5 > size * 4 { grow() }
        place(UInt64(UInt32(truncatingIfNeeded: hash)) << 32 | UInt64(UInt32(bitPattern: id &+ 1)))
        held += 1
    }

    /// Forgets every id, keeping the buckets.
    public func removeAll() {
        buckets.update(repeating: Self.empty, count: size)
        held = 0
    }

    /// Removes `id`, which was inserted with `hash`.
    @inlinable
    public func remove(_ id: Int32, hash: UInt64) {
        var i = home(UInt32(truncatingIfNeeded: hash))
        while Self.id(buckets[i]) != id {
            guard buckets[i] != Self.empty else { return }
            i = after(i)
        }
        // Backward shift: pull later members of the cluster into the hole when their home
        // bucket does not lie between the hole and their current bucket.
        var hole = i
        var j = after(i)
        while buckets[j] != Self.empty {
            if distance(home(Self.tag(buckets[j])), j) >= distance(hole, j) {
                buckets[hole] = buckets[j]
                hole = j
            }
            j = after(j)
        }
        buckets[hole] = Self.empty
        held -= 1
    }

    @inlinable
    func place(_ bucket: UInt64) {
        var i = home(Self.tag(bucket))
        while buckets[i] != Self.empty { i = after(i) }
        buckets[i] = bucket
    }

    @usableFromInline
    func grow() {
        let old = buckets, oldSize = size
        size = oldSize * 5 / 4
        buckets = BucketMemory.allocate(size)
        var released = 0
        for i in 0..<oldSize {
            if old[i] != Self.empty { place(old[i]) }
            if i + 1 - released >= BucketMemory.releaseStep {
                BucketMemory.discard(old, released..<(i + 1), of: oldSize)
                released = i + 1
            }
        }
        BucketMemory.release(old, count: oldSize)
    }
}

/// Storage for bucket arrays. Large ones are mapped from the system directly: zero-filled pages
/// that are resident only once written, and whose moved-out ranges can be handed back early.
enum BucketMemory {
    /// Smaller arrays come from the allocator (zeroed); 64 KiB is where mapping pays.
    static let mappedBuckets = 8192
    /// Old buckets are handed back in steps of 256 KiB while an index grows.
    static let releaseStep = 32768
    static let page = Int(sysconf(Int32(_SC_PAGESIZE)))

    static func allocate(_ count: Int) -> UnsafeMutablePointer<UInt64> {
        if count >= mappedBuckets {
            let buckets = MappedPages.allocate(count, of: UInt64.self)
            _ = madvise(buckets, count * 8, 14 /* MADV_HUGEPAGE */)
            return buckets
        }
        guard let address = calloc(count, 8) else { fatalError("out of memory: \(count * 8) bytes for an index") }
        return address.bindMemory(to: UInt64.self, capacity: count)
    }

    static func release(_ buckets: UnsafeMutablePointer<UInt64>, count: Int) {
        if count >= mappedBuckets { MappedPages.release(buckets, count: count) } else { free(buckets) }
    }

    /// Returns the whole pages of `range` (of a mapped array of `count` buckets) to the system;
    /// they read as zero afterwards. Nothing for arrays from the allocator.
    static func discard(_ buckets: UnsafeMutablePointer<UInt64>, _ range: Range<Int>, of count: Int) {
        guard count >= mappedBuckets else { return }
        let start = (Int(bitPattern: buckets + range.lowerBound) + page - 1) / page * page
        let end = Int(bitPattern: buckets + range.upperBound) / page * page
        if end > start { madvise(UnsafeMutableRawPointer(bitPattern: start), end - start, MADV_DONTNEED) }
    }
}

/// Keyed hashing for `IDIndex` and the row writer's text memos: a multiply-fold mix of machine
/// words under a seed drawn at random for each hasher, so crafted input cannot aim many keys at
/// one bucket chain, at a fraction of what the standard library's SipHash costs per key.
public struct WordHasher: Sendable {
    @usableFromInline let seed: UInt64

    public init() { seed = UInt64.random(in: UInt64.min...UInt64.max) | 1 }

    /// The high and low words of the full product, folded: the mix every hash here is built of.
    @inlinable
    public static func fold(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let product = a.multipliedFullWidth(by: b)
        return product.high ^ product.low
    }

    @inlinable
    public func hash(_ a: UInt64, _ b: UInt64) -> UInt64 {
        Self.fold(a ^ seed ^ 0xa076_1d64_78bd_642f, b ^ 0xe703_7ed1_a0b4_28db)
    }

    @inlinable
    public func hash(_ a: UInt64, _ b: UInt64, _ c: UInt64, _ d: UInt64, _ e: UInt64) -> UInt64 {
        let first = Self.fold(a ^ seed ^ 0xa076_1d64_78bd_642f, b ^ 0xe703_7ed1_a0b4_28db)
        let second = Self.fold(c ^ first ^ 0x8ebc_6af0_9c88_c6e3, d ^ 0x5899_65cc_7537_4cc3)
        return Self.fold(e ^ second ^ 0x1d8e_4e27_c47d_124f, first ^ 0xa076_1d64_78bd_642f)
    }
}
