import Blocks
import Multiformats
import UnixFS

/// The value stored in `links-v1` for a block, written in the same transaction
/// as the block. Format: formats/lmdb.md, "links-v1".
///
/// ```
/// offset  size  field
/// 0       1     kind: 1 links, 0xFE unknown codec, 0xFF undecodable
/// 1       …     kind 1: the binary CIDs the block links to, concatenated, in link order
///               kind 0xFF: UTF-8, why the block did not decode
/// ```
/// A block with no links (raw, a file leaf, an empty directory) has no entry,
/// so walking a file DAG reads one small entry per parent node and only
/// checks leaves for presence: no block data is read (reading it would map
/// the block's pages into the process).
enum LinkRecord {
    static let linksKind: UInt8 = 1
    static let unknownCodecKind: UInt8 = 0xFE
    static let undecodableKind: UInt8 = 0xFF

    /// What to store for `block`, or `nil` when it links to nothing.
    static func record(for block: Block) -> [UInt8]? {
        switch block.cid.codec {
        case .raw, .identity, .libp2pKey:
            return nil
        case .dagPB, .dagCBOR:
            let links: [CID]
            do {
                links = try DAGLinks.links(of: block.cid, block: block.bytes) ?? []
            } catch {
                return [undecodableKind] + Array("\(error)".utf8.prefix(200))
            }
            guard !links.isEmpty else { return nil }
            var record: [UInt8] = [linksKind]
            record.reserveCapacity(1 + links.reduce(0) { $0 + $1.bytes.count })
            for link in links { record += link.bytes }
            return record
        default:
            return [unknownCodecKind]
        }
    }

    /// The links a stored record lists.
    /// - Throws: `.malformedBlock` for an undecodable block, `.unsupportedCodec`
    ///   for a codec whose links tau does not know, `.corruptBlock` for a record
    ///   that does not parse.
    static func links(from record: UnsafeRawBufferPointer, of cid: CID) throws -> [CID] {
        guard let kind = record.first else { throw RepoError(.corruptBlock, "empty links record", cid: cid) }
        let body = UnsafeRawBufferPointer(rebasing: record[1...])
        switch kind {
        case linksKind:
            var links: [CID] = []
            var offset = 0
            while offset < body.count {
                do {
                    links.append(try CID(parsing: body, at: &offset))
                } catch {
                    throw RepoError(.corruptBlock, "links record: \(error)", cid: cid)
                }
            }
            return links
        case unknownCodecKind:
            throw RepoError(.unsupportedCodec, "codec \(cid.codec)", cid: cid)
        case undecodableKind:
            throw RepoError(.malformedBlock, String(decoding: body, as: UTF8.self), cid: cid)
        default:
            throw RepoError(.corruptBlock, "links record of kind \(kind)", cid: cid)
        }
    }
}

extension LinkRecord {
    /// Codecs whose blocks get a `links-v1` entry whenever they have links, so
    /// that a missing entry means "no links".
    static func hasKnownLinks(_ codec: Multicodec) -> Bool {
        codec == .dagPB || codec == .dagCBOR || codec == .raw || codec == .identity || codec == .libp2pKey
    }
}
