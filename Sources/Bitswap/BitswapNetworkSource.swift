// Bitswap as the network tier of a BlockService, with read-ahead for large
// files. Format: formats/bitswap.md, section 7.

import Blocks
import Multiformats
import UnixFS

/// A `BlockSource` that fetches from Bitswap peers, for
/// `BlockService(network:)`. `get` waits for the block (verified by hashing)
/// up to `timeout` and answers nil when nobody sends it; `has` never asks the
/// network (it answers from the read-ahead buffer only).
///
/// Read-ahead: when a fetched block has links (a file's root or internal
/// node), the first `readAhead` links are wanted at once; each of those read
/// through this source wants the next link of the same node. A reader that
/// goes through a large file in order (UnixFSReader, the gateway) thus keeps
/// `readAhead` leaves in flight and finds most leaves already fetched. Blocks
/// fetched ahead wait in a buffer of `Configuration.readAheadBytes` (oldest
/// dropped first) until read. Links the `local` store has are not fetched.
public struct BitswapNetworkSource: VerifiedBlockSource {
    public let bitswap: Bitswap
    /// How long one `get` waits for a block: 30 s.
    public let timeout: Duration
    /// Links of a fetched node wanted ahead of the reader: 32 (0: no read-ahead).
    public let readAhead: Int
    /// A local store to skip read-ahead of blocks already here.
    public let local: (any BlockSource)?

    public init(bitswap: Bitswap, timeout: Duration = .seconds(30), readAhead: Int = 32,
                local: (any BlockSource)? = nil) {
        self.bitswap = bitswap
        self.timeout = timeout
        self.readAhead = readAhead
        self.local = local
    }

    public func get(_ cid: CID) async throws -> [UInt8]? {
        try await verifiedBlock(cid)?.bytes
    }

    /// `get`'s block: read-ahead blocks and fetched ones were hashed when
    /// they arrived (blocks are kept only if they match the multihash wanted).
    public func verifiedBlock(_ cid: CID) async throws -> Block? {
        let bytes: [UInt8]
        if let ahead = bitswap.takeReadAhead(cid) {
            bytes = ahead
        } else {
            do {
                bytes = try await bitswap.get(cid, timeout: timeout).bytes
            } catch let error as BitswapError where error == .timeout {
                return nil
            }
        }
        bitswap.advanceReadAhead(after: cid)
        if readAhead > 0, let links = try? DAGLinks.links(of: cid, block: bytes), !links.isEmpty {
            var missing: [CID] = []
            for link in links where !link.isIdentity {
                if let local, (try? await local.has(link)) == true { continue }
                missing.append(link)
            }
            bitswap.startReadAhead(missing, count: readAhead)
        }
        return Block(cid: cid, bytes: bytes)
    }

    public func has(_ cid: CID) async throws -> Bool {
        bitswap.hasReadAhead(cid)
    }
}
