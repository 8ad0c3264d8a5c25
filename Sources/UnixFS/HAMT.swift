import Blocks
import Multiformats

/// UnixFS HAMT (sharded) directories: reading. Building is `DirectoryBuilder`'s.
/// Format: formats/hamt.md.
///
/// A shard is a dag-pb node whose UnixFS Data is a `HAMTShard` carrying a
/// bitfield of occupied buckets, the hash type and the fanout. Each link is
/// named by its bucket's index in upper-case hex (fixed width), followed by the
/// entry's name for an entry, or by nothing for a child shard.
///
/// Everything read is validated; a malformed shard throws
/// `UnixFSError(.malformedUnixFS, …)` and a shard the source lacks throws
/// `UnixFSError(.blockMissing, …)`.
public enum HAMT {
    /// `hashType` of every UnixFS HAMT: multicodec murmur3-x64-64.
    public static let murmur3HashType: UInt64 = 0x22
    /// Kubo's default fanout (`DefaultShardWidth`).
    public static let defaultFanout = 256
    /// The smallest fanout: one bitfield byte.
    public static let minFanout = 8
    /// The largest fanout readers accept (boxo's `maximumHamtWidth`; spec: MUST limit to 1024).
    public static let maxFanout = 1024
    /// Child shards fetched at once while listing.
    static let listingConcurrency = 16

    /// Whether `fanout` is one a HAMT may have: a power of two in 8...1024.
    public static func isValidFanout(_ fanout: Int) -> Bool {
        fanout >= minFanout && fanout <= maxFanout && fanout & (fanout - 1) == 0
    }

    /// The 64 hash bits that place `name` in a HAMT (`murmur3-x64-64` of its UTF-8).
    public static func hash(_ name: String) -> UInt64 { Murmur3.x64_64(name) }

    /// The bucket `hash` falls in at `level` (0 = root) of a HAMT of `fanout`,
    /// or `nil` when the hash has no bits left for that level.
    public static func bucketIndex(hash: UInt64, level: Int, fanout: Int) -> Int? {
        guard let layout = HAMTLayout(fanout: fanout), level >= 0, level < layout.maxLevels else { return nil }
        return layout.bucket(of: hash, level: level)
    }

    // MARK: Reading

    /// Every entry of a HAMT directory rooted at `root` (a decoded HAMTShard
    /// node; `data` must be fully decoded, bitfield included), in HAMT order:
    /// depth first, buckets ascending. Child shards are fetched from `source`,
    /// several at a time; a child shard linked more than once is listed once.
    public static func entries(of root: DAGPBNode, data: UnixFSData, source: some BlockSource) async throws -> [DirectoryEntry] {
        let layout = try validatedLayout(of: data, expected: nil)
        let rootSlots = try decodeShard(root, data: data, layout: layout)

        // Fetch breadth first so that each level's shards load concurrently…
        var shards: [CID: [ShardSlot]] = [:]
        var frontier = childShards(of: rootSlots, known: &shards)
        var level = 1
        while !frontier.isEmpty {
            guard level < layout.maxLevels else {
                throw UnixFSError(.malformedUnixFS, "HAMT deeper than the \(layout.maxLevels) levels a 64-bit hash allows")
            }
            let loaded = try await loadShards(frontier, layout: layout, source: source)
            frontier = []
            for (cid, slots) in loaded {
                shards[cid] = slots
                frontier += childShards(of: slots, known: &shards)
            }
            level += 1
        }

        // …then list depth first, as the trie orders entries.
        var entries: [DirectoryEntry] = []
        var listed: Set<CID> = []
        func list(_ slots: [ShardSlot]) {
            for slot in slots {
                switch slot.content {
                case .entry(let entry):
                    entries.append(entry)
                case .shard(let cid, _):
                    guard listed.insert(cid).inserted, let child = shards[cid] else { continue }
                    list(child)
                }
            }
        }
        list(rootSlots)
        return entries
    }

    /// Looks up one name, fetching only the shards on its hash path. Returns
    /// `nil` when the name is absent. Names compare byte for byte.
    public static func lookup(_ name: String, in root: DAGPBNode, data: UnixFSData, source: some BlockSource) async throws -> DirectoryEntry? {
        let layout = try validatedLayout(of: data, expected: nil)
        let nameHash = hash(name)
        var slots = try decodeShard(root, data: data, layout: layout)
        var level = 0
        while true {
            let bucket = layout.bucket(of: nameHash, level: level)
            guard let slot = slots.first(where: { $0.bucket == bucket }) else { return nil }
            switch slot.content {
            case .entry(let entry):
                return entry.name.utf8.elementsEqual(name.utf8) ? entry : nil
            case .shard(let cid, _):
                level += 1
                guard level < layout.maxLevels else {
                    throw UnixFSError(.malformedUnixFS, "HAMT deeper than the \(layout.maxLevels) levels a 64-bit hash allows")
                }
                slots = try await loadShard(cid, layout: layout, source: source)
            }
        }
    }

    // MARK: Shard decoding

    struct ShardSlot: Sendable {
        enum Content: Sendable {
            case entry(DirectoryEntry)
            case shard(CID, tsize: UInt64)
        }
        let bucket: Int
        let content: Content
    }

    /// Checks the HAMT parameters in `data`; child shards must repeat the root's fanout.
    static func validatedLayout(of data: UnixFSData, expected: HAMTLayout?) throws(UnixFSError) -> HAMTLayout {
        guard data.kind == .hamtShard else {
            throw UnixFSError(.malformedUnixFS, "expected a HAMTShard, found UnixFS type \(data.kind.rawValue)")
        }
        guard let hashType = data.hashType else { throw UnixFSError(.malformedUnixFS, "HAMT shard without hashType") }
        guard hashType == murmur3HashType else {
            throw UnixFSError(.malformedUnixFS, "HAMT hashType 0x\(String(hashType, radix: 16)) (only murmur3-x64-64, 0x22, exists)")
        }
        guard let fanout = data.fanout else { throw UnixFSError(.malformedUnixFS, "HAMT shard without fanout") }
        guard fanout <= UInt64(maxFanout), let layout = HAMTLayout(fanout: Int(fanout)) else {
            throw UnixFSError(.malformedUnixFS, "HAMT fanout \(fanout) (must be a power of 2 in \(minFanout)...\(maxFanout))")
        }
        if let expected, expected.fanout != layout.fanout {
            throw UnixFSError(.malformedUnixFS, "child shard fanout \(layout.fanout) differs from the root's \(expected.fanout)")
        }
        return layout
    }

    /// The slots of one shard, in bucket order, after checking that the
    /// bitfield and the link names agree.
    static func decodeShard(_ node: DAGPBNode, data: UnixFSData, layout: HAMTLayout) throws(UnixFSError) -> [ShardSlot] {
        let buckets = try layout.occupiedBuckets(bitfield: data.data ?? [])
        guard buckets.count == node.links.count else {
            throw UnixFSError(.malformedUnixFS, "HAMT bitfield has \(buckets.count) buckets set but the shard has \(node.links.count) links")
        }
        var slots: [ShardSlot] = []
        slots.reserveCapacity(buckets.count)
        for (bucket, link) in zip(buckets, node.links) {
            guard let name = link.name else { throw UnixFSError(.malformedUnixFS, "HAMT link without a name") }
            let nameBytes = name.utf8
            guard nameBytes.count >= layout.prefixLength,
                let prefix = layout.parsePrefix(nameBytes.prefix(layout.prefixLength))
            else {
                throw UnixFSError(.malformedUnixFS, "HAMT link name \"\(name)\" lacks a \(layout.prefixLength)-digit upper-case hex prefix")
            }
            guard prefix == bucket else {
                throw UnixFSError(.malformedUnixFS, "HAMT link \"\(name)\" is in bucket \(bucket) by the bitfield")
            }
            if nameBytes.count == layout.prefixLength {
                slots.append(ShardSlot(bucket: bucket, content: .shard(link.cid, tsize: link.tsize ?? 0)))
            } else {
                // The prefix is ASCII, so what follows starts on a character boundary.
                let entryName = String(decoding: nameBytes.dropFirst(layout.prefixLength), as: UTF8.self)
                let entry = DirectoryEntry(name: entryName, cid: link.cid, tsize: link.tsize ?? 0)
                slots.append(ShardSlot(bucket: bucket, content: .entry(entry)))
            }
        }
        return slots
    }

    /// Fetches and decodes the child shard `cid`.
    static func loadShard(_ cid: CID, layout: HAMTLayout, source: some BlockSource) async throws -> [ShardSlot] {
        guard cid.codec == .dagPB else {
            throw UnixFSError(.malformedUnixFS, "HAMT child shard \(cid) is \(cid.codec.name), not dag-pb")
        }
        let bytes: [UInt8]
        if cid.isIdentity {
            bytes = Array(cid.digest)
        } else {
            guard let fetched = try await source.get(cid) else {
                throw UnixFSError(.blockMissing, "HAMT child shard \(cid)")
            }
            bytes = fetched
        }
        return try decodeChildShard(bytes, cid: cid, layout: layout)
    }

    /// Decodes a fetched child shard. Kept out of the async caller: the
    /// compiler (6.3) crashes splitting async functions that call typed-throws code.
    static func decodeChildShard(_ bytes: [UInt8], cid: CID, layout: HAMTLayout) throws -> [ShardSlot] {
        let node = try DAGPBNode(decoding: bytes)
        guard let dataBytes = node.data else { throw UnixFSError(.malformedUnixFS, "HAMT child shard \(cid) has no Data") }
        let data = try UnixFSData(decoding: dataBytes)
        _ = try validatedLayout(of: data, expected: layout)
        return try decodeShard(node, data: data, layout: layout)
    }

    /// Loads `cids` with at most `listingConcurrency` fetches in flight.
    private static func loadShards(_ cids: [CID], layout: HAMTLayout, source: some BlockSource) async throws -> [(CID, [ShardSlot])] {
        try await withThrowingTaskGroup(of: (Int, [ShardSlot]).self) { group in
            var results = [[ShardSlot]](repeating: [], count: cids.count)
            var next = 0
            func startNext() {
                let index = next
                let cid = cids[index]
                group.addTask { (index, try await loadShard(cid, layout: layout, source: source)) }
                next += 1
            }
            while next < min(cids.count, listingConcurrency) { startNext() }
            while let (index, slots) = try await group.next() {
                results[index] = slots
                if next < cids.count { startNext() }
            }
            return Array(zip(cids, results))
        }
    }

    /// Child shards of `slots` not seen before, recorded in `known` as pending.
    private static func childShards(of slots: [ShardSlot], known: inout [CID: [ShardSlot]]) -> [CID] {
        var found: [CID] = []
        for slot in slots {
            if case .shard(let cid, _) = slot.content, known[cid] == nil {
                known[cid] = []
                found.append(cid)
            }
        }
        return found
    }
}

/// The geometry a fanout gives a HAMT: bits per level, link-name prefix width
/// and how many levels 64 hash bits can index.
struct HAMTLayout: Hashable, Sendable {
    let fanout: Int
    /// log2(fanout): hash bits consumed per level.
    let bitWidth: Int
    /// Hex digits of `fanout - 1`: the fixed width of link-name prefixes.
    let prefixLength: Int

    init?(fanout: Int) {
        guard HAMT.isValidFanout(fanout) else { return nil }
        self.fanout = fanout
        self.bitWidth = fanout.trailingZeroBitCount
        self.prefixLength = String(fanout - 1, radix: 16).utf8.count
    }

    /// Levels the 64-bit hash can index; a shard below the last would have no bits.
    var maxLevels: Int { 64 / bitWidth }

    /// The hash bits that decide every level: names that agree on them cannot
    /// be told apart, and boxo refuses to shard them ("sharded directory too deep").
    func significantBits(of hash: UInt64) -> UInt64 {
        let used = maxLevels * bitWidth
        return used == 64 ? hash : hash >> UInt64(64 - used)
    }

    /// Bits `[level × bitWidth, (level + 1) × bitWidth)` of the hash, counted
    /// from its most significant bit (boxo reads the big-endian bytes of h1 left to right).
    @inline(__always)
    func bucket(of hash: UInt64, level: Int) -> Int {
        let shift = 64 - (level + 1) * bitWidth
        return Int((hash >> UInt64(shift)) & UInt64(fanout - 1))
    }

    /// The link-name prefix of `bucket`: upper-case hex, zero-padded.
    func prefix(_ bucket: Int) -> String {
        let digits = String(bucket, radix: 16, uppercase: true)
        return String(repeating: "0", count: prefixLength - digits.utf8.count) + digits
    }

    /// Parses a link-name prefix; only upper-case hex digits are accepted.
    func parsePrefix(_ digits: some Sequence<UInt8>) -> Int? {
        var value = 0
        for digit in digits {
            switch digit {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = value << 4 | Int(digit - UInt8(ascii: "0"))
            case UInt8(ascii: "A")...UInt8(ascii: "F"): value = value << 4 | Int(digit - UInt8(ascii: "A") + 10)
            default: return nil
            }
        }
        return value < fanout ? value : nil
    }

    /// The bitfield as boxo writes it (go-bitfield): a big-endian integer in
    /// which bit `i` is bucket `i`, without leading zero bytes.
    func bitfieldBytes(occupied buckets: some Sequence<Int>) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: fanout / 8)
        for bucket in buckets { bytes[bytes.count - 1 - bucket / 8] |= 1 << UInt8(bucket % 8) }
        guard let first = bytes.firstIndex(where: { $0 != 0 }) else { return [] }
        return Array(bytes[first...])
    }

    /// The occupied buckets in ascending order. Leading zero bytes are
    /// tolerated; a bitfield longer than `fanout / 8` bytes is not.
    func occupiedBuckets(bitfield: [UInt8]) throws(UnixFSError) -> [Int] {
        guard bitfield.count <= fanout / 8 else {
            throw UnixFSError(.malformedUnixFS, "HAMT bitfield of \(bitfield.count) bytes for fanout \(fanout)")
        }
        var buckets: [Int] = []
        // Bytes from last to first hold buckets 0-7, 8-15, …
        for (byteIndex, byte) in bitfield.reversed().enumerated() where byte != 0 {
            for bit in 0..<8 where byte & (1 << UInt8(bit)) != 0 {
                buckets.append(byteIndex * 8 + bit)
            }
        }
        return buckets
    }
}
