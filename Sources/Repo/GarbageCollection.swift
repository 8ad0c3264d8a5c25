import Blocks
import LMDB
import Multiformats

/// What a garbage collection removed.
public struct GCReport: Hashable, Sendable {
    /// Blocks deleted.
    public var removedBlocks: Int
    /// Their total length (before any compression).
    public var removedBytes: Int
    /// Blocks kept because a pin reaches them.
    public var markedBlocks: Int
}

/// Where a garbage collection is.
public enum GCProgress: Hashable, Sendable {
    /// Marking: `blocks` reachable blocks found so far, `pins` of `totalPins` walked.
    case marking(blocks: Int, pins: Int, totalPins: Int)
    /// Sweeping: `scanned` keys examined, `removed` deleted so far.
    case sweeping(scanned: Int, removed: Int)
}

extension Repo {
    /// Mark-and-sweep from every pin: recursive pins keep their whole DAG,
    /// direct pins their block; every other block is deleted.
    ///
    /// Safe while adds run: it holds the GC lock exclusive (waiting for add
    /// sessions in this process and others, and making new ones wait), so a
    /// block written inside a session is never collected before its pin is
    /// committed. If a pinned DAG cannot be walked (a block missing, corrupt,
    /// or of a codec without known links) it throws `.gcAborted` and deletes
    /// nothing. The file does not shrink: LMDB reuses the freed pages.
    /// - Parameter progress: called from a background thread; keep it short.
    /// - Throws: `.wouldDeadlock` inside an add session.
    public func gc(progress: (@Sendable (GCProgress) -> Void)? = nil) async throws -> GCReport {
        try core.refuseInsideAddSession("gc")
        let hold = try await core.gcLock.acquire(.exclusive)
        defer { core.gcLock.release(hold) }
        let marked = try await core.markPinnedBlocks(progress: progress)
        var report = GCReport(removedBlocks: 0, removedBytes: 0, markedBlocks: marked.count)
        var scanned = 0
        var resumeAfter: [UInt8]?
        let chunkSize = 4096
        while true {
            let keys = try core.readBlockKeys(after: resumeAfter, limit: chunkSize)
            guard let last = keys.last else { break }
            scanned += keys.count
            let garbage = keys.filter { !marked.contains($0) }
            if !garbage.isEmpty {
                let removed = try await core.deleteBlocks(garbage)
                report.removedBlocks += removed.count
                report.removedBytes += removed.bytes
            }
            progress?(.sweeping(scanned: scanned, removed: report.removedBlocks))
            if keys.count < chunkSize { break }
            resumeAfter = last
        }
        return report
    }
}

extension RepoCore {
    /// The multihashes (as bytes) of every pinned block: recursive pins' whole
    /// DAGs, direct pins' roots. Runs on a thread of its own; each block is read
    /// in its own short transaction. The caller holds the GC lock exclusive, so
    /// pins and their DAGs cannot change meanwhile.
    /// - Throws: `RepoError.gcAborted` if a pinned DAG cannot be walked.
    func markPinnedBlocks(progress: (@Sendable (GCProgress) -> Void)? = nil) async throws -> Set<[UInt8]> {
        try await DedicatedThread.run { [self] in
            let pins = try listPins()
            var marked = Set<[UInt8]>()
            var seen = Set<CID>()
            for (index, pin) in pins.enumerated() {
                switch pin.kind {
                case .direct:
                    if !pin.cid.isIdentity { marked.insert(Array(pin.cid.multihashBytes)) }
                case .recursive:
                    let missing: CID?
                    do {
                        missing = try DAGWalker.walk(from: pin.cid, seen: &seen) { cid in
                            guard let links = try linksInOwnTransaction(of: cid) else { return nil }
                            if !cid.isIdentity { marked.insert(Array(cid.multihashBytes)) }
                            return links
                        }
                    } catch let error as RepoError where error.code != .closed && error.code != .storageFailure {
                        throw RepoError(.gcAborted, "pinned DAG \(pin.cid) cannot be walked: \(error)", cid: error.cid)
                    }
                    if let missing {
                        throw RepoError(.gcAborted, "pinned DAG \(pin.cid) lacks block \(missing)", cid: missing)
                    }
                }
                progress?(.marking(blocks: marked.count, pins: index + 1, totalPins: pins.count))
            }
            return marked
        }
    }
}
