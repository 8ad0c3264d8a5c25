import Blocks
import Multiformats
import UnixFS

/// Why a CAR stream stopped early. Raised after the 200 went out, so the
/// connection is cut without the final chunk: the client sees a truncated CAR.
enum CARStreamFailure: Error, CustomStringConvertible {
    case missingBlock(CID)
    case undecodable(CID)
    case tooManyBlocks(Int)

    var description: String {
        switch self {
        case .missingBlock(let cid): "block \(cid) is missing"
        case .undecodable(let cid): "cannot read the links of \(cid)"
        case .tooManyBlocks(let limit): "the CAR would hold more than \(limit) blocks"
        }
    }
}

/// Decides which blocks a CAR response carries after the path blocks, and in
/// which order, for `dag-scope` and `entity-bytes` (trustless gateway spec;
/// formats/gateway.md, "CAR responses"):
///
/// - `block`: the terminal block only.
/// - `entity`: UnixFS file: every block of the file, or with `entity-bytes`
///   the blocks on the way to the leaves that hold the range; HAMT directory:
///   every shard node (not the entries); basic directory, symlink, raw block
///   or another codec: the terminal block only.
/// - `all`: the whole DAG below the terminal block, depth-first, links in
///   their codec's order.
///
/// With `dups=n` a block goes out the first time the walk meets it and its
/// subtree is not walked again; with `dups=y` every time, up to `maxBlocks`
/// sections. Identity-CID blocks are never sent (their links are followed).
final class CARWalker {
    private let source: any BlockSource
    private let parameters: CARParameters
    private let maxBlocks: Int
    private let emit: (CID, [UInt8]) async throws -> Void
    private var seen = Set<CID>()
    private var sent = 0

    init(source: any BlockSource, parameters: CARParameters, maxBlocks: Int,
         emit: @escaping (CID, [UInt8]) async throws -> Void) {
        self.source = source
        self.parameters = parameters
        self.maxBlocks = maxBlocks
        self.emit = emit
    }

    /// Sends a block unless it is a duplicate the parameters leave out;
    /// returns whether the walk should go below it.
    @discardableResult
    func send(_ cid: CID, _ bytes: [UInt8]) async throws -> Bool {
        if !parameters.duplicates {
            guard seen.insert(cid).inserted else { return false }
        }
        if cid.isIdentity { return true }
        sent += 1
        guard sent <= maxBlocks else { throw CARStreamFailure.tooManyBlocks(maxBlocks) }
        try await emit(cid, bytes)
        return true
    }

    /// Sends the terminal block and what its scope adds.
    func walk(terminal: CID) async throws {
        let bytes = try await fetch(terminal)
        guard try await send(terminal, bytes) else { return }
        switch parameters.scope {
        case .block:
            return
        case .all:
            try await walkBelow(terminal, bytes)
        case .entity:
            try await walkEntity(terminal, bytes)
        }
    }

    private func fetch(_ cid: CID) async throws -> [UInt8] {
        if cid.isIdentity { return Array(cid.digest) }
        guard let bytes = try await source.get(cid) else { throw CARStreamFailure.missingBlock(cid) }
        return bytes
    }

    /// Depth-first, pre-order, below a block already sent.
    private func walkBelow(_ cid: CID, _ bytes: [UInt8]) async throws {
        var stack: [(links: [CID], next: Int)] = [(try links(cid, bytes), 0)]
        while let level = stack.last {
            guard level.next < level.links.count else {
                stack.removeLast()
                continue
            }
            stack[stack.count - 1].next += 1
            let child = level.links[level.next]
            if !parameters.duplicates, seen.contains(child) { continue }
            let childBytes = try await fetch(child)
            guard try await send(child, childBytes) else { continue }
            let childLinks = try links(child, childBytes)
            if !childLinks.isEmpty { stack.append((childLinks, 0)) }
        }
    }

    private func links(_ cid: CID, _ bytes: [UInt8]) throws -> [CID] {
        guard let links = try? DAGLinks.links(of: cid, block: bytes) else { throw CARStreamFailure.undecodable(cid) }
        return links
    }

    private func walkEntity(_ cid: CID, _ bytes: [UInt8]) async throws {
        guard cid.codec == .dagPB, let node = try? UnixFSNode(cid: cid, block: bytes) else { return }
        switch node.kind {
        case .file:
            if let entityBytes = parameters.entityBytes {
                guard let wanted = entityBytes.range(size: node.size) else { return }
                try await walkFileRange(node, start: 0, wanted: wanted)
            } else {
                try await walkBelow(cid, bytes)
            }
        case .hamtDirectory:
            try await walkShards(node)
        case .directory, .symlink:
            return
        }
    }

    /// The blocks of a file DAG that hold `wanted`, parents before children.
    private func walkFileRange(_ node: UnixFSNode, start: UInt64, wanted: Range<UInt64>) async throws {
        var offset = start + UInt64(node.dataRange.count)
        let sizes = node.unixfs?.blockSizes ?? []
        for (index, link) in node.links.enumerated() where index < sizes.count {
            guard offset < wanted.upperBound else { return }
            // UnixFSNode checks its own sizes, not that a child holds what its parent says.
            let (end, overflow) = offset.addingReportingOverflow(sizes[index])
            guard !overflow else { throw CARStreamFailure.undecodable(link.cid) }
            let childRange = offset..<end
            if childRange.overlaps(wanted) {
                let bytes = try await fetch(link.cid)
                if try await send(link.cid, bytes), link.cid.codec == .dagPB {
                    guard let child = try? UnixFSNode(cid: link.cid, block: bytes) else {
                        throw CARStreamFailure.undecodable(link.cid)
                    }
                    guard child.size == sizes[index] else { throw CARStreamFailure.undecodable(link.cid) }
                    try await walkFileRange(child, start: offset, wanted: wanted)
                }
            }
            offset = childRange.upperBound
        }
    }

    /// A HAMT's shard nodes: links whose name is only the bucket prefix.
    private func walkShards(_ node: UnixFSNode) async throws {
        let fanout = Int(node.unixfs?.fanout ?? UInt64(HAMT.defaultFanout))
        let prefixLength = String(max(fanout - 1, 1), radix: 16).count
        for link in node.links where link.name?.utf8.count == prefixLength {
            let bytes = try await fetch(link.cid)
            guard try await send(link.cid, bytes) else { continue }
            guard let child = try? UnixFSNode(cid: link.cid, block: bytes), child.kind == .hamtDirectory else {
                throw CARStreamFailure.undecodable(link.cid)
            }
            try await walkShards(child)
        }
    }
}
