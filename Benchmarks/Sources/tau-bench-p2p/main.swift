// libp2p throughput: one stream through TCP + Noise + Yamux, against plain
// TCP through the same SwiftNIO harness, and against py-libp2p. Driven by
// Benchmarks/scripts/p2p-throughput.sh; see Benchmarks/README.md.
//
//   tau-bench-p2p loopback [MIB] [RUNS]   Swift→Swift on 127.0.0.1: libp2p stream and plain TCP
//   tau-bench-p2p sink                    listen; print "ready <multiaddr>"; count what
//                                         /bench/sink/1.0.0 streams carry; exit on stdin EOF
//   tau-bench-p2p send <multiaddr> [MIB]  send MIB to the peer's /bench/sink/1.0.0; print MB/s
//
// The sink protocol (also in Tests/P2PTests/Peers/peer.py): the sender writes
// its bytes and closes its side; the sink reads to the end and answers with
// the count as 8 bytes big-endian. The time runs from the first write to the
// answer, so it covers delivery, not just buffering.

import Foundation
import NIOCore
import NIOPosix
import P2P

let sinkProtocol = "/bench/sink/1.0.0"
let chunkSize = 1 << 20

func sinkHandler(_ stream: P2PStream) async throws {
    var count: UInt64 = 0
    while let chunk = try await stream.read() { count += UInt64(chunk.readableBytes) }
    var answer = ByteBuffer()
    answer.writeInteger(count)
    try await stream.write(answer)
    try await stream.closeWrite()
}

/// Sends `total` bytes to the sink at `address` over `host`; returns seconds.
func send(_ host: P2PHost, to address: Multiaddr, total: Int) async throws -> Double {
    let stream = try await host.newStream(to: address, protocol: sinkProtocol)
    let chunk = ByteBuffer(bytes: (0..<chunkSize).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 13) })
    let clock = ContinuousClock()
    let start = clock.now
    var sent = 0
    while sent < total {
        let piece = min(chunkSize, total - sent)
        try await stream.write(piece == chunkSize ? chunk : chunk.getSlice(at: 0, length: piece)!)
        sent += piece
    }
    try await stream.closeWrite()
    let answer = try await stream.read(exactly: 8)
    let elapsed = clock.now - start
    guard answer.getInteger(at: answer.readerIndex, as: UInt64.self) == UInt64(total) else {
        throw BenchError("the sink counted \(answer.getInteger(at: answer.readerIndex, as: UInt64.self) ?? 0), not \(total)")
    }
    await stream.close()
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

// MARK: Plain TCP through the same harness

/// Counts bytes and, after `expected`, answers with the count.
final class CountingHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let expected: Int
    var count = 0
    init(expected: Int) { self.expected = expected }
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        count += unwrapInboundIn(data).readableBytes
        if count == expected {
            var answer = context.channel.allocator.buffer(capacity: 8)
            answer.writeInteger(UInt64(count))
            context.writeAndFlush(wrapOutboundOut(answer), promise: nil)
        }
    }
}

final class AnswerHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let done: EventLoopPromise<Void>
    init(done: EventLoopPromise<Void>) { self.done = done }
    func channelRead(context: ChannelHandlerContext, data: NIOAny) { done.succeed() }
}

/// Writes `total` bytes over a plain NIO TCP connection with the host's socket
/// settings (1 MiB write water mark, reads up to 1 MiB), waiting for the
/// receiver's count like the libp2p sink; returns seconds.
func plainTCP(total: Int) async throws -> Double {
    let group = MultiThreadedEventLoopGroup.singleton
    let server = try await ServerBootstrap(group: group)
        .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
        .childChannelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 1024, initial: 64 * 1024, maximum: 1 << 20))
        .childChannelInitializer { channel in
            channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(CountingHandler(expected: total)) }
        }
        .bind(host: "127.0.0.1", port: 0).get()
    let loop = group.next()
    let done = loop.makePromise(of: Void.self)
    let client = try await ClientBootstrap(group: loop)
        .channelOption(.socketOption(.tcp_nodelay), value: 1)
        .channelOption(.writeBufferWaterMark, value: .init(low: 256 * 1024, high: 1 << 20))
        .channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(AnswerHandler(done: done)) }
        }
        .connect(to: server.localAddress!).get()
    let chunk = ByteBuffer(bytes: (0..<chunkSize).map { UInt8(truncatingIfNeeded: $0) })
    let clock = ContinuousClock()
    let start = clock.now
    var sent = 0
    while sent < total {
        // Writability is the backpressure: wait while the socket buffer is above the water mark.
        if !client.isWritable {
            try await Task.sleep(for: .microseconds(50))
            continue
        }
        let piece = min(chunkSize, total - sent)
        try await client.writeAndFlush(chunk.getSlice(at: 0, length: piece)!)
        sent += piece
    }
    try await done.futureResult.get()
    let elapsed = clock.now - start
    try await client.close()
    try await server.close()
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
}

// MARK: Commands

func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

func loopback(mib: Int, runs: Int) async throws {
    let total = mib << 20
    let receiver = P2PHost(identity: .generate(), listenAddresses: [try Multiaddr("/ip4/127.0.0.1/tcp/0")])
    receiver.handle(sinkProtocol, sinkHandler)
    try await receiver.start()
    let sender = P2PHost(identity: .generate())
    try await sender.start()
    let address = receiver.listenAddresses[0].withPeerID(receiver.peerID)
    _ = try await send(sender, to: address, total: 64 << 20)  // warm-up: windows grow, buffers allocated
    var libp2p: [Double] = []
    var tcp: [Double] = []
    for _ in 0..<runs {
        libp2p.append(try await send(sender, to: address, total: total))
        tcp.append(try await plainTCP(total: total))
    }
    let a = Double(total) / median(libp2p) / 1e9
    let b = Double(total) / median(tcp) / 1e9
    print(String(format: "noise+yamux %.2f GB/s  tcp %.2f GB/s  ratio %.2f  (%d MiB, median of %d)", a, b, a / b, mib, runs))
    await sender.shutdown()
    await receiver.shutdown()
}

func sink() async throws {
    let host = P2PHost(identity: .generate(), listenAddresses: [try Multiaddr("/ip4/127.0.0.1/tcp/0")])
    host.handle(sinkProtocol, sinkHandler)
    try await host.start()
    FileHandle.standardOutput.write(Data("ready \(host.listenAddresses[0].withPeerID(host.peerID))\n".utf8))
    // Until stdin closes.
    _ = await Task.detached { FileHandle.standardInput.readDataToEndOfFile() }.value
    await host.shutdown()
}

func sendTo(_ text: String, mib: Int) async throws {
    let host = P2PHost(identity: .generate())
    try await host.start()
    let seconds = try await send(host, to: try Multiaddr(text), total: mib << 20)
    print(String(format: "ok send %.3f %.1f MB/s", seconds, Double(mib << 20) / seconds / 1e6))
    await host.shutdown()
}

let arguments = CommandLine.arguments.dropFirst()
do {
    switch arguments.first {
    case "loopback":
        try await loopback(mib: arguments.dropFirst().first.flatMap { Int($0) } ?? 1024,
                           runs: arguments.dropFirst(2).first.flatMap { Int($0) } ?? 3)
    case "sink":
        try await sink()
    case "send":
        guard let address = arguments.dropFirst().first else { throw BenchError("send needs a multiaddr") }
        try await sendTo(address, mib: arguments.dropFirst(2).first.flatMap { Int($0) } ?? 256)
    default:
        throw BenchError("usage: tau-bench-p2p loopback [MIB] [RUNS] | sink | send <multiaddr> [MIB]")
    }
} catch {
    FileHandle.standardError.write(Data("tau-bench-p2p: \(error)\n".utf8))
    exit(1)
}
