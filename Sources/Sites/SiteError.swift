/// Why a site registry operation failed. Match on the static members.

import Errors
public struct SiteError: CodedError {
    public enum Code: String, Hashable, Sendable {
        /// A domain name that is not a valid DNS name.
        case invalidDomain
        /// No site is published under the domain.
        case noSuchSite
        /// A rollback of a site that has no earlier version.
        case noEarlierVersion
        /// A stored site record does not decode (formats/lmdb.md §3.5).
        case corruptRecord
    }

    public let code: Code
    public let detail: String

    public init(_ code: Code, _ detail: String = "") {
        self.code = code
        self.detail = detail
    }

    public var summary: String {
        switch code {
        case .invalidDomain: "invalid domain name"
        case .noSuchSite: "no site is published under this domain"
        case .noEarlierVersion: "the site has no earlier version"
        case .corruptRecord: "unreadable site record"
        }
    }

    public static let invalidDomain = Self(.invalidDomain)
    public static let noSuchSite = Self(.noSuchSite)
    public static let noEarlierVersion = Self(.noEarlierVersion)
    public static let corruptRecord = Self(.corruptRecord)
}
