// The site registry: domain → published roots, a service on the repo's
// transaction API. Format: formats/lmdb.md §3.5.
import Multiformats
import Repo
import Synchronization

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

    public init(domain: String, versions: [SiteVersion]) {
        self.domain = domain
        self.versions = versions
    }
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
        let bad = SiteError(.corruptRecord, domain)
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

/// The sites published in one repo. Publishing pins the root in the same
/// repo transaction that records it, so a published site is always complete
/// and never collected.
public final class SiteRegistry: Sendable {
    /// `sites-v1`: domain (ASCII lowercase) → site record.
    public static let database = ServiceDatabase(name: "sites", version: 1)
    /// Versions kept per site; publishing more drops the oldest.
    public static let maxHistory = 32

    public let repo: Repo
    private let generationCounter: Generation

    /// - Precondition: `repo` was opened with `SiteRegistry.database` registered.
    public init(repo: Repo) throws {
        guard repo.serviceDatabases.contains(Self.database) else {
            throw RepoError(.unknownDatabase, "\(Self.database): open the repo with SiteRegistry.database")
        }
        self.repo = repo
        generationCounter = Generation.of(repo)
    }

    /// The pin name a published root gets.
    static func pinName(_ domain: String) -> String { "site:" + domain }

    /// The canonical form of a domain (lowercase, no trailing dot), or an error
    /// for anything that is not a DNS name: labels of 1–63 letters, digits and
    /// hyphens (not at either end), at most 253 characters, at least two labels.
    public static func canonicalDomain(_ text: String) throws(SiteError) -> String {
        var name = text.lowercased()
        if name.hasSuffix(".") { name.removeLast() }
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        let valid = !name.isEmpty && name.utf8.count <= 253 && labels.count >= 2 && labels.allSatisfy { label in
            !label.isEmpty && label.utf8.count <= 63 && label.first != "-" && label.last != "-"
                && label.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D }
        }
        guard valid else { throw SiteError(.invalidDomain, "\"\(text)\"") }
        return name
    }

    /// Changes each time a site is published or rolled back through any
    /// registry on the same `Repo` object (a command run inside the node makes
    /// its own registry on the node's repo), so a process serving sites knows
    /// when to re-read them.
    public var generation: Int { generationCounter.value.load(ordering: .acquiring) }

    /// Points `domain` at `root`, keeping the previous roots as history. The
    /// root is pinned recursively (named `site:DOMAIN` unless already pinned)
    /// in the same transaction; a root dropped from history (beyond
    /// `maxHistory`) loses its site pin unless another version uses it.
    /// - Throws: `RepoError.dagIncomplete` when the root's DAG is not all in the repo.
    @discardableResult
    public func publish(domain: String, root: CID, spa: Bool, publishedAt: Int64) async throws -> SiteRecord {
        let domain = try Self.canonicalDomain(domain)
        let record = try await repo.write { transaction in
            var versions = try Self.read(domain, in: transaction)?.versions ?? []
            if try transaction.pin(for: root) == nil {
                try transaction.pin(Pin(cid: root, kind: .recursive, name: Self.pinName(domain)))
            }
            versions.append(SiteVersion(root: root, publishedAt: publishedAt, spa: spa))
            var dropped: [SiteVersion] = []
            while versions.count > Self.maxHistory { dropped.append(versions.removeFirst()) }
            try transaction.put(SiteRecordCoding.encode(versions), forKey: Array(domain.utf8), in: Self.database)
            for old in dropped { try Self.releasePin(old.root, domain: domain, in: transaction) }
            return SiteRecord(domain: domain, versions: versions)
        }
        generationCounter.value.add(1, ordering: .releasing)
        return record
    }

    /// Makes the previous version live again and forgets the current one.
    /// - Throws: `SiteError.noSuchSite`, `.noEarlierVersion`.
    @discardableResult
    public func rollback(domain: String) async throws -> SiteRecord {
        let domain = try Self.canonicalDomain(domain)
        let record = try await repo.write { transaction in
            guard var versions = try Self.read(domain, in: transaction)?.versions else {
                throw SiteError(.noSuchSite, domain)
            }
            guard versions.count >= 2 else { throw SiteError(.noEarlierVersion, domain) }
            let dropped = versions.removeLast()
            try transaction.put(SiteRecordCoding.encode(versions), forKey: Array(domain.utf8), in: Self.database)
            try Self.releasePin(dropped.root, domain: domain, in: transaction)
            return SiteRecord(domain: domain, versions: versions)
        }
        generationCounter.value.add(1, ordering: .releasing)
        return record
    }

    /// The site published under `domain`, or `nil`. Synchronous LMDB read.
    public func site(_ domain: String) throws -> SiteRecord? {
        let domain = try Self.canonicalDomain(domain)
        return try repo.read { snapshot in
            try snapshot.withValue(forKey: Array(domain.utf8), in: Self.database) { value in
                try SiteRecordCoding.decode(domain: domain, value)
            }
        }
    }

    /// Every published site, by domain. Synchronous LMDB read.
    public func sites() throws -> [SiteRecord] {
        try repo.read { snapshot in
            var result: [SiteRecord] = []
            try snapshot.forEach(in: Self.database) { key, value in
                result.append(try SiteRecordCoding.decode(domain: String(decoding: key, as: UTF8.self), value))
                return true
            }
            return result
        }
    }

    // MARK: Inside a write transaction

    static func read(_ domain: String, in transaction: borrowing RepoTransaction) throws -> SiteRecord? {
        try transaction.withValue(forKey: Array(domain.utf8), in: database) { value in
            try SiteRecordCoding.decode(domain: domain, value)
        }
    }

    /// Removes the site pin of `root` unless a version of any site still uses
    /// it, or the pin is not the site's own (a user pinned it).
    static func releasePin(_ root: CID, domain: String, in transaction: borrowing RepoTransaction) throws {
        guard let pin = try transaction.pin(for: root), pin.name == pinName(domain) else { return }
        var stillUsed = false
        try transaction.forEach(in: database) { key, value in
            let record = try SiteRecordCoding.decode(domain: String(decoding: key, as: UTF8.self), value)
            stillUsed = record.versions.contains { $0.root.multihash == root.multihash }
            return !stillUsed
        }
        if !stillUsed { try transaction.unpin(root) }
    }
}

/// One publish counter per open `Repo` object, shared by its registries.
final class Generation: Sendable {
    let value = Atomic<Int>(0)
    private static let byRepo = Mutex<[ObjectIdentifier: Generation]>([:])

    static func of(_ repo: Repo) -> Generation {
        byRepo.withLock { table in
            if let existing = table[ObjectIdentifier(repo)] { return existing }
            let made = Generation()
            table[ObjectIdentifier(repo)] = made
            return made
        }
    }
}
