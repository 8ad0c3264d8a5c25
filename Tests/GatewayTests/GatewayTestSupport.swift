import Blocks
import CAR
import ContentCache
import Foundation
import Gateway
import Logging
import Multiformats
import NIOCore
import NIOPosix
import Synchronization
import TestSupport
import UnixFS

/// The gateway-conformance CARs under ../shared/vectors, loaded with `CARReader`.
enum Fixtures {
    static var directory: URL { TestEnvironment.vectors.appendingPathComponent("gateway-conformance") }

    /// The roots and blocks of a fixture, every block verified against its CID.
    static func load(_ name: String) throws -> (roots: [CID], blocks: [Block]) {
        let bytes = Array(try Data(contentsOf: directory.appendingPathComponent(name)))
        var reader = CARReader()
        var roots: [CID] = []
        var blocks: [Block] = []
        for event in try reader.parse(bytes) + reader.finish() {
            switch event {
            case .header(let header): roots = header.roots
            case .block(let block): blocks.append(block)
            case .index: break
            }
        }
        return (roots, blocks)
    }

    /// A store holding the blocks of `names`, and the first root of each.
    static func store(_ names: [String]) async throws -> (store: MemoryBlockStore, roots: [String: CID]) {
        let store = MemoryBlockStore()
        var roots: [String: CID] = [:]
        for name in names {
            let fixture = try load(name)
            try await store.put(fixture.blocks)
            roots[name] = fixture.roots.first
        }
        return (store, roots)
    }
}

/// Sites for tests: a fixed host → site table.
struct TableSites: SiteResolver {
    var table: [String: Site]
    func site(forHost host: String) -> Site? { table[host] }
}

/// A gateway on 127.0.0.1, port 0, over a memory store.
struct TestGateway {
    let server: GatewayServer
    let port: Int
    let cache: ContentCache
    let store: MemoryBlockStore

    static func start(store: MemoryBlockStore, sites: [String: Site] = [:],
                      limits: GatewayConfiguration.Limits = GatewayConfiguration.Limits(),
                      cacheBudget: Int = 64 << 20) async throws -> TestGateway {
        let cache = ContentCache(byteBudget: cacheBudget, shardCount: 8)
        let blocks = BlockService(cache: cache, local: store)
        var logger = Logger(label: "gateway-test")
        logger.logLevel = .warning
        let server = GatewayServer(configuration: GatewayConfiguration(host: "127.0.0.1", port: 0, limits: limits),
                                   blocks: blocks, cache: cache, sites: TableSites(table: sites), logger: logger)
        let address = try await server.start()
        return TestGateway(server: server, port: address.port!, cache: cache, store: store)
    }

    func connect(autoRead: Bool = true) async throws -> TestConnection {
        try await TestConnection.connect(port: port, autoRead: autoRead)
    }

    /// One request on a new connection.
    func request(_ target: String, method: String = "GET", host: String = "localhost",
                 headers: [(String, String)] = []) async throws -> TestResponse {
        let connection = try await connect()
        defer { connection.close() }
        try await connection.send(TestConnection.requestText(target, method: method, host: host, headers: headers))
        return try await connection.readResponse(isHead: method == "HEAD")
    }

    func stop() async throws { try await server.shutdown() }

    /// Waits until the server holds `count` connections or fewer; false on timeout.
    func waitForConnections(atMost count: Int, timeout: Duration = .seconds(10)) async -> Bool {
        await waitUntil(timeout: timeout) { server.connectionCount <= count }
    }
}

/// A parsed HTTP response as a test sees it.
struct TestResponse: CustomStringConvertible {
    var status: Int
    var headers: [(name: String, value: String)]
    var body: [UInt8]
    /// False when the connection closed before the body was complete.
    var complete: Bool

    subscript(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    var text: String { String(decoding: body, as: UTF8.self) }

    var description: String { "\(status) \(headers.map { "\($0.name): \($0.value)" }) \(body.count) bytes" }
}

struct TestClientError: Error, CustomStringConvertible {
    var description: String
}

/// A raw HTTP/1.1 client connection over NIO: sends bytes as given, parses
/// responses from what arrives, and can tell a truncated body from a whole one.
final class TestConnection: Sendable {
    private let channel: any Channel
    private let collector: Collector

    /// Gathers everything the server sends.
    final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let state = Mutex<(bytes: [UInt8], closed: Bool)>(([], false))

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let buffer = unwrapInboundIn(data)
            state.withLock { $0.bytes.append(contentsOf: buffer.readableBytesView) }
        }

        func channelInactive(context: ChannelHandlerContext) {
            state.withLock { $0.closed = true }
        }

        func errorCaught(context: ChannelHandlerContext, error: Error) {
            context.close(promise: nil)
        }
    }

    private init(channel: any Channel, collector: Collector) {
        self.channel = channel
        self.collector = collector
    }

    static func connect(port: Int, autoRead: Bool = true) async throws -> TestConnection {
        let collector = Collector()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.autoRead, value: autoRead)
            .channelOption(.socketOption(.so_rcvbuf), value: autoRead ? 1 << 20 : 16 << 10)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(collector) }
            }
            .connect(host: "127.0.0.1", port: port).get()
        return TestConnection(channel: channel, collector: collector)
    }

    static func requestText(_ target: String, method: String = "GET", host: String = "localhost",
                            headers: [(String, String)] = [], version: String = "HTTP/1.1") -> String {
        var text = "\(method) \(target) \(version)\r\nHost: \(host)\r\n"
        for (name, value) in headers { text += "\(name): \(value)\r\n" }
        return text + "\r\n"
    }

    func send(_ text: String) async throws {
        try await send(bytes: Array(text.utf8))
    }

    func send(bytes: [UInt8]) async throws {
        try await channel.writeAndFlush(ByteBuffer(bytes: bytes)).get()
    }

    /// Asks the socket for more bytes (for connections made with autoRead off).
    func readOnce() { channel.read() }

    var isClosed: Bool { collector.state.withLock { $0.closed } }

    /// Bytes received and not yet parsed into a response.
    var receivedByteCount: Int { collector.state.withLock { $0.bytes.count } }

    /// For a connection made with autoRead off: reads until the server's
    /// close is seen; false on timeout.
    func drainUntilClosed(timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while !isClosed, ContinuousClock.now < deadline {
            readOnce()
            try? await Task.sleep(for: .milliseconds(1))
        }
        return isClosed
    }

    func close() { channel.close(promise: nil) }

    /// Waits until the server closes the connection; false on timeout.
    func waitForClose(timeout: Duration = .seconds(10)) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if isClosed { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return isClosed
    }

    /// Parses the next response, waiting for its bytes (up to `timeout`).
    func readResponse(isHead: Bool = false, timeout: Duration = .seconds(20)) async throws -> TestResponse {
        let deadline = ContinuousClock.now + timeout
        while true {
            let (bytes, closed) = collector.state.withLock { ($0.bytes, $0.closed) }
            if let (response, consumed) = Self.parse(bytes, isHead: isHead, closed: closed) {
                collector.state.withLock { $0.bytes.removeFirst(consumed) }
                return response
            }
            if closed { throw TestClientError(description: "connection closed after \(bytes.count) bytes without a response") }
            guard ContinuousClock.now < deadline else {
                throw TestClientError(description: "no complete response within \(timeout) (\(bytes.count) bytes)")
            }
            try await Task.sleep(for: .milliseconds(2))
        }
    }

    /// A response at the start of `bytes` and how many bytes it took, or nil
    /// when more are needed. When `closed`, a partial body is returned as incomplete.
    static func parse(_ bytes: [UInt8], isHead: Bool, closed: Bool) -> (TestResponse, Int)? {
        guard let headEnd = find([13, 10, 13, 10], in: bytes, from: 0) else { return nil }
        let headText = String(decoding: bytes[..<headEnd], as: UTF8.self)
        var lines = headText.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ")
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else { return nil }
        let headers = lines.compactMap { line -> (String, String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        var response = TestResponse(status: status, headers: headers, body: [], complete: true)
        let bodyStart = headEnd + 4
        if isHead || status == 304 || status == 204 || (100..<200).contains(status) {
            return (response, bodyStart)
        }
        if response["Transfer-Encoding"]?.lowercased() == "chunked" {
            var position = bodyStart
            while true {
                guard let lineEnd = find([13, 10], in: bytes, from: position) else { break }
                let sizeText = String(decoding: bytes[position..<lineEnd], as: UTF8.self)
                guard let size = Int(sizeText, radix: 16) else { break }
                let dataStart = lineEnd + 2
                if size == 0 {
                    guard bytes.count >= dataStart + 2 else { break }
                    return (response, dataStart + 2)
                }
                guard bytes.count >= dataStart + size + 2 else {
                    response.body.append(contentsOf: bytes[dataStart..<min(bytes.count, dataStart + size)])
                    break
                }
                response.body.append(contentsOf: bytes[dataStart..<(dataStart + size)])
                position = dataStart + size + 2
            }
            guard closed else { return nil }
            response.complete = false
            return (response, bytes.count)
        }
        if let lengthText = response["Content-Length"], let length = Int(lengthText) {
            if bytes.count >= bodyStart + length {
                response.body = Array(bytes[bodyStart..<(bodyStart + length)])
                return (response, bodyStart + length)
            }
            guard closed else { return nil }
            response.body = Array(bytes[bodyStart...])
            response.complete = false
            return (response, bytes.count)
        }
        guard closed else { return nil }
        response.body = Array(bytes[bodyStart...])
        return (response, bytes.count)
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard haystack.count >= needle.count, start <= haystack.count - needle.count else { return nil }
        for index in start...(haystack.count - needle.count) where haystack[index..<(index + needle.count)].elementsEqual(needle) {
            return index
        }
        return nil
    }
}

/// Builds small UnixFS DAGs for tests: raw-leaf files and basic directories.
struct DAGBuilder {
    private(set) var blocks: [Block] = []

    mutating func file(_ bytes: [UInt8], chunkSize: Int = 262_144) -> DirectoryEntry.Link {
        var importer = FileImporter(parameters: FileImportParameters(chunker: .size(chunkSize), rawLeaves: true,
                                                                     cids: CIDBuilder(version: .v1)))
        importer.write(bytes)
        let root = importer.finish()
        blocks += importer.takeBlocks()
        return .init(cid: root.cid, tsize: root.tsize)
    }

    mutating func directory(_ entries: [(String, DirectoryEntry.Link)]) throws -> DirectoryEntry.Link {
        var builder = DirectoryBuilder(parameters: DirectoryParameters(cids: CIDBuilder(version: .v1)))
        for (name, link) in entries { try builder.add(DirectoryEntry(name: name, cid: link.cid, tsize: link.tsize)) }
        let (root, made) = builder.build()
        blocks += made
        return .init(cid: root.cid, tsize: root.tsize)
    }
}

extension DirectoryEntry {
    struct Link {
        var cid: CID
        var tsize: UInt64
    }
}

/// The whole content of the file at `cid` in `store`, read with UnixFSReader.
func fileContent(_ cid: CID, in store: MemoryBlockStore) async throws -> [UInt8] {
    var bytes: [UInt8] = []
    try await UnixFSReader(source: store).read(cid) { bytes.append(contentsOf: $0) }
    return bytes
}

/// Polls `condition` until it holds or `timeout` passes; returns whether it held.
func waitUntil(timeout: Duration = .seconds(10), _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while !condition(), ContinuousClock.now < deadline {
        try? await Task.sleep(for: .milliseconds(2))
    }
    return condition()
}
