import Blocks
import Foundation
import Multiformats
import UnixFS

/// A user-facing failure: printed as one line, exit status 1.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A sink for `--only-hash`: blocks are hashed and dropped.
struct DiscardingBlockSink: BlockSink {
    func put(_ blocks: [Block]) async throws {}
}

/// Walks files and directories the way `ipfs add` does and imports them:
/// entries sorted by name, hidden names skipped unless asked, symlinks stored
/// as UnixFS symlinks (not followed), directories built after their contents.
final class Adder {
    struct Settings {
        var recursive = false
        var wrap = false
        var hidden = false
        var includeEmptyDirectories = true
    }

    /// One `added CID NAME` line.
    struct Output {
        let cid: CID
        let name: String
    }

    let options: ImportOptions.Resolved
    let settings: Settings
    let sink: any BlockSink
    let progress: ProgressBar?
    /// Called for every file as it is added, and for every directory at the end.
    let emit: (Output) -> Void
    private var pendingBlocks: [Block] = []
    private var pendingBytes = 0
    /// Batches handed to the sink and not yet durable. The writer commits them
    /// on its own thread while this one goes on chunking and hashing.
    private var inFlight: [Task<Void, any Error>] = []
    private var directoryOutputs: [Output] = []
    private let readBuffer: UnsafeMutableRawBufferPointer

    /// Blocks are handed to the sink in batches of about this many bytes.
    static let batchBytes = 4 << 20
    /// Batches that may be on their way to the sink at once (memory: about
    /// `batchBytes × (maxInFlight + 1)` of block bytes).
    static let maxInFlight = 3
    /// Files are read in pieces of this size.
    static let readSize = 1 << 20

    init(options: ImportOptions.Resolved, settings: Settings, sink: any BlockSink,
         progress: ProgressBar?, emit: @escaping (Output) -> Void) {
        self.options = options
        self.settings = settings
        self.sink = sink
        self.progress = progress
        self.emit = emit
        self.readBuffer = .allocate(byteCount: Adder.readSize, alignment: 64)
    }

    deinit { readBuffer.deallocate() }

    /// Adds every path and returns the roots to pin: the wrapping directory
    /// with `wrap`, else each path's CID. The last one is the line printed last.
    func add(paths: [String]) async throws -> [CID] {
        do {
            return try await addAll(paths)
        } catch {
            await settleInFlight()
            throw error
        }
    }

    private func addAll(_ paths: [String]) async throws -> [CID] {
        var top: [DirectoryEntry] = []
        for path in paths {
            let name = URL(fileURLWithPath: path).lastPathComponent
            let entry = try await addPath(Console.current.resolve(path), displayName: name, isTopLevel: true)
            top.append(DirectoryEntry(name: name, cid: entry.cid, tsize: entry.tsize))
        }
        var roots = top.map(\.cid)
        if settings.wrap {
            var builder = DirectoryBuilder(parameters: options.directory)
            for entry in top { try builder.add(entry) }
            let (link, blocks) = builder.build()
            try await store(blocks)
            directoryOutputs.append(Output(cid: link.cid, name: ""))
            roots = [link.cid]
        }
        try await drain()
        for output in directoryOutputs { emit(output) }
        return roots
    }

    /// Adds standard input as one file; its name is its CID, as `ipfs add` prints it.
    func addStandardInput() async throws -> CID {
        let link: FileLink
        do {
            link = try await importFile(descriptor: Console.current.input)
        } catch {
            await settleInFlight()
            throw error
        }
        try await drain()
        emit(Output(cid: link.cid, name: link.cid.description))
        return link.cid
    }

    private func addPath(_ path: String, displayName: String, isTopLevel: Bool) async throws -> DirectoryEntry {
        var info = stat()
        guard lstat(path, &info) == 0 else {
            throw CLIError("\(path): \(String(cString: strerror(errno)))")
        }
        switch info.st_mode & S_IFMT {
        case S_IFREG:
            let descriptor = open(path, O_RDONLY | O_CLOEXEC)
            guard descriptor >= 0 else { throw CLIError("\(path): \(String(cString: strerror(errno)))") }
            defer { close(descriptor) }
            let link = try await importFile(descriptor: descriptor)
            emit(Output(cid: link.cid, name: displayName))
            return DirectoryEntry(name: displayName, cid: link.cid, tsize: link.tsize)
        case S_IFDIR:
            guard settings.recursive else {
                throw CLIError("\(path) is a directory, use the '-r' flag to specify directories")
            }
            let names: [String]
            do {
                names = try FileManager.default.contentsOfDirectory(atPath: path)
            } catch {
                throw CLIError("\(path): cannot read directory: \(String(cString: strerror(errno)))")
            }
            var builder = DirectoryBuilder(parameters: options.directory)
            // Byte order of UTF-8 names, as Go's sort.Strings orders them.
            for name in names.sorted(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }) {
                if !settings.hidden && name.hasPrefix(".") { continue }
                let child = try await addPath(path + "/" + name, displayName: displayName + "/" + name, isTopLevel: false)
                try builder.add(DirectoryEntry(name: name, cid: child.cid, tsize: child.tsize))
            }
            let (link, blocks) = builder.build()
            try await store(blocks)
            directoryOutputs.append(Output(cid: link.cid, name: displayName))
            return DirectoryEntry(name: displayName, cid: link.cid, tsize: link.tsize)
        case S_IFLNK:
            let target = try FileManager.default.destinationOfSymbolicLink(atPath: path)
            let bytes = SymlinkEncoder.encode(target: target)
            let cid = options.file.cids.cid(for: bytes, codec: .dagPB)
            try await store([Block(cid: cid, bytes: bytes)])
            emit(Output(cid: cid, name: displayName))
            return DirectoryEntry(name: displayName, cid: cid, tsize: UInt64(bytes.count))
        default:
            throw CLIError("\(path): unsupported file type (not a regular file, directory or symlink)")
        }
    }

    private func importFile(descriptor: Int32) async throws -> FileLink {
        // Leaves are hashed on every core while this thread reads and chunks;
        // `write` waits (briefly, on CPU work only) when three batches are ahead.
        var parameters = options.file
        parameters.leafHashing = .concurrent()
        var importer = FileImporter(parameters: parameters)
        if importer.fixedChunkSize != nil {
            // Fixed-size chunks are read straight into their leaves: no copy.
            while true {
                let count = try importer.readChunk { region in try readFully(descriptor, into: region) }
                progress?.advance(by: count)
                if importer.pendingBlockCount > 0 { try await store(importer.takeBlocks()) }
                if count < importer.fixedChunkSize! { break }
            }
        } else {
            while true {
                let count = try readFully(descriptor, into: readBuffer)
                importer.write(UnsafeRawBufferPointer(rebasing: readBuffer[..<count]))
                progress?.advance(by: count)
                if importer.pendingBlockCount > 0 {
                    try await store(importer.takeBlocks())
                }
                if count < readBuffer.count { break }
            }
        }
        let root = importer.finish()
        try await store(importer.takeBlocks())
        return root
    }

    private func store(_ blocks: [Block]) async throws {
        pendingBlocks += blocks
        for block in blocks { pendingBytes += block.bytes.count }
        if pendingBytes >= Adder.batchBytes { try await flush() }
    }

    /// Hands the pending blocks to the sink without waiting for them to be
    /// durable, unless `maxInFlight` batches already are in flight.
    private func flush() async throws {
        guard !pendingBlocks.isEmpty else { return }
        let batch = pendingBlocks
        pendingBlocks = []
        pendingBytes = 0
        let sink = self.sink
        inFlight.append(Task { try await sink.put(batch) })
        while inFlight.count > Adder.maxInFlight {
            try await inFlight.removeFirst().value
        }
    }

    /// After a failure: lets every batch in flight finish (or fail) before the
    /// add session ends, ignoring their outcome.
    private func settleInFlight() async {
        for task in inFlight { _ = try? await task.value }
        inFlight.removeAll()
    }

    /// Waits until every block handed over so far is durable.
    private func drain() async throws {
        try await flush()
        // Wait for all, even after a failure, so no put outlives the session.
        var firstError: (any Error)?
        for task in inFlight {
            do { try await task.value } catch { firstError = firstError ?? error }
        }
        inFlight.removeAll()
        if let firstError { throw firstError }
    }
}
