import Blocks
import LMDB
import Multiformats

/// One published version of a site.
public struct SiteVersion: Hashable, Sendable {
    /// The site's UnixFS directory.
    public let root: CID
    /// Seconds since the Unix epoch.
    public let publishedAt: Int64
    /// Single-page app: unknown paths serve the root's `index.html`.
    public let spa: Bool

    public init(root: CID, publishedAt: Int64, spa: Bool) {
        self.root = root
        self.publishedAt = publishedAt
        self.spa = spa
    }
}

/// A domain and the roots published under it, oldest first; the last is live.
public struct SiteRecord: Hashable, Sendable {
    public let domain: String
    public let versions: [SiteVersion]
    public var current: SiteVersion { versions[versions.count - 1] }
}

/// `sites-v1` values. Format: formats/lmdb.md §3.5.
///
/// ```
/// offset  size  field
/// 0       1     record version (1)
/// 1       1     number of versions N (1…maxSiteHistory)
/// then N times, oldest first:
///         1     flags: bit 0 = spa; bits 1–7 zero
///         8     published at, i64 little-endian, Unix seconds
///         …     varint(length) + binary CID of the root
/// ```
enum SiteRecordCoding {
    static let version: UInt8 = 1

    static func encode(_ versions: [SiteVersion]) -> [UInt8] {
        var out: [UInt8] = [version, UInt8(versions.count)]
        for entry in versions {
            out.append(entry.spa ? 1 : 0)
            withUnsafeBytes(of: entry.publishedAt.littleEndian) { out.append(contentsOf: $0) }
            Varint.append(UInt64(entry.root.bytes.count), to: &out)
            out.append(contentsOf: entry.root.bytes)
        }
        return out
    }

    static func decode(domain: String, _ value: UnsafeRawBufferPointer) throws -> SiteRecord {
        let bad = RepoError(.storageFailure, "unreadable site record for \(domain)")
        guard value.count >= 2, value[0] == version else { throw bad }
        let count = Int(value[1])
        var offset = 2
        var versions: [SiteVersion] = []
        for _ in 0..<count {
            guard offset + 9 <= value.count, value[offset] & ~1 == 0 else { throw bad }
            let spa = value[offset] & 1 == 1
            let time = Int64(littleEndian: value.loadUnaligned(fromByteOffset: offset + 1, as: Int64.self))
            offset += 9
            guard let length = try? Varint.decode(value, at: &offset), offset + Int(length) <= value.count,
                let root = try? CID(bytes: UnsafeRawBufferPointer(rebasing: value[offset..<(offset + Int(length))]))
            else { throw bad }
            offset += Int(length)
            versions.append(SiteVersion(root: root, publishedAt: time, spa: spa))
        }
        guard offset == value.count, !versions.isEmpty else { throw bad }
        return SiteRecord(domain: domain, versions: versions)
    }
}

extension Repo {
    /// Versions kept per site; publishing more drops the oldest.
    public static let maxSiteHistory = 32

    /// The pin name a published root gets.
    static func sitePinName(_ domain: String) -> String { "site:" + domain }

    /// The canonical form of a domain (lowercase, no trailing dot), or an error
    /// for anything that is not a DNS name: labels of 1–63 letters, digits and
    /// hyphens (not at either end), at most 253 characters, at least two labels.
    public static func canonicalDomain(_ text: String) throws -> String {
        var name = text.lowercased()
        if name.hasSuffix(".") { name.removeLast() }
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        let valid = !name.isEmpty && name.utf8.count <= 253 && labels.count >= 2 && labels.allSatisfy { label in
            !label.isEmpty && label.utf8.count <= 63 && label.first != "-" && label.last != "-"
                && label.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D }
        }
        guard valid else { throw RepoError(.invalidDomain, "\"\(text)\"") }
        return name
    }

    /// Changes each time a site is published or rolled back through this
    /// `Repo`, so a process serving sites knows when to re-read them.
    public var sitesGeneration: Int { core.sitesGeneration.load(ordering: .acquiring) }

    /// Points `domain` at `root`, keeping the previous roots as history. The
    /// root is pinned recursively (named `site:DOMAIN` unless already pinned)
    /// in the same transaction that records it, so a published site is always
    /// complete and never collected; a root dropped from history (beyond
    /// `maxSiteHistory`) loses its site pin unless another version uses it.
    @discardableResult
    public func publishSite(domain: String, root: CID, spa: Bool, publishedAt: Int64) async throws -> SiteRecord {
        let domain = try Self.canonicalDomain(domain)
        let record = try await withAddSession { _ in
            try await core.writer.perform { transaction, context in
                let databases = context.databases
                var versions = try Self.readSite(domain, in: transaction, databases: databases)?.versions ?? []
                if try Self.pinRecord(root, in: transaction, databases: databases) == nil {
                    try RepoCore.writePin(Pin(cid: root, kind: .recursive, name: Self.sitePinName(domain)),
                                          in: transaction, databases: databases)
                }
                versions.append(SiteVersion(root: root, publishedAt: publishedAt, spa: spa))
                var dropped: [SiteVersion] = []
                while versions.count > Self.maxSiteHistory { dropped.append(versions.removeFirst()) }
                try Self.writeSite(domain, versions, in: transaction, databases: databases)
                for old in dropped { try Self.releaseSitePin(old.root, domain: domain, in: transaction, databases: databases) }
                return SiteRecord(domain: domain, versions: versions)
            }
        }
        core.sitesGeneration.add(1, ordering: .releasing)
        return record
    }

    /// Makes the previous version live again and forgets the current one.
    /// - Throws: `.noSuchSite`, `.noEarlierVersion`.
    @discardableResult
    public func rollbackSite(domain: String) async throws -> SiteRecord {
        let domain = try Self.canonicalDomain(domain)
        let record = try await core.writer.perform { transaction, context in
            let databases = context.databases
            guard var versions = try Self.readSite(domain, in: transaction, databases: databases)?.versions else {
                throw RepoError(.noSuchSite, domain)
            }
            guard versions.count >= 2 else { throw RepoError(.noEarlierVersion, domain) }
            let dropped = versions.removeLast()
            try Self.writeSite(domain, versions, in: transaction, databases: databases)
            try Self.releaseSitePin(dropped.root, domain: domain, in: transaction, databases: databases)
            return SiteRecord(domain: domain, versions: versions)
        }
        core.sitesGeneration.add(1, ordering: .releasing)
        return record
    }

    /// The site published under `domain`, or `nil`.
    public func site(_ domain: String) throws -> SiteRecord? {
        let domain = try Self.canonicalDomain(domain)
        let databases = core.storage.databases
        return try core.storage.read { transaction in try Self.readSite(domain, in: transaction, databases: databases) }
    }

    /// Every published site, by domain.
    public func sites() throws -> [SiteRecord] {
        let databases = core.storage.databases
        return try core.storage.read { transaction in
            try transaction.withCursor(on: databases.sites) { cursor in
                var result: [SiteRecord] = []
                try cursor.forEach { key, value in
                    result.append(try SiteRecordCoding.decode(domain: String(decoding: key, as: UTF8.self), value))
                    return true
                }
                return result
            }
        }
    }

    // MARK: Inside a write transaction

    static func readSite(_ domain: String, in transaction: borrowing Transaction, databases: RepoDatabases) throws -> SiteRecord? {
        try transaction.value(forKey: Array(domain.utf8), in: databases.sites) { value in
            try SiteRecordCoding.decode(domain: domain, value)
        }
    }

    static func writeSite(_ domain: String, _ versions: [SiteVersion], in transaction: borrowing Transaction, databases: RepoDatabases) throws {
        try SiteRecordCoding.encode(versions).withUnsafeBytes { value in
            try Array(domain.utf8).withUnsafeBytes { key in _ = try transaction.put(value, forKey: key, in: databases.sites) }
        }
    }

    static func pinRecord(_ cid: CID, in transaction: borrowing Transaction, databases: RepoDatabases) throws -> Pin? {
        let key = PinRecord.key(for: cid)
        return try transaction.value(forKey: key, in: databases.pins) { value in
            try key.withUnsafeBytes { try PinRecord.decode(key: $0, value: value) }
        }
    }

    /// Removes the site pin of `root` unless a version of any site still uses
    /// it, or the pin is not the site's own (a user pinned it).
    static func releaseSitePin(_ root: CID, domain: String, in transaction: borrowing Transaction, databases: RepoDatabases) throws {
        guard let pin = try pinRecord(root, in: transaction, databases: databases), pin.name == sitePinName(domain) else { return }
        let stillUsed = try transaction.withCursor(on: databases.sites) { cursor in
            var used = false
            try cursor.forEach { key, value in
                let record = try SiteRecordCoding.decode(domain: String(decoding: key, as: UTF8.self), value)
                used = record.versions.contains { $0.root.multihash == root.multihash }
                return !used
            }
            return used
        }
        if !stillUsed { _ = try transaction.delete(key: PinRecord.key(for: root), in: databases.pins) }
    }
}

