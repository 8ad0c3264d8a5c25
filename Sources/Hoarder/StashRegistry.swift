// The registry of stashed roots: signed stash/unstash records merged as a
// last-writer-wins map (a state-based CRDT: merge is commutative,
// associative and idempotent), so members that saw the same records in any
// order hold the same registry. Pure. Format: formats/hoarder.md, section 3.

import Multiformats

/// One author's decision about one root: keep it on `replicas` hoarders, or stop.
public struct StashRecord: Hashable, Sendable {
    public enum Operation: String, Hashable, Sendable { case stash, unstash }

    public var root: CID
    public var operation: Operation
    /// K wanted for the root: 1…`StashRegistry.maxReplicas`.
    public var replicas: Int
    /// The author's hybrid clock in milliseconds (rule 3.3).
    public var clock: UInt64
    /// The author's peer ID bytes.
    public var author: [UInt8]
    public var signature: [UInt8]

    public init(root: CID, operation: Operation, replicas: Int, clock: UInt64, author: [UInt8], signature: [UInt8] = []) {
        self.root = root
        self.operation = operation
        self.replicas = replicas
        self.clock = clock
        self.author = author
        self.signature = signature
    }

    /// Domain separation for the signature, so a stash record's signature
    /// cannot be replayed as any other signed tau message.
    public static let signingPrefix = Array("tau-hoarder-stash-v1:".utf8)

    func fields(withSignature: Bool) -> [String: DAGCBOR] {
        var map: [String: DAGCBOR] = [
            "root": .link(root), "op": .string(operation.rawValue), "k": .unsigned(UInt64(replicas)),
            "clock": .unsigned(clock), "author": .bytes(author),
        ]
        if withSignature { map["sig"] = .bytes(signature) }
        return map
    }

    /// What the author signs: the prefix, then the dag-cbor map without `sig`.
    public var signedBytes: [UInt8] {
        // Encoding a map of links, strings, integers and bytes cannot fail.
        Self.signingPrefix + ((try? DAGCBOR.map(fields(withSignature: false)).encoded()) ?? [])
    }

    /// The record as stored and sent: a dag-cbor map (formats/hoarder.md §3).
    public func encoded() -> [UInt8] {
        (try? DAGCBOR.map(fields(withSignature: true)).encoded()) ?? []
    }

    /// Reads a record. - Throws: `HoarderError.malformed`, `.limitExceeded`.
    public init(decoding bytes: [UInt8]) throws(HoarderError) {
        let map = try StashRegistry.decodeMap(bytes, what: "a stash record")
        guard map.count == 6,
              let root = map["root"]?.linkValue,
              let operation = map["op"]?.stringValue.flatMap(Operation.init(rawValue:)),
              let replicas = map["k"]?.unsignedValue, (1...UInt64(StashRegistry.maxReplicas)).contains(replicas),
              let clock = map["clock"]?.unsignedValue,
              let author = map["author"]?.bytesValue, !author.isEmpty, author.count <= 128,
              let signature = map["sig"]?.bytesValue, signature.count <= 1024 else {
            throw HoarderError(.malformed, "not a stash record (fields root, op, k 1–\(StashRegistry.maxReplicas), clock, author, sig)")
        }
        self.init(root: root, operation: operation, replicas: Int(replicas), clock: clock, author: author, signature: signature)
    }

    /// Rule 3.2: the later record wins; ties go to the greater author bytes,
    /// then unstash over stash, then the greater K, so any two distinct
    /// records for a root are ordered.
    public func supersedes(_ other: StashRecord) -> Bool {
        if clock != other.clock { return clock > other.clock }
        if author != other.author { return other.author.lexicographicallyPrecedes(author) }
        if operation != other.operation { return operation == .unstash }
        if replicas != other.replicas { return replicas > other.replicas }
        return other.signature.lexicographicallyPrecedes(signature)
    }
}

/// Checks an author's signature (the node passes its libp2p key verifier).
public protocol StashRecordVerifier: Sendable {
    func verify(author: [UInt8], payload: [UInt8], signature: [UInt8]) -> Bool
}

public struct StashRegistry: Sendable {
    /// K at most: 16.
    public static let maxReplicas = 16
    /// An encoded record at most: 2 KiB.
    public static let maxRecordBytes = 2048

    public enum MergeOutcome: Hashable, Sendable {
        /// The record is now the root's (it was new or later).
        case applied
        /// The registry already holds this record or a later one.
        case stale
        /// Not from a member, its signature does not verify, or a new root
        /// beyond `maxRoots`: dropped and counted.
        case rejected
    }

    public struct Statistics: Hashable, Sendable {
        public var applied = 0, stale = 0, rejectedNonMember = 0, rejectedSignature = 0, rejectedOverLimit = 0
    }

    /// The winning record per root multihash (CIDv0 and v1 are one root).
    public private(set) var records: [[UInt8]: StashRecord] = [:]
    public private(set) var statistics = Statistics()
    /// The highest clock seen, for `nextClock` (rule 3.3).
    public private(set) var highestClock: UInt64 = 0
    /// Roots at most: 1,000,000 (a record for a new root beyond it is rejected).
    public let maxRoots: Int

    public init(maxRoots: Int = 1_000_000) { self.maxRoots = maxRoots }

    /// Merges one record (rules 3.1–3.2).
    /// - Parameter isMember: whether the author is a member of the cloud.
    public mutating func merge(_ record: StashRecord, isMember: (([UInt8]) -> Bool), verifier: some StashRecordVerifier) -> MergeOutcome {
        guard isMember(record.author) else {
            statistics.rejectedNonMember += 1
            return .rejected
        }
        let key = Array(record.root.multihashBytes)
        if let current = records[key], !record.supersedes(current) {
            statistics.stale += 1
            return .stale
        }
        guard verifier.verify(author: record.author, payload: record.signedBytes, signature: record.signature) else {
            statistics.rejectedSignature += 1
            return .rejected
        }
        guard records[key] != nil || records.count < maxRoots else {
            statistics.rejectedOverLimit += 1
            return .rejected
        }
        records[key] = record
        highestClock = max(highestClock, record.clock)
        statistics.applied += 1
        return .applied
    }

    /// The clock for a record this node writes now: its wall clock in
    /// milliseconds, or one past the highest clock seen when that is later,
    /// so a new record supersedes every record it has seen.
    public func nextClock(wallMilliseconds: UInt64) -> UInt64 { max(wallMilliseconds, highestClock &+ 1) }

    /// The roots to keep: the stash records that won, by root multihash order.
    public var stashed: [StashRecord] {
        records.sorted { $0.key.lexicographicallyPrecedes($1.key) }.map(\.value).filter { $0.operation == .stash }
    }

    public func record(for root: CID) -> StashRecord? { records[Array(root.multihashBytes)] }

    /// The dag-cbor map of a stash record or claim, within `maxRecordBytes`.
    static func decodeMap(_ bytes: [UInt8], what: String) throws(HoarderError) -> [String: DAGCBOR] {
        guard bytes.count <= maxRecordBytes else {
            throw HoarderError(.limitExceeded, "\(what) of \(bytes.count) bytes; at most \(maxRecordBytes)")
        }
        let value: DAGCBOR
        do { value = try DAGCBOR(decoding: bytes) } catch { throw HoarderError(.malformed, "\(error)") }
        guard let map = value.mapValue else { throw HoarderError(.malformed, "\(what) is not a dag-cbor map") }
        return map
    }
}
