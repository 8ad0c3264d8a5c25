// An iterative Kademlia lookup as a pure state machine: the driver asks
// which peers to query, reports each answer or failure, and stops when the
// lookup is finished. Format: formats/dht.md, section 4.

/// Converges on the `resultCount` peers closest to `target`, querying at most
/// `parallelism` (α) peers at a time.
///
/// Rule: the lookup ends when the `resultCount` closest peers it has heard of
/// (leaving out those that failed) have all answered, or when nothing is left
/// to query. Each peer is queried at most once.
public struct Lookup<Peer: Hashable & Sendable>: Sendable {
    public enum State: Hashable, Sendable { case candidate, waiting, answered, failed }

    struct Candidate: Sendable {
        let peer: Peer
        let distance: KademliaKey
        var state: State
    }

    public let target: KademliaKey
    /// k: 20.
    public let resultCount: Int
    /// α: 3.
    public let parallelism: Int
    /// Peers heard of, closest first.
    private var candidates: [Candidate] = []
    private var known: Set<Peer> = []
    private var excluded: Set<Peer>
    /// Queries sent (the lookup's cost) and answers that brought a closer peer.
    public private(set) var queried = 0

    public init(target: KademliaKey, seeds: [(Peer, KademliaKey)], resultCount: Int = 20, parallelism: Int = 3,
                excluding excluded: Set<Peer> = []) {
        self.target = target
        self.resultCount = resultCount
        self.parallelism = parallelism
        self.excluded = excluded
        insert(seeds)
    }

    private mutating func insert(_ peers: [(Peer, KademliaKey)]) {
        for (peer, key) in peers where !excluded.contains(peer) && known.insert(peer).inserted {
            let candidate = Candidate(peer: peer, distance: key.distance(to: target), state: .candidate)
            let position = candidates.partitioningIndex { $0.distance > candidate.distance }
            candidates.insert(candidate, at: position)
        }
    }

    /// Peers to query now (marked waiting): the closest not yet queried,
    /// within the `resultCount` closest live ones, up to `parallelism` in flight.
    public mutating func nextQueries() -> [Peer] {
        var inFlight = candidates.lazy.filter { $0.state == .waiting }.count
        var live = 0
        var chosen: [Peer] = []
        for position in candidates.indices {
            guard inFlight < parallelism, live < resultCount else { break }
            switch candidates[position].state {
            case .failed: continue
            case .answered, .waiting: live += 1
            case .candidate:
                live += 1
                candidates[position].state = .waiting
                chosen.append(candidates[position].peer)
                inFlight += 1
                queried += 1
            }
        }
        return chosen
    }

    /// `peer` answered, naming `closer` peers.
    public mutating func answered(_ peer: Peer, closer: [(Peer, KademliaKey)]) {
        set(peer, .answered)
        insert(closer)
    }

    /// `peer` did not answer (error, timeout, refused the protocol).
    public mutating func failed(_ peer: Peer) { set(peer, .failed) }

    private mutating func set(_ peer: Peer, _ state: State) {
        if let position = candidates.firstIndex(where: { $0.peer == peer && $0.state == .waiting }) {
            candidates[position].state = state
        }
    }

    /// True when the closest live peers have all answered, or nothing is left
    /// to query and nothing is in flight.
    public var isFinished: Bool {
        var live = 0
        for candidate in candidates {
            switch candidate.state {
            case .failed: continue
            case .answered: live += 1
            case .waiting, .candidate: return false
            }
            if live == resultCount { return true }
        }
        return true
    }

    /// Peers waiting for an answer.
    public var inFlight: Int { candidates.lazy.filter { $0.state == .waiting }.count }

    /// The closest peers that answered, closest first, at most `resultCount`.
    public var closest: [Peer] {
        Array(candidates.lazy.filter { $0.state == .answered }.prefix(resultCount).map(\.peer))
    }

    /// `closest` with each peer's distance to the target.
    var closestWithDistances: [(Peer, KademliaKey)] {
        Array(candidates.lazy.filter { $0.state == .answered }.prefix(resultCount).map { ($0.peer, $0.distance) })
    }

    public func state(of peer: Peer) -> State? { candidates.first { $0.peer == peer }?.state }

    /// Never queries `peer` (dropped if not yet queried): another path has it.
    public mutating func exclude(_ peer: Peer) {
        excluded.insert(peer)
        candidates.removeAll { $0.peer == peer && $0.state == .candidate }
    }
}

/// A lookup over `paths` disjoint paths (S/Kademlia): the seeds are dealt
/// out round-robin, each path is a `Lookup` of its own, and no peer is queried
/// by two paths, so one path of bad peers cannot steer the others. One path
/// is a plain `Lookup`. Format: formats/dht.md, section 4 rule 6.
public struct DisjointLookup<Peer: Hashable & Sendable>: Sendable {
    public private(set) var paths: [Lookup<Peer>]
    /// Which path queried each peer.
    private var owner: [Peer: Int] = [:]

    public init(target: KademliaKey, seeds: [(Peer, KademliaKey)], paths: Int = 1, resultCount: Int = 20,
                parallelism: Int = 3, excluding excluded: Set<Peer> = []) {
        let count = max(1, min(paths, max(1, seeds.count)))
        self.paths = (0..<count).map { path in
            let share = seeds.enumerated().filter { $0.offset % count == path }.map(\.element)
            return Lookup(target: target, seeds: share, resultCount: resultCount, parallelism: parallelism, excluding: excluded)
        }
    }

    /// Peers to query now, over all paths; each is claimed by its path and
    /// dropped from the others.
    public mutating func nextQueries() -> [Peer] {
        var chosen: [Peer] = []
        for path in paths.indices {
            for peer in paths[path].nextQueries() {
                owner[peer] = path
                chosen.append(peer)
                for other in paths.indices where other != path { paths[other].exclude(peer) }
            }
        }
        return chosen
    }

    /// `peer` answered: its closer peers go to its own path, less those another path queried.
    public mutating func answered(_ peer: Peer, closer: [(Peer, KademliaKey)]) {
        guard let path = owner[peer] else { return }
        paths[path].answered(peer, closer: closer.filter { owner[$0.0].map { $0 == path } ?? true })
    }

    public mutating func failed(_ peer: Peer) {
        guard let path = owner[peer] else { return }
        paths[path].failed(peer)
    }

    /// Every path has finished.
    public var isFinished: Bool { paths.allSatisfy(\.isFinished) }

    public var queried: Int { paths.reduce(0) { $0 + $1.queried } }

    /// The closest answering peers of all paths, closest first, at most `resultCount`.
    public var closest: [Peer] {
        guard paths.count > 1 else { return paths[0].closest }
        var ranked: [(Peer, KademliaKey)] = []
        for path in paths { ranked += path.closestWithDistances }
        ranked.sort { $0.1 < $1.1 }
        return Array(ranked.prefix(paths[0].resultCount).map(\.0))
    }
}

extension Array {
    /// The first index whose element satisfies `belongsInSecondPartition`
    /// (the array is partitioned by it): binary search.
    func partitioningIndex(where belongsInSecondPartition: (Element) -> Bool) -> Int {
        var low = 0, high = count
        while low < high {
            let middle = (low + high) / 2
            if belongsInSecondPartition(self[middle]) { high = middle } else { low = middle + 1 }
        }
        return low
    }
}
