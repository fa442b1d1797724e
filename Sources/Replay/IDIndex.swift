/// An open-addressing hash index from keys to Int32 ids whose keys live in the caller's own
/// records. Storing only the id and 32 bits of the hash per bucket (8 bytes) instead of a copy
/// of the key keeps the engine's large tables small; the caller supplies the hash and a
/// predicate that compares a candidate's record with the key.
///
/// Linear probing with backward-shift deletion: no tombstones, so lookups stay short however
/// many routes come and go.
struct IDIndex {
    private var ids: [Int32]
    private var hashes: [UInt32]
    private var mask: Int
    private(set) var count = 0

    init() {
        ids = [Int32](repeating: -1, count: 16)
        hashes = [UInt32](repeating: 0, count: 16)
        mask = 15
    }

    var bucketCount: Int { ids.count }

    /// The id whose record `matches`, probing from the hash's home bucket.
    @inline(__always)
    func find(_ hash: UInt64, _ matches: (Int32) -> Bool) -> Int32? {
        let tag = UInt32(truncatingIfNeeded: hash)
        var i = Int(tag) & mask
        while true {
            let id = ids[i]
            if id < 0 { return nil }
            if hashes[i] == tag && matches(id) { return id }
            i = (i + 1) & mask
        }
    }

    /// Adds `id`; the caller has checked that its key is not present.
    mutating func insert(_ id: Int32, hash: UInt64) {
        if (count + 1) * 4 > ids.count * 3 { grow() }
        place(id, UInt32(truncatingIfNeeded: hash))
        count += 1
    }

    /// Removes `id`, which was inserted with `hash`.
    mutating func remove(_ id: Int32, hash: UInt64) {
        var i = Int(UInt32(truncatingIfNeeded: hash)) & mask
        while ids[i] != id {
            guard ids[i] >= 0 else { return }
            i = (i + 1) & mask
        }
        // Backward shift: pull later members of the cluster into the hole when their home
        // bucket does not lie between the hole and their current bucket.
        var hole = i
        var j = (i + 1) & mask
        while ids[j] >= 0 {
            let home = Int(hashes[j]) & mask
            let distanceFromHome = (j - home) & mask
            let distanceToHole = (j - hole) & mask
            if distanceFromHome >= distanceToHole {
                ids[hole] = ids[j]; hashes[hole] = hashes[j]
                hole = j
            }
            j = (j + 1) & mask
        }
        ids[hole] = -1
        count -= 1
    }

    private mutating func place(_ id: Int32, _ tag: UInt32) {
        var i = Int(tag) & mask
        while ids[i] >= 0 { i = (i + 1) & mask }
        ids[i] = id
        hashes[i] = tag
    }

    private mutating func grow() {
        let oldIDs = ids, oldHashes = hashes
        ids = [Int32](repeating: -1, count: oldIDs.count * 2)
        hashes = [UInt32](repeating: 0, count: oldIDs.count * 2)
        mask = ids.count - 1
        for i in oldIDs.indices where oldIDs[i] >= 0 { place(oldIDs[i], oldHashes[i]) }
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
