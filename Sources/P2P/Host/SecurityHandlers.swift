// The lower handlers of a connection's pipeline: the optional private
// network layer (XSalsa20 under everything) and the Noise layer
// (multistream-select for /noise, the handshake, then transport
// encryption). Format: formats/libp2p.md, sections 5, 6 and 8.

import Crypto
import NIOCore

/// Private networks (PSK v1): sends a random 24-byte nonce first, reads the
/// remote's, then XORs everything with XSalsa20(key, nonce) each way.
final class PnetHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    static let nonceLength = 24

    private let key: SwarmKey
    private var sendStream: XSalsa20Stream?
    private var receiveStream: XSalsa20Stream?
    private var nonceBytes: [UInt8] = []

    init(key: SwarmKey) { self.key = key }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { sendNonce(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        sendNonce(context: context)
        context.fireChannelActive()
    }

    private func sendNonce(context: ChannelHandlerContext) {
        guard sendStream == nil else { return }
        var generator = SystemRandomNumberGenerator()
        let nonce = (0..<Self.nonceLength).map { _ in UInt8.random(in: 0...255, using: &generator) }
        sendStream = XSalsa20Stream(key: key.bytes, nonce: nonce)
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(bytes: nonce)), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        if receiveStream == nil {
            let take = min(Self.nonceLength - nonceBytes.count, buffer.readableBytes)
            nonceBytes += buffer.readBytes(length: take)!
            guard nonceBytes.count == Self.nonceLength else { return }
            receiveStream = XSalsa20Stream(key: key.bytes, nonce: nonceBytes)
            guard buffer.readableBytes > 0 else { return }
        }
        // Out of place: the socket's buffer is still referenced by NIO, so an
        // in-place XOR would copy it first.
        let output = Self.xor(buffer, with: &receiveStream!, allocator: context.channel.allocator)
        context.fireChannelRead(wrapInboundOut(output))
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if sendStream == nil { sendNonce(context: context) }
        let buffer = unwrapOutboundIn(data)
        // Out of place: the writer still references `buffer`.
        let output = Self.xor(buffer, with: &sendStream!, allocator: context.channel.allocator)
        context.write(wrapOutboundOut(output), promise: promise)
    }

    /// A new buffer holding `buffer`'s readable bytes XOR the key stream.
    private static func xor(_ buffer: ByteBuffer, with stream: inout XSalsa20Stream,
                            allocator: ByteBufferAllocator) -> ByteBuffer {
        let count = buffer.readableBytes
        var output = allocator.buffer(capacity: count)
        output.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { destination in
            buffer.withUnsafeReadableBytes { source in
                stream.apply(from: source, to: UnsafeMutableRawBufferPointer(rebasing: destination[..<count]))
            }
            return count
        }
        return output
    }
}

/// Secures a connection with Noise: negotiates `/noise` with
/// multistream-select, runs the handshake (checking the remote's peer ID
/// when dialing a known peer), fires `Secured` up the pipeline, then
/// decrypts inbound frames in place and encrypts outbound bytes once per flush.
final class NoiseHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    static let protocolID = "/noise"

    /// Fired (as a user inbound event) when the handshake completes.
    struct Secured {
        let session: NoiseSession
    }

    private enum State {
        case idle
        case negotiating(MultistreamSelect)
        case handshaking(NoiseUpgrade)
        case transport
        case failed
    }

    private var state = State.idle
    private let initiator: Bool
    private let identity: KeyPair
    private let staticKey: Curve25519.KeyAgreement.PrivateKey
    private let expectedPeer: PeerID?
    private let maxProtocolLength: Int
    private var sender: NoiseFrameEncoder?
    private var receiver: NoiseFrameDecoder?
    private var inbound = ByteBuffer()
    private var pending = CircularBuffer<ByteBuffer>(initialCapacity: 16)
    private var pendingBytes = 0
    private var pendingPromises: [EventLoopPromise<Void>] = []

    init(initiator: Bool, identity: KeyPair, staticKey: Curve25519.KeyAgreement.PrivateKey,
         expectedPeer: PeerID?, maxProtocolLength: Int) {
        self.initiator = initiator
        self.identity = identity
        self.staticKey = staticKey
        self.expectedPeer = expectedPeer
        self.maxProtocolLength = maxProtocolLength
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { start(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context: context)
        context.fireChannelActive()
    }

    private func start(context: ChannelHandlerContext) {
        guard case .idle = state else { return }
        var negotiation = initiator
            ? MultistreamSelect(proposing: [Self.protocolID], maxLineLength: maxProtocolLength)
            : MultistreamSelect(supporting: [Self.protocolID], maxLineLength: maxProtocolLength)
        var output = context.channel.allocator.buffer(capacity: 64)
        negotiation.start(into: &output)
        state = .negotiating(negotiation)
        context.writeAndFlush(wrapOutboundOut(output), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        switch state {
        case .transport:
            decrypt(buffer, context: context)
        case .negotiating, .handshaking:
            inbound.writeBuffer(&buffer)
            advance(context: context)
        case .idle:
            start(context: context)
            inbound.writeBuffer(&buffer)
            advance(context: context)
        case .failed:
            break
        }
    }

    private func advance(context: ChannelHandlerContext) {
        var output = context.channel.allocator.buffer(capacity: 0)
        do {
            while true {
                switch state {
                case .negotiating(var negotiation):
                    let outcome: MultistreamSelect.Outcome
                    do {
                        outcome = try negotiation.receive(&inbound, output: &output)
                    } catch {
                        throw P2PError(error.code, "security protocol negotiation: \(error.detail)")
                    }
                    guard case .selected = outcome else {
                        state = .negotiating(negotiation)
                        flushOutput(&output, context: context)
                        return
                    }
                    var upgrade = NoiseUpgrade(initiator: initiator, identity: identity, staticKey: staticKey,
                                               expectedPeer: expectedPeer)
                    try upgrade.start(into: &output)
                    state = .handshaking(upgrade)
                case .handshaking(var upgrade):
                    let session: NoiseSession?
                    do {
                        session = try upgrade.receive(&inbound, output: &output)
                    } catch {
                        throw P2PError(error.code, "Noise handshake: \(error.detail)")
                    }
                    guard let session else {
                        state = .handshaking(upgrade)
                        flushOutput(&output, context: context)
                        return
                    }
                    flushOutput(&output, context: context)
                    let transport = session.makeTransport()
                    sender = transport.sender
                    receiver = transport.receiver
                    state = .transport
                    context.fireUserInboundEventTriggered(Secured(session: session))
                    let rest = inbound
                    inbound = ByteBuffer()
                    if rest.readableBytes > 0 { decrypt(rest, context: context) }
                    if case .transport = state, pendingBytes > 0 || !pendingPromises.isEmpty { flushPending(context: context) }
                    return
                default:
                    return
                }
            }
        } catch {
            fail(error as? P2PError ?? P2PError(.handshakeFailed, "\(error)"), context: context)
        }
    }

    private func flushOutput(_ output: inout ByteBuffer, context: ChannelHandlerContext) {
        guard output.readableBytes > 0 else { return }
        context.writeAndFlush(wrapOutboundOut(output), promise: nil)
        output = context.channel.allocator.buffer(capacity: 0)
    }

    private func decrypt(_ buffer: ByteBuffer, context: ChannelHandlerContext) {
        do {
            try receiver!.decrypt(buffer, allocator: context.channel.allocator) { plaintext in
                context.fireChannelRead(wrapInboundOut(plaintext))
            }
        } catch {
            fail(error as? P2PError ?? P2PError(.decryptionFailed, "\(error)"), context: context)
        }
    }

    private func fail(_ error: P2PError, context: ChannelHandlerContext) {
        if case .failed = state { return }
        state = .failed
        let promises = pendingPromises
        pendingPromises.removeAll()
        pending.removeAll()
        pendingBytes = 0
        for promise in promises { promise.fail(error) }
        context.fireErrorCaught(error)
        context.close(promise: nil)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .failed = state {
            promise?.fail(P2PError(.closed, "connection failed"))
            return
        }
        let buffer = unwrapOutboundIn(data)
        if buffer.readableBytes > 0 {
            pending.append(buffer)
            pendingBytes += buffer.readableBytes
        }
        if let promise { pendingPromises.append(promise) }
    }

    func flush(context: ChannelHandlerContext) {
        if case .transport = state { flushPending(context: context) }
    }

    /// Encrypts everything written since the last flush into one buffer and writes it.
    private func flushPending(context: ChannelHandlerContext) {
        guard pendingBytes > 0 || !pendingPromises.isEmpty else { return }
        var output = context.channel.allocator.buffer(capacity: NoiseTransport.sealedSize(pendingBytes))
        do {
            try sender!.encrypt(pending, totalBytes: pendingBytes, into: &output)
        } catch {
            fail(error, context: context)
            return
        }
        pending.removeAll(keepingCapacity: true)
        pendingBytes = 0
        var promise: EventLoopPromise<Void>?
        if !pendingPromises.isEmpty {
            let waiting = pendingPromises
            pendingPromises.removeAll()
            let combined = context.eventLoop.makePromise(of: Void.self)
            combined.futureResult.whenComplete { result in
                for promise in waiting { promise.completeWith(result) }
            }
            promise = combined
        }
        context.writeAndFlush(wrapOutboundOut(output), promise: promise)
    }
}
