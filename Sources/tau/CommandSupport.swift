import ArgumentParser
import Blocks
import CAR
import Foundation
import Multiformats
import Node
import Repo
import UnixFS

/// A tau subcommand: `execute` does the work; failures become one line on
/// standard error, `Error: …`, and exit status 1, as `ipfs` reports them.
protocol TauCommand: AsyncParsableCommand {
    func execute() async throws
}

extension TauCommand {
    func run() async throws {
        do {
            try await execute()
        } catch let error as ExitCode {
            throw error
        } catch let error as CleanExit {
            throw error
        } catch {
            writeErr("Error: \(describe(error))\n")
            throw ExitCode.failure
        }
    }
}

/// One line for any error tau's libraries throw.
func describe(_ error: any Error) -> String {
    switch error {
    case let error as UnixFSError:
        // Option errors read best as Kubo words them, without a prefix.
        error.code == .invalidOptions && !error.detail.isEmpty ? error.detail : error.description
    case let error as RepoError: error.description
    case let error as CARError: error.description
    case let error as BlockError: error.description
    case let error as MultiformatsError: error.description
    case let error as CLIError: error.description
    default: String(describing: error)
    }
}

/// `--repo`, shared by every command that touches a repo.
struct RepoOptions: ParsableArguments {
    @Option(name: .long, help: "Repo directory (default: $TAU_REPO, else ~/.tau).")
    var repo: String?

    /// The repo path: the flag, then `TAU_REPO`, then `~/.tau`.
    var path: String {
        if let repo { return Console.current.resolve(repo) }
        if let env = ProcessInfo.processInfo.environment["TAU_REPO"], !env.isEmpty { return env }
        return FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".tau").path
    }

    /// Whether a repo was initialized at `path`.
    var exists: Bool { FileManager.default.fileExists(atPath: path + "/data.mdb") }

    /// Opens the existing repo, or explains how to make one.
    func open() throws -> Repo {
        guard exists else { throw CLIError("no tau repo at \(path) (run `tau init`, or pass --repo)") }
        return try Repo(path: path, databases: TauNode.serviceDatabases)
    }
}

/// Opens the repo, runs `body`, and closes the repo cleanly whatever happens.
/// Inside a node, the node's open repo is used (and left open).
func withRepo<R>(_ options: RepoOptions, _ body: (Repo) async throws -> R) async throws -> R {
    if let shared = Console.current.repo { return try await body(shared) }
    let repo = try options.open()
    do {
        let result = try await body(repo)
        await repo.close()
        return result
    } catch {
        await repo.close()
        throw error
    }
}

/// A CID with an optional path below it: `CID`, `CID/a/b` or `/ipfs/CID/a/b`.
struct ContentPath: CustomStringConvertible {
    let root: CID
    let components: [String]

    init(_ text: String) throws {
        var rest = Substring(text)
        if rest.hasPrefix("/ipfs/") { rest = rest.dropFirst(6) }
        let parts = rest.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        guard let first = parts.first else { throw CLIError("invalid path \"\(text)\": no CID") }
        do {
            root = try CID(first)
        } catch {
            throw CLIError("invalid path \"\(text)\": \(first) is not a CID (\(describe(error)))")
        }
        components = Array(parts.dropFirst())
    }

    var description: String { ([root.description] + components).joined(separator: "/") }

    /// The name a download of this path gets by default: its last component, else the CID.
    var defaultName: String { components.last ?? root.description }
}

/// Writes all of `bytes` to a file descriptor.
func writeAll(_ descriptor: Int32, _ bytes: UnsafeRawBufferPointer) throws {
    var offset = 0
    while offset < bytes.count {
        let n = write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
        if n < 0 {
            if errno == EINTR { continue }
            throw CLIError("write failed: \(String(cString: strerror(errno)))")
        }
        offset += n
    }
}

/// Reads until `region` is full or the input ends; returns the bytes read.
func readFully(_ descriptor: Int32, into region: UnsafeMutableRawBufferPointer) throws -> Int {
    var filled = 0
    while filled < region.count {
        let count = read(descriptor, region.baseAddress! + filled, region.count - filled)
        if count < 0 {
            if errno == EINTR { continue }
            throw CLIError("read failed: \(String(cString: strerror(errno)))")
        }
        if count == 0 { break }
        filled += count
    }
    return filled
}

/// Reads a file descriptor to its end in pieces, as an async sequence (CAR import).
struct FileDescriptorPieces: AsyncSequence {
    typealias Element = [UInt8]
    let descriptor: Int32
    let pieceSize: Int
    let progress: ProgressBar?

    struct AsyncIterator: AsyncIteratorProtocol {
        let descriptor: Int32
        let pieceSize: Int
        let progress: ProgressBar?
        var finished = false

        mutating func next() async throws -> [UInt8]? {
            guard !finished else { return nil }
            var buffer = [UInt8](repeating: 0, count: pieceSize)
            let count = try buffer.withUnsafeMutableBytes { raw -> Int in
                while true {
                    let n = read(descriptor, raw.baseAddress, raw.count)
                    if n >= 0 { return n }
                    if errno != EINTR { throw CLIError("read failed: \(String(cString: strerror(errno)))") }
                }
            }
            if count == 0 {
                finished = true
                return nil
            }
            progress?.advance(by: count)
            buffer.removeLast(pieceSize - count)
            return buffer
        }
    }

    func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(descriptor: descriptor, pieceSize: pieceSize, progress: progress)
    }
}

/// Whether a progress bar should be shown: `--progress` if given, else when
/// standard error is a terminal.
func showsProgress(_ flag: Bool?) -> Bool { flag ?? (Console.current.errorIsTerminal) }
