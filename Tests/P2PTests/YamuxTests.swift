import NIOCore
import P2P
import Testing

@Suite("Yamux")
struct YamuxTests {
    @Test func headerLayout() throws {
        let header = YamuxHeader(type: .windowUpdate, flags: [.syn], streamID: 1, length: 0)
        // The worked example of formats/libp2p.md.
        #expect(hex(header.encoded) == "000100010000000100000000")
        let data = YamuxHeader(type: .data, flags: [.fin], streamID: 0x0102_0304, length: 5)
        #expect(hex(data.encoded) == "000000040102030400000005")
        var buffer = ByteBuffer(bytes: data.encoded)
        #expect(try YamuxHeader.read(from: &buffer) == data)
        var short = ByteBuffer(bytes: [0, 0, 0])
        #expect(try YamuxHeader.read(from: &short) == nil)
        var badVersion = ByteBuffer(bytes: [1] + Array(data.encoded.dropFirst()))
        #expect(throws: P2PError.protocolViolation) { try YamuxHeader.read(from: &badVersion) }
        var badType = ByteBuffer(bytes: [0, 4] + Array(data.encoded.dropFirst(2)))
        #expect(throws: P2PError.protocolViolation) { try YamuxHeader.read(from: &badType) }
    }

    @Test func decoderCutsAnywhere() throws {
        var stream = ByteBuffer()
        YamuxHeader(type: .data, flags: [.syn], streamID: 1, length: 10).write(into: &stream)
        stream.writeString("0123456789")
        YamuxHeader(type: .ping, flags: [.syn], streamID: 0, length: 7).write(into: &stream)
        YamuxHeader(type: .data, flags: [.fin], streamID: 1, length: 0).write(into: &stream)
        for cut in 1...stream.readableBytes {
            var decoder = YamuxFrameDecoder()
            var input = stream
            var headers: [YamuxHeader] = []
            var payload = ""
            while input.readableBytes > 0 {
                var piece = input.readSlice(length: min(cut, input.readableBytes))!
                while let event = try decoder.next(&piece) {
                    switch event {
                    case .header(let header): headers.append(header)
                    case .payload(let bytes, _): payload += String(buffer: bytes)
                    }
                }
            }
            #expect(headers.map(\.type) == [.data, .ping, .data], "cut \(cut)")
            #expect(payload == "0123456789")
        }
    }

    /// Two sessions wired back to back.
    struct Pair {
        var client = YamuxSession(isClient: true)
        var server = YamuxSession(isClient: false)
        var clientEvents: [YamuxSession.Event] = []
        var serverEvents: [YamuxSession.Event] = []
        var clientDecoder = YamuxFrameDecoder()
        var serverDecoder = YamuxFrameDecoder()

        init(configuration: YamuxConfiguration = YamuxConfiguration()) {
            client = YamuxSession(isClient: true, configuration: configuration)
            server = YamuxSession(isClient: false, configuration: configuration)
        }

        /// Delivers `bytes` (from the client) to the server, and the server's replies back.
        mutating func toServer(_ bytes: ByteBuffer, now: NIODeadline = .now()) throws {
            var input = bytes
            var replies = ByteBuffer()
            while let event = try serverDecoder.next(&input) {
                try server.receive(event, now: now, outbox: &replies) { serverEvents.append($0) }
            }
            if replies.readableBytes > 0 { try toClient(replies, now: now) }
        }

        mutating func toClient(_ bytes: ByteBuffer, now: NIODeadline = .now()) throws {
            var input = bytes
            var replies = ByteBuffer()
            while let event = try clientDecoder.next(&input) {
                try client.receive(event, now: now, outbox: &replies) { clientEvents.append($0) }
            }
            if replies.readableBytes > 0 { try toServer(replies, now: now) }
        }
    }

    static func dataFrame(_ header: YamuxHeader, _ payload: String) -> ByteBuffer {
        var out = ByteBuffer()
        header.write(into: &out)
        out.writeString(payload)
        return out
    }

    @Test func openWriteCloseBothWays() throws {
        var pair = Pair()
        var out = ByteBuffer()
        let id = try pair.client.openStream(now: .now(), outbox: &out)
        #expect(id == 1)
        #expect(pair.client.unacknowledged == 1)
        try pair.toServer(out)
        #expect(pair.serverEvents == [.streamOpened(1)])
        #expect(pair.client.unacknowledged == 0, "the server's ACK came back")
        let frame = pair.client.nextDataFrame(1, wanted: 5)
        let header = try #require(frame)
        try pair.toServer(Self.dataFrame(header, "hello"))
        #expect(pair.serverEvents.last == .data(1, ByteBuffer(string: "hello")))
        out.clear()
        #expect(!pair.client.closeWrite(1, outbox: &out))
        try pair.toServer(out)
        #expect(pair.serverEvents.last == .remoteClosed(1))
        out.clear()
        #expect(pair.server.closeWrite(1, outbox: &out), "both sides closed: the stream is gone")
        try pair.toClient(out)
        #expect(pair.clientEvents.contains(.streamClosed(1)))
        #expect(pair.client.streamCount == 0 && pair.server.streamCount == 0)
    }

    @Test func windowIsEnforcedAndGranted() throws {
        var pair = Pair()
        var out = ByteBuffer()
        let id = try pair.client.openStream(now: .now(), outbox: &out)
        try pair.toServer(out)
        // The whole initial window, in frames of at most maxDataFrameLength.
        var sent = 0
        while let header = pair.client.nextDataFrame(id, wanted: 1 << 30) {
            sent += Int(header.length)
            #expect(Int(header.length) <= YamuxConfiguration().maxDataFrameLength)
            try pair.toServer(Self.dataFrame(header, String(repeating: "x", count: Int(header.length))))
        }
        #expect(sent == YamuxConfiguration.initialWindow)
        #expect(pair.client.sendWindow(id) == 0)
        // Consuming less than half the window grants nothing; half grants it back.
        out.clear()
        pair.server.consumed(id, count: 100_000, now: .now(), outbox: &out)
        #expect(out.readableBytes == 0)
        pair.server.consumed(id, count: 50_000, now: .now(), outbox: &out)
        #expect(out.readableBytes == YamuxHeader.size)
        try pair.toClient(out)
        #expect(pair.clientEvents.contains(.sendWindowAvailable(id)))
        #expect(pair.client.sendWindow(id) >= 150_000)
        // A peer that sends past the window is a protocol violation.
        var server = YamuxSession(isClient: false)
        var replies = ByteBuffer()
        var decoder = YamuxFrameDecoder()
        var input = ByteBuffer()
        YamuxHeader(type: .windowUpdate, flags: [.syn], streamID: 1, length: 0).write(into: &input)
        YamuxHeader(type: .data, streamID: 1, length: UInt32(YamuxConfiguration.initialWindow + 1)).write(into: &input)
        #expect(throws: P2PError.protocolViolation) {
            while let event = try decoder.next(&input) {
                try server.receive(event, now: .now(), outbox: &replies) { _ in }
            }
        }
    }

    /// A reader that keeps up doubles its window on each grant up to the maximum.
    @Test func windowAutoTuning() throws {
        var configuration = YamuxConfiguration()
        configuration.maxWindow = 2 * 1024 * 1024
        var session = YamuxSession(isClient: false, configuration: configuration)
        var outbox = ByteBuffer()
        var input = ByteBuffer()
        YamuxHeader(type: .windowUpdate, flags: [.syn], streamID: 1, length: 0).write(into: &input)
        var decoder = YamuxFrameDecoder()
        let start = NIODeadline.now()
        while let event = try decoder.next(&input) { try session.receive(event, now: start, outbox: &outbox) { _ in } }
        var targets: [Int] = []
        var now = start
        for _ in 0..<6 {
            // The remote fills the current window; we read it all quickly.
            let window = try #require(session.receiveWindow(1))
            var frame = ByteBuffer()
            YamuxHeader(type: .data, streamID: 1, length: UInt32(window)).write(into: &frame)
            frame.writeBytes([UInt8](repeating: 0, count: window))
            while let event = try decoder.next(&frame) { try session.receive(event, now: now, outbox: &outbox) { _ in } }
            now = now + .microseconds(100)
            session.consumed(1, count: window, now: now, outbox: &outbox)
            targets.append(try #require(session.receiveTarget(1)))
        }
        #expect(targets == [512 * 1024, 1024 * 1024, 2048 * 1024, 2048 * 1024, 2048 * 1024, 2048 * 1024])
        // A slow reader (grants far apart) does not grow the window.
        var slow = YamuxSession(isClient: false, configuration: configuration)
        var slowInput = ByteBuffer()
        YamuxHeader(type: .windowUpdate, flags: [.syn], streamID: 1, length: 0).write(into: &slowInput)
        YamuxHeader(type: .data, streamID: 1, length: 200_000).write(into: &slowInput)
        slowInput.writeBytes([UInt8](repeating: 0, count: 200_000))
        var slowDecoder = YamuxFrameDecoder()
        while let event = try slowDecoder.next(&slowInput) { try slow.receive(event, now: start, outbox: &outbox) { _ in } }
        slow.consumed(1, count: 200_000, now: start + .seconds(1), outbox: &outbox)
        #expect(slow.receiveTarget(1) == YamuxConfiguration.initialWindow)
    }

    @Test func limitsAndViolations() throws {
        var configuration = YamuxConfiguration()
        configuration.maxInboundStreams = 2
        configuration.maxAckBacklog = 2
        var pair = Pair(configuration: configuration)
        var out = ByteBuffer()
        // The client may not have more than 2 unacknowledged streams.
        _ = try pair.client.openStream(now: .now(), outbox: &out)
        _ = try pair.client.openStream(now: .now(), outbox: &out)
        #expect(throws: P2PError.limitExceeded) { try pair.client.openStream(now: .now(), outbox: &out) }
        try pair.toServer(out)
        // Acknowledged now; a third stream is over the server's inbound limit and reset.
        out.clear()
        let third = try pair.client.openStream(now: .now(), outbox: &out)
        try pair.toServer(out)
        #expect(pair.clientEvents.contains(.streamReset(third)))
        #expect(pair.server.inboundCount == 2)
        // A SYN with one of our own IDs, or for an open stream, is a violation.
        var session = YamuxSession(isClient: true)
        var decoder = YamuxFrameDecoder()
        var replies = ByteBuffer()
        var input = ByteBuffer()
        YamuxHeader(type: .windowUpdate, flags: [.syn], streamID: 3, length: 0).write(into: &input)
        #expect(throws: P2PError.protocolViolation) {
            while let event = try decoder.next(&input) { try session.receive(event, now: .now(), outbox: &replies) { _ in } }
        }
        var zero = ByteBuffer()
        YamuxHeader(type: .data, streamID: 0, length: 0).write(into: &zero)
        var fresh = YamuxSession(isClient: true)
        var freshDecoder = YamuxFrameDecoder()
        #expect(throws: P2PError.protocolViolation) {
            while let event = try freshDecoder.next(&zero) { try fresh.receive(event, now: .now(), outbox: &replies) { _ in } }
        }
    }

    @Test func pingAndGoAway() throws {
        var pair = Pair()
        var out = ByteBuffer()
        let start = NIODeadline.now()
        pair.client.ping(now: start, outbox: &out)
        try pair.toServer(out, now: start + .milliseconds(3))
        #expect(pair.client.roundTripTime == .milliseconds(3))
        out.clear()
        pair.server.goAway(.normal, outbox: &out)
        #expect(hex(Array(out.readableBytesView)) == "000300000000000000000000")
        try pair.toClient(out)
        #expect(pair.clientEvents.last == .goAway(0))
        out.clear()
        #expect(throws: P2PError.closed) { try pair.client.openStream(now: .now(), outbox: &out) }
        // Frames for streams nobody knows are dropped, payload included.
        var session = YamuxSession(isClient: true)
        var decoder = YamuxFrameDecoder()
        var input = Self.dataFrame(YamuxHeader(type: .data, streamID: 8, length: 3), "abc")
        var events: [YamuxSession.Event] = []
        while let event = try decoder.next(&input) { try session.receive(event, now: .now(), outbox: &out) { events.append($0) } }
        #expect(events.isEmpty)
    }
}
