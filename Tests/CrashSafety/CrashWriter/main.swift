// tau-crash-writer: the process Tests/CrashSafety/kill-write.sh kills.
//
//   tau-crash-writer write REPO   commits, until killed, transactions that each
//                                 store 1–8 random raw blocks (4–256 KiB) and one
//                                 record in the service database `crash-v1`
//                                 listing their CIDs; prints "committed N".
//   tau-crash-writer check REPO   reopens the repo and checks "both or neither":
//                                 every record's blocks are all there, and every
//                                 block is named by a record. Exit 1 otherwise.
import Blocks
import Foundation
import Multiformats
import Repo

let database = ServiceDatabase(name: "crash", version: 1)

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("tau-crash-writer: \(message)\n".utf8))
    exit(1)
}

/// Record value: count (u8), then each CID as varint(length) + bytes.
func encode(_ cids: [CID]) -> [UInt8] {
    var out: [UInt8] = [UInt8(cids.count)]
    for cid in cids {
        Varint.append(UInt64(cid.bytes.count), to: &out)
        out.append(contentsOf: cid.bytes)
    }
    return out
}

func decode(_ value: UnsafeRawBufferPointer) throws -> [CID] {
    guard let count = value.first else { throw RepoError(.storageFailure, "empty record") }
    var offset = 1
    var cids: [CID] = []
    for _ in 0..<count {
        let length = Int(try Varint.decode(value, at: &offset))
        guard offset + length <= value.count else { throw RepoError(.storageFailure, "short record") }
        cids.append(try CID(bytes: UnsafeRawBufferPointer(rebasing: value[offset..<(offset + length)])))
        offset += length
    }
    return cids
}

func write(_ path: String) async throws {
    let repo = try Repo(path: path, databases: [database])
    var generator = SystemRandomNumberGenerator()
    var next = try repo.read { snapshot in
        var count = 0
        try snapshot.forEach(in: database) { _, _ in count += 1; return true }
        return count
    }
    while true {
        let blocks = (0..<Int.random(in: 1...8, using: &generator)).map { _ in
            let size = Int.random(in: 4096...262_144, using: &generator)
            var bytes = [UInt8](repeating: 0, count: size)
            for index in stride(from: 0, to: size, by: 8) {
                withUnsafeBytes(of: generator.next()) { random in
                    for offset in 0..<min(8, size - index) { bytes[index + offset] = random[offset] }
                }
            }
            return Block(hashing: bytes, codec: .raw)
        }
        let key = Array(String(format: "%010d", next).utf8)
        let value = encode(blocks.map(\.cid))
        try await repo.write(blocks: blocks) { transaction in
            try transaction.put(value, forKey: key, in: database)
        }
        FileHandle.standardOutput.write(Data("committed \(next)\n".utf8))
        next += 1
    }
}

func check(_ path: String) async throws {
    let repo = try Repo(path: path, databases: [database])
    var named = Set<Multihash>()
    let records = try repo.read { snapshot in
        var records = 0
        try snapshot.forEach(in: database) { key, value in
            for cid in try decode(value) {
                guard try snapshot.containsBlock(cid) else {
                    fail("record \(String(decoding: key, as: UTF8.self)) names \(cid), which is not in the repo")
                }
                named.insert(cid.multihash)
            }
            records += 1
            return true
        }
        return records
    }
    let stored = try await repo.blocks.allMultihashes()
    for multihash in stored where !named.contains(multihash) { fail("block \(multihash) is in no record") }
    let blocks = stored.count
    await repo.close()
    print("ok: \(records) records, \(blocks) blocks, both or neither")
}

let arguments = CommandLine.arguments
guard arguments.count == 3 else { fail("usage: tau-crash-writer write|check REPO") }
do {
    switch arguments[1] {
    case "write": try await write(arguments[2])
    case "check": try await check(arguments[2])
    default: fail("usage: tau-crash-writer write|check REPO")
    }
} catch {
    fail("\(error)")
}
