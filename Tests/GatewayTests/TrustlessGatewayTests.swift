import Blocks
import CAR
import Foundation
import Gateway
import Multiformats
import TestSupport
import Testing
import UnixFS

/// Raw blocks and CAR streams (the trustless gateway), checked block by block.
@Suite struct TrustlessGatewayTests {
    static let dirWithFiles = "path_gateway_unixfs/dir-with-files.car"
    static let multiblock = "bafybeigcisqd7m5nf3qmuvjdbakl5bdnh4ocrmacaqkpuh77qjvggmt2sa"

    /// The sections of a CAR, each verified against its CID by `CARReader`.
    static func readCAR(_ bytes: [UInt8]) throws -> (roots: [CID], blocks: [Block]) {
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

    /// Python ipld-car's reading of a CARv1 (CIDv1 sections only: it misreads
    /// CIDv0): the roots line, then "cid ok" per block whose bytes hash to its CID.
    static func pythonCheck(_ car: [UInt8]) throws -> [String] {
        let script = """
            import sys, ipld_car
            from multiformats import multihash
            roots, blocks = ipld_car.decode(sys.stdin.buffer.read())
            print(" ".join(r.encode("base32") if r.version == 1 else str(r) for r in roots))
            for cid, data in blocks:
                ok = multihash.digest(bytes(data), cid.hashfun) == bytes(cid.digest)
                print(cid.encode("base32") if cid.version == 1 else str(cid), "ok" if ok else "MISMATCH")
            """
        let output = try runPython(script, stdin: Data(car))
        return String(decoding: output, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    @Test func rawBlocks() async throws {
        let rawFixture = "gateway-raw-block.car"
        let (store, roots) = try await Fixtures.store([Self.dirWithFiles, rawFixture])
        let gateway = try await TestGateway.start(store: store)
        defer { Task { try await gateway.stop() } }
        for root in [roots[Self.dirWithFiles]!, roots[rawFixture]!] {
            let response = try await gateway.request("/ipfs/\(root)?format=raw")
            #expect(response.status == 200)
            #expect(throws: Never.self) { try Block(verifying: response.body, cid: root) }
            #expect(response["Content-Type"] == "application/vnd.ipld.raw")
            #expect(response["ETag"] == "\"\(root).raw\"")
            #expect(response["X-Content-Type-Options"] == "nosniff")
            #expect(response["Content-Disposition"] == "attachment; filename=\"\(root).bin\"")
            #expect(response["Content-Location"] == nil)

            let negotiated = try await gateway.request("/ipfs/\(root)", headers: [("Accept", "application/vnd.ipld.raw")])
            #expect(negotiated.body == response.body)
            #expect(negotiated["Content-Location"] == "/ipfs/\(root)?format=raw")

            let notModified = try await gateway.request("/ipfs/\(root)?format=raw", headers: [("If-None-Match", "\"\(root).raw\"")])
            #expect(notModified.status == 304)
            let range = try await gateway.request("/ipfs/\(root)?format=raw", headers: [("Range", "bytes=0-3")])
            #expect(range.status == 206 && range.body == Array(response.body.prefix(4)))
        }
        // A path is resolved, then its terminal block returned.
        let leaf = try await gateway.request("/ipfs/\(roots[Self.dirWithFiles]!)/hello.txt?format=raw")
        #expect(leaf.text == "hello world\n")
        let absent = try await gateway.request("/ipfs/\(Block(hashing: [1], codec: .raw).cid)?format=raw")
        #expect(absent.status == 404)
    }

    @Test func theEmptyIdentityProbe() async throws {
        let gateway = try await TestGateway.start(store: MemoryBlockStore())
        defer { Task { try await gateway.stop() } }
        let raw = try await gateway.request("/ipfs/bafkqaaa?format=raw")
        #expect(raw.status == 200 && raw.body.isEmpty)
        let car = try await gateway.request("/ipfs/bafkqaaa?format=car")
        #expect(car.status == 200 && car.complete)
        let parsed = try Self.readCAR(car.body)
        #expect(parsed.roots == [try CID("bafkqaaa")])
        #expect(parsed.blocks.isEmpty, "identity blocks are never sent")
        let head = try await gateway.request("/ipfs/bafkqaaa?format=raw", method: "HEAD")
        #expect(head.status == 200)
    }

    /// The default CAR (dag-scope=all, dfs, dups=n) is byte for byte what
    /// `ipfs dag export` writes (CARExport, identity blocks left out).
    @Test func aWholeDAGAsCAR() async throws {
        let (store, roots) = try await Fixtures.store([Self.dirWithFiles])
        let gateway = try await TestGateway.start(store: store)
        defer { Task { try await gateway.stop() } }
        let root = roots[Self.dirWithFiles]!
        let response = try await gateway.request("/ipfs/\(root)?format=car")
        #expect(response.status == 200 && response.complete)
        #expect(response["Content-Type"] == "application/vnd.ipld.car; version=1; order=dfs; dups=n")
        #expect(response["Transfer-Encoding"] == "chunked")
        #expect(response["ETag"]?.hasPrefix("W/\"\(root).car.") == true)
        #expect(response["Content-Disposition"] == "attachment; filename=\"\(root).car\"")
        #expect(response["Accept-Ranges"] == "none")

        var expected: [UInt8] = []
        _ = try await CARExport.writeV1(roots: [root], from: store, links: DAGLinks.links(of:block:),
                                        options: .init(identityBlocks: .omitted)) { expected += $0 }
        #expect(response.body == expected)

        let lines = try Self.pythonCheck(response.body)
        #expect(lines.first == root.description)
        // The directory, ascii.txt (shared with ascii-copy.txt), hello.txt, multiblock.txt and its 5 leaves.
        #expect(lines.count == 1 + 9)
        #expect(Array(lines.dropFirst()) == (try Self.readCAR(expected).blocks.map { "\($0.cid) ok" }))

        // The same through Accept, with its parameters.
        let negotiated = try await gateway.request("/ipfs/\(root)",
                                                   headers: [("Accept", "application/vnd.ipld.car; version=1; order=dfs; dups=n")])
        #expect(negotiated.body == expected)
        #expect(negotiated["Content-Location"] == "/ipfs/\(root)?format=car")

        let etag = response["ETag"]!
        let notModified = try await gateway.request("/ipfs/\(root)?format=car", headers: [("If-None-Match", etag)])
        #expect(notModified.status == 304)
        let head = try await gateway.request("/ipfs/\(root)?format=car", method: "HEAD")
        #expect(head.status == 200 && head["Content-Type"]?.hasPrefix("application/vnd.ipld.car") == true)
    }

    @Test func duplicatesAreSentOnRequest() async throws {
        let fixture = "trustless_gateway_car/dir-with-duplicate-files.car"
        let (store, roots) = try await Fixtures.store([fixture])
        let gateway = try await TestGateway.start(store: store)
        defer { Task { try await gateway.stop() } }
        let root = roots[fixture]!
        let once = try Self.readCAR(try await gateway.request("/ipfs/\(root)?format=car&car-dups=n").body)
        let response = try await gateway.request("/ipfs/\(root)?format=car&car-dups=y")
        #expect(response["Content-Type"] == "application/vnd.ipld.car; version=1; order=dfs; dups=y")
        let twice = try Self.readCAR(response.body)
        #expect(Set(once.blocks.map(\.cid)).count == once.blocks.count)
        #expect(twice.blocks.count == once.blocks.count + 1, "ascii.txt and ascii-copy.txt share a block")
        let viaAccept = try Self.readCAR(try await gateway.request(
            "/ipfs/\(root)", headers: [("Accept", "application/vnd.ipld.car; dups=y")]).body)
        #expect(viaAccept.blocks.count == twice.blocks.count)
    }

    @Test func scopesAndEntityBytes() async throws {
        let (store, roots) = try await Fixtures.store([Self.dirWithFiles])
        let gateway = try await TestGateway.start(store: store)
        defer { Task { try await gateway.stop() } }
        let root = roots[Self.dirWithFiles]!
        let file = try CID(Self.multiblock)
        let leaves = try await UnixFSReader(source: store).node(file).links.map(\.cid)
        #expect(leaves.count == 5)

        func blocks(_ query: String) async throws -> [CID] {
            let response = try await gateway.request("/ipfs/\(root)/multiblock.txt?format=car&\(query)")
            #expect(response.status == 200, "\(query)")
            let car = try Self.readCAR(response.body)
            #expect(car.roots == [file], "the CAR's root is the path's terminal")
            return car.blocks.map(\.cid)
        }
        // The path's blocks (the directory) come first, then the scope's.
        #expect(try await blocks("dag-scope=block") == [root, file])
        #expect(try await blocks("dag-scope=entity") == [root, file] + leaves)
        #expect(try await blocks("dag-scope=all") == [root, file] + leaves)
        #expect(try await blocks("entity-bytes=0:0") == [root, file, leaves[0]])
        #expect(try await blocks("entity-bytes=300:600") == [root, file, leaves[1], leaves[2]])
        #expect(try await blocks("entity-bytes=-2:*") == [root, file, leaves[4]])
        #expect(try await blocks("entity-bytes=1000:-1") == [root, file, leaves[3], leaves[4]])
        #expect(try await blocks("entity-bytes=5000:*") == [root, file], "outside the file: the root block only")

        // A HAMT directory's entity is its shard nodes, not its entries.
        let hamtFixture = "trustless_gateway_car/single-layer-hamt-with-multi-block-files.car"
        let (hamtStore, hamtRoots) = try await Fixtures.store([hamtFixture])
        let hamtGateway = try await TestGateway.start(store: hamtStore)
        defer { Task { try await hamtGateway.stop() } }
        let hamt = hamtRoots[hamtFixture]!
        let entity = try Self.readCAR(try await hamtGateway.request("/ipfs/\(hamt)?format=car&dag-scope=entity").body)
        #expect(entity.blocks.first?.cid == hamt)
        #expect(entity.blocks.count > 1, "the root links to sub-shards")
        for block in entity.blocks {
            #expect(try UnixFSNode(cid: block.cid, block: block.bytes).kind == .hamtDirectory)
        }
        // A path through the HAMT carries the shard nodes on the way to the entry.
        let one = try Self.readCAR(try await hamtGateway.request("/ipfs/\(hamt)/685.txt?format=car&dag-scope=block").body)
        let entry = try await UnixFSReader(source: hamtStore).resolve(hamt, path: ["685.txt"])
        #expect(one.blocks.first?.cid == hamt && one.blocks.last?.cid == entry.cid)
        for shard in one.blocks.dropFirst().dropLast() {
            #expect(try UnixFSNode(cid: shard.cid, block: shard.bytes).kind == .hamtDirectory)
            #expect(entity.blocks.contains(shard), "a shard on the path is one of the directory's shards")
        }
        let whole = try Self.readCAR(try await hamtGateway.request("/ipfs/\(hamt)?format=car").body)
        #expect(Set(whole.blocks.map(\.cid)) == Set(try Fixtures.load(hamtFixture).blocks.map(\.cid)))
        #expect(try Self.pythonCheck(try await hamtGateway.request("/ipfs/\(hamt)?format=car").body).dropFirst()
            .allSatisfy { $0.hasSuffix(" ok") })
    }

    /// file-3k-and-3-blocks-missing-block.car lacks its middle leaf: the root
    /// is there, so the response starts, then stops short.
    @Test func aMissingBlockCutsTheStream() async throws {
        let fixture = "trustless_gateway_car/file-3k-and-3-blocks-missing-block.car"
        let (store, roots) = try await Fixtures.store([fixture])
        let root = roots[fixture]!
        let gateway = try await TestGateway.start(store: store)
        defer { Task { try await gateway.stop() } }

        let car = try await gateway.request("/ipfs/\(root)?format=car")
        #expect(car.status == 200)
        #expect(!car.complete, "the chunked body ends without its last chunk")
        // What came through is a valid CAR prefix: the header, the root and the
        // first leaf, verified; the chunked framing is what says it is cut short.
        var reader = CARReader()
        let events = try reader.parse(car.body) + reader.finish()
        let received = events.compactMap { event -> CID? in
            if case .block(let block) = event { return block.cid }
            return nil
        }
        let rootNode = try await UnixFSReader(source: store).node(root)
        #expect(received == [root, rootNode.links[0].cid])

        // Small files are read whole before the head goes out: a 404.
        let small = try await gateway.request("/ipfs/\(root)")
        #expect(small.status == 404)
        // Streamed (no ready response): the 200 is cut short.
        let streaming = try await TestGateway.start(store: store, limits: .init(maxPreparedBodyBytes: 0))
        defer { Task { try await streaming.stop() } }
        let cut = try await streaming.request("/ipfs/\(root)")
        #expect(cut.status == 200 && cut["Content-Length"] == "3072")
        #expect(!cut.complete && cut.body.count < 3072)
        // The server keeps serving.
        let raw = try await gateway.request("/ipfs/\(root)?format=raw")
        #expect(raw.status == 200)
    }

    @Test func badTrustlessParameters() async throws {
        let (store, roots) = try await Fixtures.store([Self.dirWithFiles])
        let gateway = try await TestGateway.start(store: store)
        defer { Task { try await gateway.stop() } }
        let root = roots[Self.dirWithFiles]!
        let absent = Block(hashing: [7], codec: .raw).cid
        for (target, headers, status) in [
            ("/ipfs/\(root)?format=tar", [], 406),
            ("/ipfs/\(root)?format=dag-json", [], 406),
            ("/ipfs/\(root)?format=nonsense", [], 400),
            ("/ipfs/\(root)", [("Accept", "application/vnd.ipld.dag-json")], 406),
            ("/ipfs/\(root)", [("Accept", "application/x-tar")], 406),
            ("/ipfs/\(root)/", [("Accept", "application/vnd.ipld.dag-json, text/html;q=0.9")], 200),
            ("/ipfs/\(root)?format=car&car-version=2", [], 400),
            ("/ipfs/\(root)?format=car&car-order=bfs", [], 400),
            ("/ipfs/\(root)?format=car&car-dups=maybe", [], 400),
            ("/ipfs/\(root)?format=car&dag-scope=everything", [], 400),
            ("/ipfs/\(root)?format=car&entity-bytes=abc", [], 400),
            ("/ipfs/\(root)?format=car&entity-bytes=9:3", [], 400),
            ("/ipfs/\(absent)?format=car", [], 404),
            ("/ipfs/\(root)/nope?format=car", [], 404),
            ("/ipfs/\(root)/nope?format=raw", [], 404),
        ] as [(String, [(String, String)], Int)] {
            let response = try await gateway.request(target, headers: headers)
            #expect(response.status == status, "\(target) \(headers)")
        }
    }
}
