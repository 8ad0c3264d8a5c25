import Blocks
import CAR
import ContentCache
import Logging
import Multiformats
import NIOCore
import NIOHTTP1
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

    private var limits: GatewayConfiguration.Limits { configuration.limits }

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

    private static func resolvedPath(_ node: UnixFSNode) -> ResolvedPath {
        let kind: ResolvedPath.Kind
        switch node.kind {
        case .file: kind = .file
        case .directory, .hamtDirectory: kind = .directory
        case .symlink: kind = .symlink
        }
        return ResolvedPath(cid: node.cid, size: node.size, kind: kind)
    }

    // MARK: Deserialized responses

    private func serveDeserialized(_ request: GatewayRequest, _ sink: ResponseSink) async throws {
        let root = request.root
        guard root.codec == .dagPB || root.codec == .raw else {
            guard request.components.isEmpty else {
                throw GatewayError(.notImplemented, "paths into \(root.codec.name) data are not supported")
            }
            return try await serveCodecBlock(request, sink)
        }
        let cacheKey = request.head.serviceWorker == nil && !request.head.acceptsExplicitFormat
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
    private func serve(_ resolution: Resolution, _ request: GatewayRequest, _ sink: ResponseSink,
                       status: HTTPResponseStatus, redirectsDirectories: Bool, cacheKey: [UInt8]?) async throws {
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

    private func serveFile(_ resolution: Resolution, _ request: GatewayRequest, _ sink: ResponseSink,
                           status: HTTPResponseStatus, name: String?, roots: [CID], cacheKey: [UInt8]?) async throws {
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
    private func sniff(_ node: UnixFSNode) async throws -> String {
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

    private func serveListing(_ resolution: Resolution, _ request: GatewayRequest, _ sink: ResponseSink,
                              status: HTTPResponseStatus, cacheKey: [UInt8]?) async throws {
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
    private func serveCodecBlock(_ request: GatewayRequest, _ sink: ResponseSink) async throws {
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

    // MARK: Websites

    /// The implicit last rule of a single-page application.
    private static let spaRule = try! RedirectsFile.Rule(from: "/*", to: "/index.html", status: 200)

    /// A site path that names nothing: the first matching `_redirects` rule
    /// (plus the SPA fallback), else the site's `/404.html` with 404, else a plain 404.
    private func serveSiteFallback(_ request: GatewayRequest, _ site: Site, reason: String, _ sink: ResponseSink,
                                   cacheKey: [UInt8]?) async throws {
        var rules = try await redirects(site.root)?.rules ?? []
        if site.spa { rules.append(Self.spaRule) }
        let path = "/" + request.components.joined(separator: "/")
        if let match = RedirectsFile(rules: rules).match(path: path) {
            let status = HTTPResponseStatus(statusCode: match.status)
            switch match.status {
            case 301, 302, 303, 307, 308:
                var meta = ResponseMeta(status: status, cacheControl: configuration.siteCacheControl)
                meta.add("Location", Self.mergingQuery(match.target, request.rawQuery))
                respond(meta, body: ByteBuffer(), supportsRanges: false, cacheKey: cacheKey, sink)
                return
            case 200:
                let components = try Self.components(ofTarget: match.target)
                if case .found(let target) = try await resolve(site.root, components) {
                    try await serve(target, request, sink, status: .ok, redirectsDirectories: false, cacheKey: cacheKey)
                    return
                }
            default:
                let components = try Self.components(ofTarget: match.target)
                if case .found(let page) = try await resolve(site.root, components), page.resolved.kind == .file {
                    try await serveFile(page, request, sink, status: status, name: components.last, roots: page.roots,
                                        cacheKey: cacheKey)
                    return
                }
                throw GatewayError(status, status.reasonPhrase)
            }
        }
        if case .found(let page) = try await resolve(site.root, ["404.html"]), page.resolved.kind == .file {
            try await serveFile(page, request, sink, status: .notFound, name: "404.html", roots: page.roots, cacheKey: cacheKey)
            return
        }
        throw GatewayError(.notFound, reason)
    }

    /// What a site's `_redirects` says, cached per root as a derived value
    /// (also when absent or invalid). An invalid file is a 500, as the
    /// specification requires.
    private func redirects(_ root: CID) async throws -> RedirectsFile? {
        enum Entry: Sendable {
            case absent
            case rules(RedirectsFile)
            case invalid(String)
        }
        let key = [0x72] + root.bytes
        var entry = cache.derivedValue(forKey: key) as? Entry
        if entry == nil {
            var cost = 0
            switch try await resolve(root, ["_redirects"]) {
            case .missing:
                entry = .absent
            case .found(let file) where file.resolved.kind != .file:
                entry = .invalid("_redirects is not a file")
            case .found(let file) where file.resolved.size > UInt64(RedirectsFile.maxSize):
                entry = .invalid("_redirects is \(file.resolved.size) bytes; at most \(RedirectsFile.maxSize) are allowed")
            case .found(let file):
                var bytes: [UInt8] = []
                try await reader.read(file.resolved.cid) { bytes.append(contentsOf: $0) }
                cost = bytes.count
                do {
                    entry = .rules(try RedirectsFile(parsing: bytes))
                } catch {
                    entry = .invalid(error.description)
                }
            }
            cache.insertDerivedValue(entry!, forKey: key, cost: cost)
        }
        switch entry! {
        case .absent: return nil
        case .rules(let file): return file
        case .invalid(let reason): throw GatewayError(.internalServerError, "cannot use this site's _redirects: \(reason)")
        }
    }

    /// The decoded components of a rewrite or error-page target (`/a/b?x` → ["a", "b"]).
    private static func components(ofTarget target: String) throws(GatewayError) -> [String] {
        guard target.first == "/" else {
            throw GatewayError(.internalServerError, "_redirects: a 200/404/410/451 rule must name a path, not \(target)")
        }
        let path = target.prefix { $0 != "?" && $0 != "#" }
        do {
            return try GatewayRequest.decodedSegments(path)
        } catch {
            throw GatewayError(.internalServerError, "_redirects: invalid target \(target): \(error.message)")
        }
    }

    /// A redirect target with the request's query merged in: the request's
    /// parameters win over the rule's static ones with the same name.
    static func mergingQuery(_ target: String, _ rawQuery: String?) -> String {
        guard let rawQuery, !rawQuery.isEmpty else { return target }
        let parts = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let requestItems = URLText.queryItems(rawQuery)
        let requestKeys = Set(requestItems.map(\.key))
        let staticItems = parts.count > 1 ? URLText.queryItems(parts[1]).filter { !requestKeys.contains($0.key) } : []
        let query = (staticItems + requestItems).map {
            URLText.encodedQueryComponent($0.key) + "=" + URLText.encodedQueryComponent($0.value)
        }.joined(separator: "&")
        return parts[0] + "?" + query
    }

    // MARK: Trustless responses

    /// `?format=raw`: the block the path names, as is.
    private func serveBlock(_ request: GatewayRequest, _ sink: ResponseSink) async throws {
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
    private func serveCAR(_ request: GatewayRequest, _ parameters: CARParameters, _ sink: ResponseSink) async throws {
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
        if let condition = request.head.ifNoneMatch, EntityTag.noneMatchHits(condition, etag) {
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
    private static func carVariant(_ request: GatewayRequest, _ parameters: CARParameters) -> String {
        var text = request.rawPath + "|" + parameters.scope.rawValue + "|" + (parameters.duplicates ? "y" : "n")
        if let bytes = parameters.entityBytes { text += "|\(bytes.from):\(bytes.to.map(String.init) ?? "*")" }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01B3
        }
        return String(hash, radix: 36)
    }

    // MARK: Fields

    private func cacheControl(_ request: GatewayRequest) -> String {
        request.site == nil ? Self.immutableCacheControl : configuration.siteCacheControl
    }

    private func addPathFields(_ meta: inout ResponseMeta, _ request: GatewayRequest, roots: [CID]) {
        meta.add("X-Ipfs-Path", request.contentPath, repeatOnNotModified: true)
        meta.add("X-Ipfs-Roots", roots.map(\.description).joined(separator: ","), repeatOnNotModified: true)
    }

    /// `Content-Location` for a format negotiated by `Accept` alone, so that
    /// caches keep it apart from the deserialized response.
    private func addContentLocation(_ meta: inout ResponseMeta, _ request: GatewayRequest, format: String) {
        guard request.formatFromAccept else { return }
        let query = request.rawQuery.map { $0 + "&format=" + format } ?? "format=" + format
        meta.add("Content-Location", request.rawPath + "?" + query, repeatOnNotModified: true)
    }

    /// `?filename=` and `?download=true`, as the path gateway spec describes:
    /// an ASCII fallback name (others as `_`) and the UTF-8 form (RFC 8187).
    private func contentDisposition(_ request: GatewayRequest, defaultName: String?) -> String? {
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
    private func respond(_ meta: ResponseMeta, body: ByteBuffer, supportsRanges: Bool, cacheKey: [UInt8]?, _ sink: ResponseSink) {
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

/// Gathers body bytes into chunks of `chunkSize` and writes each through the
/// sink, which waits for the socket to drain. Used by one task at a time.
final class BodyChunker {
    private let sink: ResponseSink
    private let chunkSize: Int
    private var chunk: ByteBuffer
    private var sectionPrefix: [UInt8] = []

    init(sink: ResponseSink, chunkSize: Int) {
        self.sink = sink
        self.chunkSize = chunkSize
        chunk = ByteBufferAllocator().buffer(capacity: chunkSize)
    }

    func append(_ bytes: some Collection<UInt8>) async throws {
        var rest = bytes[...]
        while !rest.isEmpty {
            let room = chunkSize - chunk.readableBytes
            let piece = rest.prefix(room)
            chunk.writeBytes(piece)
            rest = rest.dropFirst(piece.count)
            if chunk.readableBytes >= chunkSize { try await flush() }
        }
    }

    /// A CAR section: length, CID, block.
    func appendSection(cid: CID, block: [UInt8]) async throws {
        sectionPrefix.removeAll(keepingCapacity: true)
        CAREncoder.appendSectionPrefix(cid: cid, blockSize: block.count, to: &sectionPrefix)
        try await append(sectionPrefix)
        try await append(block)
    }

    func flush() async throws {
        guard chunk.readableBytes > 0 else { return }
        let full = chunk
        chunk = ByteBufferAllocator().buffer(capacity: chunkSize)
        try await sink.write(full)
    }
}

/// Cuts a file's bytes, arriving in order from `start`, at segment
/// boundaries; writes each piece through the sink and caches the whole
/// segments (a piece that starts mid-segment, at a range's start, is not).
final class SegmentWriter {
    private let segments: FileSegments
    private let sink: ResponseSink
    private let cache: ContentCache
    private var buffer: ByteBuffer
    /// File offset of the buffer's first byte, and of the next byte.
    private var bufferStart: UInt64
    private var offset: UInt64

    init(segments: FileSegments, start: UInt64, sink: ResponseSink, cache: ContentCache) {
        self.segments = segments
        self.sink = sink
        self.cache = cache
        buffer = ByteBufferAllocator().buffer(capacity: segments.segmentSize)
        bufferStart = start
        offset = start
    }

    func append(_ bytes: ArraySlice<UInt8>) async throws {
        var rest = bytes
        let segmentSize = UInt64(segments.segmentSize)
        while !rest.isEmpty {
            let segmentEnd = min((offset / segmentSize + 1) * segmentSize, segments.size)
            let count = min(rest.count, Int(segmentEnd - offset))
            buffer.writeBytes(rest.prefix(count))
            rest = rest.dropFirst(count)
            offset += UInt64(count)
            if offset == segmentEnd { try await emit() }
        }
    }

    /// Sends what is buffered (the end of a range that stops mid-segment).
    func finish() async throws {
        if buffer.readableBytes > 0 { try await emit() }
    }

    private func emit() async throws {
        let piece = buffer
        let index = Int(bufferStart / UInt64(segments.segmentSize))
        if segments.range(of: index) == bufferStart..<offset {
            cache.insertDerivedValue(piece, forKey: segments.key(index), cost: piece.capacity)
        }
        buffer = ByteBufferAllocator().buffer(capacity: segments.segmentSize)
        bufferStart = offset
        try await sink.write(piece)
    }
}

/// A block source that remembers what it returned, in order.
final class RecordingSource: BlockSource {
    private let base: any BlockSource
    private let recorded = Mutex<[(cid: CID, bytes: [UInt8])]>([])

    init(_ base: any BlockSource) {
        self.base = base
    }

    var records: [(cid: CID, bytes: [UInt8])] { recorded.withLock { $0 } }

    func get(_ cid: CID) async throws -> [UInt8]? {
        let bytes = try await base.get(cid)
        if let bytes { recorded.withLock { $0.append((cid, bytes)) } }
        return bytes
    }

    func has(_ cid: CID) async throws -> Bool { try await base.has(cid) }
}
