import Multiformats
import Protobuf

/// Why a UnixFS or dag-pb operation failed. A struct with static members, as in
/// swift-system: compare with `==` against a member; `description` is one line.
public struct UnixFSError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: String, Hashable, Sendable {
        case malformedProtobuf
        case malformedDAGPB
        case malformedUnixFS
        case unsupportedCodec
        case notAFile
        case notADirectory
        case notFound
        case blockMissing
        case limitExceeded
        case invalidOptions
        case invalidPath
        case hashMismatch
    }

    public let code: Code
    public let detail: String

    public init(_ code: Code, _ detail: String = "") {
        self.code = code
        self.detail = detail
    }

    /// One line: what went wrong, then the detail (a CID, a field, a limit).
    public var description: String {
        let text: String
        switch code {
        case .malformedProtobuf: text = "malformed protobuf"
        case .malformedDAGPB: text = "malformed dag-pb node"
        case .malformedUnixFS: text = "malformed UnixFS data"
        case .unsupportedCodec: text = "unsupported codec"
        case .notAFile: text = "not a file"
        case .notADirectory: text = "not a directory"
        case .notFound: text = "not found"
        case .blockMissing: text = "block not found"
        case .limitExceeded: text = "limit exceeded"
        case .invalidOptions: text = "invalid options"
        case .invalidPath: text = "invalid path"
        case .hashMismatch: text = "block does not hash to its CID"
        }
        return detail.isEmpty ? text : "\(text): \(detail)"
    }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }

    public static let malformedProtobuf = Self(.malformedProtobuf)
    public static let malformedDAGPB = Self(.malformedDAGPB)
    public static let malformedUnixFS = Self(.malformedUnixFS)
    public static let notAFile = Self(.notAFile)
    public static let notADirectory = Self(.notADirectory)
    public static let notFound = Self(.notFound)
    public static let blockMissing = Self(.blockMissing)
    public static let limitExceeded = Self(.limitExceeded)
    public static let invalidOptions = Self(.invalidOptions)
    public static let invalidPath = Self(.invalidPath)
    public static let hashMismatch = Self(.hashMismatch)
}

/// The reader's failures are malformed protobuf to UnixFS callers.
extension UnixFSError: ProtobufFailure {
    public init(protobuf error: ProtobufError) { self.init(.malformedProtobuf, error.description) }
}

/// dag-pb and UnixFS messages are read with `options: .dagPB`.
typealias ProtoReader = ProtobufReader<UnixFSError>
