import ContentCache
import Foundation
import P2P
import PubSub
import DHT
import Synchronization
import Repo

/// How a CLI command is forwarded to a running node over the admin API.
/// Format: formats/admin-api.md.
///
/// Request: `POST /api/v0/command`, `Authorization: Bearer TOKEN`, the
/// arguments and working directory in headers (base64 of JSON / UTF-8), the
/// command's standard input as a chunked body (empty when it reads none).
/// Response: `200`, chunked, a stream of frames:
///
/// ```
/// offset  size  field
/// 0       1     kind: 1 standard output, 2 standard error, 3 exit status
/// 1       4     payload length, u32 big-endian
/// 5       n     payload (kind 3: the status as i32 big-endian)
/// ```
public enum CommandProtocol {
    public static let path = "/api/v0/command"
    public static let argumentsHeader = "x-tau-arguments"
    public static let directoryHeader = "x-tau-directory"
    public static let terminalHeader = "x-tau-terminal"

    public enum FrameKind: UInt8, Sendable {
        case output = 1
        case error = 2
        case exitStatus = 3
    }

    /// Largest payload of one frame.
    public static let maxFramePayload = 1 << 20

    static func frameHeader(_ kind: FrameKind, length: Int) -> [UInt8] {
        [kind.rawValue, UInt8(length >> 24 & 0xFF), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)]
    }

    public static func encodeArguments(_ arguments: [String]) throws -> String {
        try JSONEncoder().encode(arguments).base64EncodedString()
    }

    public static func decodeArguments(_ header: String) throws -> [String] {
        guard let data = Data(base64Encoded: header) else { throw NodeError(.adminProtocol, "bad \(argumentsHeader) header") }
        return try JSONDecoder().decode([String].self, from: data)
    }

    public static func encodeText(_ text: String) -> String { Data(text.utf8).base64EncodedString() }

    public static func decodeText(_ header: String) throws -> String {
        guard let data = Data(base64Encoded: header) else { throw NodeError(.adminProtocol, "bad base64 header") }
        return String(decoding: data, as: UTF8.self)
    }
}

/// A command the node runs for a client: the parsed request and the pipes
/// standing in for the client's standard descriptors. The runner must not
/// close the descriptors.
public struct CommandInvocation: Sendable {
    /// The node's open repo, which the command uses instead of opening its own.
    public let repo: Repo
    /// The node's libp2p host, when its swarm runs.
    public let host: P2PHost?
    /// The node's read path (cache → store → peers).
    public let blocks: BlockService?
    /// The node's publish/subscribe service, when it runs.
    public let pubsub: PubSub?
    /// The node's DHT, when it runs.
    public let dht: DHT?
    /// Whether the client is still connected (a command that runs until the
    /// client leaves waits on it; others run to their end regardless).
    public let client: ClientPresence
    public let arguments: [String]
    public let workingDirectory: String
    public let input: Int32
    public let output: Int32
    public let error: Int32
    public let outputIsTerminal: Bool
    public let errorIsTerminal: Bool
}

/// Runs a command and returns its exit status (the CLI provides it: the node
/// does not know the commands).
public typealias CommandRunner = @Sendable (CommandInvocation) async -> Int32

/// Whether the client of a forwarded command is still there. Set gone once,
/// when its connection closes or the command's response has ended.
public final class ClientPresence: Sendable {
    private let state = Mutex<(gone: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    public init() {}

    public var isGone: Bool { state.withLock { $0.gone } }

    public func markGone() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard !state.gone else { return [] }
            state.gone = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once the client is gone.
    public func waitUntilGone() async {
        await withCheckedContinuation { continuation in
            let gone = state.withLock { state -> Bool in
                if state.gone { return true }
                state.waiters.append(continuation)
                return false
            }
            if gone { continuation.resume() }
        }
    }
}
