import FuzzSupport
import Multiformats

/// Varint decoding accepts exactly the minimal encodings of values below 2^63,
/// so whatever it accepts re-encodes to the bytes it consumed; both entry points agree.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzVarint(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = fuzzInput(data, size)
    var offset = 0
    let fromArray = try? Varint.decode(input, at: &offset)
    let fromBuffer = input.withUnsafeBytes { try? Varint.decode($0) }
    check(fromArray == fromBuffer?.value && (fromArray == nil || offset == fromBuffer?.length),
          "entry points disagree on \(hex(input))")
    if let value = fromArray {
        check(offset >= 1 && offset <= Varint.maxLength && value <= Varint.maxValue, "bad decode of \(hex(input))")
        check(Varint.encode(value) == Array(input[..<offset]), "non-canonical accepted: \(hex(input))")
        check(Varint.encodedLength(value) == offset, "encodedLength(\(value)) != \(offset)")
    } else {
        check(offset == 0, "offset moved on error")
    }
    // The other direction: any 63-bit value round-trips.
    if input.count >= 8 {
        let value = input.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) } & Varint.maxValue
        var cursor = 0
        check((try? Varint.decode(Varint.encode(value), at: &cursor)) == value, "round trip of \(value)")
    }
    return 0
}
