import Blocks
import Multiformats

/// A decoded UnixFS node: what a block is, without copying its payload.
public struct UnixFSNode: Sendable {
    public enum Kind: String, Sendable {
        /// A file: a raw block, or a dag-pb node of UnixFS type File or Raw.
        case file
        case directory
        /// A HAMT-sharded directory.
        case hamtDirectory
        case symlink
    }

    public let cid: CID
    public let kind: Kind
    /// The block's bytes; `dataRange` and links point into them.
    public let block: [UInt8]
    /// dag-pb links (empty for raw blocks).
    public let links: [DAGPBLink]
    /// The UnixFS message (its `data` field left nil: see `dataRange`), or nil for raw blocks.
    public let unixfs: UnixFSData?
    /// Range in `block` of the node's own content bytes (file data, symlink target).
    public let dataRange: Range<Int>
    /// File content size (files), target length (symlinks), 0 for directories.
    /// For a dag-pb file node, `init` checked that its data and blocksizes
    /// add up to its filesize (when it has one) without overflow.
    public var size: UInt64 {
        switch kind {
        case .file: unixfs.map { $0.fileSize ?? UInt64(dataRange.count) + $0.blockSizes.reduce(0, +) } ?? UInt64(block.count)
        case .symlink: UInt64(dataRange.count)
        case .directory, .hamtDirectory: 0
        }
    }
    /// The node's own content bytes.
    public var data: ArraySlice<UInt8> { block[dataRange] }
    /// The UnixFS message with its data field filled in (a HAMT shard's bitfield).
    var shardData: UnixFSData {
        var message = unixfs ?? UnixFSData(kind: .raw)
        message.data = Array(data)
        return message
    }
    /// A symlink's target.
    public var symlinkTarget: String? {
        kind == .symlink ? String(decoding: data, as: UTF8.self) : nil
    }

    /// Decodes `block`, named `cid`. Raw-codec blocks are file content; dag-pb
    /// blocks must carry a UnixFS message.
    public init(cid: CID, block: [UInt8]) throws(UnixFSError) {
        self.cid = cid
        self.block = block
        switch cid.codec {
        case .raw:
            kind = .file
            links = []
            unixfs = nil
            dataRange = 0..<block.count
        case .dagPB:
            let view = try DAGPBNode.decodeView(block)
            guard let outer = view.data else {
                throw UnixFSError(.malformedUnixFS, "dag-pb node \(cid) has no UnixFS Data")
            }
            let inner = try UnixFSData.decodeView(block, range: outer)
            links = view.links
            unixfs = inner.message
            dataRange = inner.data ?? outer.upperBound..<outer.upperBound
            switch inner.message.kind {
            case .file, .raw:
                kind = .file
                if !links.isEmpty && inner.message.blockSizes.count != links.count {
                    throw UnixFSError(.malformedUnixFS, "\(cid): \(links.count) links but \(inner.message.blockSizes.count) blocksizes")
                }
                // A file's bytes are its own and its children's: sizes that
                // overflow, or a filesize that disagrees with them, would send
                // readers' offsets past what the DAG holds.
                var total = UInt64(dataRange.count)
                for blockSize in inner.message.blockSizes {
                    let (sum, overflow) = total.addingReportingOverflow(blockSize)
                    guard !overflow else { throw UnixFSError(.malformedUnixFS, "\(cid): blocksizes overflow 64 bits") }
                    total = sum
                }
                if let fileSize = inner.message.fileSize, fileSize != total {
                    throw UnixFSError(.malformedUnixFS, "\(cid): filesize \(fileSize), but its data and blocksizes hold \(total) bytes")
                }
            case .directory: kind = .directory
            case .hamtShard: kind = .hamtDirectory
            case .symlink: kind = .symlink
            case .metadata: throw UnixFSError(.malformedUnixFS, "\(cid): UnixFS Metadata nodes are not supported")
            }
        default:
            throw UnixFSError(.unsupportedCodec, "\(cid) has codec \(cid.codec.name), not dag-pb or raw")
        }
    }
}

/// Reads UnixFS DAGs from any block source: stat, file content (whole or a
/// range, fetching only the blocks that hold it), directory listings (basic
/// and HAMT) and path resolution.
public struct UnixFSReader: Sendable {
    public let source: any BlockSource
    /// Files deeper than this are refused (a defence against hostile DAGs; Kubo's
    /// balanced DAGs of any practical size are under 10 levels).
    public let maxDepth: Int

    public init(source: any BlockSource, maxDepth: Int = 256) {
        self.source = source
        self.maxDepth = maxDepth
    }

    /// Fetches and decodes the node named `cid`.
    public func node(_ cid: CID) async throws -> UnixFSNode {
        let bytes: [UInt8]
        do {
            bytes = try await source.bytes(of: cid)
        } catch let error as BlockError where error.code == .notFound {
            throw UnixFSError(.blockMissing, "\(cid)")
        }
        return try UnixFSNode(cid: cid, block: bytes)
    }

    /// Streams the content of the file at `cid`, or of `range` of it (clamped to
    /// the file), to `body` in order, one block's worth at a time. Slices share
    /// storage with the fetched blocks: no copies.
    public func read(_ cid: CID, range: Range<UInt64>? = nil,
                     _ body: (ArraySlice<UInt8>) async throws -> Void) async throws {
        let root = try await node(cid)
        try await read(root, range: range, body)
    }

    /// As `read(_:range:_:)`, from an already fetched node.
    public func read(_ root: UnixFSNode, range: Range<UInt64>? = nil,
                     _ body: (ArraySlice<UInt8>) async throws -> Void) async throws {
        guard root.kind == .file else { throw UnixFSError(.notAFile, "\(root.cid) is a \(root.kind.rawValue)") }
        let size = root.size
        let wanted = range.map { $0.clamped(to: 0..<size) } ?? 0..<size
        guard !wanted.isEmpty else { return }
        try await readNode(root, start: 0, wanted: wanted, depth: 0, body)
    }

    /// Visits `node`, whose content begins at file offset `start`.
    private func readNode(_ node: UnixFSNode, start: UInt64, wanted: Range<UInt64>, depth: Int,
                          _ body: (ArraySlice<UInt8>) async throws -> Void) async throws {
        guard depth <= maxDepth else { throw UnixFSError(.limitExceeded, "file DAG deeper than \(maxDepth)") }
        // The node's own bytes come first, then its children in order.
        let own = UInt64(node.dataRange.count)
        if own > 0 {
            let here = start..<(start + own)
            let overlap = here.clamped(to: wanted)
            if !overlap.isEmpty {
                let from = node.dataRange.lowerBound + Int(overlap.lowerBound - start)
                let to = node.dataRange.lowerBound + Int(overlap.upperBound - start)
                try await body(node.block[from..<to])
            }
        }
        var offset = start + own
        let sizes = node.unixfs?.blockSizes ?? []
        for (index, link) in node.links.enumerated() {
            guard offset < wanted.upperBound else { return }
            let childSize = sizes[index]
            let childRange = offset..<(offset + childSize)
            if childRange.overlaps(wanted) {
                let child = try await self.node(link.cid)
                guard child.kind == .file else {
                    throw UnixFSError(.malformedUnixFS, "file \(node.cid) links to a \(child.kind.rawValue)")
                }
                guard child.size == childSize else {
                    throw UnixFSError(.malformedUnixFS, "\(child.cid) holds \(child.size) bytes, its parent says \(childSize)")
                }
                try await readNode(child, start: offset, wanted: wanted, depth: depth + 1, body)
            }
            offset += childSize
        }
    }

    /// The entries of the directory at `cid` (basic or HAMT), in stored order.
    public func entries(_ cid: CID) async throws -> [DirectoryEntry] {
        try await entries(of: try await node(cid))
    }

    /// The entries of an already fetched directory node.
    public func entries(of directory: UnixFSNode) async throws -> [DirectoryEntry] {
        switch directory.kind {
        case .directory:
            return try directory.links.map { link throws(UnixFSError) in
                guard let name = link.name else {
                    throw UnixFSError(.malformedUnixFS, "directory \(directory.cid) has a link without a name")
                }
                return DirectoryEntry(name: name, cid: link.cid, tsize: link.tsize ?? 0)
            }
        case .hamtDirectory:
            return try await HAMT.entries(of: DAGPBNode(links: directory.links, data: nil), data: directory.shardData, source: source)
        case .file, .symlink:
            throw UnixFSError(.notADirectory, "\(directory.cid) is a \(directory.kind.rawValue)")
        }
    }

    /// Looks `name` up in a directory node.
    public func entry(named name: String, in directory: UnixFSNode) async throws -> DirectoryEntry? {
        switch directory.kind {
        case .directory:
            guard let link = directory.links.first(where: { $0.name == name }) else { return nil }
            return DirectoryEntry(name: name, cid: link.cid, tsize: link.tsize ?? 0)
        case .hamtDirectory:
            return try await HAMT.lookup(name, in: DAGPBNode(links: directory.links, data: nil), data: directory.shardData, source: source)
        case .file, .symlink:
            throw UnixFSError(.notADirectory, "\(directory.cid) is a \(directory.kind.rawValue)")
        }
    }

    /// Follows `path` (components without "/") from `root` and returns the node
    /// it names. Symlinks are not followed: a symlink inside the path is an error,
    /// a symlink at the end is returned as is.
    public func resolve(_ root: CID, path: [String]) async throws -> UnixFSNode {
        var current = try await node(root)
        for (index, component) in path.enumerated() {
            guard !component.isEmpty, component != ".", component != "..", !component.contains("/") else {
                throw UnixFSError(.invalidPath, "invalid path component \"\(component)\"")
            }
            guard current.kind == .directory || current.kind == .hamtDirectory else {
                let at = path[..<index].joined(separator: "/")
                throw UnixFSError(.notADirectory, "\"\(at)\" is a \(current.kind.rawValue), not a directory")
            }
            guard let entry = try await entry(named: component, in: current) else {
                throw UnixFSError(.notFound, "no link named \"\(component)\" under \(current.cid)")
            }
            current = try await node(entry.cid)
        }
        return current
    }
}
