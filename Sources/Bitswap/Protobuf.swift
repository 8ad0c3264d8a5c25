// Bitswap messages are read with the Protobuf module's reader, failing with
// Bitswap's own errors. Format: formats/bitswap.md, section 2.

import Protobuf

/// Bitswap messages that are not valid protobuf fail with `.malformed`.
extension BitswapError: ProtobufFailure {
    public init(protobuf error: ProtobufError) { self.init(.malformed, "\(error)") }
}

/// The reader of Bitswap messages: plain protobuf.
typealias ProtoReader = ProtobufReader<BitswapError>
