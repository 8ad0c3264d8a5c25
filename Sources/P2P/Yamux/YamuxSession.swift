// The Yamux session as a pure state machine: stream lifecycle, per-stream
// flow control with receive-window auto-tuning, limits, ping and GoAway. The
// connection handler feeds it decoded frames and local actions; it writes the
// control frames to send into an outbox and reports events. Format:
// formats/libp2p.md, section 7.

import NIOCore

/// Yamux limits and parameters. Every field has a documented default.
public struct YamuxConfiguration: Sendable {
    /// Every stream starts with this receive window each way (the spec's 256 KiB).
    public static let initialWindow = 256 * 1024

    /// The largest a stream's receive window grows to while its reader keeps
    /// up (go-yamux's default, 16 MiB). At most this much unread data is
    /// buffered per stream.
    public var maxWindow: Int = 16 * 1024 * 1024
    /// Open streams the remote may have opened on one connection; more are reset.
    public var maxInboundStreams: Int = 256
    /// Open streams this side may open on one connection.
    public var maxOutboundStreams: Int = 1024
    /// Streams this side may have opened and not yet seen acknowledged (the spec's 256).
    public var maxAckBacklog: Int = 256
    /// The largest data frame payload sent (go-yamux and py-libp2p send 64 KiB frames).
    public var maxDataFrameLength: Int = 64 * 1024
    /// The round-trip time assumed until a ping measured one, and the least
    /// used: a window grows when it was used up in less than 4 round trips.
    public var minimumRTT: TimeAmount = .milliseconds(1)

    public init() {}
}

/// One Yamux session (a connection's streams). See `YamuxConfiguration` for limits.
public struct YamuxSession {
    public enum Event: Equatable, Sendable {
        /// The remote opened a stream and it was accepted (ACK sent).
        case streamOpened(UInt32)
        /// Payload for a stream, in order.
        case data(UInt32, ByteBuffer)
        /// The remote half-closed the stream (FIN): no more data will come.
        case remoteClosed(UInt32)
        /// The remote reset the stream; it is gone.
        case streamReset(UInt32)
        /// Both sides closed the stream; it is gone.
        case streamClosed(UInt32)
        /// The stream's send window went from zero to positive.
        case sendWindowAvailable(UInt32)
        /// A ping answer measured this round-trip time.
        case roundTrip(TimeAmount)
        /// The remote is going away with this code; it accepts no new streams.
        case goAway(UInt32)
    }

    struct StreamState {
        let inbound: Bool
        var acknowledged: Bool
        var sendWindow: Int = YamuxConfiguration.initialWindow
        /// Credit the remote still has.
        var receiveWindow: Int = YamuxConfiguration.initialWindow
        /// The window we aim to keep open (grows up to maxWindow).
        var receiveTarget: Int = YamuxConfiguration.initialWindow
        /// Delivered and not yet consumed.
        var buffered = 0
        var epochStart: NIODeadline
        var localClosed = false
        var remoteClosed = false
    }

    public let isClient: Bool
    public let configuration: YamuxConfiguration
    private(set) var streams: [UInt32: StreamState] = [:]
    private var nextOutboundID: UInt32
    public private(set) var inboundCount = 0
    public private(set) var outboundCount = 0
    public private(set) var unacknowledged = 0
    /// The data frame whose payload is arriving: its stream, flags, and
    /// whether the stream is one we keep (payload for others is dropped).
    private var current: (id: UInt32, flags: YamuxHeader.Flags, known: Bool)?
    public private(set) var roundTripTime: TimeAmount?
    private var outstandingPing: (value: UInt32, sent: NIODeadline)?
    private var nextPingValue: UInt32 = 1
    public private(set) var localGoAway = false
    public private(set) var remoteGoAway = false

    /// - Parameter isClient: the side that dialed (its stream IDs are odd).
    public init(isClient: Bool, configuration: YamuxConfiguration = YamuxConfiguration()) {
        self.isClient = isClient
        self.configuration = configuration
        self.nextOutboundID = isClient ? 1 : 2
    }

    public var streamCount: Int { streams.count }

    public func isOpen(_ id: UInt32) -> Bool { streams[id] != nil }
    public func sendWindow(_ id: UInt32) -> Int { streams[id]?.sendWindow ?? 0 }
    /// The receive window the stream aims to keep open (grows with auto-tuning).
    public func receiveTarget(_ id: UInt32) -> Int? { streams[id]?.receiveTarget }
    /// Credit the remote has left on the stream.
    public func receiveWindow(_ id: UInt32) -> Int? { streams[id]?.receiveWindow }

    private static func frame(_ type: YamuxHeader.FrameType, _ flags: YamuxHeader.Flags, _ id: UInt32, _ length: UInt32,
                              into outbox: inout ByteBuffer) {
        YamuxHeader(type: type, flags: flags, streamID: id, length: length).write(into: &outbox)
    }

    /// Sends a ping to measure the round-trip time.
    public mutating func ping(now: NIODeadline, outbox: inout ByteBuffer) {
        guard outstandingPing == nil else { return }
        let value = nextPingValue
        nextPingValue &+= 1
        outstandingPing = (value, now)
        Self.frame(.ping, .syn, 0, value, into: &outbox)
    }

    // MARK: Inbound frames

    /// Applies one decoded frame piece. Control frames to send go to `outbox`.
    /// - Throws: `.protocolViolation` (the caller sends GoAway and closes).
    public mutating func receive(_ event: YamuxFrameDecoder.Event, now: NIODeadline, outbox: inout ByteBuffer,
                                 emit: (Event) -> Void) throws(P2PError) {
        switch event {
        case .header(let header):
            try receive(header, now: now, outbox: &outbox, emit: emit)
        case .payload(let bytes, let last):
            guard let frame = current else { return }
            if frame.known, streams[frame.id] != nil, !streams[frame.id]!.remoteClosed {
                emit(.data(frame.id, bytes))
            }
            if last {
                current = nil
                if frame.known { applyCloseFlags(frame.flags, frame.id, emit: emit) }
            }
        }
    }

    private mutating func receive(_ header: YamuxHeader, now: NIODeadline, outbox: inout ByteBuffer,
                                  emit: (Event) -> Void) throws(P2PError) {
        let id = header.streamID
        switch header.type {
        case .ping:
            if header.flags.contains(.syn) {
                Self.frame(.ping, .ack, 0, header.length, into: &outbox)
            } else if header.flags.contains(.ack), let ping = outstandingPing, ping.value == header.length {
                outstandingPing = nil
                let rtt = now - ping.sent
                roundTripTime = rtt
                emit(.roundTrip(rtt))
            }
            return
        case .goAway:
            remoteGoAway = true
            emit(.goAway(header.length))
            return
        case .data, .windowUpdate:
            break
        }
        guard id != 0 else { throw P2PError(.protocolViolation, "\(header.type) frame on stream 0") }
        var known = streams[id] != nil
        if header.flags.contains(.syn) {
            guard !known else { throw P2PError(.protocolViolation, "SYN for open stream \(id)") }
            guard (id % 2 == 1) != isClient else {
                throw P2PError(.protocolViolation, "the remote opened stream \(id), an ID of ours")
            }
            if localGoAway || inboundCount >= configuration.maxInboundStreams {
                Self.frame(.windowUpdate, .rst, id, 0, into: &outbox)
            } else {
                streams[id] = StreamState(inbound: true, acknowledged: true, epochStart: now)
                inboundCount += 1
                known = true
                Self.frame(.windowUpdate, .ack, id, 0, into: &outbox)
                emit(.streamOpened(id))
            }
        }
        if known, header.flags.contains(.ack), !streams[id]!.inbound, !streams[id]!.acknowledged {
            streams[id]!.acknowledged = true
            unacknowledged -= 1
        }
        switch header.type {
        case .windowUpdate:
            if known {
                let before = streams[id]!.sendWindow
                let after = before + Int(header.length)
                guard after <= Int(UInt32.max) else {
                    throw P2PError(.protocolViolation, "send window of stream \(id) above 2^32")
                }
                streams[id]!.sendWindow = after
                if before <= 0 && after > 0 { emit(.sendWindowAvailable(id)) }
            }
            if known { applyCloseFlags(header.flags, id, emit: emit) }
        case .data:
            if known {
                guard Int(header.length) <= streams[id]!.receiveWindow else {
                    throw P2PError(.protocolViolation,
                                   "data frame of \(header.length) bytes on stream \(id) exceeds its window of \(streams[id]!.receiveWindow)")
                }
                if !streams[id]!.remoteClosed {
                    streams[id]!.receiveWindow -= Int(header.length)
                    streams[id]!.buffered += Int(header.length)
                }
            }
            if header.length == 0 {
                if known { applyCloseFlags(header.flags, id, emit: emit) }
            } else {
                current = (id, header.flags, known)
            }
        default:
            break
        }
    }

    private mutating func applyCloseFlags(_ flags: YamuxHeader.Flags, _ id: UInt32, emit: (Event) -> Void) {
        guard streams[id] != nil else { return }
        if flags.contains(.rst) {
            remove(id)
            emit(.streamReset(id))
        } else if flags.contains(.fin), !streams[id]!.remoteClosed {
            streams[id]!.remoteClosed = true
            emit(.remoteClosed(id))
            if streams[id]!.localClosed {
                remove(id)
                emit(.streamClosed(id))
            }
        }
    }

    private mutating func remove(_ id: UInt32) {
        guard let state = streams.removeValue(forKey: id) else { return }
        if state.inbound {
            inboundCount -= 1
        } else {
            outboundCount -= 1
            if !state.acknowledged { unacknowledged -= 1 }
        }
    }

    // MARK: Local actions

    /// Opens a stream (SYN in a window update) and returns its ID.
    public mutating func openStream(now: NIODeadline, outbox: inout ByteBuffer) throws(P2PError) -> UInt32 {
        guard !localGoAway, !remoteGoAway else { throw P2PError(.closed, "the connection is going away") }
        guard unacknowledged < configuration.maxAckBacklog else {
            throw P2PError(.limitExceeded, "\(unacknowledged) streams opened and not yet acknowledged")
        }
        guard outboundCount < configuration.maxOutboundStreams else {
            throw P2PError(.limitExceeded, "\(outboundCount) streams open on this connection")
        }
        guard nextOutboundID <= UInt32.max - 2 else { throw P2PError(.limitExceeded, "Yamux stream IDs exhausted") }
        let id = nextOutboundID
        nextOutboundID += 2
        streams[id] = StreamState(inbound: false, acknowledged: false, epochStart: now)
        outboundCount += 1
        unacknowledged += 1
        Self.frame(.windowUpdate, .syn, id, 0, into: &outbox)
        return id
    }

    /// The header of the next data frame for up to `wanted` bytes, taking
    /// the bytes from the send window; nil when the window is empty or the
    /// stream cannot send.
    public mutating func nextDataFrame(_ id: UInt32, wanted: Int) -> YamuxHeader? {
        guard wanted > 0, let state = streams[id], !state.localClosed, state.sendWindow > 0 else { return nil }
        let count = min(wanted, state.sendWindow, configuration.maxDataFrameLength)
        streams[id]!.sendWindow -= count
        return YamuxHeader(type: .data, streamID: id, length: UInt32(count))
    }

    /// Half-closes the stream (FIN). Returns true when that closed it fully
    /// (the remote had closed already), so it is gone.
    @discardableResult
    public mutating func closeWrite(_ id: UInt32, outbox: inout ByteBuffer) -> Bool {
        guard let state = streams[id], !state.localClosed else { return false }
        streams[id]!.localClosed = true
        Self.frame(.windowUpdate, .fin, id, 0, into: &outbox)
        if state.remoteClosed {
            remove(id)
            return true
        }
        return false
    }

    /// Resets the stream (RST); it is gone.
    public mutating func reset(_ id: UInt32, outbox: inout ByteBuffer) {
        guard streams[id] != nil else { return }
        Self.frame(.windowUpdate, .rst, id, 0, into: &outbox)
        remove(id)
    }

    /// The application consumed `count` delivered bytes: when at least half
    /// the target window is free again, grant it back (a window update),
    /// doubling the target first if the last grant was used within four
    /// round trips.
    public mutating func consumed(_ id: UInt32, count: Int, now: NIODeadline, outbox: inout ByteBuffer) {
        guard var state = streams[id] else { return }
        state.buffered = max(0, state.buffered - count)
        defer { streams[id] = state }
        guard !state.remoteClosed else { return }
        var delta = state.receiveTarget - state.buffered - state.receiveWindow
        guard delta >= state.receiveTarget / 2 else { return }
        let rtt = max(roundTripTime ?? configuration.minimumRTT, configuration.minimumRTT)
        if state.receiveTarget < configuration.maxWindow, now - state.epochStart < rtt * 4 {
            state.receiveTarget = min(state.receiveTarget * 2, configuration.maxWindow)
            delta = state.receiveTarget - state.buffered - state.receiveWindow
        }
        state.epochStart = now
        state.receiveWindow += delta
        Self.frame(.windowUpdate, [], id, UInt32(delta), into: &outbox)
    }

    /// Tells the remote this side opens and accepts no more streams.
    public mutating func goAway(_ code: YamuxHeader.GoAwayCode, outbox: inout ByteBuffer) {
        guard !localGoAway else { return }
        localGoAway = true
        Self.frame(.goAway, [], 0, code.rawValue, into: &outbox)
    }
}
