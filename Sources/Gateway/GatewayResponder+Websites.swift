import ContentCache
import HTTPServer
import Multiformats
import NIOCore

/// Websites: what a site answers for a path that names nothing (`_redirects`,
/// the SPA fallback, `404.html`). Behaviour: formats/gateway.md, sections 5 and 6.
extension GatewayResponder {
    /// The implicit last rule of a single-page application.
    private static let spaRule = try! RedirectsFile.Rule(from: "/*", to: "/index.html", status: 200)

    /// A site path that names nothing: the first matching `_redirects` rule
    /// (plus the SPA fallback), else the site's `/404.html` with 404, else a plain 404.
    func serveSiteFallback(_ request: GatewayRequest, _ site: Site, reason: String, _ sink: ResponseSink,
                                   cacheKey: [UInt8]?) async throws {
        var rules = try await redirects(site.root)?.rules ?? []
        if site.spa { rules.append(Self.spaRule) }
        let path = "/" + request.components.joined(separator: "/")
        if let match = RedirectsFile(rules: rules).match(path: path) {
            let status = HTTPStatus(statusCode: match.status)
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
    func redirects(_ root: CID) async throws -> RedirectsFile? {
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
    static func components(ofTarget target: String) throws(GatewayError) -> [String] {
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
}
