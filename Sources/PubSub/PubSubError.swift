// Errors of the pubsub module (GossipSub and its fallbacks). Format: formats/pubsub.md.

import Errors
import Protobuf

/// Every error the pubsub module throws: a code to match on and a detail for
/// people. Equality compares codes only (`error == .limitExceeded`).
public struct PubSubError: CodedError {
    public enum Code: String, Hashable, Sendable {
        /// Bytes that do not follow the RPC format (truncated, bad tag, bad UTF-8 topic).
        case malformed
        /// A size or count limit was exceeded (RPC size, subscriptions, message IDs).
        case limitExceeded
        /// A message whose signature is missing, does not verify, or whose
        /// `from`, `seqno` or `key` do not fit the signing policy.
        case invalidSignature
    }

    public let code: Code
    public let detail: String

    public init(_ code: Code, _ detail: String = "") {
        self.code = code
        self.detail = detail
    }

    public static let malformed = Self(.malformed)
    public static let limitExceeded = Self(.limitExceeded)
    public static let invalidSignature = Self(.invalidSignature)
}

/// RPCs that are not valid protobuf fail with `.malformed`.
extension PubSubError: ProtobufFailure {
    public init(protobuf error: ProtobufError) { self.init(.malformed, "\(error)") }
}

typealias RPCReader = ProtobufReader<PubSubError>
