import FuzzSupport
import PubSub

/// Pubsub RPCs (formats/pubsub.md, sections 2-3):
/// - decoding never traps, and a decoded RPC re-encodes to bytes that
///   decode to the same RPC;
/// - checking a decoded message's signature never traps, under either policy.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPubSubRPC(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = fuzzInput(data, size)
    guard let rpc = try? PubSubRPC(decoding: input) else { return 0 }
    check((try? PubSubRPC(decoding: rpc.encoded())) == rpc, "pubsub round trip: \(hex(input))")
    for message in rpc.messages {
        _ = try? SignedMessages.verify(message, policy: .strictSign)
        _ = try? SignedMessages.verify(message, policy: .strictNoSign)
        _ = SignedMessages.defaultID(of: message)
    }
    return 0
}
