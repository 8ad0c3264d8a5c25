import FuzzSupport
import NIOCore
import P2P

/// The Yamux frame decoder and session (as the listening side) on arbitrary
/// peer bytes, with small limits:
/// - it never traps; the events (data joined per stream), the control frames
///   it answers with and the outcome do not depend on how the input is cut;
/// - headers re-encode to their 12 bytes; data arrives only for open streams
///   and never past a stream's window; stream counts stay within the limits;
/// - consuming the data, closing and resetting what is open keeps the
///   session consistent.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzYamux(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = fuzzInput(data, size)
    let pieceSize = input.isEmpty ? 1 : Int(input[input.count / 2] % 16) + 1
    let whole = feed(input, pieceSize: input.count)
    let pieces = feed(input, pieceSize: pieceSize)
    check(whole.summary == pieces.summary, "whole vs \(pieceSize)-byte pieces differ: \(hex(input))")

    var session = whole.session
    var outbox = ByteBuffer()
    let now = NIODeadline.uptimeNanoseconds(1_000_000_000)
    for (id, bytes) in whole.summary.data where session.isOpen(id) {
        session.consumed(id, count: bytes.count, now: now, outbox: &outbox)
        check(session.receiveWindow(id).map { $0 >= 0 && $0 <= configuration.maxWindow } ?? true, "window out of range: \(hex(input))")
    }
    for id in whole.summary.opened where session.isOpen(id) {
        if id % 4 == 0 { session.reset(id, outbox: &outbox) } else { _ = session.closeWrite(id, outbox: &outbox) }
    }
    check(session.streamCount == session.inboundCount + session.outboundCount, "stream counts: \(hex(input))")
    check(session.inboundCount <= configuration.maxInboundStreams, "inbound limit: \(hex(input))")
    return 0
}

let configuration: YamuxConfiguration = {
    var configuration = YamuxConfiguration()
    configuration.maxInboundStreams = 4
    configuration.maxWindow = 1 << 20
    return configuration
}()

struct Summary: Equatable {
    /// Events other than data, in order (compared as values: describing
    /// each as text cost most of an input's time).
    var events: [YamuxSession.Event] = []
    var data: [UInt32: [UInt8]] = [:]
    var opened: [UInt32] = []
    var outbox: [UInt8] = []
    var error: P2PError.Code?
}

func feed(_ input: [UInt8], pieceSize: Int) -> (summary: Summary, session: YamuxSession) {
    var session = YamuxSession(isClient: true, configuration: configuration)
    var decoder = YamuxFrameDecoder()
    var summary = Summary()
    var outbox = ByteBuffer()
    var open: Set<UInt32> = []
    let now = NIODeadline.uptimeNanoseconds(1_000_000_000)
    // Pieces are slices of one buffer: a fresh buffer per piece cost most of
    // an input's time (an allocation under AddressSanitizer for each of up
    // to 4,096 pieces).
    let whole = ByteBuffer(bytes: input)
    var offset = 0
    outer: while offset < input.count {
        let end = min(offset + max(pieceSize, 1), input.count)
        var piece = whole.getSlice(at: offset, length: end - offset)!
        offset = end
        do {
            while let event = try decoder.next(&piece) {
                if case .header(let header) = event {
                    var encoded = ByteBuffer()
                    header.write(into: &encoded)
                    var copy = encoded
                    check((try? YamuxHeader.read(from: &copy)) == header, "header \(header) does not round-trip")
                }
                try session.receive(event, now: now, outbox: &outbox) { event in
                    switch event {
                    case .data(let id, let bytes):
                        check(open.contains(id), "data for stream \(id), which is not open")
                        summary.data[id, default: []] += Array(bytes.readableBytesView)
                    case .streamOpened(let id):
                        open.insert(id)
                        summary.opened.append(id)
                        summary.events.append(event)
                    case .streamReset(let id), .streamClosed(let id):
                        open.remove(id)
                        summary.events.append(event)
                    default:
                        summary.events.append(event)
                    }
                }
            }
        } catch {
            summary.error = error.code
            break outer
        }
    }
    summary.outbox = Array(outbox.readableBytesView)
    return (summary, session)
}
