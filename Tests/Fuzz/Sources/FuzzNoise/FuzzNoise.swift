import Crypto
import FuzzSupport
import NIOCore
import P2P

/// The Noise layer's parsers on arbitrary bytes:
/// - a decoded handshake payload re-encodes to a payload that decodes to the
///   same value, and a decoded public key re-encodes to what it decoded from
///   when the input was canonical (Type then Data);
/// - the libp2p handshake (as responder, then as initiator) and the
///   transport frame decoder never trap on the input as peer bytes, and fail
///   only with their documented errors.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNoise(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = fuzzInput(data, size)
    if let payload = try? NoiseHandshakePayload(decoding: input) {
        check((try? NoiseHandshakePayload(decoding: payload.encoded)) == payload, "payload round trip: \(hex(input))")
    }
    if let key = try? PublicKey(protobuf: input) {
        check((try? PublicKey(protobuf: key.protobuf)) == key, "public key round trip: \(hex(input))")
        check(key.peerID.matches(key), "peer ID of \(hex(input))")
    }
    let allowed: Set<P2PError.Code> = [.handshakeFailed, .decryptionFailed, .invalidSignature, .peerIDMismatch,
                                       .unsupported, .malformed, .limitExceeded, .invalidKey]
    // The input as the peer's handshake bytes: message 1 to a fresh responder,
    // message 2 to a fresh initiator (each costs X25519 and Ed25519 work, slow
    // in an unoptimized sanitized build, so one run in 16 each), or message 3
    // to a responder that already answered a fixed message 1 (cheap: the rest).
    var upgrade: NoiseUpgrade
    switch input.first.map({ $0 % 16 }) ?? 2 {
    case 0: upgrade = NoiseUpgrade(initiator: false, identity: identity, staticKey: staticKey, ephemeral: ephemeral)
    case 1: upgrade = NoiseUpgrade(initiator: true, identity: identity, staticKey: staticKey, ephemeral: ephemeral)
    default: upgrade = awaitingMessage3
    }
    var output = ByteBuffer()
    var buffer = ByteBuffer(bytes: input)
    do {
        try upgrade.start(into: &output)
        let session = try upgrade.receive(&buffer, output: &output)
        check(session == nil, "a handshake completed with fuzz bytes: \(hex(input))")
    } catch {
        check(allowed.contains(error.code), "unexpected \(error): \(hex(input))")
    }
    var decoder = NoiseFrameDecoder(key: [UInt8](repeating: 7, count: 32))
    let pieceSize = input.isEmpty ? 1 : Int(input[0] % 32) + 1
    // Pieces are slices of the one input buffer (no allocation per piece).
    let frames = ByteBuffer(bytes: input)
    var offset = 0
    do {
        while offset < input.count {
            let end = min(offset + pieceSize, input.count)
            try decoder.decrypt(frames.getSlice(at: offset, length: end - offset)!, allocator: allocator) { _ in }
            offset = end
        }
    } catch let error as P2PError {
        check(error.code == .decryptionFailed || error.code == .malformed, "frame decoder: \(error): \(hex(input))")
    } catch {
        check(false, "frame decoder threw \(error): \(hex(input))")
    }
    return 0
}

let allocator = ByteBufferAllocator()

// Fixed keys: no key generation per run.
let identity = try! KeyPair(seed: [UInt8](repeating: 1, count: 32))
let staticKey = try! Curve25519.KeyAgreement.PrivateKey(rawRepresentation: [UInt8](repeating: 2, count: 32))
let ephemeral = try! Curve25519.KeyAgreement.PrivateKey(rawRepresentation: [UInt8](repeating: 3, count: 32))

/// A responder that read a fixed message 1 and wrote message 2 (the state is
/// copied per run; its ciphers keep no state between messages).
nonisolated(unsafe) let awaitingMessage3: NoiseUpgrade = {
    var responder = NoiseUpgrade(initiator: false, identity: identity, staticKey: staticKey, ephemeral: ephemeral)
    var message1 = ByteBuffer(bytes: [0x00, 0x20] + [UInt8](repeating: 9, count: 32))
    var message2 = ByteBuffer()
    _ = try! responder.receive(&message1, output: &message2)
    return responder
}()
