/// Why a multiformats value could not be decoded or built.
///
/// Errors are values with static members (as in swift-system): compare with
/// `==` against a static member, or read `description` for a one-line message.

import Errors
public struct MultiformatsError: CodedError {
    /// What went wrong, independent of where.
    public enum Code: String, Hashable, Sendable {
        case truncated
        case varintOverlong
        case varintTooLarge
        case invalidCharacter
        case unknownMultibase
        case unsupportedHashFunction
        case digestLengthMismatch
        case unsupportedCIDVersion
        case invalidCIDv0
        case trailingBytes
        case empty
        case invalidDAGCBOR
        case limitExceeded
    }

    public let code: Code
    /// Human-readable detail, such as the offending input or the limit.
    public let detail: String

    public init(_ code: Code, _ detail: String = "") {
        self.code = code
        self.detail = detail
    }

    public static let truncated = Self(.truncated)
    public static let varintOverlong = Self(.varintOverlong, "varint is not minimally encoded")
    public static let varintTooLarge = Self(.varintTooLarge, "varint exceeds 63 bits")
    public static let invalidCharacter = Self(.invalidCharacter)
    public static let unknownMultibase = Self(.unknownMultibase)
    public static let unsupportedHashFunction = Self(.unsupportedHashFunction)
    public static let digestLengthMismatch = Self(.digestLengthMismatch)
    public static let unsupportedCIDVersion = Self(.unsupportedCIDVersion)
    public static let invalidCIDv0 = Self(.invalidCIDv0)
    public static let trailingBytes = Self(.trailingBytes)
    public static let empty = Self(.empty)
    public static let invalidDAGCBOR = Self(.invalidDAGCBOR)
    public static let limitExceeded = Self(.limitExceeded)
}
