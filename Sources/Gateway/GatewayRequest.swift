import HTTPServer
import Multiformats

/// An HTTP error response the gateway chose: status, short text, and whether
/// the connection must close after it.
struct GatewayError: Error, Sendable {
    var status: HTTPStatus
    var message: String
    var closesConnection = false
    var extraFields: [(name: StaticString, value: String)] = []

    init(_ status: HTTPStatus, _ message: String, closesConnection: Bool = false) {
        self.status = status
        self.message = message
        self.closesConnection = closesConnection
    }
}

/// The request header fields the gateway reads, taken from the head once.
struct GatewayFields: Sendable {
    var isHead: Bool
    var range: String?
    var ifNoneMatch: String?
    var ifRange: String?
    var accept: String?
    var cacheControl: String?
    var serviceWorker: String?
    /// Whether `Accept` names a media type of an explicit response format
    /// (`application/vnd.ipld.*`, `application/vnd.ipfs.*`, `application/x-tar`):
    /// such a request can never be answered from a cached deserialized response.
    var acceptsExplicitFormat = false

    init(_ head: HTTPRequestHead) {
        isHead = head.method == .head
        let headers = head.headers
        guard !headers.isEmpty else { return }
        range = headers["range"]
        ifNoneMatch = headers["if-none-match"]
        ifRange = headers["if-range"]
        accept = headers["accept"]
        cacheControl = headers["cache-control"]
        serviceWorker = headers["service-worker"]
        if let accept {
            let lowered = accept.lowercased()
            acceptsExplicitFormat = lowered.contains("application/vnd.ipld") || lowered.contains("application/vnd.ipfs")
                || lowered.contains("application/x-tar")
        }
    }
}

/// The trustless gateway's CAR parameters (`dag-scope`, `entity-bytes`,
/// `car-version`, `car-order`, `car-dups`), from the query or the `Accept` parameters.
struct CARParameters: Hashable, Sendable {
    enum Scope: String, Hashable, Sendable {
        case block, entity, all
    }

    var scope: Scope = .all
    var entityBytes: EntityBytes?
    /// `car-dups=y`: a block is sent every time the walk meets it.
    var duplicates = false
}

/// How the response represents the content.
enum ResponseFormat: Hashable, Sendable {
    /// Files as their bytes, directories as index.html or a listing.
    case deserialized
    /// `application/vnd.ipld.raw`: the block itself.
    case raw
    /// `application/vnd.ipld.car`: a CARv1 stream.
    case car(CARParameters)
}

/// A request the gateway understood: the content root, the path below it,
/// the response format. Built by `route`, a pure function of the head and
/// the site its `Host` names.
struct GatewayRequest: Sendable {
    enum Namespace: Sendable {
        /// `/ipfs/{cid}/…` on the path gateway.
        case ipfs
        /// A website named by `Host`; paths are relative to its root.
        case site(Site)
    }

    var head: HTTPRequestHead
    var fields: GatewayFields
    var namespace: Namespace
    var root: CID
    /// Decoded path components below the root (no empty ones, no `.` or `..`).
    var components: [String]
    /// Whether the URL path ends with `/`.
    var trailingSlash: Bool
    /// The URL path as sent, escapes kept, without the query.
    var rawPath: String
    /// The query as sent, without `?`; nil when absent.
    var rawQuery: String?
    var query: [(key: String, value: String)]
    var format: ResponseFormat
    /// Whether the format came from `Accept` rather than `?format=`.
    var formatFromAccept: Bool

    var isHead: Bool { fields.isHead }

    var site: Site? {
        if case .site(let site) = namespace { return site }
        return nil
    }

    /// `X-Ipfs-Path`: the content path requested, before resolution.
    var contentPath: String {
        switch namespace {
        case .ipfs: rawPath
        case .site: "/ipfs/\(root)" + (rawPath == "/" ? "" : rawPath)
        }
    }

    func queryValue(_ key: String) -> String? {
        query.first { $0.key == key }?.value
    }

    var onlyIfCached: Bool {
        fields.cacheControl?.split(separator: ",").contains { $0.trimmingWhitespace().lowercased() == "only-if-cached" } ?? false
    }

    /// Where a deserialized response to this request is cached ready to send:
    /// the namespace (site root and SPA flag, or the path gateway) and the
    /// exact target. Identical targets under one namespace always get
    /// identical responses, and a site that moves to a new root gets new keys.
    static func preparedKey(site: Site?, target: String) -> [UInt8] {
        var key: [UInt8] = site.map { [$0.spa ? 0x53 : 0x73] + $0.root.bytes } ?? [0x70]
        key.append(contentsOf: target.utf8)
        return key
    }

    /// Interprets a GET or HEAD head.
    static func route(_ head: HTTPRequestHead, fields: GatewayFields, site: Site?) throws(GatewayError) -> GatewayRequest {
        let target = head.target
        guard target.first == "/" else { throw GatewayError(.badRequest, "the request-target must be a path") }
        let rawPath: Substring
        let rawQuery: String?
        if let question = target.firstIndex(of: "?") {
            rawPath = target[..<question]
            rawQuery = String(target[target.index(after: question)...])
        } else {
            rawPath = target[...]
            rawQuery = nil
        }
        let segments = try decodedSegments(rawPath)
        let trailingSlash = rawPath.hasSuffix("/")
        let query = rawQuery.map(URLText.queryItems) ?? []

        let namespace: Namespace
        let root: CID
        let components: [String]
        if let site {
            namespace = .site(site)
            root = site.root
            components = segments
        } else {
            guard let first = segments.first else { throw GatewayError(.notFound, "this is an IPFS gateway: request /ipfs/{cid}") }
            switch first {
            case "ipfs":
                guard segments.count >= 2 else { throw GatewayError(.badRequest, "no CID after /ipfs/") }
                do {
                    root = try CID(segments[1])
                } catch {
                    throw GatewayError(.badRequest, "invalid CID \"\(segments[1])\": \(error)")
                }
                namespace = .ipfs
                components = Array(segments.dropFirst(2))
            case "ipns":
                throw GatewayError(.notImplemented, "/ipns/ is not supported by this gateway")
            default:
                throw GatewayError(.notFound, "no such path: this is an IPFS gateway, request /ipfs/{cid}")
            }
            // A service worker could take over every CID on this origin from /ipfs/{cid}; only {cid}/ scopes are allowed.
            if fields.serviceWorker?.lowercased() == "script", components.isEmpty, !trailingSlash {
                throw GatewayError(.badRequest, "a service worker may not be registered at the root of a CID without a trailing slash")
            }
        }

        let (format, fromAccept) = try negotiateFormat(query: query, accept: fields.accept)
        return GatewayRequest(head: head, fields: fields, namespace: namespace, root: root, components: components,
                              trailingSlash: trailingSlash, rawPath: String(rawPath), rawQuery: rawQuery, query: query,
                              format: format, formatFromAccept: fromAccept)
    }

    /// Splits a URL path on `/` first, then decodes each segment, so that an
    /// encoded slash stays inside its segment (and is refused there).
    static func decodedSegments(_ rawPath: Substring) throws(GatewayError) -> [String] {
        var segments: [String] = []
        for raw in rawPath.split(separator: "/", omittingEmptySubsequences: true) {
            guard let bytes = URLText.percentDecoded(raw) else {
                throw GatewayError(.badRequest, "malformed percent-encoding in the path")
            }
            guard let segment = String(validating: bytes, as: UTF8.self) else {
                throw GatewayError(.badRequest, "the path is not UTF-8")
            }
            guard segment != "." && segment != ".." else {
                throw GatewayError(.badRequest, "\".\" and \"..\" segments are not allowed in the path")
            }
            guard !bytes.contains(UInt8(ascii: "/")) && !bytes.contains(0) else {
                throw GatewayError(.badRequest, "a path segment may not contain an encoded \"/\" or NUL")
            }
            segments.append(segment)
        }
        return segments
    }

    /// `?format=` first (IPIP-523), else the first explicit format in `Accept`.
    static func negotiateFormat(query: [(key: String, value: String)], accept: String?) throws(GatewayError) -> (ResponseFormat, Bool) {
        var acceptParameters: [String: String] = [:]
        var acceptedFormat: String?
        var acceptsOthers = accept == nil
        for range in (accept ?? "").split(separator: ",") {
            let parts = range.split(separator: ";").map { $0.trimmingWhitespace() }
            guard let type = parts.first?.lowercased(), !type.isEmpty else { continue }
            var parameters: [String: String] = [:]
            for parameter in parts.dropFirst() {
                let pair = parameter.split(separator: "=", maxSplits: 1)
                guard pair.count == 2 else { continue }
                parameters[pair[0].trimmingWhitespace().lowercased()] = pair[1].trimmingWhitespace().trimmingCharacters(in: "\"")
            }
            if parameters["q"].flatMap(Double.init) == 0 { continue }
            if type.hasPrefix("application/vnd.ipld.") || type.hasPrefix("application/vnd.ipfs.") || type == "application/x-tar" {
                if acceptedFormat == nil {
                    acceptedFormat = type
                    acceptParameters = parameters
                }
            } else {
                acceptsOthers = true
            }
        }

        let formatParameter = query.first { $0.key == "format" }?.value
        let mediaType: String
        let fromAccept: Bool
        if let formatParameter {
            switch formatParameter {
            case "raw": mediaType = "application/vnd.ipld.raw"
            case "car": mediaType = "application/vnd.ipld.car"
            case "tar", "dag-json", "dag-cbor", "json", "cbor", "ipns-record":
                throw GatewayError(.notAcceptable, "format=\(formatParameter) is not supported by this gateway; use raw or car")
            default:
                throw GatewayError(.badRequest, "unknown format \"\(formatParameter)\"")
            }
            fromAccept = false
            if acceptedFormat != mediaType { acceptParameters = [:] }
        } else if let acceptedFormat {
            switch acceptedFormat {
            case "application/vnd.ipld.raw", "application/vnd.ipld.car":
                mediaType = acceptedFormat
            default:
                guard acceptsOthers else {
                    throw GatewayError(.notAcceptable, "\(acceptedFormat) is not supported by this gateway")
                }
                return (.deserialized, false)
            }
            fromAccept = true
        } else {
            return (.deserialized, false)
        }

        guard mediaType == "application/vnd.ipld.car" else { return (.raw, fromAccept) }
        var parameters = CARParameters()
        let version = query.first { $0.key == "car-version" }?.value ?? acceptParameters["version"]
        if let version, version != "1" {
            throw GatewayError(.badRequest, "unsupported CAR version \(version): only version=1 is supported")
        }
        let order = query.first { $0.key == "car-order" }?.value ?? acceptParameters["order"]
        if let order, order != "dfs", order != "unk" {
            throw GatewayError(.badRequest, "unsupported CAR order \(order): dfs or unk")
        }
        switch query.first(where: { $0.key == "car-dups" })?.value ?? acceptParameters["dups"] {
        case nil, "n": parameters.duplicates = false
        case "y": parameters.duplicates = true
        case let other?: throw GatewayError(.badRequest, "invalid car-dups \(other): y or n")
        }
        if let scope = query.first(where: { $0.key == "dag-scope" })?.value {
            guard let parsed = CARParameters.Scope(rawValue: scope) else {
                throw GatewayError(.badRequest, "invalid dag-scope \(scope): block, entity or all")
            }
            parameters.scope = parsed
        }
        if let bytes = query.first(where: { $0.key == "entity-bytes" })?.value {
            guard let parsed = EntityBytes(parsing: bytes) else {
                throw GatewayError(.badRequest, "invalid entity-bytes \(bytes): from:to, integers or *")
            }
            parameters.entityBytes = parsed
            parameters.scope = .entity
        }
        return (.car(parameters), fromAccept)
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in characters: String) -> String {
        var result = self
        while let first = result.first, characters.contains(first) { result = result.dropFirst() }
        while let last = result.last, characters.contains(last) { result = result.dropLast() }
        return String(result)
    }
}
