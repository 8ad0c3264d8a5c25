import Bitswap
import Blocks
import Foundation
import Multiformats
import NIOCore
import P2P
import TestSupport
import Testing

/// Peers that break the rules, played by bare P2PHosts writing crafted
/// frames: their stream is closed (or they are disconnected) and other peers
/// are still served.
@Suite("Bitswap bad peers", .serialized)
struct BadPeerTests {
    static let protocolID = BitswapProtocol.v120.rawValue

    /// A server with `blocks` and a well-behaved client connected to it.
    struct Setup {
        let server: (P2PHost, Bitswap)
        let store = MemoryBlockStore()

        init(blocks: [Block]) async throws {
            try await store.put(blocks)
            server = try await NetworkTests.node(store)
        }

        /// A fresh client fetches `block`: the server still serves.
        func checkStillServes(_ block: Block) async throws {
            let client = try await NetworkTests.node()
            defer { Task { await NetworkTests.shutdown(client) } }
            try await client.0.connect(server.0.dialAddress)
            let got = try await client.1.get(block.cid, timeout: .seconds(10))
            #expect(got == block)
        }

        func shutdown() async { await NetworkTests.shutdown(server) }
    }

    /// Writes `frames` on a new stream to `setup`'s server and reports how the stream ended.
    static func attack(_ setup: Setup, frames: [ByteBuffer]) async throws -> (P2PHost, Error?) {
        let attacker = try await startedHost()
        let stream = try await attacker.newStream(to: setup.server.0.dialAddress, protocol: protocolID)
        var failure: Error?
        do {
            for frame in frames { try await stream.write(frame) }
            // The server resets the stream: reading fails (or ends) promptly.
            while try await stream.read() != nil {}
        } catch {
            failure = error
        }
        return (attacker, failure)
    }

    static func frame(_ body: [UInt8]) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeBytes(Varint.encode(UInt64(body.count)))
        buffer.writeBytes(body)
        return buffer
    }

    @Test func oversizedMessageClosesTheStream() async throws {
        let block = rawBlock(size: 5000, seed: 1)
        let setup = try await Setup(blocks: [block])
        // A length prefix of 4 MiB + 1: refused before reading the body.
        var header = ByteBuffer()
        header.writeBytes(Varint.encode(UInt64(4 << 20) + 1))
        header.writeBytes([UInt8](repeating: 0, count: 1000))
        let (attacker, failure) = try await Self.attack(setup, frames: [header])
        #expect((failure as? P2PError) == .streamReset, "\(String(describing: failure))")
        try await setup.checkStillServes(block)
        await attacker.shutdown()
        await setup.shutdown()
    }

    @Test func malformedCIDClosesTheStream() async throws {
        let block = rawBlock(size: 5000, seed: 2)
        let setup = try await Setup(blocks: [block])
        // Wantlist { Entry { block: 01 55 12 (a truncated CID) } }
        let entry: [UInt8] = [0x0a, 0x03, 0x01, 0x55, 0x12]
        let list: [UInt8] = [0x0a, UInt8(entry.count)] + entry
        let (attacker, failure) = try await Self.attack(setup, frames: [Self.frame([0x0a, UInt8(list.count)] + list)])
        #expect((failure as? P2PError) == .streamReset, "\(String(describing: failure))")
        try await setup.checkStillServes(block)
        await attacker.shutdown()
        await setup.shutdown()
    }

    @Test func hugeWantlistsAreCapped() async throws {
        let block = rawBlock(size: 5000, seed: 3)
        let setup = try await Setup(blocks: [block])
        func cids(_ range: Range<Int>) -> [BitswapMessage.Entry] {
            range.map { i in
                let digest = withUnsafeBytes(of: UInt64(i)) { Array($0) } + [UInt8](repeating: 7, count: 24)
                return .init(cid: .v1(.raw, Multihash(code: 0x12, digest: digest)), priority: 0)
            }
        }
        // 100,000 entries in one message (under 4 MiB): refused at entry 4097.
        let one = BitswapMessage(wantlist: cids(0..<100_000)).encoded()
        #expect(one.count < 4 << 20)
        let (first, failure) = try await Self.attack(setup, frames: [Self.frame(one)])
        #expect((failure as? P2PError) == .streamReset, "\(String(describing: failure))")
        #expect(setup.server.1.wantlistSize(of: first.peerID) == 0)
        // The same in messages of 1000 entries: the ledger stops at 4096 and the stream is closed.
        let frames = stride(from: 0, to: 100_000, by: 1000).map {
            Self.frame(BitswapMessage(wantlist: cids($0..<$0 + 1000)).encoded())
        }
        let attacker = try await startedHost()
        let stream = try await attacker.newStream(to: setup.server.0.dialAddress, protocol: Self.protocolID)
        var written = 0
        var ended: Error?
        do {
            for frame in frames {
                try await stream.write(frame)
                written += 1
                #expect(setup.server.1.wantlistSize(of: attacker.peerID) <= 4096)
            }
            while try await stream.read() != nil {}
        } catch {
            ended = error
        }
        #expect(ended != nil && written < frames.count, "written \(written) of \(frames.count)")
        #expect(setup.server.1.wantlistSize(of: attacker.peerID) == 0)
        try await setup.checkStillServes(block)
        await first.shutdown()
        await attacker.shutdown()
        await setup.shutdown()
    }

    @Test func wrongHashBlockDisconnectsThePeerAndIsNotReturned() async throws {
        let wanted = rawBlock(size: 4000, seed: 4)
        // The forger answers every want on the stream it came on with the wanted CID's
        // prefix and other bytes: they hash to a CID nobody asked for.
        let forger = try await startedHost()
        forger.handle(Self.protocolID) { stream in
            while let frame = try await stream.readLengthPrefixed(maxLength: 4 << 20) {
                let message = try BitswapMessage(decoding: Array(frame.readableBytesView))
                for entry in message.wantlist where !entry.cancel {
                    var payload: [UInt8] = []
                    let prefix = CIDPrefix(entry.cid).bytes
                    let data = [UInt8](repeating: 0x42, count: 4000)
                    payload += [0x0a, UInt8(prefix.count)] + prefix
                    payload += [0x12] + Varint.encode(UInt64(data.count)) + data
                    let body: [UInt8] = [0x1a] + Varint.encode(UInt64(payload.count)) + payload
                    try await stream.write(Self.frame(body))
                }
            }
        }
        let store = MemoryBlockStore()
        let client = try await NetworkTests.node(store)
        do {
            try await client.0.connect(forger.dialAddress)
            let fetch = Task { try await client.1.prefetch([wanted.cid], into: store) }
            #expect(await eventually { client.0.connections(to: forger.peerID).isEmpty }, "the forger is disconnected")
            #expect(client.1.statistics.misbehavingPeers == 1)
            #expect(try await store.get(wanted.cid) == nil)
            // An honest peer with the block: the fetch completes with the right bytes.
            let honestStore = MemoryBlockStore()
            try await honestStore.put([wanted])
            let honest = try await NetworkTests.node(honestStore)
            try await client.0.connect(honest.0.dialAddress)
            let result = try await fetch.value
            #expect(result.fetchedBlocks == 1)
            #expect(try await store.get(wanted.cid) == wanted.bytes)
            await NetworkTests.shutdown(honest)
        } catch {
            await NetworkTests.shutdown(client)
            await forger.shutdown()
            throw error
        }
        await NetworkTests.shutdown(client)
        await forger.shutdown()
    }
    @Test func streamsPerPeerAreCapped() async throws {
        let block = rawBlock(size: 5000, seed: 5)
        let setup = try await Setup(blocks: [block])
        let attacker = try await startedHost()
        var streams: [P2PStream] = []
        for _ in 0..<8 {
            streams.append(try await attacker.newStream(to: setup.server.0.dialAddress, protocol: Self.protocolID))
        }
        // Once the server runs the eight, a ninth is reset at once; the eight stay open.
        #expect(await eventually { setup.server.1.inboundStreams(from: attacker.peerID) == 8 })
        // (The reset may even arrive before the dialer has read the end of the negotiation.)
        await #expect(throws: P2PError.streamReset) {
            let ninth = try await attacker.newStream(to: setup.server.0.dialAddress, protocol: Self.protocolID)
            while try await ninth.read() != nil {}
        }
        // An open one still works: a want on it is answered (on a stream the server opens).
        let want = BitswapMessage(wantlist: [.init(cid: block.cid, wantType: .block)])
        let answered = Counter()
        attacker.handle(Self.protocolID) { stream in
            while let frame = try await stream.readLengthPrefixed(maxLength: 4 << 20) {
                let message = try BitswapMessage(decoding: Array(frame.readableBytesView))
                if message.blocks.contains(block) { answered.increment() }
            }
        }
        try await streams[0].write(ByteBuffer(bytes: want.framed()))
        #expect(await eventually { answered.value == 1 })
        #expect(setup.server.1.inboundStreams(from: attacker.peerID) == 8)
        for stream in streams { stream.reset() }
        try await setup.checkStillServes(block)
        await attacker.shutdown()
        await setup.shutdown()
    }
}
