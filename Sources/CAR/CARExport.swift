import Blocks
import Multiformats

/// Writes the DAGs under some roots as a CAR, reading blocks from any
/// `BlockSource` and handing the bytes to an async sink in chunks of bounded
/// size. Format: formats/car.md, "What tau writes".
///
/// Order and content are those of Kubo's `ipfs dag export` (go-car
/// `TraverseV1` with duplicate puts off):
///
/// 1. The roots' DAGs are walked depth-first, pre-order, links in the order
///    the `links` function returns them (for dag-pb: stored order; dag-cbor:
///    map keys in dag-cbor order), one root after the other.
/// 2. A block is written the first time its CID is reached and never again;
///    its subtree is walked once. Deduplication is by whole CID, as go-car's
///    does: the same bytes under two CIDs (say CIDv0 and CIDv1) give two sections.
/// 3. Identity-CID blocks the walk reaches are written as sections too by
///    default, since Kubo's export loads them like any block and its CAR
///    writer stores what it loads. `IdentityBlocks.omitted` leaves them out,
///    as go-car's blockstore writer (and so boxo's gateway) does by default.
///    Either way their links are followed.
/// 4. A block the source lacks stops the export with `CARError.missingBlock`
///    naming it. Bytes already handed to the sink stay there: the caller
///    discards the partial output.
///
/// Memory: one chunk, the block being written, the walk's stack (the links
/// of each node on the current path), and the set of CIDs already written
/// (about 100 bytes each, like go-car's). With `collectsIndex` or for a CARv2,
/// 40 more bytes per block for the index (sha2-256).
public enum CARExport {
    /// How the walk finds the links out of a block: pass `DAGLinks.links(of:block:)`
    /// from UnixFS. `nil` means the codec is unknown, which stops the export.
    public typealias LinkReader = @Sendable (CID, [UInt8]) throws -> [CID]?

    /// Whether identity-CID blocks get sections of their own.
    public enum IdentityBlocks: Hashable, Sendable {
        /// Written when the walk reaches them, as `ipfs dag export` does (the default).
        case written
        /// Left out, as go-car's blockstore writer and boxo's gateway do.
        case omitted
    }

    public struct Options: Hashable, Sendable {
        /// Largest chunk handed to `emit`; every chunk but the last is exactly
        /// this long. Default 1 MiB.
        public var chunkSize: Int
        public var identityBlocks: IdentityBlocks
        /// CARv1 only: also build the CARv2 index of what was written (returned
        /// in the summary), for callers that wrap the payload into a CARv2 themselves.
        public var collectsIndex: Bool

        public init(chunkSize: Int = 1 << 20, identityBlocks: IdentityBlocks = .written, collectsIndex: Bool = false) {
            precondition(chunkSize > 0, "chunkSize must be positive")
            self.chunkSize = chunkSize
            self.identityBlocks = identityBlocks
            self.collectsIndex = collectsIndex
        }
    }

    /// What an export wrote.
    public struct Summary: Hashable, Sendable {
        public var roots: [CID]
        /// Sections written.
        public var blockCount: Int
        /// Bytes of the CARv1 (for a CARv2: of its data payload).
        public var payloadSize: UInt64
        /// Bytes handed to `emit` in all.
        public var totalSize: UInt64
        /// The index written (CARv2) or collected (`collectsIndex`).
        public var index: CARIndex?
    }

    /// Writes a CARv1 of the DAGs under `roots`.
    /// - Parameters:
    ///   - emit: receives the CAR in order, in chunks of at most `options.chunkSize` bytes.
    /// - Throws: `CARError.missingBlock` or `.undecodableBlock`, and whatever
    ///   `source`, `links` or `emit` throw.
    public static func writeV1(
        roots: [CID], from source: some BlockSource, links: LinkReader, options: Options = Options(),
        isolation: isolated (any Actor)? = #isolation,
        emit: (_ chunk: [UInt8]) async throws -> Void
    ) async throws -> Summary {
        var output = ChunkedOutput(chunkSize: options.chunkSize)
        var index = options.collectsIndex ? CARIndexBuilder() : nil
        try await output.write(CAREncoder.header(roots: roots), emit: emit)
        var blockCount = 0
        try await walk(roots: roots, from: source, links: links) { cid, bytes in
            guard options.identityBlocks == .written || !cid.isIdentity else { return }
            index?.add(cid, sectionOffset: output.total)
            try await output.writeSection(cid: cid, block: bytes, emit: emit)
            blockCount += 1
        }
        try await output.flush(emit: emit)
        return Summary(roots: roots, blockCount: blockCount, payloadSize: output.total,
                       totalSize: output.total, index: index?.build())
    }

    /// Writes a CARv2: pragma, header, the CARv1 payload `writeV1` would
    /// write, then a `MultihashIndexSorted` index of it.
    ///
    /// The header comes first but holds the payload's size, so this walks the
    /// DAG twice, as go-car's `NewSelectiveWriter` does: once to measure and
    /// index, once to write. Every block is read twice from `source`, and a
    /// sink that can only append still gets a complete CARv2. (A caller that
    /// can seek may instead write 51 placeholder bytes, run `writeV1` with
    /// `collectsIndex`, append the index, and fill in `CAREncoder.v2Prefix`.)
    /// - Throws: as `writeV1`; `.sourceChanged` if the second walk differs.
    public static func writeV2(
        roots: [CID], from source: some BlockSource, links: LinkReader, options: Options = Options(),
        isolation: isolated (any Actor)? = #isolation,
        emit: (_ chunk: [UInt8]) async throws -> Void
    ) async throws -> Summary {
        let header = CAREncoder.header(roots: roots)
        var measuredSize = UInt64(header.count)
        var measuredCount = 0
        var builder = CARIndexBuilder()
        try await walk(roots: roots, from: source, links: links) { cid, bytes in
            guard options.identityBlocks == .written || !cid.isIdentity else { return }
            builder.add(cid, sectionOffset: measuredSize)
            measuredSize += UInt64(CAREncoder.sectionSize(cid: cid, blockSize: bytes.count))
            measuredCount += 1
        }
        let index = builder.build()

        var output = ChunkedOutput(chunkSize: options.chunkSize)
        try await output.write(CAREncoder.v2Prefix(CARv2Header(dataSize: measuredSize, hasIndex: true)), emit: emit)
        let payloadStart = output.total
        try await output.write(header, emit: emit)
        var blockCount = 0
        try await walk(roots: roots, from: source, links: links) { cid, bytes in
            guard options.identityBlocks == .written || !cid.isIdentity else { return }
            try await output.writeSection(cid: cid, block: bytes, emit: emit)
            blockCount += 1
        }
        let payloadSize = output.total - payloadStart
        guard payloadSize == measuredSize, blockCount == measuredCount else {
            throw CARError(.sourceChanged, "the second walk wrote \(blockCount) blocks in \(payloadSize) bytes, the first measured \(measuredCount) in \(measuredSize)")
        }
        try await output.write(index.encoded(), emit: emit)
        try await output.flush(emit: emit)
        return Summary(roots: roots, blockCount: blockCount, payloadSize: payloadSize,
                       totalSize: output.total, index: index)
    }

    /// Visits every block of the DAGs under `roots` once, depth-first and
    /// pre-order, in the order an export writes them (rules 1 and 2 above;
    /// identity blocks included). Identity CIDs are answered from the CID.
    /// - Throws: `CARError.missingBlock` naming the block and what links to it,
    ///   `.undecodableBlock` when `links` fails or does not know the codec.
    public static func walk(
        roots: [CID], from source: some BlockSource, links: LinkReader,
        isolation: isolated (any Actor)? = #isolation,
        visit: (_ cid: CID, _ bytes: [UInt8]) async throws -> Void
    ) async throws {
        var seen = Set<CID>()
        // Each level: a node's links and how many of them were taken.
        var stack: [(parent: CID?, links: [CID], next: Int)] = [(nil, roots, 0)]
        while let level = stack.last {
            guard level.next < level.links.count else {
                stack.removeLast()
                continue
            }
            stack[stack.count - 1].next += 1
            let cid = level.links[level.next]
            guard seen.insert(cid).inserted else { continue }
            let bytes: [UInt8]
            if cid.isIdentity {
                bytes = Array(cid.digest)
            } else if let stored = try await source.get(cid) {
                bytes = stored
            } else {
                let from = level.parent.map { "linked from \($0)" } ?? "a root"
                throw CARError(.missingBlock, "block \(cid) (\(from)) is not in the block source")
            }
            try await visit(cid, bytes)
            let children: [CID]?
            do {
                children = try links(cid, bytes)
            } catch {
                throw CARError(.undecodableBlock, "cannot read the links of \(cid): \(error)")
            }
            guard let children else {
                throw CARError(.undecodableBlock, "cannot read the links of \(cid): codec \(cid.codec) is not supported")
            }
            if !children.isEmpty { stack.append((cid, children, 0)) }
        }
    }
}

/// Gathers output into chunks of exactly `chunkSize` bytes (the last may be
/// shorter) and hands each full one to the sink.
struct ChunkedOutput {
    let chunkSize: Int
    private var buffer: [UInt8] = []
    /// Section prefixes are built here, reused from block to block.
    private var prefix: [UInt8] = []
    /// Bytes written so far, flushed or not.
    private(set) var total: UInt64 = 0

    init(chunkSize: Int) {
        self.chunkSize = chunkSize
        buffer.reserveCapacity(chunkSize)
    }

    mutating func write(
        _ bytes: [UInt8], isolation: isolated (any Actor)? = #isolation, emit: ([UInt8]) async throws -> Void
    ) async throws {
        var rest = bytes[...]
        while !rest.isEmpty {
            let piece = rest.prefix(chunkSize - buffer.count)
            buffer.append(contentsOf: piece)
            rest = rest.dropFirst(piece.count)
            total += UInt64(piece.count)
            if buffer.count == chunkSize { try await flush(emit: emit) }
        }
    }

    mutating func writeSection(
        cid: CID, block: [UInt8], isolation: isolated (any Actor)? = #isolation, emit: ([UInt8]) async throws -> Void
    ) async throws {
        prefix.removeAll(keepingCapacity: true)
        CAREncoder.appendSectionPrefix(cid: cid, blockSize: block.count, to: &prefix)
        let head = prefix
        try await write(head, emit: emit)
        try await write(block, emit: emit)
    }

    mutating func flush(isolation: isolated (any Actor)? = #isolation, emit: ([UInt8]) async throws -> Void) async throws {
        guard !buffer.isEmpty else { return }
        let chunk = buffer
        buffer = []
        buffer.reserveCapacity(chunkSize)
        try await emit(chunk)
    }
}
