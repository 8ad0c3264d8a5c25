import Multiformats

/// The links out of a block, for walking DAGs of any codec tau understands
/// (pins, garbage collection, CAR export, fetching whole DAGs).
public enum DAGLinks {
    /// The CIDs `block` links to, in the codec's canonical order: dag-pb links
    /// in stored order; dag-cbor links depth-first with map keys in dag-cbor
    /// key order (length, then bytes). Raw, identity and libp2p-key blocks have
    /// none. Other codecs: `nil` (unknown: the caller decides what that means).
    public static func links(of cid: CID, block: [UInt8]) throws -> [CID]? {
        try block.withUnsafeBytes { try links(of: cid, block: $0) }
    }

    /// As `links(of:block:)`, over memory the caller keeps valid for the call
    /// (an LMDB value). A dag-pb node's Data payload is skipped unread, so
    /// walking a file DAG touches a leaf block's first bytes only.
    public static func links(of cid: CID, block: UnsafeRawBufferPointer) throws -> [CID]? {
        switch cid.codec {
        case .dagPB:
            return try DAGPBNode.decodeView(block).links.map(\.cid)
        case .dagCBOR:
            var out: [CID] = []
            collect(try DAGCBORDecoder().decode(block), into: &out)
            return out
        case .raw, .identity, .libp2pKey:
            return []
        default:
            return nil
        }
    }

    private static func collect(_ value: DAGCBOR, into out: inout [CID]) {
        switch value {
        case .link(let cid):
            out.append(cid)
        case .array(let items):
            for item in items { collect(item, into: &out) }
        case .map(let entries):
            let keys = entries.keys.sorted { a, b in
                let x = Array(a.utf8), y = Array(b.utf8)
                return x.count != y.count ? x.count < y.count : x.lexicographicallyPrecedes(y)
            }
            for key in keys { collect(entries[key]!, into: &out) }
        default:
            break
        }
    }
}
