import DHT
import P2P
import Testing

/// Keys, distances and the routing table (formats/dht.md, sections 1 and 3).
@Suite struct KeyspaceTests {
    static func key(_ first: UInt8, _ rest: UInt8 = 0) -> KademliaKey {
        KademliaKey(digest: [first, rest] + Array(repeating: 0, count: 30))
    }

    @Test func positionsAreSHA256() {
        // SHA-256("") = e3b0c442…
        #expect(KademliaKey(hashing: []).bytes.prefix(4) == [0xE3, 0xB0, 0xC4, 0x42])
    }

    @Test func distanceAndCommonPrefix() {
        let a = Self.key(0b1000_0000), b = Self.key(0b1100_0000), c = Self.key(0b0000_0000)
        #expect(a.commonPrefixLength(with: b) == 1)
        #expect(a.commonPrefixLength(with: c) == 0)
        #expect(a.commonPrefixLength(with: a) == 256)
        #expect(a.distance(to: b) < a.distance(to: c))
        #expect(Self.key(0, 1).commonPrefixLength(with: Self.key(0, 0)) == 15)
        let last = KademliaKey(digest: Array(repeating: 0, count: 31) + [1])
        #expect(last.commonPrefixLength(with: Self.key(0)) == 255)
    }

    @Test func randomKeysShareExactlyTheAskedPrefix() {
        var generator = SystemRandomNumberGenerator()
        let local = KademliaKey(hashing: Array("local".utf8))
        for prefix in [0, 1, 7, 63, 64, 65, 127, 200, 255] {
            for _ in 0..<20 {
                #expect(local.randomKey(withCommonPrefix: prefix, using: &generator).commonPrefixLength(with: local) == prefix)
            }
        }
    }

    @Test func refreshKeysLandInTheirBucketAsServersHashThem() {
        var generator = SystemRandomNumberGenerator()
        let local = KademliaKey(hashing: Array("local".utf8))
        for prefix in [0, 3, 9, 15] {
            let key = DHT.refreshKey(near: local, commonPrefix: prefix, using: &generator)
            #expect(key.count == 34 && key.starts(with: [0x12, 0x20]))
            #expect(KademliaKey(hashing: key).commonPrefixLength(with: local) == prefix)
        }
    }

    @Test func failingPeersAreNotRecommended() {
        let now = ContinuousClock.now
        var table = RoutingTable<Int>(local: Self.key(0), maxFailures: 2)
        table.add(1, key: Self.key(0x80), now: now)
        table.add(2, key: Self.key(0x40), now: now)
        table.recordFailure(1)
        table.recordFailure(1)
        #expect(table.nearest(to: Self.key(0x80), count: 5).map(\.peer) == [2])
        table.add(1, key: Self.key(0x80), now: now)   // it answered again
        #expect(table.nearest(to: Self.key(0x80), count: 5).map(\.peer) == [1, 2])
    }

    @Test func bucketsHoldKPeersAndReplaceOnlyFailingOnes() {
        let now = ContinuousClock.now
        var table = RoutingTable<Int>(local: Self.key(0), bucketSize: 2, maxFailures: 2)
        // Keys with a first bit of 1 share no prefix with ours: bucket 0.
        var added: [Bool] = []
        added.append(table.add(1, key: Self.key(0x80), now: now))
        added.append(table.add(2, key: Self.key(0x81), now: now))
        added.append(table.add(3, key: Self.key(0x82), now: now))   // full, both answer
        table.recordFailure(2)
        added.append(table.add(3, key: Self.key(0x82), now: now))   // one failure is not enough
        table.recordFailure(2)
        added.append(table.add(3, key: Self.key(0x82), now: now))
        #expect(Set(table.peers) == [1, 3])
        added.append(table.add(4, key: Self.key(0x40), now: now))   // bucket 1 has room
        added.append(table.add(5, key: Self.key(0), now: now))      // our own key
        #expect(added == [true, true, false, false, true, true, false])
        #expect(table.count == 3)
        table.remove(1)
        #expect(!table.contains(1) && table.count == 2)
    }

    @Test func nearestIsSortedByDistance() {
        var generator = SystemRandomNumberGenerator()
        let now = ContinuousClock.now
        var table = RoutingTable<Int>(local: KademliaKey(hashing: [0]))
        var keys: [Int: KademliaKey] = [:]
        for peer in 1...300 {
            let key = KademliaKey(hashing: [UInt8(peer & 0xFF), UInt8(peer >> 8)])
            if table.add(peer, key: key, now: now) { keys[peer] = key }
        }
        let target = KademliaKey(hashing: (0..<8).map { _ in UInt8.random(in: 0...255, using: &generator) })
        let nearest = table.nearest(to: target, count: 20, excluding: [keys.keys.first!])
        let expected = keys.filter { $0.key != keys.keys.first! }.sorted { $0.value.distance(to: target) < $1.value.distance(to: target) }
        #expect(nearest.map(\.peer) == expected.prefix(20).map(\.key))
    }

    @Test func staleBucketsAreListedForRefresh() {
        let start = ContinuousClock.now
        var table = RoutingTable<Int>(local: Self.key(0))
        table.add(1, key: Self.key(0x80), now: start)                 // bucket 0
        table.add(2, key: Self.key(0x20), now: start + .seconds(100)) // bucket 2
        // Buckets 0…2 up to the deepest non-empty one; bucket 2 was useful recently.
        #expect(table.bucketsToRefresh(staleBefore: start + .seconds(50)) == [0, 1])
    }
}
