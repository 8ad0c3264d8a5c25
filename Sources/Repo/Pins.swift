import Blocks
import LMDB
import Multiformats
import UnixFS

/// How a pin protects its root.
public enum PinKind: UInt8, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    /// The block itself only.
    case direct = 1
    /// The whole DAG under the root.
    case recursive = 2

    public var description: String { self == .direct ? "direct" : "recursive" }
}

/// A pin: a root that garbage collection keeps. Format: formats/lmdb.md, "pins-v1".
public struct Pin: Hashable, Sendable {
    /// The pinned CID, in the version it was pinned with (CIDv0 and CIDv1 of
    /// the same dag-pb block are one pin).
    public let cid: CID
    public let kind: PinKind
    public let name: String?

    /// Longest pin name, in UTF-8 bytes.
    public static let maxNameLength = 255

    public init(cid: CID, kind: PinKind, name: String? = nil) {
        self.cid = cid
        self.kind = kind
        self.name = name
    }
}

/// Why a block is pinned.
public enum PinStatus: Hashable, Sendable {
    case direct
    case recursive
    /// Inside the DAG of the recursive pin `through`.
    case indirect(through: CID)
}

/// The value stored for a pin in `pins-v1` (key: the CIDv1 bytes).
///
/// ```
/// offset  size  field
/// 0       1     format version (1)
/// 1       1     kind: 1 direct, 2 recursive
/// 2       1     flags: bit 0 = pinned as CIDv0; bits 1–7 are zero
/// 3       …     name, UTF-8 (0–255 bytes; empty = unnamed)
/// ```
enum PinRecord {
    static let version: UInt8 = 1
    static let cidV0Flag: UInt8 = 0x01

    static func key(for cid: CID) -> [UInt8] { cid.v1.bytes }

    static func encode(_ pin: Pin) -> [UInt8] {
        var record: [UInt8] = [version, pin.kind.rawValue, pin.cid.version == .v0 ? cidV0Flag : 0]
        if let name = pin.name { record.append(contentsOf: name.utf8) }
        return record
    }

    static func decode(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) throws -> Pin {
        guard value.count >= 3, value[0] == version, let kind = PinKind(rawValue: value[1]),
            value[2] & ~cidV0Flag == 0
        else { throw RepoError(.storageFailure, "unreadable pin record") }
        var cid = try CID(bytes: Array(key))
        if value[2] & cidV0Flag != 0, let v0 = cid.v0 { cid = v0 }
        let name = value.count > 3 ? String(decoding: value[3...], as: UTF8.self) : nil
        return Pin(cid: cid, kind: kind, name: name)
    }
}

/// Depth-first walks over DAGs, shared by pinning, GC and pin status.
enum DAGWalker {
    /// Visits every block under `root` once (pre-order, children in link
    /// order), skipping CIDs already in `seen` (compared as CIDv1: the codec
    /// decides what the links are, so the same bytes under two codecs are two nodes).
    /// - Parameter links: the links of a present block, or `nil` if it is absent.
    /// - Returns: the first absent block, or `nil` if the DAG is complete.
    static func walk(from root: CID, seen: inout Set<CID>, links: (CID) throws -> [CID]?) rethrows -> CID? {
        var stack = [root]
        while let cid = stack.popLast() {
            guard seen.insert(cid.v1).inserted else { continue }
            guard let children = try links(cid) else { return cid }
            stack.append(contentsOf: children.reversed())
        }
        return nil
    }
}

extension RepoCore {
    /// The links out of `cid`'s block as read through `transaction`, or `nil`
    /// if the block is absent. Reads `links-v1`, never the block's data: a
    /// leaf is only checked for presence (LMDB does not read an overflow value
    /// to report it).
    static func links(of cid: CID, in transaction: borrowing Transaction, databases: RepoDatabases) throws -> [CID]? {
        if cid.isIdentity {
            do {
                return try DAGLinks.links(of: cid, block: Array(cid.digest)) ?? []
            } catch {
                throw RepoError(.malformedBlock, "\(error)", cid: cid)
            }
        }
        return try cid.multihashBytes.withUnsafeBytes { key -> [CID]? in
            guard try transaction.value(forKey: key, in: databases.blocks, { _ in true }) != nil else { return nil }
            if cid.codec == .raw { return [] }
            if let links = try transaction.value(forKey: key, in: databases.links, { record in
                try LinkRecord.links(from: record, of: cid)
            }) {
                return links
            }
            // No entry: the block links to nothing (its codec is one whose links are indexed).
            guard LinkRecord.hasKnownLinks(cid.codec) else {
                throw RepoError(.unsupportedCodec, "codec \(cid.codec)", cid: cid)
            }
            return []
        }
    }

    // MARK: Writing pins (on the writer thread)

    /// Blocks a recursive pin's check visits between drops of resident map pages.
    static let nodesBetweenResidentDrops = 64

    /// Adds or updates a pin inside a write transaction. A recursive pin is
    /// checked complete in this same transaction, so a committed recursive pin
    /// always points at a complete DAG.
    static func writePin(_ pin: Pin, in transaction: borrowing Transaction, context: WriteContext) throws {
        let databases = context.databases
        let key = PinRecord.key(for: pin.cid)
        let existingKind = try transaction.value(forKey: key, in: databases.pins) { value in
            value.count >= 2 ? PinKind(rawValue: value[1]) : nil
        } ?? nil
        switch pin.kind {
        case .direct:
            if existingKind == .recursive {
                throw RepoError(.alreadyPinnedRecursively, cid: pin.cid)
            }
            guard try blockExists(pin.cid, in: transaction, blocks: databases.blocks) else {
                throw RepoError(.dagIncomplete, "the block to pin is not in the repo", cid: pin.cid)
            }
        case .recursive:
            // An existing recursive pin was checked when it was written, and
            // nothing may delete its blocks since; only the name changes.
            if existingKind != .recursive {
                var seen = Set<CID>()
                var visited = 0
                let missing = try DAGWalker.walk(from: pin.cid, seen: &seen) { cid in
                    // Each presence check maps the folio around its B-tree page,
                    // mostly block data: without this the walk of a large DAG
                    // maps most of what it checks (formats/lmdb.md rule 11).
                    visited += 1
                    if visited % Self.nodesBetweenResidentDrops == 0 { context.dropResidentPages() }
                    return try links(of: cid, in: transaction, databases: databases)
                }
                if let missing {
                    throw RepoError(.dagIncomplete, "recursive pin of \(pin.cid) refused", cid: missing)
                }
            }
        }
        try transaction.put(PinRecord.encode(pin), forKey: key, in: databases.pins)
        context.addedPins.append(pin)
    }

    static func blockExists(_ cid: CID, in transaction: borrowing Transaction, blocks: Database) throws -> Bool {
        if cid.isIdentity { return true }
        return try cid.multihashBytes.withUnsafeBytes { key in
            try transaction.value(forKey: key, in: blocks) { _ in true } ?? false
        }
    }

    func validate(_ pin: Pin) throws {
        if let name = pin.name, name.utf8.count > Pin.maxNameLength {
            throw RepoError(.invalidPinName, "\(name.utf8.count) bytes; at most \(Pin.maxNameLength)")
        }
        let keyLength = PinRecord.key(for: pin.cid).count
        guard keyLength <= maxKeyLength else {
            throw RepoError(.keyTooLong, "CID of \(keyLength) bytes", cid: pin.cid)
        }
    }

    /// Commits `pin` (the caller holds the GC lock shared).
    func addPin(_ pin: Pin) async throws {
        try validate(pin)
        try await writer.perform { transaction, context in
            try Self.writePin(pin, in: transaction, context: context)
        }
    }

    /// Removes the pin on `cid` (CIDv0 and CIDv1 name the same pin).
    func removePin(_ cid: CID) async throws -> Pin {
        let key = PinRecord.key(for: cid)
        return try await writer.perform { transaction, context in
            let pins = context.databases.pins
            guard let pin = try transaction.value(forKey: key, in: pins, { value in
                try key.withUnsafeBytes { try PinRecord.decode(key: $0, value: value) }
            }) else {
                throw RepoError(.notPinned, cid: cid)
            }
            try transaction.delete(key: key, in: pins)
            return pin
        }
    }

    // MARK: Reading pins

    func listPins() throws -> [Pin] {
        let pins = storage.databases.pins
        return try storage.read { transaction in
            try transaction.withCursor(on: pins) { cursor in
                var result: [Pin] = []
                try cursor.forEach { key, value in
                    result.append(try PinRecord.decode(key: key, value: value))
                    return true
                }
                return result
            }
        }
    }

    func pin(for cid: CID) throws -> Pin? {
        let key = PinRecord.key(for: cid)
        let pins = storage.databases.pins
        return try storage.read { transaction in
            try transaction.value(forKey: key, in: pins) { value in
                try key.withUnsafeBytes { try PinRecord.decode(key: $0, value: value) }
            }
        }
    }

    /// The links of a block read in its own short transaction (walks outside
    /// the writer must not keep one transaction open for a whole DAG).
    func linksInOwnTransaction(of cid: CID) throws -> [CID]? {
        let databases = storage.databases
        return try storage.read { transaction in try Self.links(of: cid, in: transaction, databases: databases) }
    }

    /// Why `cid`'s block is pinned, or `nil`. Indirect status walks recursive
    /// pins until it finds the block's multihash.
    func pinStatus(of cid: CID) throws -> PinStatus? {
        if let pin = try pin(for: cid) { return pin.kind == .direct ? .direct : .recursive }
        let target = Array(cid.multihashBytes)
        var seen = Set<CID>()
        for pin in try listPins() where pin.kind == .recursive {
            var found = false
            _ = try DAGWalker.walk(from: pin.cid, seen: &seen) { node in
                if found { return [] }
                if node.multihashBytes.elementsEqual(target) {
                    found = true
                    return []
                }
                // A block that vanished (a concurrent unpin and GC) ends this branch.
                return try linksInOwnTransaction(of: node) ?? []
            }
            if found { return .indirect(through: pin.cid) }
        }
        return nil
    }
}
