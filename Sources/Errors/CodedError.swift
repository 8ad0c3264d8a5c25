// The one error pattern of tau's modules (as swift-system's `Errno`): each
// module throws one struct with a `Code` enum to match on and a `detail` for
// people, and static members for its codes, so callers write
// `catch let error as RepoError where error == .diskFull`. The struct keeps
// only what is its own (its codes, their sentences, extra context such as a
// CID or an offset); equality, hashing and the one-line description come
// from here.

/// An error that is a code plus a human-readable detail.
///
/// Rules every conforming type follows:
/// 1. Equality and hashing look at `code` only: `detail` (and any context)
///    never changes what an error matches.
/// 2. `description` is one line: `summary`, then `": "` and `detail` when
///    there is one. A type with more context (a CID, an offset) may write
///    its own, keeping that order.
/// 3. `summary` is the code's raw value unless the type gives a sentence.
public protocol CodedError: Error, Hashable, Sendable, CustomStringConvertible {
    associatedtype Code: RawRepresentable, Hashable, Sendable where Code.RawValue == String
    /// What went wrong, independent of where: what callers match on.
    var code: Code { get }
    /// The offending input, the limit, the name; may be empty.
    var detail: String { get }
    /// A short phrase for `code` (default: its raw value).
    var summary: String { get }
}

extension CodedError {
    public var summary: String { code.rawValue }

    public var description: String { detail.isEmpty ? summary : "\(summary): \(detail)" }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.code == rhs.code }

    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}
