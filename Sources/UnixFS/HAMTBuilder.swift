import Blocks
import Multiformats

/// Encodes a set of entries as UnixFS HAMT shards, as boxo's `hamt.Shard`
/// serializes them. Format: formats/hamt.md.
///
/// boxo's trie is canonical: an entry sits in the shallowest shard where no
/// other entry shares its bucket path, whatever the insertion order. So the
/// shards follow from the final entry set: with the entries sorted by hash,
/// every shard is a contiguous run of them (buckets are read from the most
/// significant bits), split by the bucket of its level.
struct HAMTShardEncoder {
    struct Item {
        let hash: UInt64
        let entry: DirectoryEntry
    }

    let layout: HAMTLayout
    let cids: CIDBuilder
    /// Mode and mtime go on the root shard only.
    let rootAttributes: FileAttributes

    /// - Precondition: `items` are sorted by hash, and no two share the hash
    ///   bits the layout uses (`DirectoryBuilder` refuses such names).
    func encode(_ items: [Item]) -> (root: FileLink, blocks: [Block]) {
        var blocks: [Block] = []
        let root = encodeShard(items[...], level: 0, blocks: &blocks)
        return (FileLink(cid: root.cid, fileSize: 0, tsize: root.tsize), blocks)
    }

    private func encodeShard(_ items: ArraySlice<Item>, level: Int, blocks: inout [Block]) -> (cid: CID, tsize: UInt64) {
        precondition(level < layout.maxLevels, "HAMT names collide on every usable hash bit")
        var links: [DAGPBLink] = []
        var buckets: [Int] = []
        var childrenSize: UInt64 = 0
        var start = items.startIndex
        while start < items.endIndex {
            let bucket = layout.bucket(of: items[start].hash, level: level)
            var end = start + 1
            while end < items.endIndex && layout.bucket(of: items[end].hash, level: level) == bucket { end += 1 }
            let link: DAGPBLink
            if end - start == 1 {
                let entry = items[start].entry
                link = DAGPBLink(cid: entry.cid, name: layout.prefix(bucket) + entry.name, tsize: entry.tsize)
            } else {
                let child = encodeShard(items[start..<end], level: level + 1, blocks: &blocks)
                link = DAGPBLink(cid: child.cid, name: layout.prefix(bucket), tsize: child.tsize)
            }
            childrenSize &+= link.tsize ?? 0  // wraps, as Go's uint64 Tsize sum does
            links.append(link)
            buckets.append(bucket)
            start = end
        }
        let attributes = level == 0 ? rootAttributes : FileAttributes()
        let bitfield = layout.bitfieldBytes(occupied: buckets)
        let data = UnixFSData(
            kind: .hamtShard, data: bitfield.isEmpty ? nil : bitfield,
            hashType: HAMT.murmur3HashType, fanout: UInt64(layout.fanout),
            mode: attributes.mode, mtime: attributes.mtime)
        let bytes = DAGPBNode(links: links, data: data.encoded()).encoded()
        let cid = cids.cid(for: bytes, codec: .dagPB)
        blocks.append(Block(cid: cid, bytes: bytes))
        return (cid, UInt64(bytes.count) &+ childrenSize)
    }
}
