// DHT lookups in an in-process network of real DHT instances (real hosts on
// loopback: TCP, Noise, Yamux), for scripts/dht-lookups.sh.
//
//   tau-bench-dht [NODES] [LOOKUPS]     (defaults 50 and 200)
//
// Each node connects to 3 random earlier nodes, then every node looks up its
// own key (the bootstrap). 20 nodes each provide one key. Then LOOKUPS
// findprovs from random nodes for random provided keys, and LOOKUPS
// FIND_NODE lookups for random keys checked against the true 20 closest.
// Prints time and queries per lookup (p50, p90, p99), success and accuracy.

import DHT
import Foundation
import Logging
import Multiformats
import P2P

@main
struct DHTBench {
    static func percentile(_ values: [Double], _ p: Double) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return .nan }
        return sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * p).rounded()))]
    }

    static func main() async throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .error
            return handler
        }
        let arguments = CommandLine.arguments
        let count = arguments.count > 1 ? Int(arguments[1]) ?? 50 : 50
        let lookups = arguments.count > 2 ? Int(arguments[2]) ?? 200 : 200
        var generator = SystemRandomNumberGenerator()

        var hosts: [P2PHost] = []
        var dhts: [DHT] = []
        for _ in 0..<count {
            let host = P2PHost(identity: .generate(), listenAddresses: [try Multiaddr("/ip4/127.0.0.1/tcp/0")])
            try await host.start()
            var configuration = DHT.Configuration()
            configuration.maintenanceInterval = .milliseconds(200)
            let dht = DHT(host: host, configuration: configuration)
            try await dht.start()
            hosts.append(host)
            dhts.append(dht)
        }
        let addresses = hosts.map { $0.listenAddresses[0].withPeerID($0.peerID) }
        for index in 1..<count {
            for _ in 0..<min(3, index) {
                _ = try? await hosts[index].connect(addresses[Int.random(in: 0..<index, using: &generator)])
            }
        }
        // Identify has run on connect; wait (up to 10 s) for the maintenance loop to add the peers, then bootstrap.
        let settle = ContinuousClock.now + .seconds(10)
        while dhts.contains(where: { $0.routingTable.isEmpty }), ContinuousClock.now < settle {
            try await Task.sleep(for: .milliseconds(20))
        }
        let bootstrapStart = ContinuousClock.now
        for dht in dhts { _ = try? await dht.closestPeers(to: dht.host.peerID.bytes) }
        let bootstrapTime = ContinuousClock.now - bootstrapStart
        let tableSizes = dhts.map { Double($0.routingTable.count) }

        // 20 providers of 20 keys.
        var provided: [(CID, PeerID)] = []
        for index in 0..<min(20, count) {
            let provider = (index * 7919) % count
            let cid = CID.v1(.raw, Multihash(hashing: Array("bench key \(index)".utf8), with: .sha2_256))
            _ = try await dhts[provider].provide(cid)
            provided.append((cid, hosts[provider].peerID))
        }

        var providerTimes: [Double] = [], providerQueries: [Double] = []
        var found = 0
        for _ in 0..<lookups {
            let origin = Int.random(in: 0..<count, using: &generator)
            let (cid, provider) = provided[Int.random(in: 0..<provided.count, using: &generator)]
            guard hosts[origin].peerID != provider else { continue }
            let before = dhts[origin].statistics.queriesSent
            let start = ContinuousClock.now
            let providers = (try? await dhts[origin].findProviders(cid, limit: 1)) ?? []
            let elapsed = ContinuousClock.now - start
            providerTimes.append(Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1e3)
            providerQueries.append(Double(dhts[origin].statistics.queriesSent - before))
            if providers.contains(where: { $0.peer == provider }) { found += 1 }
        }

        let positions = hosts.map { KademliaKey(hashing: $0.peerID.bytes) }
        var nodeTimes: [Double] = [], nodeQueries: [Double] = [], overlap: [Double] = []
        for _ in 0..<lookups {
            let origin = Int.random(in: 0..<count, using: &generator)
            let key = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let target = KademliaKey(hashing: key)
            let truth = Set((0..<count).filter { $0 != origin }
                .sorted { positions[$0].distance(to: target) < positions[$1].distance(to: target) }
                .prefix(20).map { hosts[$0].peerID })
            let before = dhts[origin].statistics.queriesSent
            let start = ContinuousClock.now
            let closest = (try? await dhts[origin].closestPeers(to: key)) ?? []
            let elapsed = ContinuousClock.now - start
            nodeTimes.append(Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1e3)
            nodeQueries.append(Double(dhts[origin].statistics.queriesSent - before))
            overlap.append(Double(Set(closest).intersection(truth).count) / Double(truth.count))
        }

        func row(_ name: String, _ values: [Double], _ unit: String) {
            print(String(format: "%-28@ p50 %8.2f  p90 %8.2f  p99 %8.2f  mean %8.2f %@", name as NSString,
                         percentile(values, 0.5), percentile(values, 0.9), percentile(values, 0.99),
                         values.reduce(0, +) / Double(max(values.count, 1)), unit as NSString))
        }
        print("nodes \(count), lookups \(lookups) of each kind, bootstrap of all nodes \(bootstrapTime)")
        row("routing table size", tableSizes, "peers")
        row("findprovs time", providerTimes, "ms")
        row("findprovs queries", providerQueries, "queries")
        print(String(format: "findprovs found the provider: %d of %d", found, providerTimes.count))
        row("FIND_NODE lookup time", nodeTimes, "ms")
        row("FIND_NODE lookup queries", nodeQueries, "queries")
        row("FIND_NODE true-20 overlap", overlap.map { $0 * 100 }, "%")
        for dht in dhts { await dht.stop() }
        for host in hosts { await host.shutdown() }
    }
}
