// Noise transport messages: 2-byte big-endian length, then ChaCha20-Poly1305
// ciphertext and tag, at most 65535 bytes. Decrypted in place in the buffers
// the socket filled; encrypted straight from the writers' buffers into one
// output buffer per flush. Format: formats/libp2p.md, section 6.3.

import NIOCore

/// The two transport `CipherState`s of a Noise session and the frame codec.
/// Sending and receiving are separate values (`sender`, `receiver`) so that a
/// handler can encrypt while it is still handing out decrypted frames.
public struct NoiseTransport {
    public static let maxFrameLength = 65535
    public static let tagLength = ChaChaPolyCipher.tagLength
    /// The most plaintext one frame carries.
    public static let maxPlaintextLength = maxFrameLength - tagLength

    public var sender: NoiseFrameEncoder
    public var receiver: NoiseFrameDecoder

    /// - Precondition: both keys are 32 bytes.
    public init(sendKey: [UInt8], receiveKey: [UInt8]) {
        sender = NoiseFrameEncoder(key: sendKey)
        receiver = NoiseFrameDecoder(key: receiveKey)
    }

    /// Bytes of the frames carrying `count` plaintext bytes: the exact output
    /// size of `encrypt` for `count` bytes.
    public static func sealedSize(_ count: Int) -> Int {
        let frames = (count + maxPlaintextLength - 1) / maxPlaintextLength
        return count + frames * (2 + tagLength)
    }

    /// See `NoiseFrameDecoder.decrypt`.
    public mutating func decrypt(_ incoming: ByteBuffer, allocator: ByteBufferAllocator,
                                 emit: (ByteBuffer) throws -> Void) throws {
        try receiver.decrypt(incoming, allocator: allocator, emit: emit)
    }

    /// See `NoiseFrameEncoder.encrypt`.
    public mutating func encrypt(_ pieces: some Sequence<ByteBuffer>, totalBytes: Int, into output: inout ByteBuffer) throws(P2PError) {
        try sender.encrypt(pieces, totalBytes: totalBytes, into: &output)
    }
}

/// The receiving half of a Noise transport.
public struct NoiseFrameDecoder {
    private let cipher: ChaChaPolyCipher
    public private(set) var nonce: UInt64 = 0
    /// The start of a frame that straddled two reads.
    private var partial: ByteBuffer?

    /// - Precondition: `key` is 32 bytes.
    public init(key: [UInt8]) { cipher = ChaChaPolyCipher(key: key, encrypts: false) }

    /// Decrypts every complete frame of `incoming` and hands their
    /// plaintexts to `emit`, in order: the frames that arrived whole in one
    /// buffer are decrypted in one pass into one new buffer (headers and tags
    /// dropped), so `emit` usually runs once per socket read. A trailing
    /// incomplete frame is kept for the next call.
    /// - Throws: `.malformed` for a frame shorter than its tag,
    ///   `.decryptionFailed` when a frame does not authenticate; and what `emit` throws.
    public mutating func decrypt(_ incoming: ByteBuffer, allocator: ByteBufferAllocator,
                                 emit: (ByteBuffer) throws -> Void) throws {
        var input = incoming
        if var pending = partial {
            // Complete the straddling frame from the new bytes first.
            if pending.readableBytes < 2 {
                let need = 2 - pending.readableBytes
                guard var head = input.readSlice(length: min(need, input.readableBytes)) else { return }
                pending.writeBuffer(&head)
                if pending.readableBytes < 2 {
                    partial = pending
                    return
                }
            }
            let length = Int(pending.getInteger(at: pending.readerIndex, as: UInt16.self)!)
            let need = 2 + length - pending.readableBytes
            var body = input.readSlice(length: min(need, input.readableBytes))!
            pending.writeBuffer(&body)
            guard pending.readableBytes == 2 + length else {
                partial = pending
                return
            }
            partial = nil
            try openFrames(&pending, allocator: allocator, emit: emit)
        }
        guard input.readableBytes > 0 else { return }
        try openFrames(&input, allocator: allocator, emit: emit)
        if input.readableBytes > 0 {
            // Room for exactly the frame being cut (its length is known once 2 bytes are in).
            let frame = input.getInteger(at: input.readerIndex, as: UInt16.self).map { 2 + Int($0) } ?? 2
            var pending = allocator.buffer(capacity: max(frame, input.readableBytes))
            pending.writeBuffer(&input)
            partial = pending
        }
    }

    /// Decrypts the complete frames at the front of `buffer` into one new
    /// buffer, emits it, and leaves an incomplete last frame in `buffer`.
    /// Decrypting from the socket's buffer into a fresh one reads and writes
    /// each byte once; decrypting in place would first copy the buffer, which
    /// the channel still references while the read is delivered.
    private mutating func openFrames(_ buffer: inout ByteBuffer, allocator: ByteBufferAllocator,
                                     emit: (ByteBuffer) throws -> Void) throws {
        let tagLength = NoiseTransport.tagLength
        // Measure: complete frames and their plaintext total.
        var frames = 0
        var plaintext = 0
        var consumed = 0
        let available = buffer.readableBytes
        let start = buffer.readerIndex
        while available - consumed >= 2 {
            let length = Int(buffer.getInteger(at: start + consumed, as: UInt16.self)!)
            guard available - consumed - 2 >= length else { break }
            guard length >= tagLength else {
                throw P2PError(.malformed, "Noise frame of \(length) bytes is shorter than its tag")
            }
            frames += 1
            plaintext += length - tagLength
            consumed += 2 + length
        }
        guard frames > 0 else { return }
        guard UInt64.max - nonce > UInt64(frames) else { throw P2PError(.limitExceeded, "Noise receive nonce exhausted") }
        var output = allocator.buffer(capacity: plaintext)
        var nonce = self.nonce
        let cipher = self.cipher
        _ = try buffer.withUnsafeReadableBytes { source throws(P2PError) in
            try output.writeWithUnsafeMutableBytes(minimumWritableBytes: plaintext) { destination throws(P2PError) -> Int in
                var offset = 0
                var written = 0
                while offset < consumed {
                    let length = Int(source[offset]) << 8 | Int(source[offset + 1])
                    let body = source.baseAddress! + offset + 2
                    let plain = length - tagLength
                    cipher.begin(counter: nonce)
                    cipher.update(body, destination.baseAddress! + written, count: plain)
                    guard cipher.finishOpen(tag: body + plain) else {
                        throw P2PError(.decryptionFailed, "Noise transport frame \(nonce) does not authenticate")
                    }
                    nonce += 1
                    written += plain
                    offset += 2 + length
                }
                return written
            }
        }
        self.nonce = nonce
        buffer.moveReaderIndex(forwardBy: consumed)
        if output.readableBytes > 0 { try emit(output) }
    }
}

/// The sending half of a Noise transport.
public struct NoiseFrameEncoder {
    private let cipher: ChaChaPolyCipher
    public private(set) var nonce: UInt64 = 0

    /// - Precondition: `key` is 32 bytes.
    public init(key: [UInt8]) { cipher = ChaChaPolyCipher(key: key, encrypts: true) }

    /// Encrypts the readable bytes of `pieces`, in order, as frames of at most
    /// `NoiseTransport.maxPlaintextLength` bytes each, appending them to `output`.
    /// - Precondition: `totalBytes` is the sum of the pieces' readable bytes.
    public mutating func encrypt(_ pieces: some Sequence<ByteBuffer>, totalBytes: Int, into output: inout ByteBuffer) throws(P2PError) {
        guard totalBytes > 0 else { return }
        let maxPlaintext = NoiseTransport.maxPlaintextLength
        let tagLength = NoiseTransport.tagLength
        let frames = UInt64((totalBytes + maxPlaintext - 1) / maxPlaintext)
        guard UInt64.max - nonce > frames else { throw P2PError(.limitExceeded, "Noise send nonce exhausted") }
        let size = NoiseTransport.sealedSize(totalBytes)
        var nonce = self.nonce
        let cipher = self.cipher
        output.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { destination -> Int in
            let out = destination.baseAddress!
            var written = 0
            var remaining = totalBytes
            var leftInFrame = 0
            for piece in pieces {
                piece.withUnsafeReadableBytes { source in
                    var read = 0
                    while read < source.count {
                        if leftInFrame == 0 {
                            leftInFrame = min(maxPlaintext, remaining)
                            let length = leftInFrame + tagLength
                            out.storeBytes(of: UInt8(length >> 8), toByteOffset: written, as: UInt8.self)
                            out.storeBytes(of: UInt8(length & 0xFF), toByteOffset: written + 1, as: UInt8.self)
                            written += 2
                            cipher.begin(counter: nonce)
                        }
                        let count = min(leftInFrame, source.count - read)
                        cipher.update(source.baseAddress! + read, out + written, count: count)
                        read += count
                        written += count
                        leftInFrame -= count
                        remaining -= count
                        if leftInFrame == 0 {
                            cipher.finishSeal(tag: out + written)
                            written += tagLength
                            nonce += 1
                        }
                    }
                }
            }
            precondition(written == size, "Noise encrypt: pieces held \(totalBytes - remaining) bytes, not \(totalBytes)")
            return written
        }
        self.nonce = nonce
    }
}
