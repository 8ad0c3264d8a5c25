import FuzzSupport
import Multiformats

/// The decoder accepts only canonical dag-cbor, so encode(decode(x)) == x for
/// every accepted x; a tighter depth limit accepts a subset with the same result.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDAGCBOR(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = fuzzInput(data, size)
    guard let value = try? DAGCBOR(decoding: input) else {
        check((try? DAGCBORDecoder(maxDepth: 2).decode(input)) == nil, "shallower limit accepted more: \(hex(input))")
        return 0
    }
    guard let encoded = try? value.encoded() else {
        check(false, "decoded \(hex(input)) but cannot encode \(value)")
        return 0
    }
    check(encoded == input, "\(hex(input)) re-encodes as \(hex(encoded))")
    let again = try? DAGCBOR(decoding: encoded)
    check(again == value && again?.hashValue == value.hashValue, "decode is not stable for \(hex(input))")
    if let shallow = try? DAGCBORDecoder(maxDepth: 2).decode(input) {
        check(shallow == value, "depth limit changed the value of \(hex(input))")
    }
    return 0
}
