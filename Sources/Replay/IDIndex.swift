import CPrefetch

/// An open-addressing hash index from keys to Int32 ids whose keys live in the caller's own
/// records. Storing only the id and 32 bits of the hash per bucket (8 bytes) instead of a copy
/// of the key keeps the engine's large tables small; the caller supplies the hash and a
/// predicate that compares a candidate's record with the key.
///
/// Linear probing with backward-shift deletion: no tombstones, so lookups stay short however
/// many routes come and go.
final class IDIndex {
    /// Bucket = hash tag (high 32 bits) and id (low 32 bits), so a probe touches one cache line;
    /// an empty bucket holds `empty` (id -1).
    private var buckets: UnsafeMutablePointer<UInt64>
    private var mask: Int
    private(set) var count = 0
    private static let empty = UInt64.max

    init() {
        mask = 15
        buckets = Self.allocate(mask + 1)
    }

    private static func allocate(_ size: Int) -> UnsafeMutablePointer<UInt64> {
        let storage = UnsafeMutablePointer<UInt64>.allocate(capacity: size)
        storage.initialize(repeating: empty, count: size)
        return storage
    }

    deinit { buckets.deallocate() }

    var bucketCount: Int { mask + 1 }

    @inline(__always) private static func id(_ bucket: UInt64) -> Int32 { Int32(truncatingIfNeeded: bucket) }
    @inline(__always) private static func tag(_ bucket: UInt64) -> UInt32 { UInt32(truncatingIfNeeded: bucket >> 32) }

    /// Asks the CPU to load the hash's home bucket now, ahead of a `find` a few events later.
    @inline(__always)
    func prefetch(_ hash: UInt64) {
        evpnscope_prefetch(buckets + (Int(UInt32(truncatingIfNeeded: hash)) & mask))
    }

    /// The first id in the hash's probe sequence whose tag matches (a candidate to prefetch).
    @inline(__always)
    func firstCandidate(_ hash: UInt64) -> Int32? {
        let tag = UInt32(truncatingIfNeeded: hash)
        var i = Int(tag) & mask
        while true {
            let bucket = buckets[i]
            if bucket == Self.empty { return nil }
            if Self.tag(bucket) == tag { return Self.id(bucket) }
            i = (i + 1) & mask
        }
    }

    /// The id whose record `matches`, probing from the hash's home bucket.
    @inline(__always)
    func find(_ hash: UInt64, _ matches: (Int32) -> Bool) -> Int32? {
        let tag = UInt32(truncatingIfNeeded: hash)
        var i = Int(tag) & mask
        while true {
            let bucket = buckets[i]
            if bucket == Self.empty { return nil }
            if Self.tag(bucket) == tag && matches(Self.id(bucket)) { return Self.id(bucket) }
            i = (i + 1) & mask
        }
    }

    /// Adds `id`; the caller has checked that its key is not present.
    func insert(_ id: Int32, hash: UInt64) {
        if (count + 1) * 4 > (mask + 1) * 3 { grow() }
        place(UInt64(UInt32(truncatingIfNeeded: hash)) << 32 | UInt64(UInt32(bitPattern: id)))
        count += 1
    }

    /// Removes `id`, which was inserted with `hash`.
    func remove(_ id: Int32, hash: UInt64) {
        var i = Int(UInt32(truncatingIfNeeded: hash)) & mask
        while Self.id(buckets[i]) != id {
            guard buckets[i] != Self.empty else { return }
            i = (i + 1) & mask
        }
        // Backward shift: pull later members of the cluster into the hole when their home
        // bucket does not lie between the hole and their current bucket.
        var hole = i
        var j = (i + 1) & mask
        while buckets[j] != Self.empty {
            let home = Int(Self.tag(buckets[j])) & mask
            let distanceFromHome = (j - home) & mask
            let distanceToHole = (j - hole) & mask
            if distanceFromHome >= distanceToHole {
                buckets[hole] = buckets[j]
                hole = j
            }
            j = (j + 1) & mask
        }
        buckets[hole] = Self.empty
        count -= 1
    }

    private func place(_ bucket: UInt64) {
        var i = Int(Self.tag(bucket)) & mask
        while buckets[i] != Self.empty { i = (i + 1) & mask }
        buckets[i] = bucket
    }

    private func grow() {
        let old = buckets, oldSize = mask + 1
        mask = oldSize * 2 - 1
        buckets = Self.allocate(oldSize * 2)
        for i in 0..<oldSize where old[i] != Self.empty { place(old[i]) }
        old.deallocate()
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
