import DHT
import FuzzSupport
import P2P

/// Kademlia messages (formats/dht.md, section 2):
/// - decoding never traps, and a decoded message re-encodes to bytes that
///   decode to the same message;
/// - reading its peers (IDs, addresses) and validating its record never trap.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDHTMessage(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = fuzzInput(data, size)
    guard let message = try? DHTMessage(decoding: input) else { return 0 }
    check((try? DHTMessage(decoding: message.encoded())) == message, "dht round trip: \(hex(input))")
    for peer in message.closerPeers + message.providerPeers {
        _ = try? PeerID(bytes: peer.id)
        for address in peer.addresses { _ = try? Multiaddr(bytes: address) }
    }
    if let record = message.record { _ = try? RecordValidator.validate(key: record.key, value: record.value) }
    _ = KademliaKey(hashing: message.key).commonPrefixLength(with: KademliaKey(hashing: []))
    return 0
}
