import Multiformats

/// Where a path under a root CID leads: what a gateway needs to answer a
/// request for it without walking the directories again. Content is
/// immutable, so a resolution stays true for as long as it is cached.
public struct ResolvedPath: Hashable, Sendable {
    public enum Kind: String, Hashable, Sendable {
        case file
        /// A basic or HAMT-sharded directory.
        case directory
        case symlink
    }

    /// The CID the path names.
    public var cid: CID
    /// File size in bytes (files), target length (symlinks), 0 for directories.
    public var size: UInt64
    public var kind: Kind
    /// The media type a gateway settled on for a file (from its name or its
    /// first bytes), when it has.
    public var contentType: String?

    public init(cid: CID, size: UInt64, kind: Kind, contentType: String? = nil) {
        self.cid = cid
        self.size = size
        self.kind = kind
        self.contentType = contentType
    }
}
