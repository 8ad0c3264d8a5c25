// Why the protobuf reader refused its input. Callers keep their own error
// types: each conforms to `ProtobufFailure`, and the reader throws that type,
// so a dag-pb block fails with a UnixFSError and an identify message with a
// P2PError.

import Errors

/// What the reader found wrong. A struct with static members: compare a
/// thrown error with `==` against a member (equality ignores `detail`).
public struct ProtobufError: CodedError {
    public enum Code: String, Hashable, Sendable {
        /// The input ends inside a varint, a fixed field or a tag.
        case truncated
        /// A varint of more than 10 bytes.
        case overlongVarint
        /// A 10-byte varint whose value does not fit in 64 bits.
        case varintOverflow
        /// A varint with a redundant trailing zero byte (strict mode only).
        case nonMinimalVarint
        /// A field number of 0 or above 2^29 - 1.
        case invalidFieldNumber
        /// Wire types 3 and 4 (groups), 6 and 7.
        case invalidWireType
        /// A field has a wire type its message does not allow (`expect`).
        case wrongWireType
        /// A length-delimited field longer than the rest of its message.
        case lengthOverrun
        /// A string field that is not UTF-8.
        case invalidUTF8
    }

    public let code: Code
    public let detail: String

    public init(_ code: Code, _ detail: String = "") {
        self.code = code
        self.detail = detail
    }

    public var description: String { detail.isEmpty ? code.rawValue : detail }

    public static let truncated = Self(.truncated)
    public static let overlongVarint = Self(.overlongVarint)
    public static let varintOverflow = Self(.varintOverflow)
    public static let nonMinimalVarint = Self(.nonMinimalVarint)
    public static let invalidFieldNumber = Self(.invalidFieldNumber)
    public static let invalidWireType = Self(.invalidWireType)
    public static let wrongWireType = Self(.wrongWireType)
    public static let lengthOverrun = Self(.lengthOverrun)
    public static let invalidUTF8 = Self(.invalidUTF8)
}

/// An error type the reader can throw: made from a `ProtobufError`.
public protocol ProtobufFailure: Error {
    init(protobuf: ProtobufError)
}

extension ProtobufError: ProtobufFailure {
    public init(protobuf: ProtobufError) { self = protobuf }
}
