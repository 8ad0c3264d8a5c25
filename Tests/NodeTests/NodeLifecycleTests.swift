import Foundation
import Logging
import Node
import P2P
import Repo
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The node as a host of services: start in order, stop in reverse, a failed
/// start stops what started, disabled services stay off.
@Suite struct NodeLifecycleTests {
    @Test func startsEveryServiceAndStopsThemAll() async throws {
        let harness = try await NodeHarness()
        defer { harness.removeRepo() }
        let info = try await harness.waitUntilReady()
        let facts = info.facts
        #expect(Set(facts.services.keys) == ["gateway", "admin", "swarm"])
        #expect(facts.pid == getpid())
        #expect(facts.peerID == harness.node.host?.peerID.description)
        let gateway = try #require(info.gateway), admin = try #require(info.admin)
        #expect(facts.services["gateway"] == gateway.description)
        // The facts are in the repo for tools (formats/admin-api.md).
        #expect(NodeFacts.read(repo: harness.repo) == facts)
        #expect(canConnect(gateway.port) && canConnect(admin.port))
        let swarmPort = try #require(info.swarm.first?.tcpTarget.map { Int($0.port) })
        #expect(canConnect(swarmPort))

        guard case .success = await harness.stop() else { Issue.record("run threw"); return }
        // Nothing listens, the files are gone, the repo is closed (it reopens here).
        #expect(!canConnect(gateway.port) && !canConnect(admin.port) && !canConnect(swarmPort))
        for file in [NodeFacts.fileName, "api", "node.pid", "gateway"] {
            #expect(!FileManager.default.fileExists(atPath: harness.repo + "/" + file), "\(file)")
        }
        let reopened = try Repo(path: harness.repo, databases: TauNode.serviceDatabases)
        await reopened.close()
    }

    @Test func aFailedStartStopsWhatStartedAndNamesTheService() async throws {
        let (listener, busyPort) = try listenOnEphemeralPort()
        defer { close(listener) }
        // The swarm starts before the gateway; the gateway's port is taken.
        let (probe, swarmPort) = try listenOnEphemeralPort()
        close(probe)
        let harness = try await NodeHarness {
            $0.gateway.listen = "127.0.0.1:\(busyPort)"
            $0.swarm.listen = ["/ip4/127.0.0.1/tcp/\(swarmPort)"]
        }
        defer { harness.removeRepo() }
        let result = await harness.run.value
        guard case .failure(let error) = result else { Issue.record("the node started on a busy port"); return }
        let failure = try #require(error as? ServiceStartError, "\(error)")
        #expect(failure.service == "gateway")
        #expect(failure.description == "gateway: cannot listen on 127.0.0.1:\(busyPort): address in use")
        #expect(harness.ready.withLock { $0 } == nil)
        // The swarm had started listening; it was stopped again.
        #expect(!canConnect(swarmPort))
        #expect(NodeFacts.read(repo: harness.repo) == nil)
        let reopened = try Repo(path: harness.repo, databases: TauNode.serviceDatabases)
        await reopened.close()
    }

    @Test func disabledServicesDoNotRun() async throws {
        let harness = try await NodeHarness {
            $0.gateway.enabled = false
            $0.swarm.enabled = false
        }
        defer { harness.removeRepo() }
        let info = try await harness.waitUntilReady()
        #expect(Set(info.facts.services.keys) == ["admin"])
        #expect(info.gateway == nil && info.swarm.isEmpty && info.facts.peerID == nil)
        #expect(harness.node.host == nil)
        guard case .success = await harness.stop() else { Issue.record("run threw"); return }

        // With everything off, the node still runs (repo and cache) and stops cleanly.
        let bare = try await NodeHarness {
            $0.gateway.enabled = false
            $0.swarm.enabled = false
            $0.admin.enabled = false
        }
        defer { bare.removeRepo() }
        let bareInfo = try await bare.waitUntilReady()
        #expect(bareInfo.facts.services.isEmpty && bareInfo.admin == nil)
        guard case .success = await bare.stop() else { Issue.record("run threw"); return }
    }

    @Test func aShutdownRequestedBeforeTheStartIsHonoured() async throws {
        let harness = try await NodeHarness(start: false)
        defer { harness.removeRepo() }
        await harness.node.shutdown()
        harness.start()
        guard case .success = await harness.run.value else { Issue.record("run threw"); return }
        #expect(NodeFacts.read(repo: harness.repo) == nil)
    }

    @Test func configGenerateShowsEveryEnabledSwitch() throws {
        let yaml = try NodeConfiguration().yaml()
        for section in ["gateway", "admin", "swarm", "bitswap", "pubsub", "dht", "shutdown"] {
            #expect(yaml.contains("\(section):"), "\(section)")
        }
        #expect(yaml.components(separatedBy: "enabled: true").count - 1 == 6)
        let partial = "gateway:\n  enabled: false\nadmin:\n  listen: 127.0.0.1:7000\nshutdown:\n  timeout: 2\n"
        let path = NSTemporaryDirectory() + "tau-config-\(getpid()).yaml"
        try partial.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let loaded = try NodeConfiguration.load(from: path)
        #expect(!loaded.gateway.enabled && loaded.gateway.listen == "127.0.0.1:8080")
        #expect(loaded.admin.enabled && loaded.admin.listen == "127.0.0.1:7000")
        #expect(loaded.shutdown.timeout == 2)
    }
}

/// A node on a fresh repo with every listener on an ephemeral loopback port,
/// run in a task; `ready` is set once every component started.
final class NodeHarness: Sendable {
    let repo: String
    let node: TauNode
    let ready = Locked<TauNode.ReadyInfo?>(nil)
    private let task = Locked<Task<Result<Void, any Error>, Never>?>(nil)

    init(start: Bool = true, configure: (inout NodeConfiguration) -> Void = { _ in }) async throws {
        repo = try await makeRepo()
        var configuration = NodeConfiguration()
        configuration.gateway.listen = "127.0.0.1:0"
        configuration.admin.listen = "127.0.0.1:0"
        configuration.swarm.listen = ["/ip4/127.0.0.1/tcp/0"]
        configure(&configuration)
        let ready = self.ready
        var logger = Logger(label: "tau.test")
        logger.logLevel = .warning
        node = try TauNode(options: TauNode.Options(
            configuration: configuration, repoPath: repo,
            runCommand: { _ in 0 },
            onReady: { info in ready.withLock { $0 = info } }), logger: logger)
        if start { self.start() }
    }

    func start() {
        let node = self.node
        task.withLock { $0 = Task { do { try await node.run(signals: []); return .success(()) } catch { return .failure(error) } } }
    }

    var run: Task<Result<Void, any Error>, Never> { task.withLock { $0! } }

    /// Waits for readiness; fails the test if `run` ends or 60 s pass first.
    func waitUntilReady() async throws -> TauNode.ReadyInfo {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if let info = ready.withLock({ $0 }) { return info }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("the node did not start within 60 s")
        throw CancellationError()
    }

    func stop() async -> Result<Void, any Error> {
        await node.shutdown()
        return await run.value
    }

    func removeRepo() { try? FileManager.default.removeItem(atPath: repo) }
}

/// A fresh, initialized repo directory.
func makeRepo() async throws -> String {
    var template = Array((NSTemporaryDirectory() + "tau-node-test-XXXXXX").utf8CString)
    guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else { throw POSIXError(.EIO) }
    let path = String(cString: made)
    // The node opens the repo itself; creating it here makes `data.mdb`.
    let repo = try Repo(path: path, databases: TauNode.serviceDatabases)
    await repo.close()
    return path
}

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
func canConnect(_ port: Int) -> Bool {
    let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(socket) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    } == 0
}

/// A listening socket on an ephemeral loopback port (to make a port busy).
func listenOnEphemeralPort() throws -> (Int32, Int) {
    let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
            Glibc.bind(socket, pointer, length) == 0 && Glibc.listen(socket, 8) == 0 && getsockname(socket, pointer, &length) == 0
        }
    }
    guard bound else {
        close(socket)
        throw POSIXError(.EADDRINUSE)
    }
    return (socket, Int(UInt16(bigEndian: address.sin_port)))
}

/// A Mutex in a class, so closures can share it.
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<R>(_ body: (inout sending Value) -> sending R) -> R { mutex.withLock(body) }
}
