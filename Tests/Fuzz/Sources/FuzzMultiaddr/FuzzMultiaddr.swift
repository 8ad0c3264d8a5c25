import FuzzSupport
import P2P

/// Multiaddrs and peer IDs, binary and text:
/// - a parsed binary multiaddr re-encodes to the input, and its text parses
///   back to it;
/// - a parsed text multiaddr prints as text that parses to the same value,
///   whose binary form parses back to it too;
/// - a parsed peer ID prints (base58btc, and as a CID in base36 and base32)
///   to text that parses back to it.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMultiaddr(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = fuzzInput(data, size)
    if let address = try? Multiaddr(bytes: input) {
        check(address.bytes == input, "binary \(hex(input)) re-encodes as \(hex(address.bytes))")
        check((try? Multiaddr(address.description)) == address, "text of \(hex(input)): \(address)")
        _ = address.tcpTarget
        _ = address.withoutPeerID
    }
    let text = String(decoding: input, as: UTF8.self)
    if let address = try? Multiaddr(text) {
        let printed = address.description
        check((try? Multiaddr(printed)) == address, "\(text) prints as \(printed), which does not parse back")
        check((try? Multiaddr(bytes: address.bytes)) == address, "binary of \(text)")
    }
    if let peer = try? PeerID(text) {
        check((try? PeerID(peer.description)) == peer, "peer \(text) prints as \(peer)")
        check((try? PeerID(peer.string(base: .base36))) == peer, "base36 of \(text)")
        check((try? PeerID(peer.string(base: .base32))) == peer, "base32 of \(text)")
        check((try? PeerID(bytes: peer.bytes)) == peer, "binary of \(text)")
    }
    if let peer = try? PeerID(bytes: input) {
        check(peer.bytes == input, "peer bytes \(hex(input))")
    }
    return 0
}
