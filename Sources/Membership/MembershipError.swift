// Errors of the SWIM membership codec and state machine. Format: formats/membership.md.

import Errors
import Protobuf

/// Every error the membership module throws: a code to match on and a
/// detail for people. Equality compares codes only (`error == .limitExceeded`).
public struct MembershipError: CodedError {
    public enum Code: String, Hashable, Sendable {
        /// Bytes that do not follow the message format (section 2).
        case malformed
        /// A size or count limit of `MembershipMessage.Limits` was exceeded.
        case limitExceeded
    }

    public let code: Code
    public let detail: String

    public init(_ code: Code, _ detail: String = "") {
        self.code = code
        self.detail = detail
    }

    public static let malformed = Self(.malformed)
    public static let limitExceeded = Self(.limitExceeded)
}

extension MembershipError: ProtobufFailure {
    public init(protobuf error: ProtobufError) { self.init(.malformed, "\(error)") }
}

typealias MembershipReader = ProtobufReader<MembershipError>
