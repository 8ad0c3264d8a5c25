import Crypto
import NIOCore
import P2P
import Testing
import TestSupport

@Suite("Noise")
struct NoiseTests {
    static func key(_ byte: UInt8) -> Curve25519.KeyAgreement.PrivateKey {
        try! Curve25519.KeyAgreement.PrivateKey(rawRepresentation: (0..<32).map { byte &+ UInt8($0) })
    }

    /// Our XX transcript with fixed keys equals the one of the Python
    /// `noiseprotocol` package (py-libp2p's Noise implementation), message by
    /// message, and so do the handshake hash and the first transport messages.
    @Test func xxTranscriptMatchesNoiseprotocol() throws {
        let (si, ei, sr, er) = (Self.key(0x00), Self.key(0x20), Self.key(0x01), Self.key(0x41))
        let payloads: [[UInt8]] = [Array("one".utf8), Array("two, a longer payload".utf8), []]
        var initiator = NoiseXXHandshake(initiator: true, localStatic: si, ephemeral: ei)
        var responder = NoiseXXHandshake(initiator: false, localStatic: sr, ephemeral: er)
        var transcript: [[UInt8]] = []
        for (index, payload) in payloads.enumerated() {
            if index % 2 == 0 {
                let message = try initiator.writeMessage(payload: payload)
                #expect(try responder.readMessage(message[...]) == payload)
                transcript.append(message)
            } else {
                let message = try responder.writeMessage(payload: payload)
                #expect(try initiator.readMessage(message[...]) == payload)
                transcript.append(message)
            }
        }
        #expect(initiator.isComplete && responder.isComplete)
        #expect(initiator.handshakeHash == responder.handshakeHash)
        #expect(initiator.remoteStatic == Array(sr.publicKey.rawRepresentation))
        #expect(responder.remoteStatic == Array(si.publicKey.rawRepresentation))
        let keys = initiator.transportKeys()
        #expect(responder.transportKeys().send == keys.receive)
        var transport = NoiseTransport(sendKey: keys.send, receiveKey: keys.receive)
        var sealed = ByteBuffer()
        try transport.encrypt([ByteBuffer(string: "hello")], totalBytes: 5, into: &sealed)

        let script = """
            import sys
            from noise.connection import NoiseConnection, Keypair
            def make(initiator, s, e):
                c = NoiseConnection.from_name(b"Noise_XX_25519_ChaChaPoly_SHA256")
                c.set_as_initiator() if initiator else c.set_as_responder()
                c.set_keypair_from_private_bytes(Keypair.STATIC, bytes.fromhex(s))
                c.set_keypair_from_private_bytes(Keypair.EPHEMERAL, bytes.fromhex(e))
                c.start_handshake()
                return c
            i = make(True, sys.argv[1], sys.argv[2])
            r = make(False, sys.argv[3], sys.argv[4])
            m1 = i.write_message(b"one"); r.read_message(m1)
            m2 = r.write_message(b"two, a longer payload"); i.read_message(m2)
            m3 = i.write_message(b""); r.read_message(m3)
            for m in (m1, m2, m3): print(bytes(m).hex())
            print(i.get_handshake_hash().hex())
            print(i.encrypt(b"hello").hex())
            """
        let output = try runPython(script, arguments: [si, ei, sr, er].map { hex($0.rawRepresentation) })
        let lines = String(decoding: output, as: UTF8.self).split(separator: "\n").map(String.init)
        #expect(lines[0..<3].map { $0 } == transcript.map { hex($0) })
        #expect(lines[3] == hex(initiator.handshakeHash))
        // Our frame is the 2-byte length then the transport message.
        #expect("0015" + lines[4] == hex(sealed.readableBytesView))
    }

    /// The libp2p handshake between two identities, bytes cut at every size.
    static func handshake(initiator: inout NoiseUpgrade, responder: inout NoiseUpgrade, chunk: Int = .max,
                          tamper: ((inout ByteBuffer) -> Void)? = nil) throws -> (NoiseSession?, NoiseSession?) {
        var toResponder = ByteBuffer()
        var toInitiator = ByteBuffer()
        try initiator.start(into: &toResponder)
        var inputI = ByteBuffer()
        var inputR = ByteBuffer()
        var sessionI: NoiseSession?
        var sessionR: NoiseSession?
        for _ in 0..<10_000 {
            if toResponder.readableBytes == 0 && toInitiator.readableBytes == 0 { break }
            if var piece = toResponder.readSlice(length: min(chunk, toResponder.readableBytes)) {
                inputR.writeBuffer(&piece)
                if let done = try responder.receive(&inputR, output: &toInitiator) { sessionR = done }
            }
            if var piece = toInitiator.readSlice(length: min(chunk, toInitiator.readableBytes)) {
                tamper?(&piece)
                inputI.writeBuffer(&piece)
                if let done = try initiator.receive(&inputI, output: &toResponder) { sessionI = done }
            }
        }
        return (sessionI, sessionR)
    }

    @Test func libp2pHandshake() throws {
        let alice = KeyPair.generate()
        let bob = KeyPair.generate()
        for chunk in [1, 3, 100, Int.max] {
            var initiator = NoiseUpgrade(initiator: true, identity: alice, staticKey: .init(), expectedPeer: bob.peerID)
            var responder = NoiseUpgrade(initiator: false, identity: bob, staticKey: .init(),
                                         extensions: NoiseExtensions(streamMuxers: ["/yamux/1.0.0"]))
            let (a, b) = try Self.handshake(initiator: &initiator, responder: &responder, chunk: chunk)
            let sessionA = try #require(a)
            let sessionB = try #require(b)
            #expect(sessionA.remotePeer == bob.peerID)
            #expect(sessionB.remotePeer == alice.peerID)
            #expect(sessionA.remoteExtensions?.streamMuxers == ["/yamux/1.0.0"])
            #expect(sessionA.handshakeHash == sessionB.handshakeHash)
            var sender = sessionA.makeTransport()
            var receiver = sessionB.makeTransport()
            var sealed = ByteBuffer()
            try sender.encrypt([ByteBuffer(string: "ping")], totalBytes: 4, into: &sealed)
            var received: [String] = []
            try receiver.decrypt(sealed, allocator: ByteBufferAllocator()) { received.append(String(buffer: $0)) }
            #expect(received == ["ping"])
        }
    }

    @Test func wrongPeerIsRefused() throws {
        let alice = KeyPair.generate()
        let bob = KeyPair.generate()
        var initiator = NoiseUpgrade(initiator: true, identity: alice, staticKey: .init(), expectedPeer: KeyPair.generate().peerID)
        var responder = NoiseUpgrade(initiator: false, identity: bob, staticKey: .init())
        #expect(throws: P2PError.peerIDMismatch) { try Self.handshake(initiator: &initiator, responder: &responder) }
    }

    @Test func tamperedMessageFails() throws {
        var initiator = NoiseUpgrade(initiator: true, identity: .generate(), staticKey: .init())
        var responder = NoiseUpgrade(initiator: false, identity: .generate(), staticKey: .init())
        #expect(throws: P2PError.decryptionFailed) {
            try Self.handshake(initiator: &initiator, responder: &responder) { piece in
                // Flip a bit of message 2's encrypted static key.
                if piece.readableBytes > 40 { piece.setInteger(piece.getInteger(at: piece.readerIndex + 40, as: UInt8.self)! ^ 1, at: piece.readerIndex + 40) }
            }
        }
    }

    /// A payload signed over another static key does not verify.
    @Test func badSignatureFails() throws {
        let identity = KeyPair.generate()
        let payload = NoiseHandshakePayload(identityKey: identity.publicKey.protobuf,
                                            identitySignature: identity.sign(NoiseHandshakePayload.signaturePrefix + [UInt8](repeating: 7, count: 32)))
        // Drive a raw XX handshake whose responder sends that payload.
        let staticR = Curve25519.KeyAgreement.PrivateKey()
        var xx = NoiseXXHandshake(initiator: false, localStatic: staticR)
        var upgrade = NoiseUpgrade(initiator: true, identity: .generate(), staticKey: .init())
        var toResponder = ByteBuffer()
        try upgrade.start(into: &toResponder)
        toResponder.moveReaderIndex(forwardBy: 2)
        _ = try xx.readMessage(toResponder.readBytes(length: toResponder.readableBytes)![...])
        let message2 = try xx.writeMessage(payload: payload.encoded)
        var input = ByteBuffer()
        input.writeInteger(UInt16(message2.count))
        input.writeBytes(message2)
        var output = ByteBuffer()
        #expect(throws: P2PError.invalidSignature) { try upgrade.receive(&input, output: &output) }
    }

    @Test func payloadEncodingMatchesPyLibp2p() throws {
        let identity = KeyPair.generate()
        let payload = NoiseHandshakePayload(identityKey: identity.publicKey.protobuf, identitySignature: [1, 2, 3],
                                            extensions: NoiseExtensions(webtransportCerthashes: [[9, 9]], streamMuxers: ["/yamux/1.0.0"]))
        let output = try runPython("""
            import sys
            from libp2p.security.noise.pb import noise_pb2 as pb
            p = pb.NoiseHandshakePayload()
            p.identity_key = bytes.fromhex(sys.argv[1])
            p.identity_sig = bytes([1, 2, 3])
            p.extensions.webtransport_certhashes.append(bytes([9, 9]))
            p.extensions.stream_muxers.append("/yamux/1.0.0")
            print(p.SerializeToString().hex())
            p.extensions.early_data = b"early"
            print(p.SerializeToString().hex())
            """, arguments: [hex(identity.publicKey.protobuf)])
        let lines = String(decoding: output, as: UTF8.self).split(separator: "\n").map(String.init)
        #expect(lines[0] == hex(payload.encoded))
        // py-libp2p's early_data field (3 in the extensions) is skipped.
        #expect(try NoiseHandshakePayload(decoding: bytes(hex: lines[1])) == payload)
        #expect(throws: P2PError.self) { try NoiseHandshakePayload(decoding: [0x0a, 0x05, 0x01]) }
        #expect(throws: P2PError.handshakeFailed) { try NoiseHandshakePayload(decoding: [0x0a, 0x01, 0x01]) }
    }

    /// Transport frames: any cut of the byte stream decrypts to the same bytes;
    /// frames never exceed 65535 bytes; a flipped bit fails.
    @Test func transportFramesSurviveAnyCut() throws {
        var generator = SystemRandomNumberGenerator()
        let keyA = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let keyB = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        var sender = NoiseTransport(sendKey: keyA, receiveKey: keyB)
        var receiver = NoiseTransport(sendKey: keyB, receiveKey: keyA)
        let sizes = [0, 1, 65518, 65519, 65520, 200_000, 12, 70_000]
        let pieces = sizes.map { size in ByteBuffer(bytes: (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ size) }) }
        let total = sizes.reduce(0, +)
        var sealed = ByteBuffer()
        try sender.encrypt(pieces, totalBytes: total, into: &sealed)
        #expect(sealed.readableBytes == NoiseTransport.sealedSize(total))
        var frameSizes: [Int] = []
        var walker = sealed
        while let length = walker.readInteger(as: UInt16.self) {
            frameSizes.append(Int(length))
            walker.moveReaderIndex(forwardBy: Int(length))
        }
        #expect(frameSizes.allSatisfy { $0 <= 65535 })
        #expect(frameSizes.dropLast().allSatisfy { $0 == 65535 })
        var expected = ByteBuffer()
        for var piece in pieces { expected.writeBuffer(&piece) }
        for cut in [1, 2, 17, 4096, 65537, 1 << 20] {
            var stream = sealed
            var received = ByteBuffer()
            while stream.readableBytes > 0 {
                let piece = stream.readSlice(length: min(cut, stream.readableBytes))!
                try receiver.decrypt(piece, allocator: ByteBufferAllocator()) { plain in
                    var plain = plain
                    received.writeBuffer(&plain)
                }
            }
            #expect(received == expected, "cut \(cut)")
            // Each pass reuses the receiver; re-key it for the next one.
            receiver = NoiseTransport(sendKey: keyB, receiveKey: keyA)
        }
        var tampered = sealed
        tampered.setInteger(tampered.getInteger(at: 100, as: UInt8.self)! ^ 0x80, at: 100)
        #expect(throws: P2PError.decryptionFailed) {
            try receiver.decrypt(tampered, allocator: ByteBufferAllocator()) { _ in }
        }
        var short = NoiseTransport(sendKey: keyB, receiveKey: keyA)
        #expect(throws: P2PError.malformed) {
            try short.decrypt(ByteBuffer(bytes: [0x00, 0x05, 1, 2, 3, 4, 5]), allocator: ByteBufferAllocator()) { _ in }
        }
    }
}
