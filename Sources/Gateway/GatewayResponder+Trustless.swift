import Blocks
import CAR
import ContentCache
import HTTPServer
import Multiformats
import NIOCore
import UnixFS

/// The trustless gateway: raw blocks and CAR streams. Behaviour: formats/gateway.md, section 4.
extension GatewayResponder {
    /// `?format=raw`: the block the path names, as is.
    func serveBlock(_ request: GatewayRequest, _ sink: ResponseSink) async throws {
        var cid = request.root
        var roots = [cid]
        if !request.components.isEmpty {
            switch try await resolve(request.root, request.components) {
            case .found(let resolution):
                cid = resolution.resolved.cid
                roots = resolution.roots
            case .missing(let reason):
                throw GatewayError(.notFound, reason)
            }
        }
        guard let bytes = try await blocks.get(cid) else {
            throw GatewayError(.notFound, "block \(cid) is not in this gateway's datastore")
        }
        var meta = ResponseMeta(status: .ok, contentType: "application/vnd.ipld.raw", etag: "\"\(cid).raw\"",
                                cacheControl: cacheControl(request))
        meta.add("Content-Disposition", contentDisposition(request, defaultName: "\(cid).bin") ?? "attachment")
        meta.add("X-Content-Type-Options", "nosniff")
        meta.add("Accept-Ranges", "bytes")
        meta.add("Vary", "Accept", repeatOnNotModified: true)
        addPathFields(&meta, request, roots: roots)
        addContentLocation(&meta, request, format: "raw")
        sink.send(PreparedResponse(meta: meta, body: ByteBuffer(bytes: bytes), supportsRanges: true))
    }

    /// `?format=car`: a CARv1 of the path's blocks and the terminal's scope,
    /// streamed with chunked encoding. A block found missing after the 200
    /// cuts the connection before the last chunk.
    func serveCAR(_ request: GatewayRequest, _ parameters: CARParameters, _ sink: ResponseSink) async throws {
        // Resolve through a recorder: the blocks read on the way are the
        // path's proof, sent first.
        let recorder = RecordingSource(blocks)
        let pathReader = UnixFSReader(source: recorder)
        var terminal = request.root
        var roots = [terminal]
        if request.components.isEmpty {
            guard try await blocks.has(terminal) else {
                throw GatewayError(.notFound, "the root block \(terminal) is not in this gateway's datastore")
            }
        } else {
            var node: UnixFSNode
            do {
                node = try await pathReader.node(request.root)
            } catch let error as UnixFSError where error.code == .blockMissing {
                throw GatewayError(.notFound, "the root block \(request.root) is not in this gateway's datastore")
            }
            for component in request.components {
                guard node.kind == .directory || node.kind == .hamtDirectory,
                      let entry = try await pathReader.entry(named: component, in: node) else {
                    throw GatewayError(.notFound, "no link named \"\(component)\" under \(node.cid)")
                }
                node = try await pathReader.node(entry.cid)
                roots.append(entry.cid)
            }
            terminal = node.cid
        }
        var pathBlocks = recorder.records
        if pathBlocks.last?.cid == terminal { pathBlocks.removeLast() }

        let etag = "W/\"\(request.root).car.\(Self.carVariant(request, parameters))\""
        var meta = ResponseMeta(status: .ok,
                                contentType: "application/vnd.ipld.car; version=1; order=dfs; dups=\(parameters.duplicates ? "y" : "n")",
                                etag: etag, cacheControl: cacheControl(request))
        let defaultName = "\(request.root)" + (request.components.last.map { "_" + $0 } ?? "") + ".car"
        meta.add("Content-Disposition", contentDisposition(request, defaultName: defaultName) ?? "attachment")
        meta.add("X-Content-Type-Options", "nosniff")
        meta.add("Accept-Ranges", "none")
        meta.add("Vary", "Accept", repeatOnNotModified: true)
        addPathFields(&meta, request, roots: roots)
        addContentLocation(&meta, request, format: "car")
        if let condition = request.fields.ifNoneMatch, EntityTag.noneMatchHits(condition, etag) {
            sink.send(PreparedResponse(head: meta.notModifiedHead(), status: .notModified))
            return
        }

        try await sink.begin(head: meta.head(contentLength: nil), status: .ok, contentLength: nil)
        guard !request.isHead else {
            sink.end()
            return
        }
        let chunker = BodyChunker(sink: sink, chunkSize: limits.streamChunkSize)
        let walker = CARWalker(source: blocks, parameters: parameters, maxBlocks: limits.maxCARBlocks) { cid, bytes in
            try await chunker.appendSection(cid: cid, block: bytes)
        }
        do {
            try await chunker.append(CAREncoder.header(roots: [terminal]))
            for (cid, bytes) in pathBlocks { try await walker.send(cid, bytes) }
            try await walker.walk(terminal: terminal)
            try await chunker.flush()
            sink.end()
        } catch {
            // The blocks before the failure go out first: a client can verify and keep them.
            try? await chunker.flush()
            logger.debug("gateway CAR stream cut", metadata: ["path": "\(request.contentPath)", "error": "\(error)"])
            sink.abort()
        }
    }

    /// Distinguishes the CAR ETags of one root: FNV-1a over the path and the
    /// parameters that change the bytes.
    static func carVariant(_ request: GatewayRequest, _ parameters: CARParameters) -> String {
        var text = request.rawPath + "|" + parameters.scope.rawValue + "|" + (parameters.duplicates ? "y" : "n")
        if let bytes = parameters.entityBytes { text += "|\(bytes.from):\(bytes.to.map(String.init) ?? "*")" }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01B3
        }
        return String(hash, radix: 36)
    }
}
