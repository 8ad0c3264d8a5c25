// How the server reads its local blocks: reads that block a thread (LMDB's
// memory map faults pages in from disk) run on a thread pool, one hop per
// batch, never on the cooperative pool. Format: formats/bitswap.md, rule N6.

import Blocks
import Multiformats
import NIOPosix

extension Bitswap {
    /// The bytes of each of `cids` the local source has. A source that cannot
    /// be read answers as if it lacked the blocks: the peer is told DONT_HAVE
    /// (when it asked to be) and may ask another.
    func localBlocks(_ cids: [CID]) async -> [CID: [UInt8]] {
        guard !cids.isEmpty else { return [:] }
        if let blocking = blockingBlocks {
            return (try? await readPool.runIfActive { try blocking.blockingBlocks(cids) }) ?? [:]
        }
        var found: [CID: [UInt8]] = [:]
        for cid in cids where found[cid] == nil {
            if let bytes = try? await blocks.get(cid) { found[cid] = bytes }
        }
        return found
    }

    /// The block lengths of each of `cids` the local source has (for the
    /// server's want-block versus want-have choice), without copying bytes
    /// where the source can.
    func localSizes(_ cids: [CID]) async -> [CID: Int] {
        guard !cids.isEmpty else { return [:] }
        if let blocking = blockingBlocks {
            return (try? await readPool.runIfActive { try blocking.blockingSizes(cids) }) ?? [:]
        }
        var sizes: [CID: Int] = [:]
        for cid in cids where sizes[cid] == nil {
            if let bytes = try? await blocks.get(cid) { sizes[cid] = bytes.count }
        }
        return sizes
    }
}
