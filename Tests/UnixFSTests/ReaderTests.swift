import Blocks
import Foundation
import Multiformats
import Synchronization
import Testing
import TestSupport
import UnixFS

/// A block source that counts which blocks are read.
final class CountingSource: BlockSource {
    let store: MemoryBlockStore
    private let reads = Mutex<[CID]>([])
    init(_ store: MemoryBlockStore) { self.store = store }
    func get(_ cid: CID) async throws -> [UInt8]? {
        reads.withLock { $0.append(cid) }
        return try await store.get(cid)
    }
    func has(_ cid: CID) async throws -> Bool { try await store.has(cid) }
    var readCount: Int { reads.withLock { $0.count } }
    func reset() { reads.withLock { $0.removeAll() } }
}

@Suite("UnixFS reader")
struct ReaderTests {
    /// Imports `data` into a fresh memory store.
    static func imported(_ data: [UInt8], _ parameters: FileImportParameters) async throws -> (FileLink, MemoryBlockStore) {
        let store = MemoryBlockStore()
        let (root, blocks) = importFile(data, parameters)
        try await store.put(blocks)
        return (root, store)
    }

    static func read(_ reader: UnixFSReader, _ cid: CID, _ range: Range<UInt64>? = nil) async throws -> [UInt8] {
        var out: [UInt8] = []
        try await reader.read(cid, range: range) { out += $0 }
        return out
    }

    static let layouts: [(String, FileImportParameters)] = [
        ("balanced v0", FileImportParameters(chunker: .size(1000), maxLinks: 4)),
        ("balanced raw", FileImportParameters(chunker: .size(777), rawLeaves: true, cids: CIDBuilder(version: .v1), maxLinks: 3)),
        ("trickle", FileImportParameters(chunker: .size(500), layout: .trickle, maxLinks: 3)),
        ("trickle raw inline", FileImportParameters(chunker: .size(40), layout: .trickle, rawLeaves: true, cids: CIDBuilder(version: .v1, inlineLimit: 32), maxLinks: 2)),
        ("rabin", FileImportParameters(chunker: .rabin(min: 128, average: 512, max: 2048), maxLinks: 5)),
    ]

    @Test("any byte range reads back as the input's bytes", arguments: 0..<5)
    func rangesEqualInput(_ layoutIndex: Int) async throws {
        let (_, parameters) = Self.layouts[layoutIndex]
        var random = SeededBytes(seed: UInt64(layoutIndex + 11))
        let data = random.bytes(50_000 + layoutIndex * 1234)
        let (root, store) = try await Self.imported(data, parameters)
        let reader = UnixFSReader(source: store)
        #expect(try await Self.read(reader, root.cid) == data)
        for _ in 0..<200 {
            let a = Int(random.next() % UInt64(data.count + 1))
            let b = Int(random.next() % UInt64(data.count + 1))
            let range = min(a, b)..<max(a, b)
            let got = try await Self.read(reader, root.cid, UInt64(range.lowerBound)..<UInt64(range.upperBound))
            #expect(got == Array(data[range]), "range \(range)")
        }
        // Past the end: clamped.
        #expect(try await Self.read(reader, root.cid, UInt64(data.count - 3)..<UInt64(data.count + 100)) == Array(data.suffix(3)))
        #expect(try await Self.read(reader, root.cid, UInt64(data.count + 5)..<UInt64(data.count + 9)).isEmpty)
    }

    @Test("a range read fetches only the leaves that hold it (plus their ancestors)")
    func rangeFetchesOnlyNeededLeaves() async throws {
        // 100 leaves of 1000 bytes under a balanced tree of 10 links: 1 root, 10 parents.
        let data = SeededBytes(seed: 5).bytesArray(100_000)
        let (root, store) = try await Self.imported(data, FileImportParameters(chunker: .size(1000), maxLinks: 10))
        let source = CountingSource(store)
        let reader = UnixFSReader(source: source)
        let got = try await Self.read(reader, root.cid, 45_500..<46_500)
        #expect(got == Array(data[45_500..<46_500]))
        // Root, one parent (leaves 40–49), and leaves 45 and 46.
        #expect(source.readCount == 4)
        source.reset()
        _ = try await Self.read(reader, root.cid)
        #expect(source.readCount == 111)
    }

    @Test("directories: listing, lookup and path resolution, basic and HAMT")
    func directories() async throws {
        let store = MemoryBlockStore()
        let cids = CIDBuilder(version: .v1)
        let (file, fileBlocks) = importFile(Array("leaf content".utf8), FileImportParameters(rawLeaves: true, cids: cids))
        try await store.put(fileBlocks)
        var inner = DirectoryBuilder(parameters: DirectoryParameters(cids: cids))
        try inner.add(DirectoryEntry(name: "file.txt", cid: file.cid, tsize: file.tsize))
        let (innerRoot, innerBlocks) = inner.build()
        try await store.put(innerBlocks)
        // A HAMT (threshold 1 byte forces sharding) holding 300 names and the inner directory.
        var outer = DirectoryBuilder(parameters: DirectoryParameters(cids: cids, hamtShardingThreshold: 1))
        for i in 0..<300 { try outer.add(DirectoryEntry(name: "n\(i)", cid: file.cid, tsize: file.tsize)) }
        try outer.add(DirectoryEntry(name: "sub", cid: innerRoot.cid, tsize: innerRoot.tsize))
        let (outerRoot, outerBlocks) = outer.build()
        try await store.put(outerBlocks)
        let reader = UnixFSReader(source: store)
        let top = try await reader.node(outerRoot.cid)
        #expect(top.kind == .hamtDirectory)
        #expect(Set(try await reader.entries(of: top).map(\.name)) == Set((0..<300).map { "n\($0)" } + ["sub"]))
        let resolved = try await reader.resolve(outerRoot.cid, path: ["sub", "file.txt"])
        #expect(resolved.cid == file.cid)
        #expect(try await Self.read(reader, resolved.cid) == Array("leaf content".utf8))
        await #expect(throws: UnixFSError.notFound) { try await reader.resolve(outerRoot.cid, path: ["sub", "missing"]) }
        await #expect(throws: UnixFSError.notADirectory) { try await reader.resolve(outerRoot.cid, path: ["n1", "x"]) }
        await #expect(throws: UnixFSError.invalidPath) { try await reader.resolve(outerRoot.cid, path: [".."]) }
        await #expect(throws: UnixFSError.notAFile) { try await Self.read(reader, outerRoot.cid) }
    }

    @Test("symlinks and metadata read back")
    func symlinkAndAttributes() async throws {
        let store = MemoryBlockStore()
        let bytes = SymlinkEncoder.encode(target: "../target")
        let cid = CIDBuilder().cid(for: bytes, codec: .dagPB)
        try await store.put([Block(cid: cid, bytes: bytes)])
        let node = try await UnixFSReader(source: store).node(cid)
        #expect(node.kind == .symlink && node.symlinkTarget == "../target")
        let attributes = FileAttributes(mode: 0o640, mtime: .init(seconds: 1_700_000_000, nanoseconds: 5))
        let (root, blocks) = importFile(Array(repeating: 1, count: 3000), FileImportParameters(chunker: .size(1000), attributes: attributes))
        try await store.put(blocks)
        let file = try await UnixFSReader(source: store).node(root.cid)
        #expect(file.unixfs?.mode == 0o640 && file.unixfs?.mtime == attributes.mtime)
        // A single-chunk file carries them on its leaf.
        let (single, singleBlocks) = importFile(Array("x".utf8), FileImportParameters(attributes: attributes))
        try await store.put(singleBlocks)
        #expect(try await UnixFSReader(source: store).node(single.cid).unixfs?.mode == 0o640)
    }

    @Test("missing blocks and lying sizes are errors, not traps")
    func hostileDAGs() async throws {
        let data = SeededBytes(seed: 9).bytesArray(10_000)
        let (root, blocks) = importFile(data, FileImportParameters(chunker: .size(1000), maxLinks: 4))
        // Drop one leaf.
        let store = MemoryBlockStore()
        try await store.put(blocks.enumerated().filter { $0.offset != 3 }.map(\.element))
        await #expect(throws: UnixFSError.blockMissing) { try await Self.read(UnixFSReader(source: store), root.cid) }
        // A parent whose blocksizes disagree with its child.
        let leaf = importFile(Array(repeating: 7, count: 10), FileImportParameters()).root
        let lying = DAGPBNode(links: [DAGPBLink(cid: leaf.cid, tsize: leaf.tsize)],
                              data: UnixFSData(kind: .file, fileSize: 99, blockSizes: [99]).encoded()).encoded()
        let lyingCID = CIDBuilder().cid(for: lying, codec: .dagPB)
        let store2 = MemoryBlockStore()
        try await store2.put(importFile(Array(repeating: 7, count: 10), FileImportParameters()).blocks + [Block(cid: lyingCID, bytes: lying)])
        await #expect(throws: UnixFSError.malformedUnixFS) { try await Self.read(UnixFSReader(source: store2), lyingCID) }
    }

    /// Found by FuzzDAGPB: blocksizes whose sum overflows trapped `size`.
    @Test("blocksizes that overflow, or a filesize that disagrees with them, are refused when the node is decoded")
    func inconsistentFileSizes() throws {
        let leaf = importFile(Array(repeating: 7, count: 10), FileImportParameters()).root
        let links = [DAGPBLink(cid: leaf.cid, tsize: leaf.tsize), DAGPBLink(cid: leaf.cid, tsize: leaf.tsize)]
        let cases: [(UnixFSData, String)] = [
            (UnixFSData(kind: .file, blockSizes: [UInt64.max, 2]), "overflow"),
            (UnixFSData(kind: .file, fileSize: 1, blockSizes: [UInt64.max, 2]), "overflow"),
            (UnixFSData(kind: .file, data: [1, 2, 3], blockSizes: [UInt64.max - 2, 1]), "overflow"),
            (UnixFSData(kind: .file, fileSize: 21, blockSizes: [10, 10]), "filesize 21"),
            (UnixFSData(kind: .file, data: [1, 2, 3], fileSize: 2), "filesize 2"),
        ]
        for (message, reason) in cases {
            let bytes = DAGPBNode(links: message.data == nil || !message.blockSizes.isEmpty ? links : [],
                                  data: message.encoded()).encoded()
            let cid = CIDBuilder().cid(for: bytes, codec: .dagPB)
            let error = #expect(throws: UnixFSError.malformedUnixFS) { try UnixFSNode(cid: cid, block: bytes) }
            #expect(error.map { "\($0)".contains(reason) } == true, "\(message): \(error.map { "\($0)" } ?? "")")
        }
        // Consistent sizes still decode.
        let good = DAGPBNode(links: links, data: UnixFSData(kind: .file, data: [1], fileSize: 21, blockSizes: [10, 10]).encoded()).encoded()
        #expect(try UnixFSNode(cid: CIDBuilder().cid(for: good, codec: .dagPB), block: good).size == 21)
    }
}

extension SeededBytes {
    func bytesArray(_ count: Int) -> [UInt8] {
        var copy = self
        return copy.bytes(count)
    }
}
