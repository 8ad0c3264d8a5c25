import CLMDB
import LMDB
import Testing

/// The Swift wrappers over lmdb.h, without the repo on top.
@Suite struct LMDBTests {
    private func openDatabase(_ environment: borrowing Environment, _ name: String) throws -> Database {
        try environment.write { transaction in try transaction.openDatabase(name, create: true)! }
    }

    @Test func putGetDeleteRoundTrip() throws {
        try withTemporaryDirectory { path in
            let environment = try Environment(path: path, configuration: .init(maxDatabases: 4))
            let db = try openDatabase(environment, "test-v1")
            try environment.write { transaction throws in
                #expect(try transaction.put([1, 2, 3], forKey: Array("a".utf8), in: db))
                // noOverwrite leaves the old value and says so.
                #expect(try !transaction.put([9], forKey: Array("a".utf8), in: db, flags: .noOverwrite))
                // MDB_RESERVE: the value is written straight into the map.
                let reserved = try Array("b".utf8).withUnsafeBytes { key in
                    try transaction.put(reservingCount: 4, forKey: key, in: db) { buffer in
                        buffer.copyBytes(from: [4, 5, 6, 7])
                    }
                }
                #expect(reserved)
            }
            try environment.read { transaction throws in
                #expect(try transaction.value(forKey: Array("a".utf8), in: db) == [1, 2, 3])
                #expect(try transaction.value(forKey: Array("b".utf8), in: db) == [4, 5, 6, 7])
                #expect(try transaction.value(forKey: Array("zz".utf8), in: db) == nil)
                #expect(try transaction.contains(Array("a".utf8), in: db))
                #expect(try transaction.statistics(of: db).entries == 2)
            }
            try environment.write { transaction throws in
                #expect(try transaction.delete(key: Array("a".utf8), in: db))
                #expect(try !transaction.delete(key: Array("a".utf8), in: db))
            }
            try environment.read { transaction throws in
                #expect(try !transaction.contains(Array("a".utf8), in: db))
            }
        }
    }

    @Test func writeAbortsWhenBodyThrows() throws {
        struct Oops: Error {}
        try withTemporaryDirectory { path in
            let environment = try Environment(path: path, configuration: .init(maxDatabases: 4))
            let db = try openDatabase(environment, "test-v1")
            #expect(throws: Oops.self) {
                try environment.write { transaction throws in
                    try transaction.put([1], forKey: Array("k".utf8), in: db)
                    throw Oops()
                }
            }
            try environment.read { transaction throws in
                #expect(try !transaction.contains(Array("k".utf8), in: db))
            }
        }
    }

    @Test func cursorVisitsKeysInOrder() throws {
        try withTemporaryDirectory { path in
            let environment = try Environment(path: path, configuration: .init(maxDatabases: 4))
            let db = try openDatabase(environment, "test-v1")
            try environment.write { transaction throws in
                for key in ["d", "a", "c", "b", "e"] {
                    try transaction.put(Array(key.utf8), forKey: Array(key.utf8), in: db)
                }
            }
            let all = try environment.read { transaction throws in
                try transaction.withCursor(on: db) { cursor in
                    var keys: [String] = []
                    try cursor.forEach { key, value in
                        #expect(Array(key) == Array(value))
                        keys.append(String(decoding: key, as: UTF8.self))
                        return true
                    }
                    return keys
                }
            }
            #expect(all == ["a", "b", "c", "d", "e"])
            let fromC = try environment.read { transaction throws in
                try transaction.withCursor(on: db) { cursor in
                    var keys: [String] = []
                    try Array("bb".utf8).withUnsafeBytes { start in
                        _ = try cursor.forEach(from: start) { key, _ in
                            keys.append(String(decoding: key, as: UTF8.self))
                            return keys.count < 2
                        }
                    }
                    return keys
                }
            }
            #expect(fromC == ["c", "d"])
            // Deleting through a write cursor, then continuing with .next.
            try environment.write { transaction throws in
                try transaction.withCursor(on: db) { cursor in
                    _ = try cursor.move(to: .first) { _, _ in }
                    try cursor.deleteCurrent()
                    let next = try cursor.move(to: .current) { key, _ in String(decoding: key, as: UTF8.self) }
                    #expect(next == "b")
                }
            }
            try environment.read { transaction throws in
                #expect(try transaction.statistics(of: db).entries == 4)
            }
        }
    }

    /// A read transaction keeps its snapshot while a write commits on the same
    /// thread (MDB_NOTLS lets one thread hold both).
    @Test func readSnapshotIsolation() throws {
        try withTemporaryDirectory { path in
            let environment = try Environment(path: path, configuration: .init(maxDatabases: 4))
            let db = try openDatabase(environment, "test-v1")
            try environment.write { try $0.put([1], forKey: Array("k".utf8), in: db) }
            let snapshot = try environment.beginTransaction(readOnly: true)
            try environment.write { try $0.put([2], forKey: Array("k".utf8), in: db) }
            #expect(try snapshot.value(forKey: Array("k".utf8), in: db) == [1])
            snapshot.abort()
            try environment.read { transaction throws in
                #expect(try transaction.value(forKey: Array("k".utf8), in: db) == [2])
            }
        }
    }

    /// `write` never surfaces MDB_MAP_FULL: it doubles the map and runs again.
    @Test func mapGrowsFromTinySize() throws {
        try withTemporaryDirectory { path in
            let environment = try Environment(path: path, configuration: .init(mapSize: 64 << 10, maxDatabases: 4))
            let db = try openDatabase(environment, "test-v1")
            let sizeBefore = environment.info().mapSize
            var random = SeededBytes(seed: 7)
            let values = (0..<64).map { _ in random.bytes(64 << 10) }
            var runs = 0
            try environment.write { transaction throws in
                runs += 1
                for (index, value) in values.enumerated() {
                    try transaction.put(value, forKey: LMDBTests.key(index), in: db)
                }
            }
            #expect(runs > 1, "the body should have been re-run after MAP_FULL")
            #expect(environment.info().mapSize > sizeBefore)
            #expect(environment.info().mapSize >= 4 << 20)
            try environment.read { transaction throws in
                for (index, value) in values.enumerated() {
                    #expect(try transaction.value(forKey: LMDBTests.key(index), in: db) == value)
                }
            }
        }
    }

    /// Growing the map while this thread holds a transaction would wait for itself.
    @Test func growingInsideATransactionIsRefused() throws {
        try withTemporaryDirectory { path in
            let environment = try Environment(path: path, configuration: .init(maxDatabases: 4))
            let size = environment.info().mapSize
            try environment.read { _ in
                #expect(throws: LMDBError.wouldDeadlock) { try environment.growMap(from: size) }
            }
            try environment.growMap(from: size)
            #expect(environment.info().mapSize == 2 * size)
        }
    }

    @Test func errorsCarryCodeAndLMDBText() throws {
        #expect(LMDBError.notFound.code == MDB_NOTFOUND)
        #expect(LMDBError.mapFull.message.contains("MDB_MAP_FULL"))
        #expect(LMDBError.noSpace.message.lowercased().contains("space"))
        try withTemporaryDirectory { path in
            let environment = try Environment(path: path, configuration: .init(maxDatabases: 4))
            let db = try openDatabase(environment, "test-v1")
            #expect(throws: LMDBError.badValueSize) {
                try environment.write { try $0.put([1], forKey: [UInt8](), in: db) }
            }
            #expect(environment.maxKeySize() == 511)
            #expect(throws: LMDBError.badValueSize) {
                try environment.write { try $0.put([1], forKey: [UInt8](repeating: 1, count: 512), in: db) }
            }
        }
        #expect(throws: LMDBError.noSuchFile) {
            _ = try Environment(path: "/nonexistent/tau/lmdb")
        }
    }

    private static func key(_ index: Int) -> [UInt8] {
        withUnsafeBytes(of: UInt32(index).bigEndian) { Array($0) }
    }
}
