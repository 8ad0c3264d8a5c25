import FuzzSupport
import Multiformats

/// Text that decodes re-encodes, in the base its prefix named, to itself
/// (case-folded for the case-insensitive bases); and any bytes survive each base.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMultibase(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = fuzzInput(data, size)
    let text = String(decoding: input, as: UTF8.self)
    if let (base, bytes) = try? Multibase.decode(text) {
        let again = base.encode(bytes)
        check(again == canonicalMultibaseText(text, base: base), "\(text) re-encodes as \(again)")
    }
    // The input as bytes, encoded in one base (chosen by its first byte, so
    // that every base gets its turn), decodes back to itself. A 128-byte prefix
    // keeps the quadratic base36/base58 conversions quick.
    if let first = input.first {
        let base = Multibase.allCases[Int(first) % Multibase.allCases.count]
        let bytes = Array(input.dropFirst().prefix(128))
        let encoded = base.encode(bytes)
        let decoded = try? Multibase.decode(encoded)
        check(decoded?.base == base && decoded?.bytes == bytes, "\(base) round trip of \(hex(bytes)) via \(encoded)")
    }
    return 0
}
