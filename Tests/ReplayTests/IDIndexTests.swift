import TestSupport
import Testing
@testable import Containers

/// The engine's open-addressing index against a dictionary model: random inserts and removals
/// across many growth steps (sizes that are not powers of two, probes that wrap around the
/// end, grown while the old buckets are handed back in steps), with deliberately colliding
/// hashes so backward-shift deletion is exercised.
@Test func idIndexAgreesWithADictionaryThroughGrowthAndRemovals() {
    var random = SplitMix(seed: 99)
    // A pool of tags (the low 32 bits of a hash): ids share tags, as colliding keys do.
    let tags = (0..<5000).map { _ in random.next() & 0xFFFF_FFFF }
    let index = IDIndex()
    var model: [Int32: UInt64] = [:]  // id → hash
    var nextID: Int32 = 0
    for step in 0..<60_000 {
        if model.isEmpty || random.below(3) != 0 {
            // Later on only 64 distinct tags: long clusters of equal tags.
            let hash = tags[random.below(step < 30_000 ? tags.count : 64)] | UInt64(random.below(1 << 16)) << 40
            index.insert(nextID, hash: hash)
            model[nextID] = hash
            nextID += 1
        } else {
            let victim = model.keys.randomElement(using: &random)!
            index.remove(victim, hash: model[victim]!)
            model[victim] = nil
        }
        if step % 997 == 0 {
            #expect(index.count == model.count)
            for (id, hash) in model.prefix(200) {
                #expect(index.find(hash) { $0 == id } == id)
            }
        }
    }
    #expect(index.count * 4 <= index.bucketCount * 3)
    for (id, hash) in model { #expect(index.find(hash) { $0 == id } == id) }
    // A removed id is gone even when other ids share its hash.
    let gone = nextID - 1
    if let hash = model[gone] {
        index.remove(gone, hash: hash)
        #expect(index.find(hash) { $0 == gone } == nil)
    }
}
