import Blocks
import Foundation
import Multiformats
import Repo
import Synchronization
import Testing
import UnixFS

@Suite struct GCTests {
    /// GC keeps exactly the recursive pins' DAGs and the direct pins' blocks.
    @Test func removesExactlyTheUnpinnedBlocks() async throws {
        try await withTemporaryDirectory { path in
            let repo = try Repo(path: path)
            var random = SeededBytes(seed: 71)
            let shared = random.bytes(4096)
            // a: dag-pb leaves (CIDv0); c starts with a's first 4 KiB, so they share leaves.
            let a = importFile(shared + random.bytes(6000))
            let b = importFile(random.bytes(9000), rawLeaves: true, version: .v1)
            let c = importFile(shared + random.bytes(3000))
            let loose = randomBlocks(5, size: 700, seed: 72)
            for file in [a, b, c] {
                try await repo.withAddSession { session in
                    try await session.put(file.blocks)
                }
            }
            try await repo.blocks.put(loose)
            try await repo.pin(a.root, .recursive)
            try await repo.pin(b.root, .direct)
            try await repo.pin(loose[0].cid, .direct)

            let all = a.multihashes.union(b.multihashes).union(c.multihashes).union(loose.map(\.cid.multihash))
            #expect(Set(try await repo.blocks.allMultihashes()) == all)
            #expect(!a.multihashes.isDisjoint(with: c.multihashes), "a and c should share leaves")

            let expectedKept = a.multihashes.union([b.root.multihash, loose[0].cid.multihash])
            let removed = all.subtracting(expectedKept)
            let sizes = Dictionary((a.blocks + b.blocks + c.blocks + loose).map { ($0.cid.multihash, $0.bytes.count) }) { x, _ in x }
            let report = try await repo.gc()
            #expect(Set(try await repo.blocks.allMultihashes()) == expectedKept)
            #expect(report.removedBlocks == removed.count)
            #expect(report.removedBytes == removed.reduce(0) { $0 + sizes[$1]! })
            #expect(report.markedBlocks == expectedKept.count)
            let stat = try repo.stat()
            #expect(stat.blockCount == expectedKept.count)
            #expect(stat.blockBytes == expectedKept.reduce(0) { $0 + sizes[$1]! })
            #expect(stat.pinnedRoots == 3)
            #expect(try await repo.verify().problems.isEmpty)

            // A second GC finds nothing; after unpinning, everything goes.
            #expect(try await repo.gc().removedBlocks == 0)
            for pin in try repo.pins() { try await repo.unpin(pin.cid) }
            #expect(try await repo.gc().removedBlocks == expectedKept.count)
            #expect(try await repo.blocks.allMultihashes().isEmpty)
            #expect(try repo.stat().blockBytes == 0)
            await repo.close()
        }
    }

    /// A GC started while an add session runs waits for it, and then keeps
    /// what the session pinned.
    @Test func gcWaitsForAddSession() async throws {
        try await withTemporaryDirectory { path in
            let repo = try Repo(path: path)
            var random = SeededBytes(seed: 81)
            let file = importFile(random.bytes(20_000))
            let garbage = randomBlocks(3, size: 100, seed: 82)
            try await repo.blocks.put(garbage)
            let inSession = Signal()
            let finishSession = Signal()
            let session = Task {
                try await repo.withAddSession { session in
                    try await session.put(Array(file.blocks.prefix(5)))
                    inSession.fire()
                    await finishSession.wait()
                    try await session.put(Array(file.blocks.dropFirst(5)))
                    try await session.pin(file.root)
                }
            }
            await inSession.wait()
            let gcDone = Flag()
            let gc = Task {
                let report = try await repo.gc()
                gcDone.set()
                return report
            }
            #expect(try await eventually { repo.gcLockWaiters == 1 })
            #expect(!gcDone.isSet, "GC ran during an add session")
            finishSession.fire()
            try await session.value
            let report = try await gc.value
            #expect(report.removedBlocks == garbage.count)
            #expect(Set(try await repo.blocks.allMultihashes()) == file.multihashes)
            await repo.close()
        }
    }

    /// An add session started while a GC runs waits for the GC to finish.
    @Test func addSessionWaitsForGC() async throws {
        try await withTemporaryDirectory { path in
            let repo = try Repo(path: path)
            let kept = randomBlocks(1, size: 100, seed: 91)[0]
            try await repo.blocks.put([kept])
            try await repo.pin(kept.cid, .direct)
            let marking = Signal()
            let release = Flag()
            let gc = Task {
                try await repo.gc { progress in
                    // Runs on the marking thread: hold the GC there until released.
                    guard case .marking = progress else { return }
                    marking.fire()
                    while !release.isSet { usleep(1000) }
                }
            }
            await marking.wait()
            let entered = Flag()
            let session = Task {
                try await repo.withAddSession { _ in entered.set() }
            }
            #expect(try await eventually { repo.gcLockWaiters == 1 })
            #expect(!entered.isSet, "an add session started during GC")
            release.set()
            _ = try await gc.value
            try await session.value
            #expect(entered.isSet)
            await repo.close()
        }
    }

    /// Across processes: `flock` on gc.lock. Another process holding it shared
    /// (an add in `tau add`) delays GC; holding it exclusive (a GC in
    /// `tau repo gc`) delays add sessions.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/flock")))
    func gcLockWorksAcrossProcesses() async throws {
        try await withTemporaryDirectory { path in
            let repo = try Repo(path: path)
            let lockFile = repo.path + "/" + Repo.gcLockFileName
            for (mode, operation) in [("-s", "gc"), ("-x", "session")] {
                let marker = path + "/held\(mode)"
                let release = path + "/release\(mode)"
                // The holder keeps the lock until told to let go, however slow
                // the machine is: no timing assumption about how long it holds.
                let holder = Process()
                holder.executableURL = URL(fileURLWithPath: "/usr/bin/flock")
                holder.arguments = [mode, lockFile, "-c", "touch \(marker); while [ ! -e \(release) ]; do sleep 0.02; done"]
                try holder.run()
                #expect(try await eventually { FileManager.default.fileExists(atPath: marker) })
                let done = Flag()
                let waiter = Task {
                    if operation == "gc" { _ = try await repo.gc() } else { try await repo.withAddSession { _ in } }
                    done.set()
                }
                #expect(try await eventually { repo.gcLockWaiters == 1 })
                #expect(!done.isSet, "\(operation) did not wait for flock \(mode)")
                _ = FileManager.default.createFile(atPath: release, contents: nil)
                try await waiter.value
                holder.waitUntilExit()
                #expect(done.isSet)
            }
            await repo.close()
        }
    }

    /// Calls that would wait for the caller's own session are refused; nested
    /// sessions and pins inside a session reuse it.
    @Test func sessionReentrancy() async throws {
        try await withTemporaryDirectory { path in
            let repo = try Repo(path: path)
            let block = randomBlocks(1, size: 10, seed: 95)[0]
            var escaped: AddSession?
            try await repo.withAddSession { session in
                escaped = session
                try await session.put([block])
                try await repo.pin(block.cid, .direct)  // inside the session: no second lock
                try await repo.withAddSession { inner in #expect(inner === session) }
                await #expect(throws: RepoError.wouldDeadlock) { _ = try await repo.gc() }
            }
            await #expect(throws: RepoError.sessionEnded) { try await escaped!.put([block]) }
            await repo.close()
        }
    }

    /// A pinned DAG that cannot be walked stops GC before it deletes anything.
    @Test func gcAbortsOnUnwalkablePinnedDAG() async throws {
        try await withTemporaryDirectory { path in
            let repo = try Repo(path: path)
            var random = SeededBytes(seed: 97)
            let file = importFile(random.bytes(5000))
            let garbage = randomBlocks(2, size: 10, seed: 98)
            try await repo.blocks.put(file.blocks + garbage)
            try await repo.pin(file.root)
            // Remove a pinned block behind the repo's back (raw LMDB).
            try repo.withEnvironment { environment, databases in
                try environment.write { transaction throws in
                    try transaction.delete(key: file.blocks[0].cid.multihash.bytes, in: databases.blocks)
                }
            }
            do {
                _ = try await repo.gc()
                Issue.record("GC ran over an incomplete pinned DAG")
            } catch let error as RepoError {
                #expect(error == .gcAborted)
                #expect(error.cid == file.blocks[0].cid)
            }
            #expect(try await repo.blocks.allMultihashes().count == file.multihashes.count - 1 + garbage.count)
            await repo.close()
        }
    }
}
