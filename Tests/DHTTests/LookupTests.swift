import DHT
import Testing

/// The lookup state machine over a simulated network of routing tables
/// (formats/dht.md, section 4): no sockets, answers come from each node's table.
@Suite struct LookupTests {
    struct Network {
        var keys: [KademliaKey]
        var tables: [RoutingTable<Int>]
        var dead: Set<Int> = []

        /// `count` nodes; each learns every other node it can fit (a full table, as after long uptime) or a random `known` of them.
        init(count: Int, known: Int? = nil, seed: UInt64 = 1) {
            var generator = SplitMix(seed)
            keys = (0..<count).map { index in KademliaKey(hashing: [UInt8(index & 0xFF), UInt8(index >> 8), UInt8(seed & 0xFF)]) }
            let now = ContinuousClock.now
            tables = keys.map { RoutingTable(local: $0) }
            for node in 0..<count {
                var others = Array(0..<count).filter { $0 != node }
                if let known { others = Array(others.shuffled(using: &generator).prefix(known)) }
                for other in others { tables[node].add(other, key: keys[other], now: now) }
            }
        }

        func trueClosest(to target: KademliaKey, count: Int) -> [Int] {
            keys.indices.filter { !dead.contains($0) }.sorted { keys[$0].distance(to: target) < keys[$1].distance(to: target) }
                .prefix(count).map { $0 }
        }

        /// Runs a lookup from `origin`, answering `parallelism` queries per round; returns the result and rounds.
        func lookup(from origin: Int, target: KademliaKey) -> (closest: [Int], rounds: Int, queried: Int) {
            let seeds = tables[origin].nearest(to: target, count: 20).map { ($0.peer, $0.key) }
            var lookup = Lookup(target: target, seeds: seeds, excluding: [origin])
            var rounds = 0
            while !lookup.isFinished {
                let batch = lookup.nextQueries()
                if batch.isEmpty { break }
                rounds += 1
                for peer in batch {
                    if dead.contains(peer) {
                        lookup.failed(peer)
                    } else {
                        lookup.answered(peer, closer: tables[peer].nearest(to: target, count: 20).map { ($0.peer, $0.key) })
                    }
                }
            }
            return (lookup.closest, rounds, lookup.queried)
        }
    }

    @Test func findsTheTrueKClosestOfFiftyNodes() {
        let network = Network(count: 50)
        for probe in 0..<20 {
            let target = KademliaKey(hashing: [0xAA, UInt8(probe)])
            let result = network.lookup(from: probe % 50, target: target)
            // Kademlia-shaped tables (k per bucket): the exact k closest of the 49 others.
            #expect(result.closest == network.trueClosest(to: target, count: 21).filter { $0 != probe % 50 }.prefix(20).map { $0 })
        }
    }

    @Test func convergesInFewRoundsOnALargeNetwork() {
        let network = Network(count: 600, seed: 7)
        var totalQueries = 0
        for probe in 0..<10 {
            let target = KademliaKey(hashing: [0xBB, UInt8(probe)])
            let result = network.lookup(from: probe, target: target)
            let expected = network.trueClosest(to: target, count: 21).filter { $0 != probe }.prefix(20).map { $0 }
            #expect(Set(result.closest).intersection(expected).count >= 18, "\(result)")
            totalQueries += result.queried
        }
        // Far fewer than asking everyone: Kademlia's point.
        #expect(totalQueries / 10 < 150)
    }

    @Test func deadPeersAreRoutedAround() {
        var network = Network(count: 80, known: 20, seed: 3)
        network.dead = Set((0..<80).filter { $0 % 5 == 1 })
        let target = KademliaKey(hashing: [0xCC])
        let result = network.lookup(from: 0, target: target)
        #expect(result.closest.allSatisfy { !network.dead.contains($0) })
        #expect(result.closest == network.trueClosest(to: target, count: 21).filter { $0 != 0 }.prefix(20).map { $0 })
    }

    @Test func queriesEachPeerOnceAndAtMostAlphaAtATime() {
        let keys = (0..<10).map { KademliaKey(hashing: [UInt8($0)]) }
        let target = KademliaKey(hashing: [0xFF])
        var lookup = Lookup(target: target, seeds: Array(zip(0..<10, keys)), resultCount: 4, parallelism: 3)
        let first = lookup.nextQueries()
        #expect(first.count == 3)
        let whileBusy = lookup.nextQueries()
        #expect(whileBusy.isEmpty)   // three in flight
        lookup.answered(first[0], closer: [(first[1], keys[first[1]])])   // a peer already asked is not asked again
        let second = lookup.nextQueries()
        #expect(second.count == 1 && !first.contains(second[0]))
        #expect(!lookup.isFinished)
    }

    @Test func disjointPathsNeverShareAPeerAndStillFindTheClosest() {
        let network = Network(count: 100, known: 30, seed: 11)
        // A quarter of the nodes lie: they answer with other liars only.
        let liars = Set((0..<100).filter { $0 % 4 == 3 })
        for probe in 0..<10 {
            let origin = probe * 4   // honest
            let target = KademliaKey(hashing: [0xDD, UInt8(probe)])
            let seeds = network.tables[origin].nearest(to: target, count: 20).map { ($0.peer, $0.key) }
            var lookup = DisjointLookup(target: target, seeds: seeds, paths: 3, excluding: [origin])
            #expect(lookup.paths.count == 3)
            var asked: [Int: Int] = [:]
            while !lookup.isFinished {
                let batch = lookup.nextQueries()
                if batch.isEmpty { break }
                #expect(batch.count <= 9)   // α = 3 per path
                for peer in batch {
                    asked[peer, default: 0] += 1
                    var closer = network.tables[peer].nearest(to: target, count: 20)
                    if liars.contains(peer) { closer = closer.filter { liars.contains($0.peer) } }
                    lookup.answered(peer, closer: closer.map { ($0.peer, $0.key) })
                }
            }
            // Rule 6: no peer is queried twice, by the same path or another.
            #expect(asked.values.allSatisfy { $0 == 1 })
            #expect(lookup.queried == asked.count)
            let expected = network.trueClosest(to: target, count: 21).filter { $0 != origin }.prefix(20)
            #expect(Set(lookup.closest).intersection(expected).count >= 18, "\(lookup.closest)")
            #expect(lookup.closest.count == 20)
        }
    }

    @Test func oneDisjointPathIsAPlainLookup() {
        let network = Network(count: 50)
        let target = KademliaKey(hashing: [0xEE])
        let seeds = network.tables[0].nearest(to: target, count: 20).map { ($0.peer, $0.key) }
        var disjoint = DisjointLookup(target: target, seeds: seeds, paths: 1, excluding: [0])
        while !disjoint.isFinished {
            let batch = disjoint.nextQueries()
            if batch.isEmpty { break }
            for peer in batch { disjoint.answered(peer, closer: network.tables[peer].nearest(to: target, count: 20).map { ($0.peer, $0.key) }) }
        }
        #expect(disjoint.closest == network.lookup(from: 0, target: target).closest)
    }

    @Test func anEmptyLookupIsFinished() {
        var lookup = Lookup<Int>(target: KademliaKey(hashing: []), seeds: [])
        let queries = lookup.nextQueries()
        #expect(lookup.isFinished && queries.isEmpty && lookup.closest.isEmpty)
    }
}

/// A seeded generator so simulated networks are the same in every run.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(_ seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
