// Bitswap messages are read with P2P's protobuf reader (Sources/P2P/Protobuf.swift),
// failing with Bitswap's errors. Format: formats/bitswap.md, section 2.

import P2P

/// Bitswap's messages fail with `BitswapError(.malformed, …)`.
typealias ProtoReader = ProtobufReader<BitswapError>

extension ProtobufReader where Failure == BitswapError {
    init(_ bytes: ArraySlice<UInt8>) { self.init(bytes) { BitswapError(.malformed, $0) } }
    init(_ bytes: [UInt8]) { self.init(bytes[...]) }
}
