import Errors
import LMDB
import Multiformats

/// Why a repo operation failed. Match on the static members (`== .diskFull`);
/// `detail`, `cid` and `storageError` say more.
public struct RepoError: CodedError {
    public enum Code: String, Hashable, Sendable {
        /// The repo was written by a tau whose format this one cannot read.
        case incompatibleVersion
        /// The directory holds an LMDB environment (or file) that is not a tau repo.
        case notARepo
        /// This process already has the repo open (LMDB forbids opening one environment twice).
        case alreadyOpen
        /// The repo was closed.
        case closed
        /// The file system is full; the failed write left the repo as it was.
        case diskFull
        /// Any other storage error (see `storageError`).
        case storageFailure
        /// A stored value has an unreadable header or does not decompress.
        case corruptBlock
        /// A recursive pin's DAG lacks a block (`cid` names the first missing one).
        case dagIncomplete
        /// A block's codec has no known links format, so its DAG cannot be walked.
        case unsupportedCodec
        /// A block does not decode in its CID's codec, so its links are unknown.
        case malformedBlock
        case alreadyPinnedRecursively
        case notPinned
        /// The block belongs to a pinned DAG and may not be deleted.
        case pinned
        /// A pin name is longer than `Pin.maxNameLength` bytes.
        case invalidPinName
        /// A key (multihash, or CID for pins) is longer than LMDB's 511-byte key limit.
        case keyTooLong
        /// The GC lock file could not be locked.
        case lockFailed
        /// The call would wait for itself (GC or delete inside an add session).
        case wouldDeadlock
        /// An add session was used after its closure returned.
        case sessionEnded
        /// Garbage collection stopped before deleting anything (see `detail`).
        case gcAborted
        /// A service database name or version that breaks formats/lmdb.md §3.6.
        case invalidDatabase
        /// A service database that was not registered when the repo opened.
        case unknownDatabase
        /// A repo transaction used after its closure returned.
        case transactionEnded
    }

    public let code: Code
    public let detail: String
    /// The block the error is about, when there is one.
    public let cid: CID?
    /// The LMDB (or errno) error underneath, when there is one.
    public let storageError: LMDBError?

    public init(_ code: Code, _ detail: String = "", cid: CID? = nil, storageError: LMDBError? = nil) {
        self.code = code
        self.detail = detail
        self.cid = cid
        self.storageError = storageError
    }

    public var summary: String {
        switch code {
        case .incompatibleVersion: "repo written by an incompatible version of tau"
        case .notARepo: "not a tau repo"
        case .alreadyOpen: "repo already open in this process"
        case .closed: "repo is closed"
        case .diskFull: "disk full; nothing was written"
        case .storageFailure: "storage failure"
        case .corruptBlock: "stored block is corrupt"
        case .dagIncomplete: "DAG is incomplete: missing block"
        case .unsupportedCodec: "cannot walk links of this codec"
        case .malformedBlock: "block does not decode in its codec"
        case .alreadyPinnedRecursively: "already pinned recursively"
        case .notPinned: "not pinned"
        case .pinned: "block is pinned"
        case .invalidPinName: "invalid pin name"
        case .keyTooLong: "key longer than LMDB's 511-byte limit"
        case .lockFailed: "could not lock the repo's GC lock file"
        case .wouldDeadlock: "would deadlock"
        case .sessionEnded: "add session already ended"
        case .gcAborted: "garbage collection aborted; nothing was deleted"
        case .invalidDatabase: "invalid service database"
        case .unknownDatabase: "unknown service database"
        case .transactionEnded: "repo transaction already ended"
        }
    }

    public var description: String {
        var parts = [summary]
        if let cid { parts.append("\(cid)") }
        if !detail.isEmpty { parts.append(detail) }
        return parts.joined(separator: ": ")
    }

    public static let incompatibleVersion = Self(.incompatibleVersion)
    public static let notARepo = Self(.notARepo)
    public static let alreadyOpen = Self(.alreadyOpen)
    public static let closed = Self(.closed)
    public static let diskFull = Self(.diskFull)
    public static let storageFailure = Self(.storageFailure)
    public static let corruptBlock = Self(.corruptBlock)
    public static let dagIncomplete = Self(.dagIncomplete)
    public static let unsupportedCodec = Self(.unsupportedCodec)
    public static let malformedBlock = Self(.malformedBlock)
    public static let alreadyPinnedRecursively = Self(.alreadyPinnedRecursively)
    public static let notPinned = Self(.notPinned)
    public static let pinned = Self(.pinned)
    public static let invalidPinName = Self(.invalidPinName)
    public static let keyTooLong = Self(.keyTooLong)
    public static let lockFailed = Self(.lockFailed)
    public static let wouldDeadlock = Self(.wouldDeadlock)
    public static let sessionEnded = Self(.sessionEnded)
    public static let gcAborted = Self(.gcAborted)
    public static let invalidDatabase = Self(.invalidDatabase)
    public static let unknownDatabase = Self(.unknownDatabase)
    public static let transactionEnded = Self(.transactionEnded)

    /// Wraps an LMDB error: `ENOSPC` (and a short write on a full file system,
    /// which LMDB reports as `EIO`) becomes `diskFull`.
    static func storage(_ error: LMDBError, path: String? = nil, _ context: String = "") -> RepoError {
        let prefix = context.isEmpty ? "" : "\(context): "
        if error == .noSpace {
            return RepoError(.diskFull, prefix + error.message, storageError: error)
        }
        if error == .ioError, let path, FileSystem.isNearlyFull(path) {
            let free = FileSystem.availableBytes(path) ?? 0
            return RepoError(.diskFull, prefix + "short write (EIO) with \(free) bytes free on the file system of \(path)",
                             storageError: error)
        }
        return RepoError(.storageFailure, context.isEmpty ? error.description : "\(context): \(error.description)",
                         storageError: error)
    }
}

extension Error {
    /// This error as a `RepoError`, wrapping LMDB errors.
    func asRepoError(path: String? = nil) -> any Error {
        if let lmdb = self as? LMDBError { return RepoError.storage(lmdb, path: path) }
        return self
    }
}
