import Blocks
import Multiformats
import Protobuf

/// How a directory is built: CIDs, when to shard, and the root's metadata.
/// Format: formats/hamt.md.
public struct DirectoryParameters: Hashable, Sendable {
    public var cids: CIDBuilder
    /// Switch to a HAMT when the estimated basic-directory size exceeds this many bytes; 0 disables sharding. Kubo: 262144.
    public var hamtShardingThreshold: Int
    /// How the basic-directory size is estimated (Kubo's `Import.UnixFSHAMTDirectorySizeEstimation`).
    public enum SizeEstimation: String, Sendable {
        /// Σ (name bytes + CID bytes): Kubo's historical estimate (unixfs-v0-2015).
        case links
        /// The exact dag-pb block size (IPIP-499, unixfs-v1-2025).
        case block
        /// No size estimate: only `maxLinks` triggers sharding.
        case disabled
    }
    /// v0-2015 profile: .links; v1-2025: .block.
    public var sizeEstimation: SizeEstimation
    /// 256; power of 2, 8...1024.
    public var hamtFanout: Int
    /// Kubo UnixFSDirectoryMaxLinks; nil/0 = unlimited.
    public var maxLinks: Int?
    /// mode/mtime of the directory node.
    public var attributes: FileAttributes

    /// Kubo's `HAMTShardingSize` / `Import.UnixFSHAMTDirectorySizeThreshold`: 256 KiB.
    public static let defaultHAMTShardingThreshold = 262_144

    public init(cids: CIDBuilder = CIDBuilder(), hamtShardingThreshold: Int = DirectoryParameters.defaultHAMTShardingThreshold,
                sizeEstimation: SizeEstimation = .links, hamtFanout: Int = HAMT.defaultFanout, maxLinks: Int? = nil,
                attributes: FileAttributes = FileAttributes()) {
        self.cids = cids
        self.hamtShardingThreshold = hamtShardingThreshold
        self.sizeEstimation = sizeEstimation
        self.hamtFanout = hamtFanout
        self.maxLinks = maxLinks
        self.attributes = attributes
    }

    /// Throws `.invalidOptions` for values Kubo refuses.
    public func validate() throws(UnixFSError) {
        guard hamtShardingThreshold >= 0 else {
            throw UnixFSError(.invalidOptions, "HAMT sharding threshold must not be negative (got \(hamtShardingThreshold))")
        }
        guard HAMT.isValidFanout(hamtFanout) else {
            throw UnixFSError(.invalidOptions, "HAMT fanout must be a power of 2 between 8 and 1024 (got \(hamtFanout))")
        }
        if let maxLinks, maxLinks < 0 {
            throw UnixFSError(.invalidOptions, "max-directory-links must not be negative (got \(maxLinks))")
        }
    }
}

/// One name in a directory and what it links to.
public struct DirectoryEntry: Hashable, Sendable {
    public var name: String
    public var cid: CID
    /// Cumulative size of the entry's DAG: the dag-pb link's Tsize.
    public var tsize: UInt64

    public init(name: String, cid: CID, tsize: UInt64) {
        self.name = name
        self.cid = cid
        self.tsize = tsize
    }

    /// Throws `.invalidPath` unless `name` can name a directory entry:
    /// non-empty, not `.` or `..`, without `/` or NUL.
    public static func checkName(_ name: String) throws(UnixFSError) {
        guard !name.isEmpty else { throw UnixFSError(.invalidPath, "empty directory entry name") }
        guard name != ".", name != ".." else { throw UnixFSError(.invalidPath, "directory entry named \"\(name)\"") }
        for byte in name.utf8 where byte == UInt8(ascii: "/") || byte == 0 {
            throw UnixFSError(.invalidPath, "directory entry name \"\(name)\" contains \(byte == 0 ? "NUL" : "\"/\"")")
        }
    }
}

/// Builds one UnixFS directory: pure, synchronous, no I/O.
///
/// Entries are added one at a time and the choice between a basic directory
/// and a HAMT follows boxo's `DynamicDirectory` step by step, as Kubo's
/// `ipfs add` drives it: each `add` estimates the size the basic directory
/// would have and converts to a HAMT when it exceeds the threshold (a
/// directory exactly at the threshold stays basic), or when `maxLinks` would
/// be exceeded; a HAMT converts back when an add that replaces an entry
/// shrinks it below the threshold again. The outcome can depend on the order
/// of adds and replacements, so feed them in the order Kubo would.
///
/// Cost: O(1) amortized per `add` (estimates are kept incrementally),
/// O(n log n) for `build`.
public struct DirectoryBuilder: Sendable {
    public let parameters: DirectoryParameters

    private struct Member: Sendable {
        var entry: DirectoryEntry
        let nameBytes: [UInt8]
        let hash: UInt64
    }

    private enum Shape: Sendable {
        case basic
        /// boxo's `HAMTDirectory.sizeChange`: what adds changed the links
        /// estimate by since the conversion, in boxo's own accounting.
        case hamt(sizeChange: Int)
    }

    private let parameterError: UnixFSError?
    private let layout: HAMTLayout
    private let attributes: FileAttributes
    /// Bytes the UnixFS Data field adds to a basic directory's block.
    private let dataFieldSize: Int
    private var members: [Member] = []
    private var positions: [[UInt8]: Int] = [:]
    /// First member holding each value of the hash bits a HAMT can use.
    private var hashOwners: [UInt64: Int] = [:]
    /// Members whose usable hash bits another member already has.
    private var hashCollisions = 0
    /// Σ (name bytes + CID bytes): the `.links` estimate.
    private var linksEstimate = 0
    /// Σ serialized link sizes: the `.block` estimate without the Data field.
    private var blockLinksSize = 0
    private var shape = Shape.basic

    public init(parameters: DirectoryParameters) {
        self.parameters = parameters
        do {
            try parameters.validate()
            parameterError = nil
        } catch {
            parameterError = error
        }
        layout = HAMTLayout(fanout: parameters.hamtFanout) ?? HAMTLayout(fanout: HAMT.defaultFanout)!
        attributes = DirectoryBuilder.kuboAttributes(parameters.attributes)
        dataFieldSize = DirectoryBuilder.dataFieldSize(attributes)
    }

    /// Number of entries.
    public var count: Int { members.count }

    /// Whether `build` would make a HAMT now.
    public var isSharded: Bool {
        if case .hamt = shape { return true }
        return false
    }

    /// The current size estimate of the basic directory, in the units of
    /// `parameters.sizeEstimation` (0 when disabled).
    public var estimatedSize: Int {
        switch parameters.sizeEstimation {
        case .links: linksEstimate
        case .block: dataFieldSize + blockLinksSize
        case .disabled: 0
        }
    }

    /// Adds or replaces an entry. Names must be valid UnixFS names (non-empty, no "/", not "." or "..", no NUL); error otherwise.
    ///
    /// Also throws, leaving the builder unchanged: `.invalidOptions` for bad
    /// parameters; `.limitExceeded` where Kubo's add fails too (sharding off
    /// with `maxLinks` reached, or a HAMT that would need two names whose
    /// usable hash bits are equal: "sharded directory too deep").
    public mutating func add(_ entry: DirectoryEntry) throws(UnixFSError) {
        if let parameterError { throw parameterError }
        try DirectoryEntry.checkName(entry.name)
        let nameBytes = Array(entry.name.utf8)
        let position = positions[nameBytes]
        let old = position.map { members[$0].entry }
        let hash = position.map { members[$0].hash } ?? nameBytes.withUnsafeBytes { Murmur3.x64_128($0).h1 }
        let nameLength = nameBytes.count

        switch shape {
        case .basic:
            if basicNeedsSharding(nameLength: nameLength, old: old, new: entry) {
                // boxo re-inserts every entry into a new HAMT, then adds this one.
                try checkShardable(newHash: old == nil ? hash : nil)
                shape = .hamt(sizeChange: hamtSizeChange(0, nameLength: nameLength, old: old, new: entry))
            } else if old == nil, let limit = linkLimit, members.count + 1 > limit {
                throw UnixFSError(.limitExceeded, "directory is at its \(limit)-link limit and sharding is disabled")
            }
        case .hamt(let sizeChange):
            if hamtCanReturnToBasic(sizeChange: sizeChange, nameLength: nameLength, old: old, new: entry) {
                shape = .basic
            } else {
                try checkShardable(newHash: old == nil ? hash : nil)
                shape = .hamt(sizeChange: hamtSizeChange(sizeChange, nameLength: nameLength, old: old, new: entry))
            }
        }

        if let old, let position {
            linksEstimate -= nameLength + old.cid.bytes.count
            blockLinksSize -= Self.serializedLinkSize(nameLength: nameLength, cid: old.cid, tsize: old.tsize)
            members[position].entry = entry
        } else {
            let position = members.count
            members.append(Member(entry: entry, nameBytes: nameBytes, hash: hash))
            positions[nameBytes] = position
            let usableBits = layout.significantBits(of: hash)
            if hashOwners[usableBits] == nil {
                hashOwners[usableBits] = position
            } else {
                hashCollisions += 1
            }
        }
        linksEstimate += nameLength + entry.cid.bytes.count
        blockLinksSize += Self.serializedLinkSize(nameLength: nameLength, cid: entry.cid, tsize: entry.tsize)
    }

    /// Builds the directory: a basic directory (links sorted by name bytewise, Data = UnixFS Directory) or, over the threshold, a HAMT. Returns the root link (cid, tsize = cumulative size as Kubo computes it, fileSize 0) and every block made, children before parents.
    public func build() -> (root: FileLink, blocks: [Block]) {
        switch shape {
        case .basic:
            return buildBasic()
        case .hamt:
            let sorted = members.sorted { $0.hash < $1.hash }
            let encoder = HAMTShardEncoder(layout: layout, cids: parameters.cids, rootAttributes: attributes)
            return encoder.encode(sorted.map { HAMTShardEncoder.Item(hash: $0.hash, entry: $0.entry) })
        }
    }

    // MARK: Basic directory

    private func buildBasic() -> (root: FileLink, blocks: [Block]) {
        let sorted = members.sorted { $0.nameBytes.lexicographicallyPrecedes($1.nameBytes) }
        var childrenSize: UInt64 = 0
        let links = sorted.map { member in
            childrenSize &+= member.entry.tsize  // Go's uint64 wraps; so does Kubo's Tsize
            return DAGPBLink(cid: member.entry.cid, name: member.entry.name, tsize: member.entry.tsize)
        }
        let data = UnixFSData(kind: .directory, mode: attributes.mode, mtime: attributes.mtime)
        let bytes = DAGPBNode(links: links, data: data.encoded()).encoded()
        let cid = parameters.cids.cid(for: bytes, codec: .dagPB)
        return (FileLink(cid: cid, fileSize: 0, tsize: UInt64(bytes.count) &+ childrenSize), [Block(cid: cid, bytes: bytes)])
    }

    // MARK: boxo's conversion rules (ipld/unixfs/io/directory.go)

    private var linkLimit: Int? {
        guard let maxLinks = parameters.maxLinks, maxLinks > 0 else { return nil }
        return maxLinks
    }

    /// A link's weight in the estimate: name + CID bytes (`.links`), or its
    /// serialized size inside the PBNode (`.block`).
    private func estimatedLinkSize(nameLength: Int, cid: CID, tsize: UInt64) -> Int {
        switch parameters.sizeEstimation {
        case .block: Self.serializedLinkSize(nameLength: nameLength, cid: cid, tsize: tsize)
        case .links, .disabled: nameLength + cid.bytes.count
        }
    }

    /// `BasicDirectory.needsToSwitchToHAMTDir`: the estimate after the add
    /// exceeds the threshold (strictly), or a new entry exceeds `maxLinks`.
    private func basicNeedsSharding(nameLength: Int, old: DirectoryEntry?, new: DirectoryEntry) -> Bool {
        guard parameters.hamtShardingThreshold > 0 else { return false }
        let exceedsLinkLimit = old == nil && linkLimit.map { members.count + 1 > $0 } == true
        if parameters.sizeEstimation == .disabled { return exceedsLinkLimit }
        let removed = old.map { estimatedLinkSize(nameLength: nameLength, cid: $0.cid, tsize: $0.tsize) } ?? 0
        let added = estimatedLinkSize(nameLength: nameLength, cid: new.cid, tsize: new.tsize)
        return estimatedSize - removed + added > parameters.hamtShardingThreshold || exceedsLinkLimit
    }

    /// `HAMTDirectory.needsToSwitchToBasicDir`. boxo sizes the link being
    /// replaced by its stored name, which still carries the bucket prefix, and
    /// the new link by an empty name (`ipld.MakeLink`); only when that change
    /// takes `sizeChange` below zero does it measure the whole directory.
    private func hamtCanReturnToBasic(sizeChange: Int, nameLength: Int, old: DirectoryEntry?, new: DirectoryEntry) -> Bool {
        guard parameters.hamtShardingThreshold > 0 else { return false }
        let newCount = members.count + (old == nil ? 1 : 0)
        let withinLinkLimit = linkLimit.map { newCount <= $0 } ?? true
        if parameters.sizeEstimation == .disabled { return linkLimit != nil && withinLinkLimit }
        let removed = old.map { estimatedLinkSize(nameLength: layout.prefixLength + nameLength, cid: $0.cid, tsize: $0.tsize) } ?? 0
        let operation = estimatedLinkSize(nameLength: 0, cid: new.cid, tsize: new.tsize) - removed
        guard sizeChange + operation < 0 else { return false }
        return estimatedSize + operation <= parameters.hamtShardingThreshold && withinLinkLimit
    }

    /// `HAMTDirectory.AddChild`'s bookkeeping, always in name + CID bytes,
    /// with the replaced link's prefixed name.
    private func hamtSizeChange(_ sizeChange: Int, nameLength: Int, old: DirectoryEntry?, new: DirectoryEntry) -> Int {
        let removed = old.map { layout.prefixLength + nameLength + $0.cid.bytes.count } ?? 0
        return sizeChange - removed + nameLength + new.cid.bytes.count
    }

    /// A HAMT can hold every entry, plus the one with `newHash` if given.
    private func checkShardable(newHash: UInt64?) throws(UnixFSError) {
        var clash: (Int, String)?
        if hashCollisions > 0 {
            for (position, member) in members.enumerated() {
                let owner = hashOwners[layout.significantBits(of: member.hash)]!
                if owner != position { clash = (owner, member.entry.name); break }
            }
        } else if let newHash, let owner = hashOwners[layout.significantBits(of: newHash)] {
            clash = (owner, "the new entry")
        }
        if let (owner, other) = clash {
            throw UnixFSError(.limitExceeded, "sharded directory too deep: \"\(members[owner].entry.name)\" and \(other) share every hash bit a fanout-\(layout.fanout) HAMT uses")
        }
    }

    // MARK: Sizes

    /// Mode and mtime as Go's zero values see them: mode 0 and 0 ns are "unset".
    static func kuboAttributes(_ attributes: FileAttributes) -> FileAttributes {
        var result = attributes
        if result.mode == 0 { result.mode = nil }
        if let mtime = result.mtime, mtime.nanoseconds == 0 {
            result.mtime = UnixFSData.Timestamp(seconds: mtime.seconds, nanoseconds: nil)
        }
        return result
    }

    /// boxo `dataFieldSerializedSize`: the PBNode Data field of a basic
    /// directory with these attributes, tag and length included.
    static func dataFieldSize(_ attributes: FileAttributes) -> Int {
        var message = 2  // Type = Directory
        if let mode = attributes.mode { message += 1 + ProtobufWriter.varintLength(UInt64(mode)) }
        if let mtime = attributes.mtime {
            var timestamp = 1 + ProtobufWriter.varintLength(UInt64(bitPattern: mtime.seconds))
            if mtime.nanoseconds != nil { timestamp += 1 + 4 }
            message += 1 + ProtobufWriter.varintLength(UInt64(timestamp)) + timestamp
        }
        return 1 + ProtobufWriter.varintLength(UInt64(message)) + message
    }

    /// boxo `linkSerializedSize`: one PBNode.Links field holding Hash, Name and Tsize.
    static func serializedLinkSize(nameLength: Int, cid: CID, tsize: UInt64) -> Int {
        let cidLength = cid.bytes.count
        let link = 1 + ProtobufWriter.varintLength(UInt64(cidLength)) + cidLength
            + 1 + ProtobufWriter.varintLength(UInt64(nameLength)) + nameLength
            + 1 + ProtobufWriter.varintLength(tsize)
        return 1 + ProtobufWriter.varintLength(UInt64(link)) + link
    }
}
