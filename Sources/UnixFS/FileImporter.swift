import Blocks
import Chunking
import Multiformats

/// Parameters of a file import. Build them with `ImportOptions.resolve` to get
/// Kubo's defaults and implication rules, or set them directly.
public struct FileImportParameters: Sendable {
    public enum Layout: String, Hashable, Sendable { case balanced, trickle }

    public var chunker: ChunkerSpec
    public var layout: Layout
    public var rawLeaves: Bool
    public var cids: CIDBuilder
    /// Maximum links per internal file node (Kubo: 174; unixfs-v1-2025: 1024).
    public var maxLinks: Int
    /// Mode and mtime for the file's root node.
    public var attributes: FileAttributes
    /// Where leaves are hashed; the DAG is the same either way.
    public var leafHashing: LeafHashing

    public init(chunker: ChunkerSpec = .size(262_144), layout: Layout = .balanced, rawLeaves: Bool = false,
                cids: CIDBuilder = CIDBuilder(), maxLinks: Int = 174, attributes: FileAttributes = FileAttributes(),
                leafHashing: LeafHashing = .inline) {
        self.chunker = chunker
        self.layout = layout
        self.rawLeaves = rawLeaves
        self.cids = cids
        self.maxLinks = maxLinks
        self.attributes = attributes
        self.leafHashing = leafHashing
    }

    /// How leaves are encoded: raw blocks, or dag-pb nodes of UnixFS type File
    /// (balanced) or Raw (trickle), as Kubo does.
    public var leafFormat: LeafEncoder.Format {
        if rawLeaves { return .raw }
        return .unixfs(layout == .trickle ? .raw : .file)
    }
}

/// Imports one file as a UnixFS DAG, streaming: `write` takes the content in
/// pieces of any size, `finish` returns the root. Blocks are produced in an
/// order where every child precedes its parent; collect them with `takeBlocks`
/// after each call (they accumulate otherwise).
///
/// Memory: one chunk (≤ 2 MiB) plus `O(maxLinks × depth)` links, whatever the
/// file size, and with `.concurrent` leaf hashing up to three batches of
/// leaves being hashed; emitted blocks are owned by the caller once taken.
/// With `.concurrent` hashing, blocks come out later (a batch at a time) but
/// in the same order.
public struct FileImporter {
    public let parameters: FileImportParameters
    private var chunker: any Chunker
    private let leaves: LeafEncoder
    private var layout: any FileLayout
    /// The current chunk's bytes when it spans several `write` calls.
    private var pending: [UInt8] = []
    private var blocks: [Block] = []
    /// A balanced DAG's first leaf is held back: if it stays the only one it is
    /// the root and may still need the file's attributes.
    private var heldFirstLeaf: (block: Block, link: FileLink)?
    private var leafCount = 0
    /// The codec of the leaves' CIDs.
    private let leafCodec: Multicodec
    /// Leaves waiting for their CIDs, with `.concurrent` hashing.
    private var hashPipeline: LeafHashPipeline?
    /// Headers of full fixed-size leaves, made at the first `readChunk`.
    private var fixedLeaves: FixedLeafTemplate?
    /// File bytes consumed so far.
    public private(set) var bytesWritten: UInt64 = 0

    public init(parameters: FileImportParameters) {
        self.parameters = parameters
        self.chunker = parameters.chunker.makeChunker()
        self.leaves = LeafEncoder(format: parameters.leafFormat, cids: parameters.cids)
        switch parameters.layout {
        case .balanced: layout = BalancedLayout(maxLinks: parameters.maxLinks, cids: parameters.cids)
        case .trickle: layout = TrickleLayout(maxLinks: parameters.maxLinks, cids: parameters.cids)
        }
        pending.reserveCapacity(min(parameters.chunker.maxChunkSize, 1 << 21))
        leafCodec = parameters.rawLeaves ? .raw : .dagPB
        if case .concurrent(let batchBytes) = parameters.leafHashing {
            // Only dag-pb leaves without attributes and raw leaves are deferred;
            // a file's single leaf is re-encoded at `finish` if it needs them.
            hashPipeline = LeafHashPipeline(batchBytes: batchBytes, codec: leafCodec, cids: parameters.cids)
        }
    }

    /// Feeds the next piece of the file.
    public mutating func write(_ bytes: UnsafeRawBufferPointer) {
        bytesWritten += UInt64(bytes.count)
        var rest = bytes
        while !rest.isEmpty {
            guard let cut = chunker.nextCut(in: rest) else {
                pending.append(contentsOf: rest)
                return
            }
            let head = UnsafeRawBufferPointer(rebasing: rest[..<cut])
            if pending.isEmpty {
                // The whole chunk is in this piece: encode it in place.
                addLeaf(head)
            } else {
                pending.append(contentsOf: head)
                pending.withUnsafeBytes { addLeaf($0) }
                pending.removeAll(keepingCapacity: true)
            }
            rest = UnsafeRawBufferPointer(rebasing: rest[cut...])
        }
    }

    /// The chunk size when every chunk but the last has the same size (the
    /// `size-N` chunker) and the file so far ends on a chunk boundary: then
    /// `readChunk` can read the next chunk straight into its leaf.
    public var fixedChunkSize: Int? {
        guard case .size(let size) = parameters.chunker, pending.isEmpty else { return nil }
        return size
    }

    /// Feeds the next chunk by reading it in place, without a copy: `fill`
    /// writes into the region it is given and returns how many bytes it
    /// wrote, the whole region unless the file ends (then fewer, or 0).
    /// Returns that count. Only when `fixedChunkSize` is not `nil`; mixing
    /// with `write` is allowed at chunk boundaries.
    public mutating func readChunk(_ fill: (UnsafeMutableRawBufferPointer) throws -> Int) rethrows -> Int {
        guard let size = fixedChunkSize else { preconditionFailure("readChunk needs a size-N chunker at a chunk boundary") }
        if fixedLeaves?.chunkSize != size { fixedLeaves = FixedLeafTemplate(chunkSize: size, encoder: leaves) }
        guard let (bytes, count) = try fixedLeaves!.leaf(fill) else { return 0 }
        bytesWritten += UInt64(count)
        addEncodedLeaf(bytes, fileSize: UInt64(count))
        return count
    }

    /// Feeds the next piece of the file.
    public mutating func write(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { write($0) }
    }

    /// Ends the file: emits the last chunk and every open node, and returns the root.
    public mutating func finish() -> FileLink {
        if !pending.isEmpty {
            pending.withUnsafeBytes { addLeaf($0) }
            pending.removeAll(keepingCapacity: true)
        }
        if hashPipeline != nil {
            for leaf in hashPipeline!.drain() { place(leaf) }
        }
        chunker.reset()
        if let root = layout.finish(attributes: parameters.attributes, blocks: &blocks) {
            return root
        }
        // Balanced with zero or one leaf: the leaf is the root.
        let root: (block: Block, link: FileLink)
        if let held = heldFirstLeaf {
            if parameters.attributes.isEmpty || parameters.rawLeaves {
                root = held
            } else {
                root = Self.reencode(held.block, with: leaves, attributes: parameters.attributes)
            }
            heldFirstLeaf = nil
        } else {
            root = leaves.encode(UnsafeRawBufferPointer(start: nil, count: 0), attributes: parameters.rawLeaves ? FileAttributes() : parameters.attributes)
        }
        blocks.append(root.block)
        return root.link
    }

    /// Blocks produced since the last call, children before parents.
    public mutating func takeBlocks() -> [Block] {
        defer { blocks.removeAll(keepingCapacity: true) }
        return blocks
    }

    /// Number of blocks waiting in `takeBlocks`.
    public var pendingBlockCount: Int { blocks.count }

    private mutating func addLeaf(_ chunk: UnsafeRawBufferPointer) {
        guard hashPipeline != nil else {
            place(leaves.encode(chunk))
            return
        }
        addEncodedLeaf(leaves.encodeBytes(chunk), fileSize: UInt64(chunk.count))
    }

    /// Names an encoded leaf, here or on the hashing lanes, and places it.
    private mutating func addEncodedLeaf(_ bytes: [UInt8], fileSize: UInt64) {
        guard hashPipeline != nil else {
            let cid = parameters.cids.cid(for: bytes, codec: leafCodec)
            place((Block(cid: cid, bytes: bytes), FileLink(cid: cid, fileSize: fileSize, tsize: UInt64(bytes.count))))
            return
        }
        for leaf in hashPipeline!.add(bytes, fileSize: fileSize) { place(leaf) }
    }

    /// Puts a named leaf in the DAG, in file order.
    private mutating func place(_ leaf: (block: Block, link: FileLink)) {
        let (block, link) = leaf
        leafCount += 1
        if parameters.layout == .balanced {
            if leafCount == 1 {
                heldFirstLeaf = (block, link)
                return
            }
            if let held = heldFirstLeaf {
                blocks.append(held.block)
                layout.append(held.link, blocks: &blocks)
                heldFirstLeaf = nil
            }
        }
        blocks.append(block)
        layout.append(link, blocks: &blocks)
    }

    /// A single dag-pb leaf that is also the root, re-encoded with attributes.
    private static func reencode(_ block: Block, with leaves: LeafEncoder, attributes: FileAttributes) -> (block: Block, link: FileLink) {
        guard case .unixfs(let kind) = leaves.format,
            let view = try? DAGPBNode.decodeView(block.bytes), let dataRange = view.data,
            let inner = try? UnixFSData.decodeView(block.bytes, range: dataRange)
        else { return (block, FileLink(cid: block.cid, fileSize: 0, tsize: UInt64(block.bytes.count))) }
        let chunk = inner.data.map { Array(block.bytes[$0]) } ?? []
        return chunk.withUnsafeBytes { raw in
            let encoded = LeafEncoder.encodeUnixFSLeaf(raw, kind: kind, attributes: attributes)
            let cid = leaves.cids.cid(for: encoded, codec: .dagPB)
            return (Block(cid: cid, bytes: encoded), FileLink(cid: cid, fileSize: UInt64(raw.count), tsize: UInt64(encoded.count)))
        }
    }
}
