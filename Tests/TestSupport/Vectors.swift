import COpenSSL
import Foundation

/// Where the tests find vectors produced by other implementations and the
/// Python reference peers. Vectors are never copied into the repository.
public enum TestEnvironment {
    /// The package root, found from this file's path.
    public static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// `../shared/vectors`, or `$TAU_VECTORS` when set.
    public static var vectors: URL {
        if let path = ProcessInfo.processInfo.environment["TAU_VECTORS"], !path.isEmpty {
            return URL(fileURLWithPath: path)
        }
        return packageRoot.deletingLastPathComponent().appendingPathComponent("shared/vectors")
    }

    /// The venv's Python (made by `.ci/setup`), or `$TAU_PYTHON`.
    public static var python: URL {
        if let path = ProcessInfo.processInfo.environment["TAU_PYTHON"], !path.isEmpty {
            return URL(fileURLWithPath: path)
        }
        return packageRoot.appendingPathComponent(".venv/bin/python")
    }

    /// A release- or debug-built product of this package, next to the test bundle.
    public static func product(_ name: String) -> URL {
        let bundle = Bundle.main.bundleURL
        // swift test runs the test binary from .build/<config>/; products sit beside it.
        var dir = bundle
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return packageRoot.appendingPathComponent(".build/release/\(name)")
    }
}

/// Runs a command and returns its standard output; throws when it exits non-zero.
public struct CommandFailure: Error, CustomStringConvertible {
    public let command: String
    public let status: Int32
    public let stderr: String
    public var description: String { "\(command) exited \(status): \(stderr)" }
    public init(command: String, status: Int32, stderr: String) {
        self.command = command
        self.status = status
        self.stderr = stderr
    }
}

@discardableResult
public func run(_ executable: URL, _ arguments: [String], stdin: Data? = nil,
                environment: [String: String]? = nil, currentDirectory: URL? = nil) throws -> (stdout: Data, stderr: String, status: Int32) {
    // A child that exits before reading its input must not kill the test
    // process with SIGPIPE; the write then fails quietly and the status tells.
    signal(SIGPIPE, SIG_IGN)
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    if let environment {
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    }
    if let currentDirectory { process.currentDirectoryURL = currentDirectory }
    // stderr goes to a file so that a chatty child cannot block on a full pipe.
    let errURL = FileManager.default.temporaryDirectory.appendingPathComponent("tau-test-\(UUID().uuidString).err")
    _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
    defer { try? FileManager.default.removeItem(at: errURL) }
    let errHandle = try FileHandle(forWritingTo: errURL)
    let out = Pipe(), input = Pipe()
    process.standardOutput = out
    process.standardError = errHandle
    process.standardInput = stdin == nil ? FileHandle.nullDevice : input
    try process.run()
    try errHandle.close()
    if let stdin {
        // Write on another thread so a child that fills its stdout pipe cannot deadlock us.
        let writer = input.fileHandleForWriting
        Thread.detachNewThread {
            writer.write(stdin)
            try? writer.close()
        }
    }
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let errData = (try? Data(contentsOf: errURL)) ?? Data()
    return (outData, String(decoding: errData, as: UTF8.self), process.terminationStatus)
}

/// Runs a Python snippet in the reference venv and returns its stdout.
public func runPython(_ script: String, arguments: [String] = [], stdin: Data? = nil) throws -> Data {
    let result = try run(TestEnvironment.python, ["-c", script] + arguments, stdin: stdin)
    guard result.status == 0 else {
        throw CommandFailure(command: "python", status: result.status, stderr: result.stderr)
    }
    return result.stdout
}

/// Streams a zstd-compressed vector through `zstd -dc`, handing `body` pieces
/// of at most `pieceSize` bytes, so multi-GiB inputs use bounded memory.
public func forEachDecompressedPiece(of file: URL, pieceSize: Int = 4 << 20,
                                     _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/zstd")
    process.arguments = ["-dc", "-q", file.path]
    let out = Pipe()
    process.standardOutput = out
    process.standardError = FileHandle.nullDevice
    try process.run()
    let fd = out.fileHandleForReading.fileDescriptor
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: pieceSize, alignment: 64)
    defer { buffer.deallocate() }
    var filled = 0
    while true {
        let n = read(fd, buffer.baseAddress! + filled, pieceSize - filled)
        if n < 0 {
            if errno == EINTR { continue }
            throw CommandFailure(command: "read zstd output", status: errno, stderr: "")
        }
        if n == 0 { break }
        filled += n
        if filled == pieceSize {
            try body(UnsafeRawBufferPointer(buffer))
            filled = 0
        }
    }
    if filled > 0 { try body(UnsafeRawBufferPointer(rebasing: buffer[..<filled])) }
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw CommandFailure(command: "zstd -dc \(file.path)", status: process.terminationStatus, stderr: "")
    }
}

/// The reproducible inputs of kubo-add.json: the first `count` bytes of the
/// ChaCha20 (RFC 7539) keystream with key = SHA-256(UTF-8 seed), a zero
/// 12-byte nonce and the block counter starting at 0.
public func chachaKeystream(seed: String, count: Int) -> [UInt8] {
    var key = [UInt8](repeating: 0, count: 32)
    let seedBytes = Array(seed.utf8)
    _ = SHA256(seedBytes, seedBytes.count, &key)
    // OpenSSL's EVP_chacha20 IV is the 4-byte little-endian counter then the 12-byte nonce.
    let iv = [UInt8](repeating: 0, count: 16)
    var output = [UInt8](repeating: 0, count: count)
    let zeros = [UInt8](repeating: 0, count: 1 << 16)
    let ctx = EVP_CIPHER_CTX_new()!
    defer { EVP_CIPHER_CTX_free(ctx) }
    EVP_EncryptInit_ex(ctx, EVP_chacha20(), nil, key, iv)
    var offset = 0
    while offset < count {
        let n = min(zeros.count, count - offset)
        var written: Int32 = 0
        output.withUnsafeMutableBufferPointer { out in
            _ = EVP_EncryptUpdate(ctx, out.baseAddress! + offset, &written, zeros, Int32(n))
        }
        offset += n
    }
    return output
}

/// A deterministic pseudo-random byte generator (xorshift) for property tests.
public struct SeededBytes {
    var state: UInt64
    public init(seed: UInt64) { state = seed == 0 ? 0x9E3779B97F4A7C15 : seed }
    public mutating func next() -> UInt64 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return state
    }
    public mutating func bytes(_ count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        out.withUnsafeMutableBytes { raw in
            var i = 0
            while i + 8 <= count {
                raw.storeBytes(of: next(), toByteOffset: i, as: UInt64.self)
                i += 8
            }
            while i < count {
                raw[i] = UInt8(truncatingIfNeeded: next())
                i += 1
            }
        }
        return out
    }
}

/// SHA-256 of `bytes` in lower-case hex, for comparing large bodies in one line.
public func sha256Hex(_ bytes: some DataProtocol) -> String {
    var digest = [UInt8](repeating: 0, count: 32)
    let contiguous = Array(bytes)
    _ = SHA256(contiguous, contiguous.count, &digest)
    return digest.map { String(format: "%02x", $0) }.joined()
}
