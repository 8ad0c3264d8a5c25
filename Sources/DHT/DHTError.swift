// Errors of the Kademlia DHT. Format: formats/dht.md.

import Errors
import Protobuf

/// Every error the DHT throws: a code to match on and a detail for people.
/// Equality compares codes only (`error == .notFound`).
public struct DHTError: CodedError {
    public enum Code: String, Hashable, Sendable {
        /// Bytes that do not follow the message format.
        case malformed
        /// A size or count limit was exceeded.
        case limitExceeded
        /// A record that its namespace's validator refuses (a `/pk/` value
        /// that is not the key of the peer it is filed under, an unknown namespace).
        case invalidRecord
        /// A lookup ended without finding what it looked for.
        case notFound
        /// No peer to ask: the routing table is empty.
        case noPeers
    }

    public let code: Code
    public let detail: String

    public init(_ code: Code, _ detail: String = "") {
        self.code = code
        self.detail = detail
    }

    public static let malformed = Self(.malformed)
    public static let limitExceeded = Self(.limitExceeded)
    public static let invalidRecord = Self(.invalidRecord)
    public static let notFound = Self(.notFound)
    public static let noPeers = Self(.noPeers)
}

extension DHTError: ProtobufFailure {
    public init(protobuf error: ProtobufError) { self.init(.malformed, "\(error)") }
}

typealias MessageReader = ProtobufReader<DHTError>
