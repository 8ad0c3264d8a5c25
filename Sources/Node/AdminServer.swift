import ContentCache
import Foundation
import Gateway
import HTTPServer
import Logging
import NIOCore
import NIOPosix
import P2P
import PubSub
import DHT
import Repo
import Synchronization

/// The admin API on a loopback address, on the HTTP core: `/metrics`
/// (Prometheus text, open), and, with the token, `/api/v0/command` (a CLI
/// command run by the node) and `/api/v0/id`. Format: formats/admin-api.md.
///
/// Connections live on NIO's event loops, so idle ones cost no threads. A
/// forwarded command runs on a thread of its own (a one-thread
/// `ServingExecutor`, since commands do blocking I/O on their pipes); its
/// standard input, output and error are pipes that the event loop pumps to
/// and from the connection, with backpressure both ways.
public final class AdminServer: Sendable {
    public struct Routes: Sendable {
        public var repo: Repo
        public var token: String
        public var metrics: @Sendable () -> [UInt8]
        public var identity: @Sendable () -> [UInt8]
        public var runCommand: CommandRunner
        public var host: P2PHost?
        /// The node's read path (cache → store → peers), for commands that read blocks.
        public var blocks: BlockService?
        /// The node's publish/subscribe service, for `tau pubsub`.
        public var pubsub: PubSub?
        /// The node's DHT, for `tau routing` and `tau services`.
        public var dht: DHT?

        public init(repo: Repo, token: String, metrics: @escaping @Sendable () -> [UInt8],
                    identity: @escaping @Sendable () -> [UInt8], runCommand: @escaping CommandRunner,
                    host: P2PHost? = nil, blocks: BlockService? = nil, pubsub: PubSub? = nil, dht: DHT? = nil) {
            self.repo = repo
            self.token = token
            self.metrics = metrics
            self.identity = identity
            self.runCommand = runCommand
            self.host = host
            self.blocks = blocks
            self.pubsub = pubsub
            self.dht = dht
        }
    }

    /// Connections open at once; more are answered 503 and closed.
    public static let maxConnections = 1024

    /// The HTTP core's limits for the admin API: its defaults, but
    /// `maxConnections`, and a day for `idleTimeout` and `writeTimeout`: a
    /// command's standard input may pause, and its client may be piped
    /// into a pager that reads nothing for long.
    public static let limits = HTTPServer.Limits(idleTimeout: .seconds(86_400), writeTimeout: .seconds(86_400),
                                                 maxConnections: maxConnections)

    private let address: HostPort
    private let server: HTTPServer

    public init(address: HostPort, routes: Routes, logger: Logger) {
        self.address = address
        var router = HTTPRouter()
        let metrics = routes.metrics
        router.add([.get], "/metrics") { _, response in
            response.send(.ok, fields: [("Content-Type", "text/plain; version=0.0.4")], body: ByteBuffer(bytes: metrics()))
        }
        router.add(nil, "/api/*", maxBodyBytes: Int.max, handler: AdminAPIHandler(routes: routes, logger: logger))
        let host = address.host == "localhost" ? "127.0.0.1" : address.host
        server = HTTPServer(configuration: HTTPServer.Configuration(host: host, port: address.port, name: "admin API",
                                                                    limits: Self.limits),
                            router: router, logger: logger, metrics: HTTPServerMetrics(prefix: "tau_admin"))
    }

    /// Binds and starts accepting; returns the bound address (port 0 picks one).
    /// Blocks while binding: call it off event loops (`listen` is the async form).
    public func start() throws -> HostPort {
        do {
            return bound(try server.bind().wait())
        } catch {
            throw Self.listenError(address, error)
        }
    }

    /// `start`, without blocking.
    public func listen() async throws -> HostPort {
        do {
            return bound(try await server.start())
        } catch {
            throw Self.listenError(address, error)
        }
    }

    /// Stops accepting, closes idle connections, and waits up to `timeout`
    /// seconds for commands in progress, then closes their connections.
    /// Blocks: call it off event loops (`stop` is the async form).
    public func shutdown(timeout: Double = 30) {
        try? server.stop(gracePeriod: .milliseconds(Int64(timeout * 1000))).wait()
    }

    /// `shutdown`, without blocking.
    public func stop(timeout: Double = 30) async {
        try? await server.stop(gracePeriod: .milliseconds(Int64(timeout * 1000))).get()
    }

    /// Connections open now.
    public var connectionCount: Int { server.connectionCount }

    private func bound(_ socket: SocketAddress) -> HostPort {
        HostPort(host: address.host, port: socket.port ?? address.port)
    }

    private static func listenError(_ address: HostPort, _ error: any Error) -> NodeError {
        if let error = error as? IOError {
            return NodeError(.setupFailed, "cannot listen on \(address): \(String(cString: strerror(error.errnoCode)).lowercased())")
        }
        return NodeError(.setupFailed, "cannot listen on \(address): \(error)")
    }
}

/// `/api/…`: the token, then the endpoints.
struct AdminAPIHandler: HTTPHandler {
    let routes: AdminServer.Routes
    let logger: Logger

    func handle(_ request: HTTPRequest, _ response: HTTPResponseWriter) {
        let head = request.head
        guard Self.authorized(head.headers.first("authorization"), token: routes.token) else {
            response.sendText(.unauthorized, "missing or wrong admin token (see the repo's admin.token)")
            return
        }
        switch (head.method, head.path) {
        case (.get, "/api/v0/id"):
            response.send(.ok, fields: [("Content-Type", "application/json")], body: ByteBuffer(bytes: routes.identity()))
        case (.post, Substring(CommandProtocol.path)):
            CommandForwarding.start(request, response, routes: routes, logger: logger)
        default:
            response.sendText(.notFound, "no such API endpoint")
        }
    }

    /// `Bearer TOKEN`, compared in constant time.
    static func authorized(_ header: String?, token: String) -> Bool {
        guard let header, header.hasPrefix("Bearer ") else { return false }
        let given = Array(header.utf8.dropFirst(7))
        let expected = Array(token.utf8)
        guard given.count == expected.count else { return false }
        var difference: UInt8 = 0
        for index in given.indices { difference |= given[index] ^ expected[index] }
        return difference == 0
    }
}

/// Runs one forwarded command: the request body feeds its standard input,
/// its output and error stream back as frames (formats/admin-api.md, §3).
enum CommandForwarding {
    static func start(_ request: HTTPRequest, _ response: HTTPResponseWriter, routes: AdminServer.Routes, logger: Logger) {
        let headers = request.head.headers
        let arguments: [String]
        let directory: String
        do {
            arguments = try CommandProtocol.decodeArguments(headers.first(CommandProtocol.argumentsHeader) ?? "")
            directory = try CommandProtocol.decodeText(headers.first(CommandProtocol.directoryHeader) ?? "")
        } catch {
            response.sendText(.badRequest, "\(error)")
            return
        }
        let terminal = headers.first(CommandProtocol.terminalHeader) ?? ""
        guard let input = makePipe() else {
            response.sendText(.internalServerError, "cannot create pipes")
            return
        }
        guard let output = makePipe() else {
            closeAll(input)
            response.sendText(.internalServerError, "cannot create pipes")
            return
        }
        guard let error = makePipe() else {
            closeAll(input + output)
            response.sendText(.internalServerError, "cannot create pipes")
            return
        }
        logger.debug("admin: running command", metadata: ["arguments": "\(arguments)"])
        // Cancelled by the HTTP core when the client's connection closes
        // before the response ends; commands that run until the client
        // leaves (`tau pubsub sub`) wait on `client`.
        let client = ClientPresence()
        let watcher = Task<Void, Never> {
            await withTaskCancellationHandler {
                await client.waitUntilGone()
            } onCancel: {
                client.markGone()
            }
        }
        response.cancelOnClose(watcher)
        let invocation = CommandInvocation(
            repo: routes.repo, host: routes.host, blocks: routes.blocks, pubsub: routes.pubsub, dht: routes.dht, client: client,
            arguments: arguments, workingDirectory: directory,
            input: input[0], output: output[1], error: error[1],
            outputIsTerminal: terminal.contains("out"), errorIsTerminal: terminal.contains("err"))
        let runner = routes.runCommand
        // This task only awaits (pipes and socket are NIO channels); the
        // command's blocking I/O is on its own thread.
        Task {
            await forward(request.body, response, invocation: invocation, runner: runner,
                          ourEnds: (input: input[1], output: output[0], error: error[0]), logger: logger)
            client.markGone()
        }
    }

    private static func forward(_ body: HTTPRequestBody, _ response: HTTPResponseWriter, invocation: CommandInvocation,
                                runner: @escaping CommandRunner, ourEnds: (input: Int32, output: Int32, error: Int32),
                                logger: Logger) async {
        let eventLoop = response.eventLoop
        let stdin: any Channel
        let stdout: NIOAsyncChannel<ByteBuffer, Never>
        let stderr: NIOAsyncChannel<ByteBuffer, Never>
        do {
            (stdin, stdout, stderr) = try await pipeChannels(ourEnds, on: eventLoop)
        } catch {
            logger.warning("admin: cannot pump the command's pipes", metadata: ["error": "\(error)"])
            closeAll([invocation.input, invocation.output, invocation.error])
            response.sendText(.internalServerError, "cannot pump the command's pipes: \(error)")
            return
        }

        let peer = PeerState()
        var head = HTTPHeadWriter(status: .ok)
        head.add("Content-Type", "application/x-tau-frames")
        do {
            try await response.begin(head: head.buffer, status: .ok, framing: .streamed)
        } catch {
            peer.gone.store(true, ordering: .relaxed)
        }

        // The command, on a thread of its own.
        let executor = ServingExecutor(threads: 1, name: "tau-admin-command")
        let command = Task(executorPreference: executor) { () -> Int32 in
            let code = await runner(invocation)
            close(invocation.output)
            close(invocation.error)
            return code
        }
        // Standard input: the body, as it arrives, then the end of file. A
        // command that stops reading makes the writes fail (EPIPE once its
        // end closes): that ends the forwarding, and the rest is discarded.
        let feeder = Task {
            do {
                for try await piece in body { try await stdin.writeAndFlush(piece) }
            } catch {}
            try? await stdin.close()
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await pumpFrames(stdout, .output, response, peer) }
            group.addTask { await pumpFrames(stderr, .error, response, peer) }
        }
        // The pipes closed after the command returned.
        let code = await command.value
        var exit = ByteBuffer(bytes: CommandProtocol.frameHeader(.exitStatus, length: 4))
        exit.writeInteger(code)
        if !peer.gone.load(ordering: .relaxed) { try? await response.write(exit) }
        response.end()
        close(invocation.input)
        feeder.cancel()
        executor.stop()
    }

    /// Our ends of the three pipes as non-blocking NIO channels; the command's ends stay blocking.
    private static func pipeChannels(_ ends: (input: Int32, output: Int32, error: Int32), on eventLoop: any EventLoop)
        async throws -> (any Channel, NIOAsyncChannel<ByteBuffer, Never>, NIOAsyncChannel<ByteBuffer, Never>) {
        // Until NIO owns a descriptor, closing it on failure is ours to do.
        var owned: Set<Int32> = [ends.input, ends.output, ends.error]
        do {
            let stdin = try await NIOPipeBootstrap(group: eventLoop).takingOwnershipOfDescriptor(output: ends.input).get()
            owned.remove(ends.input)
            let reader = { (descriptor: Int32) async throws -> NIOAsyncChannel<ByteBuffer, Never> in
                // Reads of up to a full pipe (1 MiB), not NIO's default 64 KiB:
                // `tau cat` of a large file is one read and one frame per block.
                try await NIOPipeBootstrap(group: eventLoop)
                    .channelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(
                        minimum: 4096, initial: 64 << 10, maximum: CommandProtocol.maxFramePayload))
                    .takingOwnershipOfDescriptor(input: descriptor) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try NIOAsyncChannel<ByteBuffer, Never>(wrappingChannelSynchronously: channel)
                    }
                }
            }
            let stdout = try await reader(ends.output)
            owned.remove(ends.output)
            let stderr = try await reader(ends.error)
            owned.remove(ends.error)
            return (stdin, stdout, stderr)
        } catch {
            closeAll(Array(owned))
            throw error
        }
    }

    /// One of the command's outputs, as frames, in the order read. After
    /// the client left it is still drained, so the command never blocks.
    private static func pumpFrames(_ channel: NIOAsyncChannel<ByteBuffer, Never>, _ kind: CommandProtocol.FrameKind,
                                   _ response: HTTPResponseWriter, _ peer: PeerState) async {
        try? await channel.executeThenClose { inbound, _ in
            for try await piece in inbound {
                guard !peer.gone.load(ordering: .relaxed) else { continue }
                // One write per frame: the output and error pumps run at once,
                // so a header and its payload written apart could interleave.
                var frame = ByteBufferAllocator().buffer(capacity: 5 + piece.readableBytes)
                frame.writeBytes(CommandProtocol.frameHeader(kind, length: piece.readableBytes))
                frame.writeImmutableBuffer(piece)
                do { try await response.write(frame) } catch { peer.gone.store(true, ordering: .relaxed) }
            }
        }
    }

    /// Whether the client is gone (its writes failed).
    private final class PeerState: Sendable {
        let gone = Atomic<Bool>(false)
    }

    /// A pipe whose ends are closed on exec, holding up to 1 MiB where the
    /// system allows (`/proc/sys/fs/pipe-max-size`, 1 MiB by default; the
    /// default 64 KiB would wake both ends four times per 256 KiB block).
    static func makePipe() -> [Int32]? {
        var ends: [Int32] = [0, 0]
        guard pipe(&ends) == 0 else { return nil }
        for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        _ = fcntl(ends[1], setPipeSize, Int32(CommandProtocol.maxFramePayload))
        return ends
    }

    /// Linux's `F_SETPIPE_SZ` (F_LINUX_SPECIFIC_BASE + 7), which Glibc's
    /// module exports only under `_GNU_SOURCE`.
    private static let setPipeSize: Int32 = 1031

    private static func closeAll(_ descriptors: [Int32]) {
        for descriptor in descriptors { close(descriptor) }
    }
}
