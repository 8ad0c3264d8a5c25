import Bitswap
import FuzzSupport

/// Bitswap messages (formats/bitswap.md, sections 2-4):
/// - decoding never traps, and a decoded message re-encodes (1.2.0) to bytes
///   that decode to the same message;
/// - encoded for 1.1.0 and 1.0.0 it still decodes, keeping what those
///   versions carry (blocks, cancels, want-block entries);
/// - a parsed CID prefix re-encodes to a prefix that parses to the same one.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzBitswapMessage(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = fuzzInput(data, size)
    if let message = try? BitswapMessage(decoding: input) {
        let encoded = message.encoded()
        check((try? BitswapMessage(decoding: encoded)) == message, "bitswap round trip: \(hex(input))")
        let framed = message.framed()
        check(Array(framed.suffix(encoded.count)) == encoded, "framing: \(hex(input))")
        for version in [BitswapProtocol.v110, .v100] {
            let older = try? BitswapMessage(decoding: message.encoded(for: version))
            check(older?.blocks.count == message.blocks.count, "\(version.rawValue) blocks: \(hex(input))")
            check(older?.presences.isEmpty == true, "\(version.rawValue) presences: \(hex(input))")
        }
    }
    if let prefix = try? CIDPrefix(parsing: input[...]) {
        check((try? CIDPrefix(parsing: prefix.bytes[...])) == prefix, "prefix round trip: \(hex(input))")
    }
    return 0
}
