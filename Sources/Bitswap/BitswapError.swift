// Errors of the Bitswap engine. Format: formats/bitswap.md.

import Errors

/// Every error the Bitswap module throws: a code to match on and a detail for
/// people. Equality compares codes only (`error == .limitExceeded`).
public struct BitswapError: CodedError {
    public enum Code: String, Hashable, Sendable {
        /// Bytes that do not follow the message format (truncated, bad tag, bad CID, bad prefix).
        case malformed
        /// A size or count limit was exceeded (message, block, wantlist entries).
        case limitExceeded
        /// A block that the receiving side did not ask that peer for, or whose
        /// bytes do not hash to a CID it asked for.
        case unwantedBlock
        /// A fetch made no progress for its stall timeout.
        case timeout
        /// The engine was stopped.
        case stopped
        /// A block of a DAG could not be decoded to find its links.
        case undecodableBlock
    }

    public let code: Code
    public let detail: String

    public init(_ code: Code, _ detail: String = "") {
        self.code = code
        self.detail = detail
    }

    public static let malformed = Self(.malformed)
    public static let limitExceeded = Self(.limitExceeded)
    public static let unwantedBlock = Self(.unwantedBlock)
    public static let timeout = Self(.timeout)
    public static let stopped = Self(.stopped)
    public static let undecodableBlock = Self(.undecodableBlock)
}
