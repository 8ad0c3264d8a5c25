import Foundation
import Logging
import NIOCore
import P2P
import Synchronization
import Testing
import TestSupport

/// A host listening on 127.0.0.1 with a random port, started.
func startedHost(swarmKey: SwarmKey? = nil, limits: P2PHost.Limits = P2PHost.Limits(),
                 identity: KeyPair = .generate(), logger: Logger = Logger(label: "test")) async throws -> P2PHost {
    let host = P2PHost(identity: identity, listenAddresses: [try Multiaddr("/ip4/127.0.0.1/tcp/0")],
                    swarmKey: swarmKey, limits: limits, logger: logger)
    try await host.start()
    return host
}

extension P2PHost {
    /// The first listen address with /p2p/<peer ID>.
    var dialAddress: Multiaddr { listenAddresses[0].withPeerID(peerID) }
}

func hex(_ bytes: some Sequence<UInt8>) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

func bytes(hex text: String) -> [UInt8] {
    var out: [UInt8] = []
    var iterator = Array(text.utf8).makeIterator()
    func value(_ c: UInt8) -> UInt8 { c <= 57 ? c - 48 : (c | 0x20) - 87 }
    while let high = iterator.next(), let low = iterator.next() { out.append(value(high) << 4 | value(low)) }
    return out
}

/// Log lines captured in memory, to check what the host logs.
final class CapturedLog: Sendable {
    private let lines = Mutex<[String]>([])
    func append(_ line: String) { lines.withLock { $0.append(line) } }
    var all: [String] { lines.withLock { $0 } }

    var logger: Logger {
        Logger(label: "captured") { _ in CapturingHandler(log: self) }
    }

    struct CapturingHandler: LogHandler {
        let log: CapturedLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .debug
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            log.append("\(event.level): \(event.message)")
        }
    }
}

