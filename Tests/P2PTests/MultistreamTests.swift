import NIOCore
import P2P
import Testing

@Suite("multistream-select")
struct MultistreamTests {
    /// Runs two negotiations against each other, delivering `chunk` bytes at a time.
    static func run(_ initiator: inout MultistreamSelect, _ responder: inout MultistreamSelect, chunk: Int = .max) throws
        -> (MultistreamSelect.Outcome, MultistreamSelect.Outcome)
    {
        var toResponder = ByteBuffer()
        var toInitiator = ByteBuffer()
        initiator.start(into: &toResponder)
        responder.start(into: &toInitiator)
        var a = MultistreamSelect.Outcome.pending
        var b = MultistreamSelect.Outcome.pending
        var inputA = ByteBuffer()
        var inputB = ByteBuffer()
        for _ in 0..<1000 {
            if toResponder.readableBytes == 0 && toInitiator.readableBytes == 0 { break }
            if var piece = toResponder.readSlice(length: min(chunk, toResponder.readableBytes)) {
                inputB.writeBuffer(&piece)
                b = try responder.receive(&inputB, output: &toInitiator)
            }
            if var piece = toInitiator.readSlice(length: min(chunk, toInitiator.readableBytes)) {
                inputA.writeBuffer(&piece)
                a = try initiator.receive(&inputA, output: &toResponder)
            }
        }
        return (a, b)
    }

    @Test func agreesOnFirstSupported() throws {
        for chunk in [1, 2, 7, Int.max] {
            var initiator = MultistreamSelect(proposing: ["/tls/1.0.0", "/noise"])
            var responder = MultistreamSelect(supporting: ["/noise"])
            let (a, b) = try Self.run(&initiator, &responder, chunk: chunk)
            #expect(a == .selected("/noise"))
            #expect(b == .selected("/noise"))
        }
    }

    /// The worked example of formats/libp2p.md: the dialer's first flight.
    @Test func wireBytes() throws {
        var initiator = MultistreamSelect(proposing: ["/noise"])
        var out = ByteBuffer()
        initiator.start(into: &out)
        #expect(hex(out.readableBytesView) == "13" + hex(Array("/multistream/1.0.0\n".utf8)) + "07" + hex(Array("/noise\n".utf8)))
        var responder = MultistreamSelect(supporting: ["/yamux/1.0.0"])
        var reply = ByteBuffer()
        var input = out
        _ = try responder.receive(&input, output: &reply)
        #expect(hex(reply.readableBytesView) == "13" + hex(Array("/multistream/1.0.0\n".utf8)) + "03" + hex(Array("na\n".utf8)))
    }

    @Test func noCommonProtocol() throws {
        var initiator = MultistreamSelect(proposing: ["/a", "/b"])
        var responder = MultistreamSelect(supporting: ["/c"])
        #expect(throws: P2PError.protocolNotSupported) { try Self.run(&initiator, &responder) }
    }

    @Test func leftoverBytesStayInTheBuffer() throws {
        var responder = MultistreamSelect(supporting: ["/echo"])
        var input = ByteBuffer()
        MultistreamLine.write(MultistreamSelect.protocolID, into: &input)
        MultistreamLine.write("/echo", into: &input)
        input.writeString("payload")
        var output = ByteBuffer()
        #expect(try responder.receive(&input, output: &output) == .selected("/echo"))
        #expect(String(buffer: input) == "payload")
    }

    @Test func listsProtocols() throws {
        var responder = MultistreamSelect(supporting: ["/b", "/a"])
        var input = ByteBuffer()
        MultistreamLine.write(MultistreamSelect.protocolID, into: &input)
        MultistreamLine.write("ls", into: &input)
        var output = ByteBuffer()
        #expect(try responder.receive(&input, output: &output) == .pending)
        #expect(try MultistreamLine.read(from: &output, maxLength: 1024) == MultistreamSelect.protocolID)
        var listing = ByteBuffer()
        let text = try MultistreamLine.read(from: &output, maxLength: 1024)
        listing.writeString((text ?? "") + "\n")
        #expect(try MultistreamLine.read(from: &listing, maxLength: 1024) == "/a")
        #expect(try MultistreamLine.read(from: &listing, maxLength: 1024) == "/b")
    }

    @Test func badInput() throws {
        func feed(_ bytes: [UInt8], max: Int = 1024) throws -> MultistreamSelect.Outcome {
            var responder = MultistreamSelect(supporting: ["/x"], maxLineLength: max, maxAttempts: 3)
            var input = ByteBuffer(bytes: bytes)
            var output = ByteBuffer()
            return try responder.receive(&input, output: &output)
        }
        var header = ByteBuffer()
        MultistreamLine.write(MultistreamSelect.protocolID, into: &header)
        let headerBytes = Array(header.readableBytesView)
        // Not multistream at all: fails on the first byte.
        #expect(throws: P2PError.negotiationFailed) { try feed([0x16, 0x03, 0x01]) }
        #expect(throws: P2PError.negotiationFailed) { try feed(Array("GET / HTTP/1.1\r\n".utf8)) }
        // Right length, wrong text.
        #expect(throws: P2PError.negotiationFailed) { try feed([0x13] + Array("/multistream/2.0.0\n".utf8)) }
        // Missing newline, empty line, non-UTF-8, overlong varint, too long.
        #expect(throws: P2PError.malformed) { try feed(headerBytes + [0x02, 0x61, 0x62]) }
        #expect(throws: P2PError.malformed) { try feed(headerBytes + [0x00]) }
        #expect(throws: P2PError.malformed) { try feed(headerBytes + [0x02, 0xff, 0x0a]) }
        #expect(throws: P2PError.malformed) { try feed(headerBytes + [0x82, 0x00]) }
        #expect(throws: P2PError.limitExceeded) { try feed(headerBytes + [0x90, 0x4e], max: 1024) }
        // Too many unsupported proposals.
        var attempts = headerBytes
        for _ in 0..<3 {
            var line = ByteBuffer()
            MultistreamLine.write("/nope", into: &line)
            attempts += Array(line.readableBytesView)
        }
        #expect(throws: P2PError.limitExceeded) { try feed(attempts) }
        // Incomplete input waits.
        #expect(try feed(Array(headerBytes.prefix(5))) == .pending)
        #expect(try feed(headerBytes + [0x85]) == .pending)
    }
}
