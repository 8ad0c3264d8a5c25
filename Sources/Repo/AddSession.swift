import Blocks
import Multiformats
import Synchronization

/// An add in progress: it holds the GC lock shared, so garbage collection (in
/// this process or another) waits until it ends, and nothing it wrote can be
/// collected before its pin is committed. Valid only inside `Repo.withAddSession`.
public final class AddSession: BlockSink, Sendable {
    let core: RepoCore
    private let active = Atomic<Bool>(true)

    init(core: RepoCore) { self.core = core }

    var isActive: Bool { active.load(ordering: .acquiring) }

    func end() { active.store(false, ordering: .releasing) }

    private func checkActive() throws {
        guard isActive else { throw RepoError.sessionEnded }
    }

    /// Stores `blocks` durably (see `LMDBBlockStore.put`).
    public func put(_ blocks: [Block]) async throws {
        try checkActive()
        try await core.putBlocks(blocks)
    }

    /// Pins `cid`. A recursive pin requires the whole DAG to be in the repo and
    /// is checked in the transaction that writes it.
    /// - Throws: `RepoError.dagIncomplete` naming the first missing block;
    ///   `.alreadyPinnedRecursively` for a direct pin of a recursively pinned CID;
    ///   `.unsupportedCodec` / `.malformedBlock` when a block's links cannot be read.
    public func pin(_ cid: CID, _ kind: PinKind = .recursive, name: String? = nil) async throws {
        try checkActive()
        try await core.addPin(Pin(cid: cid, kind: kind, name: name))
    }
}

/// The add session the current task runs in, so that nested calls (a `pin`
/// inside a session, a session inside a session) reuse it instead of waiting
/// behind a GC that is itself waiting for this session.
enum CurrentAddSession {
    @TaskLocal static var session: AddSession?
}

extension RepoCore {
    /// The current task's live session on this repo, if any.
    var currentSession: AddSession? {
        guard let session = CurrentAddSession.session, session.core === self, session.isActive else { return nil }
        return session
    }

    func refuseInsideAddSession(_ operation: String) throws {
        if currentSession != nil {
            throw RepoError(.wouldDeadlock, "\(operation) inside an add session waits for that session to end")
        }
    }

    func withAddSession<R>(
        isolation: isolated (any Actor)?, _ body: (AddSession) async throws -> R
    ) async throws -> R {
        if let session = currentSession { return try await body(session) }
        let hold = try await gcLock.acquire(.shared)
        let session = AddSession(core: self)
        defer {
            session.end()
            gcLock.release(hold)
        }
        return try await CurrentAddSession.$session.withValue(session) {
            try await body(session)
        }
    }
}

extension Repo {
    /// Runs `body` as an add session: the GC lock is held shared from before
    /// the first block is written until `body` returns (so after its pin is
    /// committed). A GC in progress — in this process or another — is waited for.
    ///
    /// ```swift
    /// let root = try await repo.withAddSession { session in
    ///     // import: try await session.put(blocks) …
    ///     try await session.pin(root)
    ///     return root
    /// }
    /// ```
    /// Nested sessions in the same task reuse the outer one.
    @discardableResult
    public func withAddSession<R>(
        isolation: isolated (any Actor)? = #isolation, _ body: (AddSession) async throws -> R
    ) async throws -> R {
        try await core.withAddSession(isolation: isolation, body)
    }

    /// Pins `cid` (taking the GC lock shared for the call; inside an add
    /// session, the session's). See `AddSession.pin`.
    public func pin(_ cid: CID, _ kind: PinKind = .recursive, name: String? = nil) async throws {
        try await withAddSession { session in try await session.pin(cid, kind, name: name) }
    }

    /// Removes the pin on `cid` (direct or recursive) and returns it.
    /// Its blocks stay until the next `gc`.
    /// - Throws: `RepoError.notPinned`.
    @discardableResult
    public func unpin(_ cid: CID) async throws -> Pin {
        try await core.removePin(cid)
    }

    /// Every pin, or those of one kind, in CIDv1 byte order.
    public func pins(_ kind: PinKind? = nil) throws -> [Pin] {
        let all = try core.listPins()
        guard let kind else { return all }
        return all.filter { $0.kind == kind }
    }

    /// The pin whose root is `cid`, if any.
    public func pin(for cid: CID) throws -> Pin? {
        try core.pin(for: cid)
    }

    /// Why `cid`'s block is kept by GC, or `nil` if it is not pinned. Checking
    /// for an indirect pin walks recursive pins' DAGs.
    public func pinStatus(of cid: CID) throws -> PinStatus? {
        try core.pinStatus(of: cid)
    }

    /// Whether `cid`'s block is pinned (directly, recursively or indirectly).
    public func isPinned(_ cid: CID) throws -> Bool {
        try pinStatus(of: cid) != nil
    }
}
