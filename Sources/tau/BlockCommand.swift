import ArgumentParser
import Blocks
import Foundation
import Multiformats
import Repo
import UnixFS

struct BlockCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "block", abstract: "Read and write single blocks.",
        subcommands: [BlockGet.self, BlockPut.self, BlockStat.self, BlockRemove.self])
}

struct BlockGet: RepoUsingCommand {
    static let configuration = CommandConfiguration(commandName: "get", abstract: "Write a block's bytes to standard output.")

    @Argument(help: "The block's CID.")
    var cid: String

    @OptionGroup var repoOptions: RepoOptions

    func execute() async throws {
        let cid = try parseCID(cid)
        try await withRepo(repoOptions) { repo in
            if cid.isIdentity {
                try Array(cid.digest).withUnsafeBytes { try writeAll(Console.current.output, $0) }
                return
            }
            let found: Bool? = try repo.blocks.withBlock(cid) { bytes in
                try writeAll(Console.current.output, bytes)
                return true
            }
            guard found != nil else { throw CLIError("block \(cid) not found in the repo") }
        }
    }
}

struct BlockPut: RepoUsingCommand {
    static let configuration = CommandConfiguration(
        commandName: "put", abstract: "Store a block read from a file or standard input; print its CID.")

    @Argument(help: "Files holding one block each (standard input if none).")
    var files: [String] = []

    @Option(name: .customLong("cid-codec"), help: "Codec of the data: raw (default), dag-pb, dag-cbor.")
    var codec: String = "raw"

    @Option(name: .customLong("mhtype"), help: "Hash function: sha2-256 (default) or sha2-512.")
    var hash: String = "sha2-256"

    @Option(name: .customLong("cid-version"), help: "CID version; 0 only for dag-pb with sha2-256. Default 1.")
    var cidVersion: Int = 1

    @Option(help: "Pin the block directly (default false).")
    var pin: Bool = false

    @OptionGroup var repoOptions: RepoOptions

    func execute() async throws {
        guard let codec = Multicodec(name: codec), [.raw, .dagPB, .dagCBOR].contains(codec) else {
            throw CLIError("unsupported codec \"\(self.codec)\" (use raw, dag-pb or dag-cbor)")
        }
        guard let function = HashFunction(name: hash), function != .identity else {
            throw CLIError("unrecognized hash function: \"\(hash)\"")
        }
        guard cidVersion == 0 || cidVersion == 1 else { throw CLIError("unknown CID version: \(cidVersion)") }
        if cidVersion == 0 && (codec != .dagPB || function != .sha2_256) {
            throw CLIError("CIDv0 only supports dag-pb with sha2-256")
        }
        let inputs = files.isEmpty ? ["-"] : files
        let blocks = try inputs.map { path -> Block in
            let data: [UInt8] = try path == "-" ? Self.readAll(Console.current.input) : {
                let descriptor = open(Console.current.resolve(path), O_RDONLY | O_CLOEXEC)
                guard descriptor >= 0 else { throw CLIError("\(path): \(String(cString: strerror(errno)))") }
                defer { close(descriptor) }
                return try Self.readAll(descriptor)
            }()
            guard data.count <= Block.maxSize else {
                throw CLIError("\(path == "-" ? "standard input" : path): block of \(data.count) bytes exceeds the \(Block.maxSize)-byte limit")
            }
            try Self.validate(data, codec: codec)
            return Block(hashing: data, codec: codec, version: cidVersion == 0 ? .v0 : .v1, hash: function)
        }
        try await withRepo(repoOptions) { repo in
            try await repo.withAddSession { session in
                try await session.put(blocks)
                if pin { for block in blocks { try await session.pin(block.cid, .direct) } }
            }
        }
        for block in blocks { say(block.cid.description) }
    }

    /// Refuses bytes that do not decode in the codec they claim.
    static func validate(_ data: [UInt8], codec: Multicodec) throws {
        switch codec {
        case .dagPB: _ = try DAGPBNode(decoding: data)
        case .dagCBOR: _ = try DAGCBOR(decoding: data)
        default: break
        }
    }

    static func readAll(_ descriptor: Int32) throws -> [UInt8] {
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw CLIError("read failed: \(String(cString: strerror(errno)))")
            }
            if n == 0 { return data }
            data += buffer[..<n]
            // Stop early: a block over the limit is refused anyway.
            if data.count > Block.maxSize { return data }
        }
    }
}

struct BlockStat: RepoUsingCommand {
    static let configuration = CommandConfiguration(commandName: "stat", abstract: "Print a block's CID and size.")

    @Argument(help: "The block's CID.")
    var cid: String

    @OptionGroup var repoOptions: RepoOptions

    func execute() async throws {
        let cid = try parseCID(cid)
        let size: Int? = try await withRepo(repoOptions) { repo in
            cid.isIdentity ? cid.digest.count : try repo.blocks.withBlock(cid) { $0.count }
        }
        guard let size else { throw CLIError("block \(cid) not found in the repo") }
        say("Key: \(cid)")
        say("Size: \(size)")
    }
}

struct BlockRemove: RepoUsingCommand {
    static let configuration = CommandConfiguration(commandName: "rm", abstract: "Delete blocks (not pinned ones).")

    @Argument(help: "CIDs of the blocks.")
    var cids: [String]

    @Flag(name: [.short, .long], help: "Ignore blocks that are not there.")
    var force = false

    @OptionGroup var repoOptions: RepoOptions

    func execute() async throws {
        let cids = try self.cids.map(parseCID)
        var failed = false
        try await withRepo(repoOptions) { repo in
            for cid in cids {
                if let status = try repo.pinStatus(of: cid) {
                    writeErr("cannot remove \(cid): pinned (\(status))\n")
                    failed = true
                    continue
                }
                guard try repo.blocks.contains(cid) else {
                    if !force {
                        writeErr("cannot remove \(cid): block not found\n")
                        failed = true
                    }
                    continue
                }
                try await repo.blocks.delete(cid)
                say("removed \(cid)")
            }
        }
        if failed { throw ExitCode.failure }
    }
}

/// The bytes of FILE (relative to the client's directory), or of standard input for nil or `-`.
func readFileOrInput(_ file: String?) throws -> [UInt8] {
    guard let file, file != "-" else { return try BlockPut.readAll(Console.current.input) }
    let path = Console.current.resolve(file)
    guard let contents = FileManager.default.contents(atPath: path) else { throw CLIError("cannot read \(path)") }
    return Array(contents)
}

func parseCID(_ text: String) throws -> CID {
    do {
        return try CID(text)
    } catch {
        throw CLIError("invalid CID \"\(text)\": \(describe(error))")
    }
}

extension BlockPut {
    var readsStandardInput: Bool { files.isEmpty || files.contains("-") }
}
