import LMDB

/// Sizes and counts of a repo (`tau repo stat`).
public struct RepoStat: Hashable, Sendable {
    /// Blocks stored.
    public var blockCount: Int
    /// Total length of the stored blocks (as their CIDs name them).
    public var blockBytes: Int
    /// Total length of their records in LMDB (headers included, after compression).
    public var recordBytes: Int
    public var directPins: Int
    public var recursivePins: Int
    /// Size of `data.mdb`.
    public var fileBytes: Int
    /// Pages up to the highest one ever used, in bytes (the file's useful length).
    public var usedBytes: Int
    /// Pages the B-trees occupy now, in bytes; the rest of `usedBytes` is free
    /// pages LMDB will reuse (for instance after a GC).
    public var treeBytes: Int
    /// The current map size (address space, not disk).
    public var mapSize: Int
    public var pageSize: Int

    /// Pinned roots, direct and recursive.
    public var pinnedRoots: Int { directPins + recursivePins }
}

extension Repo {
    /// Counts and sizes; cheap (reads counters and B-tree statistics, walks the pins).
    public func stat() throws -> RepoStat {
        let databases = core.storage.databases
        let pins = try core.listPins()
        return try core.storage.withEnvironment { environment in
            let info = environment.info()
            let pageSize = environment.statistics().pageSize
            let fileBytes = try environment.fileSize()
            return try environment.read { transaction in
                let blocks = try transaction.statistics(of: databases.blocks)
                let pinTree = try transaction.statistics(of: databases.pins)
                let metaTree = try transaction.statistics(of: databases.meta)
                let main = try transaction.statistics(of: transaction.openDatabase(nil)!)
                let blockBytes = try Self.counter(MetaKey.blockBytes, in: transaction, meta: databases.meta)
                let recordBytes = try Self.counter(MetaKey.recordBytes, in: transaction, meta: databases.meta)
                return RepoStat(
                    blockCount: blocks.entries,
                    blockBytes: blockBytes,
                    recordBytes: recordBytes,
                    directPins: pins.count { $0.kind == .direct },
                    recursivePins: pins.count { $0.kind == .recursive },
                    fileBytes: fileBytes,
                    usedBytes: (info.lastPageNumber + 1) * pageSize,
                    treeBytes: (blocks.pages + pinTree.pages + metaTree.pages + main.pages) * pageSize,
                    mapSize: info.mapSize,
                    pageSize: pageSize)
            }
        }
    }

    private static func counter(_ key: [UInt8], in transaction: borrowing Transaction, meta: Database) throws -> Int {
        let value = try transaction.value(forKey: key, in: meta) { LittleEndian.read(UInt64.self, from: $0) }
        return Int(clamping: (value ?? nil) ?? 0)
    }
}
