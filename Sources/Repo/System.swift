// Small wrappers over POSIX calls the repo needs: directories, flock, threads.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

enum FileSystem {
    /// Creates `path` and its missing parents.
    static func createDirectory(_ path: String, mode: mode_t = 0o755) throws(RepoError) {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for component in path.split(separator: "/") {
            prefix += component
            if mkdir(prefix, mode) != 0 && errno != EEXIST {
                throw RepoError(.storageFailure, "mkdir \(prefix): \(String(cString: strerror(errno)))")
            }
            prefix += "/"
        }
    }

    /// The canonical absolute path (symlinks resolved).
    static func canonicalPath(_ path: String) throws(RepoError) -> String {
        guard let resolved = realpath(path, nil) else {
            throw RepoError(.storageFailure, "realpath \(path): \(String(cString: strerror(errno)))")
        }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// Bytes available to unprivileged writers on the file system holding `path`.
    static func availableBytes(_ path: String) -> Int? {
        var status = statvfs()
        guard statvfs(path, &status) == 0 else { return nil }
        return Int(status.f_bavail) * Int(status.f_frsize)
    }

    /// Whether the file system is (all but) full: LMDB reports a short write as
    /// EIO, and a short write on a full file system is really ENOSPC.
    static func isNearlyFull(_ path: String) -> Bool {
        guard let available = availableBytes(path) else { return false }
        return available < 4 << 20
    }

    /// Creates `path` if missing (never truncating it).
    static func touch(_ path: String) throws(RepoError) {
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw RepoError(.lockFailed, "open \(path): \(String(cString: strerror(errno)))")
        }
        close(descriptor)
    }
}

/// Runs work on threads of its own, away from the Swift cooperative pool
/// (the group-commit writer, and long jobs such as GC marking and verify).
enum DedicatedThread {
    private final class Work {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }

    /// Starts a detached thread running `body`.
    static func start(_ body: @escaping @Sendable () -> Void) {
        let context = Unmanaged.passRetained(Work(body)).toOpaque()
        var thread = pthread_t()
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        let status = pthread_create(&thread, &attributes, { raw in
            let work = Unmanaged<Work>.fromOpaque(raw!).takeRetainedValue()
            work.body()
            return nil
        }, context)
        pthread_attr_destroy(&attributes)
        precondition(status == 0, "pthread_create failed: \(status)")
    }

    /// Runs `body` on a new thread and returns its result.
    static func run<R: Sendable>(_ body: @escaping @Sendable () throws -> R) async throws -> R {
        try await withCheckedThrowingContinuation { continuation in
            start {
                continuation.resume(with: Result { try body() })
            }
        }
    }
}
