import Blocks
import Dispatch
#if canImport(Glibc)
import Glibc
#endif
import Multiformats

/// Where the importer computes its leaves' CIDs. Hashing is most of an
/// import's work; the CIDs, the blocks and their order are the same either way.
public enum LeafHashing: Hashable, Sendable {
    /// On the caller's thread, as each leaf is cut.
    case inline
    /// On one Dispatch queue per core (leaves dealt round-robin), in batches of about
    /// `batchBytes` of leaves, while the caller goes on reading and chunking.
    /// The importer waits for the oldest batch when more than
    /// `LeafHashPipeline.batchesInFlight` (2) are being hashed, so it holds at
    /// most about `3 × batchBytes` of leaves (6 MiB by default: batches of 2 MiB
    /// measured fastest for 256 KiB and 1 MiB chunks; 8 MiB cost 2× the RSS).
    case concurrent(batchBytes: Int = 2 << 20)
}

/// Cores this process may run on.
func activeProcessorCount() -> Int {
    Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
}

/// Leaves encoded but not yet named, in file order.
///
/// Threading: the importer fills `bytes`/`fileSizes` on its thread, then hands
/// the batch to workers; each worker writes only its own slots of `cids`, and
/// the importer reads them only after the batch's group has been waited on.
final class LeafBatch: @unchecked Sendable {
    var bytes: [[UInt8]] = []
    var fileSizes: [UInt64] = []
    var byteCount = 0
    private(set) var cids = UnsafeMutableBufferPointer<CID?>(start: nil, count: 0)
    let group = DispatchGroup()

    /// One serial queue per core, leaves dealt round-robin. Serial queues run
    /// on Dispatch's overcommitting threads: the global concurrent queue
    /// shares its threads (one per core) with Swift's cooperative pool, where
    /// the importer's caller usually waits, and hashed on one core here.
    static let lanes: [DispatchQueue] = (0..<max(1, activeProcessorCount())).map {
        DispatchQueue(label: "tau.unixfs.leaf-hashing.\($0)")
    }

    deinit {
        if cids.baseAddress != nil {
            cids.deinitialize()
            cids.deallocate()
        }
    }

    func append(_ leaf: [UInt8], fileSize: UInt64) {
        bytes.append(leaf)
        fileSizes.append(fileSize)
        byteCount += leaf.count
    }

    /// Starts hashing every leaf, one work item each.
    func startHashing(codec: Multicodec, cids builder: CIDBuilder) {
        cids = .allocate(capacity: bytes.count)
        cids.initialize(repeating: nil)
        // Local copies, so workers touch no stored property of the batch.
        nonisolated(unsafe) let slots = cids
        let leaves = bytes
        for index in leaves.indices {
            LeafBatch.lanes[index % LeafBatch.lanes.count].async(group: group) {
                slots[index] = builder.cid(for: leaves[index], codec: codec)
            }
        }
    }

    /// Names every leaf on the caller's thread.
    func hashHere(codec: Multicodec, cids builder: CIDBuilder) -> [(block: Block, link: FileLink)] {
        named { builder.cid(for: bytes[$0], codec: codec) }
    }

    /// The named leaves, after every work item finished.
    func waitForBlocks() -> [(block: Block, link: FileLink)] {
        group.wait()
        return named { cids[$0]! }
    }

    private func named(_ cid: (Int) -> CID) -> [(block: Block, link: FileLink)] {
        bytes.indices.map { index in
            let name = cid(index)
            return (Block(cid: name, bytes: bytes[index]),
                    FileLink(cid: name, fileSize: fileSizes[index], tsize: UInt64(bytes[index].count)))
        }
    }
}

/// Batches leaves, hashes them on other threads and gives them back in the
/// order they were added.
struct LeafHashPipeline {
    /// Batches being hashed while the importer fills the next one: two keep
    /// the workers busy while the importer waits for the oldest.
    static let batchesInFlight = 2

    let batchBytes: Int
    let codec: Multicodec
    let cids: CIDBuilder
    private var filling = LeafBatch()
    private var hashing: [LeafBatch] = []

    init(batchBytes: Int, codec: Multicodec, cids: CIDBuilder) {
        self.batchBytes = max(1, batchBytes)
        self.codec = codec
        self.cids = cids
    }

    /// Adds a leaf; returns the leaves of the oldest batch when adding this one
    /// had to wait for it (else an empty array).
    mutating func add(_ leaf: [UInt8], fileSize: UInt64) -> [(block: Block, link: FileLink)] {
        filling.append(leaf, fileSize: fileSize)
        guard filling.byteCount >= batchBytes else { return [] }
        submitFilling()
        guard hashing.count > Self.batchesInFlight else { return [] }
        return hashing.removeFirst().waitForBlocks()
    }

    /// Every leaf added and not yet returned, in order.
    mutating func drain() -> [(block: Block, link: FileLink)] {
        if hashing.isEmpty {
            // A file smaller than a batch (most files of a tree): hashing here
            // costs less than handing it to another thread and waiting.
            defer { filling = LeafBatch() }
            return filling.hashHere(codec: codec, cids: cids)
        }
        if !filling.bytes.isEmpty { submitFilling() }
        defer { hashing.removeAll() }
        return hashing.flatMap { $0.waitForBlocks() }
    }

    private mutating func submitFilling() {
        filling.startHashing(codec: codec, cids: cids)
        hashing.append(filling)
        filling = LeafBatch()
    }
}
