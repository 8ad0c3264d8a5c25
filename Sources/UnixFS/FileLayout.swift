import Blocks
import Multiformats

/// What a parent node records about one child of a file DAG.
public struct FileLink: Hashable, Sendable {
    public var cid: CID
    /// Bytes of file content under the child (its UnixFS blocksize entry).
    public var fileSize: UInt64
    /// Cumulative encoded size of the child's DAG: the dag-pb link's Tsize.
    public var tsize: UInt64

    public init(cid: CID, fileSize: UInt64, tsize: UInt64) {
        self.cid = cid
        self.fileSize = fileSize
        self.tsize = tsize
    }
}

/// Optional UnixFS 1.5 metadata written on the root node of a file or directory.
public struct FileAttributes: Hashable, Sendable {
    /// Unix permission bits (e.g. 0o644); `nil` leaves the field out.
    public var mode: UInt32?
    public var mtime: UnixFSData.Timestamp?

    public init(mode: UInt32? = nil, mtime: UnixFSData.Timestamp? = nil) {
        self.mode = mode
        self.mtime = mtime
    }

    public var isEmpty: Bool { mode == nil && mtime == nil }
}

/// Builds the internal (non-leaf) nodes of a file DAG: dag-pb nodes whose
/// UnixFS Data is a File with the children's sizes.
struct FileParentEncoder: Sendable {
    let cids: CIDBuilder

    func makeParent(_ children: [FileLink], attributes: FileAttributes = FileAttributes()) -> (Block, FileLink) {
        var fileSize: UInt64 = 0
        var childTsize: UInt64 = 0
        for child in children {
            fileSize += child.fileSize
            childTsize += child.tsize
        }
        let data = UnixFSData(
            kind: .file, fileSize: fileSize, blockSizes: children.map(\.fileSize),
            mode: attributes.mode, mtime: attributes.mtime)
        let node = DAGPBNode(
            links: children.map { DAGPBLink(cid: $0.cid, name: "", tsize: $0.tsize) },
            data: data.encoded())
        let bytes = node.encoded()
        let cid = cids.cid(for: bytes, codec: .dagPB)
        return (Block(cid: cid, bytes: bytes), FileLink(cid: cid, fileSize: fileSize, tsize: UInt64(bytes.count) + childTsize))
    }
}

/// A way of arranging leaves under parent nodes. Layouts are push-driven state
/// machines: the importer hands them leaves in file order, they append finished
/// parent blocks to `blocks`, and `finish` returns the root.
public protocol FileLayout: Sendable {
    /// Adds the next leaf (already encoded and emitted by the caller).
    mutating func append(_ leaf: FileLink, blocks: inout [Block])
    /// Closes every open node and returns the root link, or `nil` when the
    /// layout has no node of its own to return (no leaves, or a balanced
    /// layout with a single leaf, which is then the root).
    mutating func finish(attributes: FileAttributes, blocks: inout [Block]) -> FileLink?
}

/// Kubo's balanced layout (boxo `importer/balanced`): leaves fill nodes of at
/// most `maxLinks` children left to right, those fill the next level, and so on;
/// the root is as shallow as the leaf count allows. A single leaf is the root.
///
/// Built bottom-up with one pending list per level, so memory is
/// `O(maxLinks × depth)` whatever the file size. A full level is turned into a
/// parent only when one more entry arrives for it, so the root is always built
/// in `finish`, where it receives the file's attributes.
public struct BalancedLayout: FileLayout {
    let maxLinks: Int
    let parents: FileParentEncoder
    /// `levels[0]` holds pending leaves; `levels[i]` pending nodes of height i.
    var levels: [[FileLink]] = [[]]
    var leafCount = 0

    public init(maxLinks: Int, cids: CIDBuilder) {
        precondition(maxLinks >= 2, "a file node needs room for at least 2 links")
        self.maxLinks = maxLinks
        self.parents = FileParentEncoder(cids: cids)
    }

    public mutating func append(_ leaf: FileLink, blocks: inout [Block]) {
        leafCount += 1
        push(leaf, level: 0, blocks: &blocks)
    }

    private mutating func push(_ link: FileLink, level: Int, blocks: inout [Block]) {
        if levels[level].count == maxLinks {
            let (block, parent) = parents.makeParent(levels[level])
            blocks.append(block)
            levels[level].removeAll(keepingCapacity: true)
            if level + 1 == levels.count { levels.append([]) }
            push(parent, level: level + 1, blocks: &blocks)
        }
        levels[level].append(link)
    }

    public mutating func finish(attributes: FileAttributes, blocks: inout [Block]) -> FileLink? {
        guard leafCount > 1 else { return nil }
        // Close every partial level below the top; closing one may overflow the
        // level above and add a new top, which the loop then reaches too.
        var level = 0
        while level < levels.count - 1 {
            if !levels[level].isEmpty {
                let (block, parent) = parents.makeParent(levels[level])
                blocks.append(block)
                levels[level].removeAll()
                push(parent, level: level + 1, blocks: &blocks)
            }
            level += 1
        }
        let (block, root) = parents.makeParent(levels[levels.count - 1], attributes: attributes)
        blocks.append(block)
        levels = [[]]
        return root
    }
}

/// Kubo's trickle layout (boxo `importer/trickle`, depthRepeat 4): a node takes
/// up to `maxLinks` leaves, then up to 4 subtrees of depth 1, 4 of depth 2, …,
/// each subtree built the same way with its own depth limit. The root is always
/// a parent node, even for one leaf.
///
/// boxo builds it by recursion that pulls leaves; here the same recursion is an
/// explicit stack of open nodes, so leaves can be pushed and memory stays
/// `O(maxLinks × depth)`.
public struct TrickleLayout: FileLayout {
    /// Subtrees of each depth a node holds after its leaves.
    public static let depthRepeat = 4

    struct OpenNode {
        var children: [FileLink] = []
        /// Depth limit of this subtree; `nil` for the unbounded root.
        let maxDepth: Int?
        var inLeafPhase = true
        /// The subtree slot the node fills next: (depth, repeat index).
        var depth = 1
        var repeatIndex = 0
    }

    let maxLinks: Int
    let parents: FileParentEncoder
    var stack: [OpenNode] = [OpenNode(maxDepth: nil)]

    public init(maxLinks: Int, cids: CIDBuilder) {
        precondition(maxLinks >= 1, "a file node needs room for at least 1 link")
        self.maxLinks = maxLinks
        self.parents = FileParentEncoder(cids: cids)
    }

    public mutating func append(_ leaf: FileLink, blocks: inout [Block]) {
        while true {
            let top = stack.count - 1
            if stack[top].inLeafPhase {
                if stack[top].children.count < maxLinks {
                    stack[top].children.append(leaf)
                    return
                }
                stack[top].inLeafPhase = false
            }
            if let limit = stack[top].maxDepth, stack[top].depth >= limit {
                // This subtree is complete: close it into its parent's current slot.
                let closed = stack.removeLast()
                let (block, link) = parents.makeParent(closed.children)
                blocks.append(block)
                stack[top - 1].children.append(link)
                stack[top - 1].repeatIndex += 1
                if stack[top - 1].repeatIndex == TrickleLayout.depthRepeat {
                    stack[top - 1].repeatIndex = 0
                    stack[top - 1].depth += 1
                }
            } else {
                // Open the subtree for the current slot; the leaf goes into it.
                stack.append(OpenNode(maxDepth: stack[top].depth))
            }
        }
    }

    public mutating func finish(attributes: FileAttributes, blocks: inout [Block]) -> FileLink? {
        while stack.count > 1 {
            let closed = stack.removeLast()
            let (block, link) = parents.makeParent(closed.children)
            blocks.append(block)
            stack[stack.count - 1].children.append(link)
        }
        let (block, root) = parents.makeParent(stack[0].children, attributes: attributes)
        blocks.append(block)
        stack = [OpenNode(maxDepth: nil)]
        return root
    }
}
