import Blocks
import Foundation
import Gateway
import Multiformats
import TestSupport
import Testing
import UnixFS

/// The path gateway over the conformance fixtures, through a real socket.
@Suite struct PathGatewayTests {
    static let dirWithFiles = "path_gateway_unixfs/dir-with-files.car"
    static let immutable = "public, max-age=29030400, immutable"

    @Test func aSmallFileWithItsHeaders() async throws {
        let (store, roots) = try await Fixtures.store([Self.dirWithFiles])
        let gateway = try await TestGateway.start(store: store)
        defer { Task { try await gateway.stop() } }
        let root = roots[Self.dirWithFiles]!
        let hello = try CID("bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4")

        for _ in 0..<2 {  // cold, then from the ready response
            let response = try await gateway.request("/ipfs/\(root)/hello.txt")
            #expect(response.status == 200)
            #expect(response.text == "hello world\n")
            #expect(response["Content-Type"] == "text/plain; charset=utf-8")
            #expect(response["Content-Length"] == "12")
            #expect(response["ETag"] == "\"\(hello)\"")
            #expect(response["Cache-Control"] == Self.immutable)
            #expect(response["X-Ipfs-Path"] == "/ipfs/\(root)/hello.txt")
            #expect(response["X-Ipfs-Roots"] == "\(root),\(hello)")
            #expect(response["Accept-Ranges"] == "bytes")
            #expect(response["Date"] != nil)
        }
        #expect(gateway.cache.statistics.derived.hits >= 1)

        let head = try await gateway.request("/ipfs/\(root)/hello.txt", method: "HEAD")
        #expect(head.status == 200 && head.body.isEmpty && head["Content-Length"] == "12")

        let notModified = try await gateway.request("/ipfs/\(root)/hello.txt", headers: [("If-None-Match", "\"\(hello)\"")])
        #expect(notModified.status == 304 && notModified.body.isEmpty)
        #expect(notModified["ETag"] == "\"\(hello)\"" && notModified["Cache-Control"] == Self.immutable)
        let weak = try await gateway.request("/ipfs/\(root)/hello.txt", headers: [("If-None-Match", "W/\"x\", W/\"\(hello)\"")])
        #expect(weak.status == 304)
        let other = try await gateway.request("/ipfs/\(root)/hello.txt", headers: [("If-None-Match", "\"other\"")])
        #expect(other.status == 200)
    }

    /// multiblock.txt: 1026 bytes in five raw leaves; ranges inside and across leaves.
    @Test(arguments: [0, 256 << 10])
    func rangesOfAMultiBlockFile(preparedLimit: Int) async throws {
        let (store, roots) = try await Fixtures.store([Self.dirWithFiles])
        // With a prepared-body limit of 0 every file is streamed from its blocks.
        let gateway = try await TestGateway.start(store: store, limits: .init(maxPreparedBodyBytes: preparedLimit))
        defer { Task { try await gateway.stop() } }
        let root = roots[Self.dirWithFiles]!
        let content = try await fileContent(try CID("bafybeigcisqd7m5nf3qmuvjdbakl5bdnh4ocrmacaqkpuh77qjvggmt2sa"), in: store)
        #expect(content.count == 1026)
        let path = "/ipfs/\(root)/multiblock.txt"

        let whole = try await gateway.request(path)
        #expect(whole.status == 200 && whole.body == content)

        for (header, expected) in [("bytes=0-9", 0...9), ("bytes=250-520", 250...520), ("bytes=-5", 1021...1025),
                                   ("bytes=1000-", 1000...1025), ("bytes=1020-5000", 1020...1025)] {
            let response = try await gateway.request(path, headers: [("Range", header)])
            #expect(response.status == 206, "\(header)")
            #expect(response.body == Array(content[expected]), "\(header)")
            #expect(response["Content-Range"] == "bytes \(expected.lowerBound)-\(expected.upperBound)/1026", "\(header)")
            #expect(response["Content-Length"] == "\(expected.count)")
        }
        let unsatisfiable = try await gateway.request(path, headers: [("Range", "bytes=2000-")])
        #expect(unsatisfiable.status == 416 && unsatisfiable["Content-Range"] == "bytes */1026")
        // Malformed, multiple or non-byte ranges are ignored: the whole file.
        for header in ["bytes=5-1", "bytes=0-1,5-6", "items=0-1", "bytes=x-y"] {
            let response = try await gateway.request(path, headers: [("Range", header)])
            #expect(response.status == 200 && response.body == content, "\(header)")
        }
        // If-Range with another entity tag: the whole file.
        let stale = try await gateway.request(path, headers: [("Range", "bytes=0-9"), ("If-Range", "\"other\"")])
        #expect(stale.status == 200 && stale.body.count == 1026)
    }

    @Test func directoriesRedirectToTheSlashFormThenList() async throws {
        let (store, roots) = try await Fixtures.store([Self.dirWithFiles])
        let gateway = try await TestGateway.start(store: store)
        defer { Task { try await gateway.stop() } }
        let root = roots[Self.dirWithFiles]!

        let redirect = try await gateway.request("/ipfs/\(root)?filename=x")
        #expect(redirect.status == 301)
        #expect(redirect["Location"] == "/ipfs/\(root)/?filename=x")

        let listing = try await gateway.request("/ipfs/\(root)/")
        #expect(listing.status == 200)
        #expect(listing["Content-Type"] == "text/html")
        #expect(listing["ETag"]?.hasPrefix("\"DirIndex-") == true)
        for name in ["ascii.txt", "ascii-copy.txt", "hello.txt", "multiblock.txt"] {
            #expect(listing.text.contains("href=\"\(name)\""), "\(name)")
        }
        #expect(listing.text.contains("bafybeigcisqd7m5nf3qmuvjdbakl5bdnh4ocrmacaqkpuh77qjvggmt2sa"))
        #expect(!listing.text.contains("href=\"..\""), "no parent link at a content root")
    }

    @Test func utf8AndPercentEncodedNamesInPathsAndListings() async throws {
        let listingFixture = "dir_listing/fixtures.car"
        let percentFixture = "path_gateway_unixfs/dir-with-percent-encoded-filename.car"
        let (store, roots) = try await Fixtures.store([listingFixture, percentFixture])
        let gateway = try await TestGateway.start(store: store)
        defer { Task { try await gateway.stop() } }

        let root = roots[listingFixture]!
        let encodedPath = "/ipfs/\(root)/%C4%85/%C4%99/"
        let listing = try await gateway.request(encodedPath)
        #expect(listing.status == 200)
        #expect(listing.text.contains("href=\"file-%C5%BA%C5%82.txt\""))
        #expect(listing.text.contains(">file-źł.txt</a>"))
        #expect(listing.text.contains("href=\"..\""))
        let file = try await gateway.request(encodedPath + "file-%C5%BA%C5%82.txt")
        #expect(file.status == 200)
        #expect(file.text == "I am a txt file on path with utf8\n")

        let percentRoot = roots[percentFixture]!
        let percentListing = try await gateway.request("/ipfs/\(percentRoot)/")
        // The name holds "%2C", "+", "=" and spaces: each escaped once, and HTML-safe in text.
        let href = "Portugal%252C+Espa%C3%B1a=Peninsula%20Ib%C3%A9rica.txt"
        #expect(percentListing.text.contains("href=\"\(href)\""))
        #expect(percentListing.text.contains(">Portugal%2C+España=Peninsula Ibérica.txt</a>"))
        let percentFile = try await gateway.request("/ipfs/\(percentRoot)/\(href)")
        #expect(percentFile.status == 200)
        #expect(percentFile.text == "hello from a percent encoded filename\n")
    }

    @Test func aThousandFileHAMTDirectory() async throws {
        let fixture = "trustless_gateway_car/single-layer-hamt-with-multi-block-files.car"
        let (store, roots) = try await Fixtures.store([fixture])
        let gateway = try await TestGateway.start(store: store)
        defer { Task { try await gateway.stop() } }
        let root = roots[fixture]!

        let listing = try await gateway.request("/ipfs/\(root)/")
        #expect(listing.status == 200)
        let links = listing.text.components(separatedBy: "<tr><td><a href=\"").count - 1
        #expect(links == 1000)
        for name in ["1.txt", "500.txt", "1000.txt"] { #expect(listing.text.contains("href=\"\(name)\"")) }

        let entry = try await UnixFSReader(source: store).resolve(root, path: ["685.txt"])
        let expected = try await fileContent(entry.cid, in: store)
        let file = try await gateway.request("/ipfs/\(root)/685.txt")
        #expect(file.status == 200 && file.body == expected)
        #expect(file["X-Ipfs-Roots"] == "\(root),\(entry.cid)")
        let missing = try await gateway.request("/ipfs/\(root)/1001.txt")
        #expect(missing.status == 404)
    }

    @Test func symlinksAreServedAsLinks() async throws {
        let fixture = "path_gateway_unixfs/symlink.car"
        let (store, roots) = try await Fixtures.store([fixture])
        let gateway = try await TestGateway.start(store: store)
        defer { Task { try await gateway.stop() } }
        let root = roots[fixture]!
        let link = try await gateway.request("/ipfs/\(root)/bar")
        #expect(link.status == 200)
        #expect(link.text == "foo")
        #expect(link["Content-Type"] == "inode/symlink")
        let target = try await gateway.request("/ipfs/\(root)/foo")
        #expect(target.text == "content\n")
        // A symlink is not a directory: nothing is below it.
        let through = try await gateway.request("/ipfs/\(root)/bar/x")
        #expect(through.status == 404)
    }

    @Test func contentTypesFromNamesAndFromBytes() async throws {
        var dag = DAGBuilder()
        let png = dag.file([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + Array(repeating: 0, count: 24))
        let html = dag.file(Array("  <!DOCTYPE html><html><body>hi</body></html>".utf8))
        let json = dag.file(Array("{\"a\": 1}".utf8))
        let binary = dag.file([0, 1, 2, 3, 255, 254])
        let css = dag.file(Array("body{}".utf8))
        let root = try dag.directory([("image", png), ("page", html), ("data", json), ("blob", binary),
                                      ("style.css", css), ("pic.PNG", binary)])
        let store = MemoryBlockStore()
        try await store.put(dag.blocks)
        let gateway = try await TestGateway.start(store: store)
        defer { Task { try await gateway.stop() } }
        for (name, type) in [("image", "image/png"), ("page", "text/html"), ("data", "application/json"),
                             ("blob", "application/octet-stream"), ("style.css", "text/css; charset=utf-8"),
                             ("pic.PNG", "image/png")] {
            let response = try await gateway.request("/ipfs/\(root.cid)/\(name)")
            #expect(response["Content-Type"] == type, "\(name)")
        }
    }

    @Test func dagCBORBlocksAreServedWithTheirCodecType() async throws {
        let fixture = "trustless_gateway_car/dir-with-dag-cbor-with-links.car"
        let (store, _) = try await Fixtures.store([fixture])
        let cbor = try #require(try Fixtures.load(fixture).blocks.first { $0.cid.codec == .dagCBOR })
        let gateway = try await TestGateway.start(store: store)
        defer { Task { try await gateway.stop() } }
        let response = try await gateway.request("/ipfs/\(cbor.cid)")
        #expect(response.status == 200)
        #expect(response["Content-Type"] == "application/vnd.ipld.dag-cbor")
        #expect(response.body == cbor.bytes)
        let path = try await gateway.request("/ipfs/\(cbor.cid)/field")
        #expect(path.status == 501)
    }

    @Test func onlyIfCachedAnswers412ForAbsentRoots() async throws {
        let (store, roots) = try await Fixtures.store([Self.dirWithFiles])
        let gateway = try await TestGateway.start(store: store)
        defer { Task { try await gateway.stop() } }
        let absent = Block(hashing: Array("absent".utf8), codec: .raw).cid
        let miss = try await gateway.request("/ipfs/\(absent)", headers: [("Cache-Control", "only-if-cached")])
        #expect(miss.status == 412)
        let hit = try await gateway.request("/ipfs/\(roots[Self.dirWithFiles]!)/hello.txt",
                                            headers: [("Cache-Control", "only-if-cached")])
        #expect(hit.status == 200)
        let notCached = try await gateway.request("/ipfs/\(absent)")
        #expect(notCached.status == 404)
    }

    /// A file above the ready-response limit is written from 100,000-byte
    /// segments: read through the block service (and cached) the first time,
    /// from the cache after, and a mix of both when only some are cached.
    @Test func aLargeFileIsStreamedFromSegments() async throws {
        var generator = SeededBytes(seed: 42)
        let content = generator.bytes(5 << 20 + 12345)
        var dag = DAGBuilder()
        let file = dag.file(content)
        let store = MemoryBlockStore()
        try await store.put(dag.blocks)
        let gateway = try await TestGateway.start(store: store, limits: .init(streamChunkSize: 100_000))
        defer { Task { try await gateway.stop() } }
        let path = "/ipfs/\(file.cid)"
        func expectRange(_ header: String, _ range: ClosedRange<Int>) async throws {
            let response = try await gateway.request(path, headers: [("Range", header)])
            #expect(response.status == 206 && response.body == Array(content[range]), "\(header)")
        }
        // Segments 3-5 only, then a range that starts in them and runs past.
        try await expectRange("bytes=300000-599999", 300_000...599_999)
        let segmentsBefore = gateway.cache.statistics.derived.entries
        try await expectRange("bytes=300000-", 300_000...(content.count - 1))
        #expect(gateway.cache.statistics.derived.entries > segmentsBefore)
        for _ in 0..<2 {
            let response = try await gateway.request(path)
            #expect(response.status == 200)
            #expect(response["Content-Length"] == "\(content.count)")
            #expect(response.body == content)
        }
        try await expectRange("bytes=262000-1300000", 262_000...1_300_000)
        try await expectRange("bytes=-10", (content.count - 10)...(content.count - 1))
        let head = try await gateway.request(path, method: "HEAD")
        #expect(head.status == 200 && head["Content-Length"] == "\(content.count)" && head.body.isEmpty)
        let notModified = try await gateway.request(path, headers: [("If-None-Match", "\"\(file.cid)\"")])
        #expect(notModified.status == 304)
    }
}
