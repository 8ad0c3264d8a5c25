import Multiformats
import Synchronization

/// Something blocks can be read from: a store, a cache, the network.
public protocol BlockSource: Sendable {
    /// The bytes of the block named `cid`, or `nil` if this source does not have it.
    /// Identity CIDs need no source: see `BlockSource.bytes(of:)`.
    func get(_ cid: CID) async throws -> [UInt8]?
    /// Whether this source has the block, without reading it.
    func has(_ cid: CID) async throws -> Bool
}

/// A source that hashes every block and compares it with its CID before
/// returning it (Bitswap does, as blocks arrive), so a reader of untrusted
/// data need not hash it a second time.
public protocol VerifiedBlockSource: BlockSource {
    /// The block named `cid`, its bytes already checked against `cid`'s
    /// multihash, or `nil` if this source does not have it.
    func verifiedBlock(_ cid: CID) async throws -> Block?
}

/// A source whose reads block the calling thread (a disk read, a page fault
/// in a memory map). Code on the cooperative pool or an event loop hands
/// these calls to a thread pool of its own instead of awaiting `get`
/// (Bitswap's server does, for each batch it answers).
public protocol BlockingBlockSource: BlockSource {
    /// The bytes of each of `cids` this source has (absent ones are left
    /// out), read together; blocks the calling thread.
    func blockingBlocks(_ cids: [CID]) throws -> [CID: [UInt8]]
    /// The length of each of `cids`' blocks this source has, without
    /// copying their bytes; blocks the calling thread.
    func blockingSizes(_ cids: [CID]) throws -> [CID: Int]
}

/// Something blocks can be written to.
public protocol BlockSink: Sendable {
    /// Stores `blocks`. When this returns, they are as durable as the sink promises
    /// (the LMDB store: synced to disk).
    func put(_ blocks: [Block]) async throws
}

/// A store of blocks keyed by multihash: CIDv0 and CIDv1 of the same bytes
/// share one entry, whatever their codec.
public protocol BlockStore: BlockSource, BlockSink {
    /// Removes the block with `cid`'s multihash; removing an absent block is not an error.
    func delete(_ cid: CID) async throws
    /// Every stored multihash, in no particular order.
    func allMultihashes() async throws -> [Multihash]
}

extension BlockSource {
    /// The bytes of `cid`, answering identity CIDs from the CID itself.
    /// - Throws: `BlockError.notFound` when the source lacks the block.
    public func bytes(of cid: CID) async throws -> [UInt8] {
        if cid.isIdentity { return Array(cid.digest) }
        guard let bytes = try await get(cid) else { throw BlockError(.notFound, "\(cid)") }
        return bytes
    }
}

/// An in-memory block store for tests and `--only-hash`-style work.
public final class MemoryBlockStore: BlockStore {
    private let blocks = Mutex<[Multihash: [UInt8]]>([:])

    public init() {}

    public func get(_ cid: CID) async throws -> [UInt8]? {
        if cid.isIdentity { return Array(cid.digest) }
        let key = cid.multihash
        return blocks.withLock { $0[key] }
    }

    public func has(_ cid: CID) async throws -> Bool {
        if cid.isIdentity { return true }
        let key = cid.multihash
        return blocks.withLock { $0[key] != nil }
    }

    public func put(_ newBlocks: [Block]) async throws {
        blocks.withLock { stored in
            for block in newBlocks where !block.cid.isIdentity {
                stored[block.cid.multihash] = block.bytes
            }
        }
    }

    public func delete(_ cid: CID) async throws {
        let key = cid.multihash
        _ = blocks.withLock { $0.removeValue(forKey: key) }
    }

    public func allMultihashes() async throws -> [Multihash] {
        blocks.withLock { Array($0.keys) }
    }

    /// Number of stored blocks.
    public var count: Int { blocks.withLock { $0.count } }
    /// Total bytes of stored blocks.
    public var totalBytes: Int { blocks.withLock { $0.values.reduce(0) { $0 + $1.count } } }
}
