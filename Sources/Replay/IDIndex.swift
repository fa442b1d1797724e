import CPrefetch
import Foundation

/// An open-addressing hash index from keys to Int32 ids whose keys live in the caller's own
/// records. Storing only the id and 32 bits of the hash per bucket (8 bytes) instead of a copy
/// of the key keeps the engine's large tables small; the caller supplies the hash and a
/// predicate that compares a candidate's record with the key.
///
/// Linear probing with backward-shift deletion: no tombstones, so lookups stay short however
/// many routes come and go.
///
/// The buckets are split into eight parts by hash bits the buckets do not store, and the parts'
/// sizes are staggered: each grows at its own moment, so a growth holds the old and new buckets
/// of one part at once, not of the whole index (for the largest index, tens of megabytes at the
/// height of a learning burst).
final class IDIndex {
    private struct Part {
        /// Bucket = hash tag (low 32 bits of the hash, kept high) and id (low 32 bits), so a
        /// probe touches one cache line; an empty bucket holds `empty` (id -1).
        var buckets: UnsafeMutablePointer<UInt64>
        /// Any size, grown by half: doubling would leave the engine's largest index (one bucket
        /// per route per observation point) at under 40 % load for long stretches.
        var size: Int
        var count = 0

        init(size: Int) {
            self.size = size
            buckets = .allocate(capacity: size)
            buckets.initialize(repeating: IDIndex.empty, count: size)
        }

        /// The tag scaled onto 0..<size (multiply-shift: no power-of-two size needed).
        @inline(__always) func home(_ tag: UInt32) -> Int { Int((UInt64(tag) &* UInt64(size)) >> 32) }
        @inline(__always) func after(_ i: Int) -> Int { i + 1 == size ? 0 : i + 1 }
        @inline(__always) func distance(_ from: Int, _ to: Int) -> Int { to >= from ? to - from : to + size - from }

        func place(_ bucket: UInt64) {
            var i = home(IDIndex.tag(bucket))
            while buckets[i] != IDIndex.empty { i = after(i) }
            buckets[i] = bucket
        }

        mutating func grow() {
            let old = self
            self = Part(size: size * 3 / 2)
            count = old.count
            for i in 0..<old.size where old.buckets[i] != IDIndex.empty { place(old.buckets[i]) }
            old.buckets.deallocate()
        }
    }

    private static let partCount = 8
    private static let empty = UInt64.max
    private let parts: UnsafeMutablePointer<Part>

    init() {
        parts = .allocate(capacity: Self.partCount)
        // Part j starts 1.5^(j/8) times the size of part 0, so the parts stay spread over their
        // ×1.5 growth cycle.
        for j in 0..<Self.partCount {
            (parts + j).initialize(to: Part(size: Int(64 * pow(1.5, Double(j) / Double(Self.partCount)))))
        }
    }

    deinit {
        for j in 0..<Self.partCount { parts[j].buckets.deallocate() }
        parts.deinitialize(count: Self.partCount)
        parts.deallocate()
    }

    var bucketCount: Int { (0..<Self.partCount).reduce(0) { $0 + parts[$1].size } }
    var count: Int { (0..<Self.partCount).reduce(0) { $0 + parts[$1].count } }

    @inline(__always) private static func id(_ bucket: UInt64) -> Int32 { Int32(truncatingIfNeeded: bucket) }
    @inline(__always) private static func tag(_ bucket: UInt64) -> UInt32 { UInt32(truncatingIfNeeded: bucket >> 32) }
    @inline(__always) private func part(_ hash: UInt64) -> UnsafeMutablePointer<Part> { parts + Int(truncatingIfNeeded: hash >> 61) }

    /// Asks the CPU to load the hash's home bucket now, ahead of a `find` a few events later.
    @inline(__always)
    func prefetch(_ hash: UInt64) {
        let part = part(hash)
        evpnscope_prefetch(part.pointee.buckets + part.pointee.home(UInt32(truncatingIfNeeded: hash)))
    }

    /// The id whose record `matches`, probing from the hash's home bucket.
    @inline(__always)
    func find(_ hash: UInt64, _ matches: (Int32) -> Bool) -> Int32? {
        let part = part(hash).pointee
        let tag = UInt32(truncatingIfNeeded: hash)
        var i = part.home(tag)
        while true {
            let bucket = part.buckets[i]
            if bucket == Self.empty { return nil }
            if Self.tag(bucket) == tag && matches(Self.id(bucket)) { return Self.id(bucket) }
            i = part.after(i)
        }
    }

    /// Adds `id`; the caller has checked that its key is not present.
    func insert(_ id: Int32, hash: UInt64) {
        let part = part(hash)
        if (part.pointee.count + 1) * 4 > part.pointee.size * 3 { part.pointee.grow() }
        part.pointee.place(UInt64(UInt32(truncatingIfNeeded: hash)) << 32 | UInt64(UInt32(bitPattern: id)))
        part.pointee.count += 1
    }

    /// Removes `id`, which was inserted with `hash`.
    func remove(_ id: Int32, hash: UInt64) {
        let part = part(hash)
        let buckets = part.pointee.buckets
        var i = part.pointee.home(UInt32(truncatingIfNeeded: hash))
        while Self.id(buckets[i]) != id {
            guard buckets[i] != Self.empty else { return }
            i = part.pointee.after(i)
        }
        // Backward shift: pull later members of the cluster into the hole when their home
        // bucket does not lie between the hole and their current bucket.
        var hole = i
        var j = part.pointee.after(i)
        while buckets[j] != Self.empty {
            if part.pointee.distance(part.pointee.home(Self.tag(buckets[j])), j) >= part.pointee.distance(hole, j) {
                buckets[hole] = buckets[j]
                hole = j
            }
            j = part.pointee.after(j)
        }
        buckets[hole] = Self.empty
        part.pointee.count -= 1
    }
}

/// Keyed hashing for `IDIndex`: a multiply-fold mix of machine words under a per-process
/// random seed, so crafted input cannot aim many keys at one bucket chain.
struct WordHasher {
    let seed: UInt64

    init() { seed = UInt64.random(in: UInt64.min...UInt64.max) | 1 }

    @inline(__always)
    private static func fold(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let product = a.multipliedFullWidth(by: b)
        return product.high ^ product.low
    }

    @inline(__always)
    func hash(_ a: UInt64, _ b: UInt64) -> UInt64 {
        Self.fold(a ^ seed ^ 0xa076_1d64_78bd_642f, b ^ 0xe703_7ed1_a0b4_28db)
    }

    @inline(__always)
    func hash(_ a: UInt64, _ b: UInt64, _ c: UInt64, _ d: UInt64, _ e: UInt64) -> UInt64 {
        let first = Self.fold(a ^ seed ^ 0xa076_1d64_78bd_642f, b ^ 0xe703_7ed1_a0b4_28db)
        let second = Self.fold(c ^ first ^ 0x8ebc_6af0_9c88_c6e3, d ^ 0x5899_65cc_7537_4cc3)
        return Self.fold(e ^ second ^ 0x1d8e_4e27_c47d_124f, first ^ 0xa076_1d64_78bd_642f)
    }
}
