import Chunking
import Multiformats

/// A named set of import defaults (IPIP-499), as Kubo's `Import.*` profiles.
public enum ImportProfile: String, CaseIterable, Sendable {
    /// Kubo's historical defaults: CIDv0, dag-pb leaves, 256 KiB chunks, 174 links,
    /// HAMT above 256 KiB estimated by links.
    case unixfsV0_2015 = "unixfs-v0-2015"
    /// CIDv1, raw leaves, 1 MiB chunks, 1024 links, HAMT above 256 KiB estimated by block size.
    case unixfsV1_2025 = "unixfs-v1-2025"
}

/// Import options as a user gives them (`tau add` flags): `nil` means "not
/// set", so that Kubo's defaults and implication rules can apply. `resolve()`
/// turns them into the parameters the importers take.
public struct ImportOptions: Sendable {
    public var profile: ImportProfile?
    public var cidVersion: Int?
    public var rawLeaves: Bool?
    public var hashFunction: String?
    public var chunker: String?
    public var trickle: Bool?
    public var maxFileLinks: Int?
    public var maxDirectoryLinks: Int?
    public var hamtFanout: Int?
    public var inline: Bool = false
    public var inlineLimit: Int = 32
    public var mode: UInt32?
    public var mtime: UnixFSData.Timestamp?

    public init() {}

    /// The resolved parameters for files and directories.
    public struct Resolved: Sendable {
        public var file: FileImportParameters
        public var directory: DirectoryParameters
    }

    /// Applies the profile's defaults, then the flags, then Kubo's rules:
    /// 1. a hash other than sha2-256 implies CIDv1 (CIDv0 with it is an error);
    /// 2. CIDv1 implies raw leaves unless `rawLeaves` is set;
    /// 3. mode or mtime need a dag-pb root: raw leaves are turned off, or an
    ///    error if they were asked for explicitly;
    /// 4. an inline limit above 128 bytes is an error.
    public func resolve() throws(UnixFSError) -> Resolved {
        let profile = self.profile ?? .unixfsV0_2015
        var cidVersion = self.cidVersion ?? (self.profile == .unixfsV1_2025 ? 1 : nil)
        var rawLeaves = self.rawLeaves ?? (self.profile == .unixfsV1_2025 ? true : (self.profile == .unixfsV0_2015 ? false : nil))
        let hashName = (hashFunction ?? "sha2-256").lowercased()
        guard let hash = HashFunction(name: hashName), hash != .identity else {
            throw UnixFSError(.invalidOptions, "unrecognized hash function: \"\(hashName)\" (use sha2-256 or sha2-512)")
        }
        if let version = cidVersion, version != 0 && version != 1 {
            throw UnixFSError(.invalidOptions, "unknown CID version: \(version)")
        }
        if hash != .sha2_256 {
            if cidVersion == 0 { throw UnixFSError(.invalidOptions, "CIDv0 only supports sha2-256") }
            cidVersion = 1
        }
        let version: CID.Version = cidVersion == 1 ? .v1 : .v0
        if version == .v1 && rawLeaves == nil { rawLeaves = true }
        let attributes = FileAttributes(mode: mode, mtime: mtime)
        if !attributes.isEmpty {
            if self.rawLeaves == true {
                throw UnixFSError(.invalidOptions, "raw-leaves can't be used with UnixFS metadata like mode or modification time")
            }
            rawLeaves = false
        }
        if inline && inlineLimit > CIDBuilder.maxInlineLimit {
            throw UnixFSError(.invalidOptions, "inline-limit \(inlineLimit) exceeds maximum allowed size of \(CIDBuilder.maxInlineLimit) bytes")
        }
        if inline && inlineLimit < 0 {
            throw UnixFSError(.invalidOptions, "inline-limit must not be negative")
        }
        let defaultChunkSize = profile == .unixfsV1_2025 ? 1_048_576 : 262_144
        let chunkerSpec: ChunkerSpec
        do {
            chunkerSpec = try ChunkerSpec(parsing: chunker ?? "size-\(defaultChunkSize)", defaultSize: defaultChunkSize)
        } catch {
            throw UnixFSError(.invalidOptions, "\(error)")
        }
        let maxLinks = maxFileLinks ?? (profile == .unixfsV1_2025 ? 1024 : 174)
        guard maxLinks >= 2 else {
            throw UnixFSError(.invalidOptions, "max-file-links must be at least 2 (got \(maxLinks))")
        }
        let fanout = hamtFanout ?? 256
        guard fanout >= 8, fanout <= 1024, fanout & (fanout - 1) == 0 else {
            throw UnixFSError(.invalidOptions, "HAMT fanout must be a power of 2 between 8 and 1024 (got \(fanout))")
        }
        if let maxDirectoryLinks, maxDirectoryLinks < 0 {
            throw UnixFSError(.invalidOptions, "max-directory-links must not be negative")
        }
        let cids = CIDBuilder(version: version, hashFunction: hash, inlineLimit: inline ? inlineLimit : nil)
        let file = FileImportParameters(
            chunker: chunkerSpec, layout: trickle == true ? .trickle : .balanced,
            rawLeaves: rawLeaves ?? false, cids: cids, maxLinks: maxLinks, attributes: attributes)
        let directory = DirectoryParameters(
            cids: cids, sizeEstimation: profile == .unixfsV1_2025 ? .block : .links,
            hamtFanout: fanout, maxLinks: maxDirectoryLinks == 0 ? nil : maxDirectoryLinks)
        try directory.validate()
        return Resolved(file: file, directory: directory)
    }
}
