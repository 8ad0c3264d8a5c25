import LMDB

/// A named LMDB database that a service owns inside the repo's environment,
/// declared before the repo opens (`Repo(path:configuration:databases:)`).
/// Its LMDB name is `NAME-vVERSION`; a change of key or value layout is a new
/// version, never a reinterpretation. Rules: formats/lmdb.md §3.6.
public struct ServiceDatabase: Hashable, Sendable, CustomStringConvertible {
    /// Lowercase ASCII letters, digits and `-`, starting with a letter, at most 48 bytes.
    public let name: String
    /// The layout version, 1 or more.
    public let version: Int

    public init(name: String, version: Int) {
        self.name = name
        self.version = version
    }

    /// The database's name in the environment, e.g. `sites-v1`.
    public var lmdbName: String { "\(name)-v\(version)" }
    public var description: String { lmdbName }

    /// Names the repo itself owns; a service may not register them.
    static let reservedNames: Set<String> = ["blocks", "pins", "meta", "links"]
    /// Databases services may register in one repo: the environment allows
    /// `Repo.maxDatabases`, the repo uses four.
    public static let maxPerRepo = Repo.maxDatabases - reservedNames.count

    func validate() throws(RepoError) {
        let bytes = Array(name.utf8)
        let wellFormed = !bytes.isEmpty && bytes.count <= 48 && (0x61...0x7A).contains(bytes[0])
            && bytes.allSatisfy { (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x2D }
        guard wellFormed else {
            throw RepoError(.invalidDatabase, "\"\(name)\": names are lowercase letters, digits and -, starting with a letter")
        }
        guard !Self.reservedNames.contains(name) else {
            throw RepoError(.invalidDatabase, "\"\(name)\" is the repo's own")
        }
        guard version >= 1 else { throw RepoError(.invalidDatabase, "\(name): version \(version) (versions start at 1)") }
    }

    /// Splits an environment's database name `NAME-vN` into its parts.
    static func parse(_ lmdbName: String) -> (name: String, version: Int)? {
        let utf8 = Array(lmdbName.utf8)
        guard let dash = utf8.lastIndex(of: UInt8(ascii: "-")), dash > 0,
            utf8.count > dash + 2, utf8[dash + 1] == UInt8(ascii: "v"),
            let version = Int(String(decoding: utf8[(dash + 2)...], as: UTF8.self)), version >= 1
        else { return nil }
        return (String(decoding: utf8[..<dash], as: UTF8.self), version)
    }
}

/// The opened handles of the services' databases, by `ServiceDatabase`.
struct ServiceDatabaseHandles: Sendable {
    private let handles: [ServiceDatabase: Database]

    init(_ handles: [ServiceDatabase: Database]) { self.handles = handles }

    var registered: [ServiceDatabase] { Array(handles.keys) }

    func handle(_ database: ServiceDatabase) throws(RepoError) -> Database {
        guard let handle = handles[database] else {
            throw RepoError(.unknownDatabase, "\(database) was not registered when the repo opened")
        }
        return handle
    }

    /// Validates `databases` and opens (creating) each one in `transaction`.
    /// A database of the same name at another version is refused: the data
    /// would need a migration this tau does not know.
    static func open(_ databases: [ServiceDatabase], existing: [String],
                     in transaction: borrowing Transaction) throws -> ServiceDatabaseHandles {
        guard databases.count <= ServiceDatabase.maxPerRepo else {
            throw RepoError(.invalidDatabase, "\(databases.count) service databases; at most \(ServiceDatabase.maxPerRepo)")
        }
        var handles: [ServiceDatabase: Database] = [:]
        for database in databases {
            try database.validate()
            guard !handles.keys.contains(where: { $0.name == database.name && $0.version != database.version }) else {
                throw RepoError(.invalidDatabase, "\(database.name) registered at two versions")
            }
            for other in existing {
                if let found = ServiceDatabase.parse(other), found.name == database.name, found.version != database.version {
                    throw RepoError(.incompatibleVersion, "the repo holds \(other); this tau uses \(database.lmdbName)")
                }
            }
            handles[database] = try transaction.openDatabase(database.lmdbName, create: true)!
        }
        return ServiceDatabaseHandles(handles)
    }
}
