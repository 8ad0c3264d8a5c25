import Errors

/// Why a CAR could not be read or written.
///
/// Errors are values with static members (as `MultiformatsError`): compare
/// with `==` against a static member (the code), or print `description` for a
/// one-line message that says what was wrong and, when reading, at which byte
/// of the stream.
public struct CARError: CodedError {
    /// What went wrong, independent of where.
    public enum Code: String, Hashable, Sendable {
        /// The input ended inside the header, a section, or before the CARv2
        /// data size or index offset was reached.
        case truncated
        /// A length prefix or CARv2 field is not a well-formed varint.
        case invalidVarint
        /// The header is not dag-cbor, not a map, has no usable `version`, or
        /// its `roots` are not a list of links.
        case invalidHeader
        /// `version` is neither 1 nor 2 (or an inner CARv1 payload says 2).
        case unsupportedVersion
        /// The CARv2 pragma, header fields or offsets are inconsistent.
        case invalidV2Header
        /// A section is empty or its CID does not fit inside it.
        case invalidSection
        /// A section does not start with a CID that parses.
        case invalidCID
        /// A block does not hash to its CID, or its hash function is one tau
        /// cannot compute (read with verification off to accept it).
        case verificationFailed
        /// A limit of `CARLimits` was exceeded (header, roots, section, index).
        case limitExceeded
        /// A CARv2 index is malformed or of an unknown format.
        case invalidIndex
        /// Export: a block the DAG links to is not in the block source.
        case missingBlock
        /// Export: links cannot be read out of a block (unknown codec or malformed block).
        case undecodableBlock
        /// Export: the same source gave different bytes in the two passes of a CARv2 export.
        case sourceChanged
        /// The reader was used after it failed or finished.
        case readerClosed
    }

    public let code: Code
    /// Human-readable detail: the offending value, the limit, the CID.
    public let detail: String
    /// Offset in the input stream where the problem was found, when reading.
    public let offset: UInt64?

    public init(_ code: Code, _ detail: String = "", at offset: UInt64? = nil) {
        self.code = code
        self.detail = detail
        self.offset = offset
    }

    public var description: String {
        var text = "CAR: " + code.rawValue
        if !detail.isEmpty { text += ": " + detail }
        if let offset { text += " (at byte \(offset))" }
        return text
    }

    public static let truncated = Self(.truncated)
    public static let invalidVarint = Self(.invalidVarint)
    public static let invalidHeader = Self(.invalidHeader)
    public static let unsupportedVersion = Self(.unsupportedVersion)
    public static let invalidV2Header = Self(.invalidV2Header)
    public static let invalidSection = Self(.invalidSection)
    public static let invalidCID = Self(.invalidCID)
    public static let verificationFailed = Self(.verificationFailed)
    public static let limitExceeded = Self(.limitExceeded)
    public static let invalidIndex = Self(.invalidIndex)
    public static let missingBlock = Self(.missingBlock)
    public static let undecodableBlock = Self(.undecodableBlock)
    public static let sourceChanged = Self(.sourceChanged)
    public static let readerClosed = Self(.readerClosed)
}
