import Errors
import Multiformats
import Protobuf

/// Why a UnixFS or dag-pb operation failed. A struct with static members, as in
/// swift-system: compare with `==` against a member; `description` is one line.
public struct UnixFSError: CodedError {
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

    public var summary: String {
        switch code {
        case .malformedProtobuf: "malformed protobuf"
        case .malformedDAGPB: "malformed dag-pb node"
        case .malformedUnixFS: "malformed UnixFS data"
        case .unsupportedCodec: "unsupported codec"
        case .notAFile: "not a file"
        case .notADirectory: "not a directory"
        case .notFound: "not found"
        case .blockMissing: "block not found"
        case .limitExceeded: "limit exceeded"
        case .invalidOptions: "invalid options"
        case .invalidPath: "invalid path"
        case .hashMismatch: "block does not hash to its CID"
        }
    }

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
