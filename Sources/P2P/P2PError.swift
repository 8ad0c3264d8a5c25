// Errors of the libp2p stack. Format: formats/libp2p.md.

import Errors
import Protobuf

/// Every error the P2P module throws: a code to match on and a detail for
/// people (logs, CLI messages). Equality compares codes only, so tests and
/// callers match with `error == .peerIDMismatch` whatever the detail.
public struct P2PError: CodedError {
    public enum Code: String, Hashable, Sendable {
        /// Bytes that do not follow the format (truncated, bad tag, bad text).
        case malformed
        /// A size or count limit was exceeded.
        case limitExceeded
        /// Well-formed but not something tau implements (key type, multiaddr protocol).
        case unsupported
        /// A key that cannot be used (wrong length, not on the curve).
        case invalidKey
        /// A signature did not verify.
        case invalidSignature
        /// The remote proved an identity other than the one we dialed.
        case peerIDMismatch
        /// multistream-select found no common protocol.
        case protocolNotSupported
        /// The multistream-select exchange broke its rules (bad header, bad reply).
        case negotiationFailed
        /// The Noise handshake failed (bad message, bad payload).
        case handshakeFailed
        /// An AEAD tag did not verify: the bytes were altered or the keys differ.
        case decryptionFailed
        /// A Yamux peer broke the protocol (window overrun, bad stream ID).
        case protocolViolation
        /// The stream was reset by either side.
        case streamReset
        /// The stream or connection is closed for this operation.
        case closed
        /// An operation did not finish in time.
        case timeout
        /// No connection to the peer and no address to dial.
        case notConnected
        /// The host is not started, or was shut down.
        case notRunning
        /// A file's permissions are too open or it could not be read or written.
        case fileAccess
        /// A socket or system call failed.
        case io
    }

    public let code: Code
    /// What went wrong, for people.
    public let detail: String

    public init(_ code: Code, _ detail: String = "") {
        self.code = code
        self.detail = detail
    }

    public static let malformed = Self(.malformed)
    public static let limitExceeded = Self(.limitExceeded)
    public static let unsupported = Self(.unsupported)
    public static let invalidKey = Self(.invalidKey)
    public static let invalidSignature = Self(.invalidSignature)
    public static let peerIDMismatch = Self(.peerIDMismatch)
    public static let protocolNotSupported = Self(.protocolNotSupported)
    public static let negotiationFailed = Self(.negotiationFailed)
    public static let handshakeFailed = Self(.handshakeFailed)
    public static let decryptionFailed = Self(.decryptionFailed)
    public static let protocolViolation = Self(.protocolViolation)
    public static let streamReset = Self(.streamReset)
    public static let closed = Self(.closed)
    public static let timeout = Self(.timeout)
    public static let notConnected = Self(.notConnected)
    public static let notRunning = Self(.notRunning)
    public static let fileAccess = Self(.fileAccess)
    public static let io = Self(.io)
}

/// libp2p messages that are not valid protobuf fail with `.malformed`.
extension P2PError: ProtobufFailure {
    public init(protobuf error: ProtobufError) { self.init(.malformed, "\(error)") }
}

/// The reader of libp2p messages (keys, Noise payload, identify): plain protobuf.
typealias ProtoReader = ProtobufReader<P2PError>
