import FuzzSupport
import P2P

/// Identify messages, keys and swarm key files:
/// - a decoded identify message re-encodes to bytes that decode to the same
///   message, and its address and key accessors never trap;
/// - a parsed private key re-encodes to a key file that parses to the same identity;
/// - a parsed swarm key file writes a /base16/ file that parses to the same key.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzIdentify(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = fuzzInput(data, size)
    if let message = try? IdentifyMessage(decoding: input) {
        check((try? IdentifyMessage(decoding: message.encoded)) == message, "identify round trip: \(hex(input))")
        _ = message.parsedListenAddrs
        _ = message.parsedObservedAddr
        _ = message.parsedPublicKey
    }
    if let pair = try? KeyPair(privateKeyProtobuf: input) {
        check((try? KeyPair(privateKeyProtobuf: pair.privateKeyProtobuf))?.peerID == pair.peerID, "private key: \(hex(input))")
    }
    if let key = try? SwarmKey(fileContents: input) {
        check((try? SwarmKey(fileContents: Array(key.fileContents.utf8))) == key, "swarm key file: \(hex(input))")
    }
    return 0
}
