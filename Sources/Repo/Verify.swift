import Blocks
import LMDB
import Multiformats

/// A stored block that failed verification.
public struct VerifyProblem: Hashable, Sendable, CustomStringConvertible {
    public enum Reason: Hashable, Sendable {
        /// The bytes do not hash to the key.
        case hashMismatch
        /// The record's header is unreadable or its zstd frame does not decompress.
        case corruptRecord(String)
        /// The key is not a multihash.
        case invalidKey
    }

    /// The stored key (a multihash, unless `reason` is `.invalidKey`).
    public let key: [UInt8]
    public let reason: Reason

    /// The key as a multihash, when it parses.
    public var multihash: Multihash? { try? Multihash(bytes: key) }

    public var description: String {
        let name = multihash.map { "\($0)" } ?? key.map { String($0, radix: 16) }.joined()
        switch reason {
        case .hashMismatch: return "\(name): bytes do not hash to the key"
        case .corruptRecord(let detail): return "\(name): \(detail)"
        case .invalidKey: return "\(name): key is not a multihash"
        }
    }
}

/// The outcome of `Repo.verify`.
public struct VerifyReport: Hashable, Sendable {
    /// Blocks re-hashed.
    public var checkedBlocks: Int
    /// Their total length.
    public var checkedBytes: Int
    /// Blocks whose hash function tau does not compute (not checked).
    public var uncheckedBlocks: Int
    /// Every bad block found.
    public var problems: [VerifyProblem]
}

/// Where a verification is.
public struct VerifyProgress: Hashable, Sendable {
    public var checkedBlocks: Int
    /// Blocks in the store when verification started.
    public var totalBlocks: Int
    public var checkedBytes: Int
}

extension Repo {
    /// Re-hashes every stored block with the function its key names and
    /// reports the ones that do not match (or cannot be read).
    ///
    /// Memory stays bounded: blocks are read zero-copy, a chunk at a time
    /// (≤ 1024 blocks or 64 MiB per short read transaction), on a thread of
    /// its own. Only the problems found are kept.
    /// - Parameter progress: called from that thread after each chunk; keep it short.
    public func verify(progress: (@Sendable (VerifyProgress) -> Void)? = nil) async throws -> VerifyReport {
        try await DedicatedThread.run { [core] in
            try core.verifyBlocks(progress: progress)
        }
    }
}

extension RepoCore {
    static let verifyChunkBlocks = 1024
    static let verifyChunkBytes = 64 << 20

    func verifyBlocks(progress: (@Sendable (VerifyProgress) -> Void)?) throws -> VerifyReport {
        let blocks = storage.databases.blocks
        let total = try storage.read { transaction in try transaction.statistics(of: blocks).entries }
        var report = VerifyReport(checkedBlocks: 0, checkedBytes: 0, uncheckedBlocks: 0, problems: [])
        var resumeAfter: [UInt8]?
        while true {
            var lastKey: [UInt8]?
            var chunkBlocks = 0
            var chunkBytes = 0
            try storage.read { transaction in
                try transaction.withCursor(on: blocks) { cursor in
                    try Self.withOptionalBytes(resumeAfter) { start in
                        try cursor.forEach(from: start) { key, record in
                            if let resumeAfter, key.elementsEqual(resumeAfter) { return true }
                            lastKey = Array(key)
                            chunkBlocks += 1
                            chunkBytes += record.count
                            Self.verify(key: key, record: record, into: &report)
                            return chunkBlocks < Self.verifyChunkBlocks && chunkBytes < Self.verifyChunkBytes
                        }
                    }
                }
            }
            guard let lastKey else { break }
            resumeAfter = lastKey
            progress?(VerifyProgress(checkedBlocks: report.checkedBlocks + report.problems.count,
                                     totalBlocks: total, checkedBytes: report.checkedBytes))
        }
        return report
    }

    private static func verify(key: UnsafeRawBufferPointer, record: UnsafeRawBufferPointer, into report: inout VerifyReport) {
        guard let multihash = try? Multihash(bytes: key) else {
            report.problems.append(VerifyProblem(key: Array(key), reason: .invalidKey))
            return
        }
        guard let function = multihash.function, function != .identity else {
            report.uncheckedBlocks += 1
            return
        }
        do {
            let matches = try BlockRecord.withBlockBytes(in: record) { bytes -> Bool in
                report.checkedBytes += bytes.count
                return Multihash(hashing: bytes, with: function) == multihash
            }
            if matches {
                report.checkedBlocks += 1
            } else {
                report.problems.append(VerifyProblem(key: Array(key), reason: .hashMismatch))
            }
        } catch {
            report.problems.append(VerifyProblem(key: Array(key), reason: .corruptRecord("\(error)")))
        }
    }
}
