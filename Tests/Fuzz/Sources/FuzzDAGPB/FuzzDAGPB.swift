import FuzzSupport
import Multiformats
import UnixFS

/// dag-pb and UnixFS decoding: never traps; a decoded node re-encodes to the
/// input when the input was canonical (links before data), and re-decodes to
/// the same node; UnixFS Data that decodes re-encodes to something that
/// decodes to the same message; UnixFSNode accepts what both layers accept.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDAGPB(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = fuzzInput(data, size)
    if let node = try? DAGPBNode(decoding: input) {
        let encoded = node.encoded()
        check(encoded.count == node.encodedLength, "encodedLength of \(hex(input))")
        check((try? DAGPBNode(decoding: encoded)) == node, "re-decode of \(hex(input))")
        // Canonical input (links first) must round-trip byte for byte.
        let dataFirst = input.first == 0x0a && !node.links.isEmpty
        if !dataFirst { check(encoded == input, "\(hex(input)) re-encodes as \(hex(encoded))") }
        if let payload = node.data, let message = try? UnixFSData(decoding: payload) {
            let again = try? UnixFSData(decoding: message.encoded())
            check(again == message, "UnixFS Data round trip of \(hex(payload))")
        }
        let cid = CID.v0(Multihash(hashing: input, with: .sha2_256))
        if let decoded = try? UnixFSNode(cid: cid, block: input) {
            check(decoded.dataRange.upperBound <= input.count, "data range inside the block")
            _ = decoded.size
            _ = decoded.symlinkTarget
        }
    }
    // The same bytes as a bare UnixFS Data message.
    _ = try? UnixFSData(decoding: input)
    return 0
}
