import ContentCache
import Foundation
import Gateway
import P2P
import Repo
import Logging
import Synchronization

/// The admin API on a loopback address: `/metrics` (Prometheus text, open),
/// and, with the token, `/api/v0/command` (a CLI command run by the node) and
/// `/api/v0/id`. Format: formats/admin-api.md.
///
/// A thread accepts; each connection gets a thread (the API serves a few local
/// clients, whose commands stream large inputs and outputs with blocking I/O).
public final class AdminServer: @unchecked Sendable {
    public struct Routes: Sendable {
        public var repo: Repo
        public var token: String
        public var metrics: @Sendable () -> [UInt8]
        public var identity: @Sendable () -> [UInt8]
        public var runCommand: CommandRunner
        public var host: P2PHost?
        /// The node's read path (cache → store → peers), for commands that read blocks.
        public var blocks: BlockService?

        public init(repo: Repo, token: String, metrics: @escaping @Sendable () -> [UInt8],
                    identity: @escaping @Sendable () -> [UInt8], runCommand: @escaping CommandRunner,
                    host: P2PHost? = nil, blocks: BlockService? = nil) {
            self.repo = repo
            self.token = token
            self.metrics = metrics
            self.identity = identity
            self.runCommand = runCommand
            self.host = host
            self.blocks = blocks
        }
    }

    /// Connections served at once; more are answered 503 and closed.
    public static let maxConnections = 32

    private let address: HostPort
    private let routes: Routes
    private let logger: Logger
    private let state = Mutex<(listener: Int32, connections: Int, stopped: Bool)>((-1, 0, false))
    private let idle = NSCondition()

    public init(address: HostPort, routes: Routes, logger: Logger) {
        self.address = address
        self.routes = routes
        self.logger = logger
    }

    /// Binds and starts accepting; returns the bound address (port 0 picks one).
    public func start() throws -> HostPort {
        let (listener, port) = try Sockets.listen(address)
        state.withLock { $0.listener = listener }
        let thread = Thread { self.acceptLoop(listener) }
        thread.name = "tau-admin-accept"
        thread.start()
        return HostPort(host: address.host, port: port)
    }

    /// Stops accepting and waits up to `timeout` seconds for connections in progress.
    public func shutdown(timeout: Double = 30) {
        let listener = state.withLock { state -> Int32 in
            state.stopped = true
            defer { state.listener = -1 }
            return state.listener
        }
        if listener >= 0 {
            Glibc.shutdown(listener, Int32(SHUT_RDWR))
            close(listener)
        }
        let deadline = Date().addingTimeInterval(timeout)
        idle.lock()
        while state.withLock({ $0.connections }) > 0 && Date() < deadline {
            _ = idle.wait(until: min(deadline, Date().addingTimeInterval(0.1)))
        }
        idle.unlock()
    }

    private func acceptLoop(_ listener: Int32) {
        while true {
            let connection = accept(listener, nil, nil)
            if connection < 0 {
                if errno == EINTR { continue }
                return  // closed by shutdown
            }
            _ = fcntl(connection, F_SETFD, FD_CLOEXEC)
            let admitted = state.withLock { state -> Bool in
                guard !state.stopped, state.connections < Self.maxConnections else { return false }
                state.connections += 1
                return true
            }
            guard admitted else {
                try? Sockets.writeAll(connection, Array("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".utf8))
                close(connection)
                continue
            }
            let thread = Thread {
                self.serve(connection)
                close(connection)
                self.state.withLock { $0.connections -= 1 }
                self.idle.lock()
                self.idle.broadcast()
                self.idle.unlock()
            }
            thread.name = "tau-admin-connection"
            thread.start()
        }
    }

    // MARK: One connection

    private func serve(_ connection: Int32) {
        var parser = HTTPRequestHeadParser()
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        let parsed: (head: HTTPRequestHead, rest: [UInt8])
        do {
            while true {
                let count = try buffer.withUnsafeMutableBytes { try Sockets.readSome(connection, into: $0) }
                guard count > 0 else { return }
                if let result = try parser.parse(buffer[..<count]) {
                    parsed = result
                    break
                }
            }
        } catch HTTPRequestHeadParser.ParseError.tooLarge {
            respond(connection, status: "431 Request Header Fields Too Large", body: "request head too large\n")
            return
        } catch {
            respond(connection, status: "400 Bad Request", body: "malformed request\n")
            return
        }
        let head = parsed.head
        switch (head.method, head.path) {
        case ("GET", "/metrics"):
            respond(connection, status: "200 OK", contentType: "text/plain; version=0.0.4", body: routes.metrics())
        case (_, "/metrics"):
            respond(connection, status: "405 Method Not Allowed", body: "use GET\n")
        case (let method, let path) where path.hasPrefix("/api/"):
            guard head.headers["authorization"] == "Bearer " + routes.token else {
                respond(connection, status: "401 Unauthorized", body: "missing or wrong admin token (see the repo's admin.token)\n")
                return
            }
            switch (method, path) {
            case ("GET", "/api/v0/id"):
                respond(connection, status: "200 OK", contentType: "application/json", body: routes.identity())
            case ("POST", Substring(CommandProtocol.path)):
                runCommand(connection, head: head, bodyStart: parsed.rest)
            default:
                respond(connection, status: "404 Not Found", body: "no such API endpoint\n")
            }
        default:
            respond(connection, status: "404 Not Found", body: "not found\n")
        }
    }

    private func respond(_ connection: Int32, status: String, contentType: String = "text/plain; charset=utf-8", body: String) {
        respond(connection, status: status, contentType: contentType, body: Array(body.utf8))
    }

    private func respond(_ connection: Int32, status: String, contentType: String = "text/plain; charset=utf-8", body: [UInt8]) {
        let head = "HTTP/1.1 \(status)\r\nContent-Type: \(contentType)\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n"
        try? Sockets.writeAll(connection, Array(head.utf8) + body)
    }

    /// Runs a forwarded command: the request body feeds its standard input,
    /// its output and error stream back as frames.
    private func runCommand(_ connection: Int32, head: HTTPRequestHead, bodyStart: [UInt8]) {
        let arguments: [String]
        let directory: String
        do {
            arguments = try CommandProtocol.decodeArguments(head.headers[CommandProtocol.argumentsHeader] ?? "")
            directory = try CommandProtocol.decodeText(head.headers[CommandProtocol.directoryHeader] ?? "")
        } catch {
            respond(connection, status: "400 Bad Request", body: "\(error)\n")
            return
        }
        let terminal = head.headers[CommandProtocol.terminalHeader] ?? ""
        guard let inputPipe = Self.makePipe(), let outputPipe = Self.makePipe(), let errorPipe = Self.makePipe() else {
            respond(connection, status: "500 Internal Server Error", body: "cannot create pipes\n")
            return
        }
        let head200 = "HTTP/1.1 200 OK\r\nContent-Type: application/x-tau-frames\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        try? Sockets.writeAll(connection, Array(head200.utf8))
        logger.debug("admin: running command", metadata: ["arguments": "\(arguments)"])

        // Standard input: the request body, de-chunked, into the input pipe.
        let chunked = head.headers["transfer-encoding"]?.lowercased() == "chunked"
        let inputThread = Thread {
            Self.pumpBody(from: connection, start: bodyStart, chunked: chunked, into: inputPipe[1])
            close(inputPipe[1])
        }
        inputThread.start()

        // The command, on a thread of its own.
        let executor = ServingExecutor(threads: 1, name: "tau-admin-command")
        let status = Mutex<Int32?>(nil)
        let invocation = CommandInvocation(
            repo: routes.repo, host: routes.host, blocks: routes.blocks, arguments: arguments, workingDirectory: directory, input: inputPipe[0], output: outputPipe[1],
            error: errorPipe[1], outputIsTerminal: terminal.contains("out"), errorIsTerminal: terminal.contains("err"))
        let runner = routes.runCommand
        Task(executorPreference: executor) {
            let code = await runner(invocation)
            status.withLock { $0 = code }
            close(outputPipe[1])
            close(errorPipe[1])
        }

        // Output and error, as frames, until both pipes close.
        Self.pumpFrames(output: outputPipe[0], error: errorPipe[0], to: connection)
        close(outputPipe[0])
        close(errorPipe[0])
        // The pipes closed after the status was set.
        let code = status.withLock { $0 } ?? 1
        var exit = CommandProtocol.frameHeader(.exitStatus, length: 4)
        exit += [UInt8(truncatingIfNeeded: code >> 24), UInt8(truncatingIfNeeded: code >> 16),
                 UInt8(truncatingIfNeeded: code >> 8), UInt8(truncatingIfNeeded: code)]
        try? Self.writeChunk(connection, exit)
        try? Sockets.writeAll(connection, Array("0\r\n\r\n".utf8))
        close(inputPipe[0])
        executor.stop()
    }

    /// A pipe whose ends are closed on exec.
    static func makePipe() -> [Int32]? {
        var ends: [Int32] = [0, 0]
        guard pipe(&ends) == 0 else { return nil }
        for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        return ends
    }

    static func pumpBody(from connection: Int32, start: [UInt8], chunked: Bool, into pipe: Int32) {
        guard chunked else { return }
        var decoder = ChunkedBodyDecoder()
        var pipeOpen = true
        let deliver: (UnsafeRawBufferPointer) throws -> Void = { piece in
            // A command that stops reading early closes nothing; writes that
            // fail (EPIPE) just end the forwarding.
            guard pipeOpen else { return }
            do { try Sockets.writeAllToFile(pipe, piece) } catch { pipeOpen = false }
        }
        do {
            try start.withUnsafeBytes { try decoder.parse($0, deliver) }
            var buffer = [UInt8](repeating: 0, count: 64 << 10)
            while !decoder.isDone {
                let count = try buffer.withUnsafeMutableBytes { try Sockets.readSome(connection, into: $0) }
                if count == 0 { return }
                try buffer.withUnsafeBytes { try decoder.parse(UnsafeRawBufferPointer(rebasing: $0[..<count]), deliver) }
            }
        } catch {
            return
        }
    }

    static func pumpFrames(output: Int32, error: Int32, to connection: Int32) {
        var open: [(descriptor: Int32, kind: CommandProtocol.FrameKind)] = [(output, .output), (error, .error)]
        var buffer = [UInt8](repeating: 0, count: 256 << 10)
        var peerGone = false
        while !open.isEmpty {
            var polls = open.map { pollfd(fd: $0.descriptor, events: Int16(POLLIN), revents: 0) }
            let ready = poll(&polls, nfds_t(polls.count), -1)
            if ready < 0 {
                if errno == EINTR { continue }
                return
            }
            var closed: [Int32] = []
            for (index, entry) in polls.enumerated() where entry.revents != 0 {
                let count = buffer.withUnsafeMutableBytes { read(entry.fd, $0.baseAddress, $0.count) }
                if count <= 0 {
                    closed.append(entry.fd)
                    continue
                }
                // After the client left, keep draining so the command never blocks.
                guard !peerGone else { continue }
                var frame = CommandProtocol.frameHeader(open[index].kind, length: count)
                frame += buffer[..<count]
                do { try writeChunk(connection, frame) } catch { peerGone = true }
            }
            open.removeAll { closed.contains($0.descriptor) }
        }
    }

    static func writeChunk(_ connection: Int32, _ payload: [UInt8]) throws {
        try Sockets.writeAll(connection, Array((String(payload.count, radix: 16) + "\r\n").utf8) + payload + [13, 10])
    }
}
