import PubSub
import Testing

/// The message cache and the seen cache (formats/pubsub.md §4).
@Suite struct MessageCacheTests {
    static func message(_ n: Int, topic: String = "t") -> PubSubMessage {
        PubSubMessage(from: [1], data: [UInt8(n)], seqno: [0, 0, 0, 0, 0, 0, 0, UInt8(n)], topic: topic)
    }

    @Test func gossipCoversTheNewestWindowsAndShiftsForget() {
        var cache = MessageCache<String>(historyLength: 5, historyGossip: 3)
        // One message per heartbeat window: ids [n], windows newest first after the loop: 6,5,4,3,2.
        for n in 0..<7 {
            cache.put(Self.message(n), id: [UInt8(n)])
            cache.put(Self.message(100 + n, topic: "other"), id: [UInt8(100 + n)])
            if n < 6 { cache.shift() }
        }
        #expect(cache.gossipIDs(topic: "t") == [[6], [5], [4]])
        #expect(cache.gossipIDs(topic: "other") == [[106], [105], [104]])
        #expect(cache.contains([2]) && !cache.contains([1]) && !cache.contains([0]))
        #expect(cache.count == 10)
        for _ in 0..<5 { cache.shift() }
        #expect(cache.count == 0 && cache.gossipIDs(topic: "t").isEmpty)
    }

    @Test func iwantRepliesAreBoundedPerPeer() {
        var cache = MessageCache<String>(maxTransmissions: 3)
        cache.put(Self.message(1), id: [1])
        let replies = (0..<4).map { _ in cache.message(for: [1], to: "a") }
        #expect(replies == [Self.message(1), Self.message(1), Self.message(1), nil])
        let other = cache.message(for: [1], to: "b"), unknown = cache.message(for: [9], to: "a")
        #expect(other == Self.message(1) && unknown == nil)
    }

    @Test func aRepeatedPutKeepsTheFirst() {
        var cache = MessageCache<String>()
        cache.put(Self.message(1), id: [1])
        cache.put(Self.message(2), id: [1])
        let kept = cache.message(for: [1], to: "a")
        #expect(kept == Self.message(1))
        #expect(cache.gossipIDs(topic: "t") == [[1]])
    }

    @Test func seenIDsExpireAfterTheirTTL() {
        var seen = SeenCache(ttl: .seconds(120))
        let start = ContinuousClock.now
        let answers = [
            seen.insert([1], now: start),
            seen.insert([1], now: start + .seconds(60)),
            seen.insert([2], now: start + .seconds(60)),
            seen.contains([1], now: start + .seconds(119)),
            seen.contains([1], now: start + .seconds(120)),
            seen.contains([2], now: start + .seconds(150)),
            seen.insert([1], now: start + .seconds(150)),
        ]
        #expect(answers == [true, false, true, true, false, true, true])
        // Many expired entries are dropped, not kept.
        for n in 0..<10_000 { _ = seen.insert([UInt8(n & 0xFF), UInt8(n >> 8)], now: start + .seconds(200)) }
        let late = seen.insert([7, 7, 7], now: start + .seconds(1000))
        #expect(late && seen.count == 1)
    }
}
