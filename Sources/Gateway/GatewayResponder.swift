import Blocks
import CAR
import ContentCache
import HTTPServer
import Logging
import Multiformats
import NIOCore
import Synchronization
import UnixFS

/// Answers the requests the connection could not answer from a ready
/// response: resolves paths through the path cache and the block service,
/// builds responses (caching the small ones ready to send) and streams the
/// large ones. Runs in a task, off the event loop: block reads may wait.
/// Behaviour: formats/gateway.md.
final class GatewayResponder: Sendable {
    /// RFC 9111 immutable caching for /ipfs/ content (a year, as the spec says: 29030400 s).
    static let immutableCacheControl = "public, max-age=29030400, immutable"

    let configuration: GatewayConfiguration
    let blocks: BlockService
    let cache: ContentCache
    let reader: UnixFSReader
    let logger: Logger

    init(configuration: GatewayConfiguration, blocks: BlockService, cache: ContentCache, logger: Logger) {
        self.configuration = configuration
        self.blocks = blocks
        self.cache = cache
        reader = UnixFSReader(source: blocks)
        self.logger = logger
    }

    var limits: GatewayConfiguration.Limits { configuration.limits }

    func respond(to request: GatewayRequest, sink: ResponseSink) async {
        do {
            if request.onlyIfCached, try await !blocks.has(request.root) {
                throw GatewayError(.preconditionFailed, "\(request.contentPath) is not in this gateway's datastore")
            }
            switch request.format {
            case .deserialized: try await serveDeserialized(request, sink)
            case .raw: try await serveBlock(request, sink)
            case .car(let parameters): try await serveCAR(request, parameters, sink)
            }
        } catch let error as GatewayError {
            sink.fail(error)
        } catch is CancellationError {
            sink.abort()
        } catch {
            let mapped = Self.gatewayError(for: error)
            if mapped.status == .internalServerError {
                logger.warning("gateway request failed", metadata: ["path": "\(request.contentPath)", "error": "\(error)"])
            }
            sink.fail(mapped)
        }
    }

    // MARK: Path resolution

    /// A path resolved below a root.
    struct Resolution {
        var resolved: ResolvedPath
        var root: CID
        var components: [String]
        /// The CIDs of the root and of each component (`X-Ipfs-Roots`).
        var roots: [CID]
    }

    enum Lookup {
        case found(Resolution)
        /// The path names nothing; why, for the 404's text.
        case missing(String)
    }

    /// Follows `components` from `root`, using the content cache's resolved
    /// paths; each prefix walked is cached for next time. The root block
    /// missing is a 404 error; a missing name is `.missing`.
    func resolve(_ root: CID, _ components: [String]) async throws -> Lookup {
        let key = components.joined(separator: "/")
        if let hit = cache.resolvedPath(root: root, path: key) {
            var roots = [root]
            var complete = true
            for index in components.indices.dropLast() {
                guard let prefix = cache.resolvedPath(root: root, path: components[...index].joined(separator: "/")) else {
                    complete = false
                    break
                }
                roots.append(prefix.cid)
            }
            if complete {
                if !components.isEmpty { roots.append(hit.cid) }
                return .found(Resolution(resolved: hit, root: root, components: components, roots: roots))
            }
        }
        var node: UnixFSNode
        do {
            node = try await reader.node(root)
        } catch let error as UnixFSError where error.code == .blockMissing {
            throw GatewayError(.notFound, "the root block \(root) is not in this gateway's datastore")
        }
        var roots = [root]
        cache.insertResolvedPath(Self.resolvedPath(node), root: root, path: "")
        for (index, component) in components.enumerated() {
            guard node.kind == .directory || node.kind == .hamtDirectory else {
                let at = components[..<index].joined(separator: "/")
                return .missing("\"/\(at)\" is a \(node.kind.rawValue), not a directory")
            }
            guard let entry = try await reader.entry(named: component, in: node) else {
                return .missing("no link named \"\(component)\" under \(node.cid)")
            }
            node = try await reader.node(entry.cid)
            roots.append(entry.cid)
            cache.insertResolvedPath(Self.resolvedPath(node), root: root, path: components[...index].joined(separator: "/"))
        }
        return .found(Resolution(resolved: Self.resolvedPath(node), root: root, components: components, roots: roots))
    }

    static func resolvedPath(_ node: UnixFSNode) -> ResolvedPath {
        let kind: ResolvedPath.Kind
        switch node.kind {
        case .file: kind = .file
        case .directory, .hamtDirectory: kind = .directory
        case .symlink: kind = .symlink
        }
        return ResolvedPath(cid: node.cid, size: node.size, kind: kind)
    }

    // MARK: Deserialized responses

    func serveDeserialized(_ request: GatewayRequest, _ sink: ResponseSink) async throws {
        let root = request.root
        guard root.codec == .dagPB || root.codec == .raw else {
            guard request.components.isEmpty else {
                throw GatewayError(.notImplemented, "paths into \(root.codec.name) data are not supported")
            }
            return try await serveCodecBlock(request, sink)
        }
        let cacheKey = request.fields.serviceWorker == nil && !request.fields.acceptsExplicitFormat
            ? GatewayRequest.preparedKey(site: request.site, target: request.head.target) : nil
        switch try await resolve(root, request.components) {
        case .found(let resolution):
            try await serve(resolution, request, sink, status: .ok, redirectsDirectories: true, cacheKey: cacheKey)
        case .missing(let reason):
            guard let site = request.site else { throw GatewayError(.notFound, reason) }
            try await serveSiteFallback(request, site, reason: reason, sink, cacheKey: cacheKey)
        }
    }

    /// Serves what a path resolved to, with `status` (200, or a `_redirects`
    /// 404/410/451 page). A directory without a trailing slash is redirected
    /// to the slash form, unless it was reached by a rewrite.
    func serve(_ resolution: Resolution, _ request: GatewayRequest, _ sink: ResponseSink,
                       status: HTTPStatus, redirectsDirectories: Bool, cacheKey: [UInt8]?) async throws {
        switch resolution.resolved.kind {
        case .directory:
            if redirectsDirectories && !request.trailingSlash {
                var location = request.rawPath + "/"
                if let query = request.rawQuery { location += "?" + query }
                var meta = ResponseMeta(status: .movedPermanently, cacheControl: cacheControl(request))
                meta.add("Location", location)
                addPathFields(&meta, request, roots: resolution.roots)
                respond(meta, body: ByteBuffer(), supportsRanges: false, cacheKey: cacheKey, sink)
                return
            }
            let indexPath = resolution.components + ["index.html"]
            if case .found(let index) = try await resolve(resolution.root, indexPath), index.resolved.kind == .file {
                try await serveFile(index, request, sink, status: status, name: "index.html", roots: resolution.roots,
                                    cacheKey: cacheKey)
            } else {
                try await serveListing(resolution, request, sink, status: status, cacheKey: cacheKey)
            }
        case .symlink:
            // Symlinks are not followed: the gateway returns the link itself, as boxo does.
            let node = try await reader.node(resolution.resolved.cid)
            var meta = ResponseMeta(status: status, contentType: "inode/symlink",
                                    etag: "\"\(resolution.resolved.cid)\"", cacheControl: cacheControl(request))
            addPathFields(&meta, request, roots: resolution.roots)
            respond(meta, body: ByteBuffer(bytes: node.data), supportsRanges: false, cacheKey: cacheKey, sink)
        case .file:
            try await serveFile(resolution, request, sink, status: status, name: resolution.components.last,
                                roots: resolution.roots, cacheKey: cacheKey)
        }
    }

    func serveFile(_ resolution: Resolution, _ request: GatewayRequest, _ sink: ResponseSink,
                           status: HTTPStatus, name: String?, roots: [CID], cacheKey: [UInt8]?) async throws {
        let cid = resolution.resolved.cid
        let node = try await reader.node(cid)
        let filename = request.queryValue("filename")
        var contentType = filename.flatMap(MediaTypes.type(forFileName:)) ?? resolution.resolved.contentType
        if contentType == nil {
            if let byName = name.flatMap(MediaTypes.type(forFileName:)) {
                contentType = byName
            } else {
                contentType = try await sniff(node)
            }
            var resolved = resolution.resolved
            resolved.contentType = contentType
            cache.insertResolvedPath(resolved, root: resolution.root, path: resolution.components.joined(separator: "/"))
        }
        var meta = ResponseMeta(status: status, contentType: contentType, etag: status == .ok ? "\"\(cid)\"" : nil,
                                cacheControl: cacheControl(request))
        addPathFields(&meta, request, roots: roots)
        if let disposition = contentDisposition(request, defaultName: nil) { meta.add("Content-Disposition", disposition) }
        if status == .ok { meta.add("Accept-Ranges", "bytes") }

        let size = node.size
        if size <= UInt64(limits.maxPreparedBodyBytes) {
            var body = ByteBufferAllocator().buffer(capacity: Int(size))
            try await reader.read(node) { body.writeBytes($0) }
            respond(meta, body: body, supportsRanges: true, cacheKey: cacheKey, sink)
        } else {
            // The connection writes the body from the file's cached segments,
            // calling `stream` for the ones not there yet.
            let segments = FileSegments(file: cid, size: size, segmentSize: limits.streamChunkSize)
            let prepared = PreparedResponse(meta: meta, segments: segments)
            if let cacheKey { cache.insertDerivedValue(prepared, forKey: cacheKey, cost: prepared.cost) }
            sink.send(prepared)
        }
    }

    /// The first bytes of a file, for `MediaTypes.sniff`.
    func sniff(_ node: UnixFSNode) async throws -> String {
        var prefix: [UInt8] = []
        try await reader.read(node, range: 0..<UInt64(MediaTypes.sniffLength)) { prefix.append(contentsOf: $0) }
        return MediaTypes.sniff(prefix)
    }

    /// Streams `range` of a file whose response head went out already,
    /// caching each whole segment it reads. A block found missing cuts the
    /// connection: the client sees a body shorter than its Content-Length.
    func stream(_ segments: FileSegments, range: Range<UInt64>, sink: ResponseSink) async {
        let writer = SegmentWriter(segments: segments, start: range.lowerBound, sink: sink, cache: cache)
        do {
            let node = try await reader.node(segments.file)
            try await reader.read(node, range: range) { try await writer.append($0) }
            try await writer.finish()
            sink.end()
        } catch {
            // Whatever was read goes out first: the client sees how far the file got.
            try? await writer.finish()
            logger.debug("gateway file stream cut", metadata: ["cid": "\(segments.file)", "error": "\(error)"])
            sink.abort()
        }
    }

    func serveListing(_ resolution: Resolution, _ request: GatewayRequest, _ sink: ResponseSink,
                              status: HTTPStatus, cacheKey: [UInt8]?) async throws {
        let directory = resolution.resolved.cid
        var entries = try await reader.entries(of: try await reader.node(directory))
        let total = entries.count
        entries.sort { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
        if entries.count > limits.maxListingEntries { entries.removeLast(entries.count - limits.maxListingEntries) }
        let shownPath: String
        switch request.namespace {
        case .ipfs: shownPath = "/ipfs/\(request.root)/" + resolution.components.map { $0 + "/" }.joined()
        case .site: shownPath = "/" + resolution.components.map { $0 + "/" }.joined()
        }
        let isSite = request.site != nil
        let html = DirectoryListing.html(directory: directory, path: shownPath, entries: entries, totalEntries: total,
                                         parentLink: !resolution.components.isEmpty, gatewayLinks: !isSite)
        var meta = ResponseMeta(status: status, contentType: MediaTypes.html,
                                etag: status == .ok ? DirectoryListing.etag(directory) : nil, cacheControl: cacheControl(request))
        addPathFields(&meta, request, roots: resolution.roots)
        respond(meta, body: ByteBuffer(string: html), supportsRanges: false, cacheKey: cacheKey, sink)
    }

    /// A block of a codec other than dag-pb or raw, named by the URL: its
    /// bytes with the codec's media type.
    func serveCodecBlock(_ request: GatewayRequest, _ sink: ResponseSink) async throws {
        let cid = request.root
        let contentType: String
        let suffix: String
        switch cid.codec {
        case .dagCBOR: (contentType, suffix) = ("application/vnd.ipld.dag-cbor", "dag-cbor")
        case .dagJSON: (contentType, suffix) = ("application/vnd.ipld.dag-json", "dag-json")
        case Multicodec(rawValue: 0x0200): (contentType, suffix) = ("application/json", "json")
        case Multicodec(rawValue: 0x51): (contentType, suffix) = ("application/cbor", "cbor")
        default:
            throw GatewayError(.notAcceptable, "\(cid.codec.name) blocks have no deserialized form here; ask for ?format=raw")
        }
        guard let bytes = try await blocks.get(cid) else { throw GatewayError(.notFound, "block \(cid) not found") }
        var meta = ResponseMeta(status: .ok, contentType: contentType, etag: "\"\(cid).\(suffix)\"", cacheControl: cacheControl(request))
        addPathFields(&meta, request, roots: [cid])
        respond(meta, body: ByteBuffer(bytes: bytes), supportsRanges: true,
                cacheKey: GatewayRequest.preparedKey(site: request.site, target: request.head.target), sink)
    }

    // MARK: Fields

    func cacheControl(_ request: GatewayRequest) -> String {
        request.site == nil ? Self.immutableCacheControl : configuration.siteCacheControl
    }

    func addPathFields(_ meta: inout ResponseMeta, _ request: GatewayRequest, roots: [CID]) {
        meta.add("X-Ipfs-Path", request.contentPath, repeatOnNotModified: true)
        meta.add("X-Ipfs-Roots", roots.map(\.description).joined(separator: ","), repeatOnNotModified: true)
    }

    /// `Content-Location` for a format negotiated by `Accept` alone, so that
    /// caches keep it apart from the deserialized response.
    func addContentLocation(_ meta: inout ResponseMeta, _ request: GatewayRequest, format: String) {
        guard request.formatFromAccept else { return }
        let query = request.rawQuery.map { $0 + "&format=" + format } ?? "format=" + format
        meta.add("Content-Location", request.rawPath + "?" + query, repeatOnNotModified: true)
    }

    /// `?filename=` and `?download=true`, as the path gateway spec describes:
    /// an ASCII fallback name (others as `_`) and the UTF-8 form (RFC 8187).
    func contentDisposition(_ request: GatewayRequest, defaultName: String?) -> String? {
        let download = request.queryValue("download") == "true"
        let name = request.queryValue("filename") ?? defaultName
        guard download || name != nil || defaultName != nil else { return nil }
        let disposition = download || defaultName != nil ? "attachment" : "inline"
        guard let name else { return disposition }
        let ascii = String(name.unicodeScalars.map { scalar -> Character in
            scalar.isASCII && scalar.value >= 0x20 && scalar != "\"" && scalar != "\\" ? Character(scalar) : "_"
        })
        var value = "\(disposition); filename=\"\(ascii)\""
        if ascii != name { value += "; filename*=UTF-8''" + URLText.encodedQueryComponent(name) }
        return value
    }

    /// Sends a response built in memory, caching it ready to send when it
    /// answers a cacheable deserialized request and fits the limit.
    func respond(_ meta: ResponseMeta, body: ByteBuffer, supportsRanges: Bool, cacheKey: [UInt8]?, _ sink: ResponseSink) {
        let prepared = PreparedResponse(meta: meta, body: body, supportsRanges: supportsRanges)
        if let cacheKey, body.readableBytes <= limits.maxPreparedBodyBytes {
            cache.insertDerivedValue(prepared, forKey: cacheKey, cost: prepared.cost)
        }
        sink.send(prepared)
    }

    static func gatewayError(for error: Error) -> GatewayError {
        switch error {
        case let error as UnixFSError:
            switch error.code {
            case .blockMissing, .notFound, .notADirectory, .malformedProtobuf, .malformedDAGPB, .malformedUnixFS, .hashMismatch:
                // The path spec: 404 when the path cannot be traversed for a missing or invalid node.
                return GatewayError(.notFound, error.description)
            case .invalidPath:
                return GatewayError(.badRequest, error.description)
            case .unsupportedCodec:
                return GatewayError(.notImplemented, error.description)
            case .notAFile, .limitExceeded, .invalidOptions:
                return GatewayError(.internalServerError, error.description)
            }
        case let error as BlockError:
            switch error.code {
            case .notFound: return GatewayError(.notFound, error.description)
            case .hashMismatch: return GatewayError(.badGateway, error.description)
            default: return GatewayError(.internalServerError, error.description)
            }
        default:
            return GatewayError(.internalServerError, "internal error")
        }
    }
}
