import FuzzSupport
import Multiformats

/// Binary and text CIDs: whatever parses re-encodes to the same bytes (or the
/// same text, case-folded), and every text form of a parsed CID parses back.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCID(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = fuzzInput(data, size)
    if let cid = try? CID(bytes: input) {
        check(cid.bytes == input, "binary \(hex(input)) re-encodes as \(hex(cid.bytes))")
        checkForms(of: cid)
    }
    // The same bytes as a stream of concatenated CIDs.
    var offset = 0
    while offset < input.count, let cid = try? CID(parsing: input, at: &offset) {
        check(cid.bytes == Array(input[(offset - cid.bytes.count)..<offset]), "stream parse of \(hex(input))")
    }
    let text = String(decoding: input, as: UTF8.self)
    if let cid = try? CID(text) {
        if cid.version == .v0 {
            check(cid.description == text, "v0 \(text) prints as \(cid)")
        } else if let base = try? Multibase.decode(text).base {
            check(cid.string(base: base) == canonicalMultibaseText(text, base: base), "\(text) prints as \(cid.string(base: base))")
        } else {
            check(false, "CID parsed text that is not multibase: \(text)")
        }
        checkForms(of: cid)
    }
    return 0
}

func checkForms(of cid: CID) {
    check(cid.multihash.bytes == Array(cid.multihashBytes), "multihash of \(cid)")
    check(Array(cid.multihash.digest) == Array(cid.digest), "digest of \(cid)")
    check((try? CID(bytes: cid.bytes)) == cid, "binary round trip of \(cid)")
    check((try? CID(cid.description)) == cid, "description round trip of \(cid)")
    check(cid.v1.multihash == cid.multihash && cid.v1.codec == cid.codec, "v1 of \(cid)")
    for base in Multibase.allCases {
        let expected = cid.version == .v0 && base == .base58btc ? cid : cid.v1
        check((try? CID(cid.string(base: base))) == expected, "\(base) round trip of \(cid)")
    }
}
