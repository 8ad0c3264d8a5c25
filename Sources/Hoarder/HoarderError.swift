// Errors of the hoarder. Format: formats/hoarder.md.

import Errors

/// Every error the hoarder throws: a code to match on and a detail for people.
/// Equality compares codes only (`error == .malformed`).
public struct HoarderError: CodedError {
    public enum Code: String, Hashable, Sendable {
        /// Bytes that do not follow the record format.
        case malformed
        /// A size or count limit was exceeded.
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
