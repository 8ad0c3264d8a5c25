import Multiformats

/// The byte-level pieces of a CARv1, for writers that have their blocks at
/// hand (`CARExport` walks a DAG and uses these). Format: formats/car.md.
public enum CAREncoder {
    /// `varint(length) || dag-cbor {"roots": [...], "version": 1}`: the start of
    /// a CARv1 and of a CARv2's data payload. Keys are in dag-cbor order
    /// (`roots` before `version`), as go-car writes them.
    public static func header(roots: [CID]) -> [UInt8] {
        let value = DAGCBOR.map(["roots": .array(roots.map { .link($0) }), "version": 1])
        let encoded: [UInt8]
        do {
            encoded = try DAGCBOREncoder().encode(value)
        } catch {
            // Links and a small integer at depth 2 have an encoding; nothing here can fail.
            preconditionFailure("CAR header encoding failed: \(error)")
        }
        var out: [UInt8] = []
        out.reserveCapacity(encoded.count + Varint.maxLength)
        Varint.append(UInt64(encoded.count), to: &out)
        out.append(contentsOf: encoded)
        return out
    }

    /// Appends the start of a section, `varint(len(cid) + blockSize) || cid`;
    /// the block's bytes follow it.
    public static func appendSectionPrefix(cid: CID, blockSize: Int, to out: inout [UInt8]) {
        Varint.append(UInt64(cid.bytes.count + blockSize), to: &out)
        out.append(contentsOf: cid.bytes)
    }

    /// Appends a whole section: length, CID, block bytes.
    public static func appendSection(_ block: some Collection<UInt8>, cid: CID, to out: inout [UInt8]) {
        appendSectionPrefix(cid: cid, blockSize: block.count, to: &out)
        out.append(contentsOf: block)
    }

    /// Bytes a section takes, length varint included.
    public static func sectionSize(cid: CID, blockSize: Int) -> Int {
        let body = cid.bytes.count + blockSize
        return Varint.encodedLength(UInt64(body)) + body
    }

    /// The first 51 bytes of a CARv2: the pragma, then `header`.
    public static func v2Prefix(_ header: CARv2Header) -> [UInt8] {
        CARv2Header.pragma + header.encoded()
    }
}
