/// Answers the requests a router sends it.
public protocol HTTPHandler: Sendable {
    /// Called on the connection's event loop once a request's head is in;
    /// must not block. Answer through `response`: at once, on the loop (a
    /// prepared response, a pumped body), or later from a task that reads
    /// `request.body` and streams the response.
    func handle(_ request: HTTPRequest, _ response: HTTPResponseWriter)
}

/// A handler made of a closure.
public struct HTTPClosureHandler: HTTPHandler {
    private let body: @Sendable (HTTPRequest, HTTPResponseWriter) -> Void

    public init(_ body: @escaping @Sendable (HTTPRequest, HTTPResponseWriter) -> Void) {
        self.body = body
    }

    public func handle(_ request: HTTPRequest, _ response: HTTPResponseWriter) {
        body(request, response)
    }
}

/// Which request paths a route takes: `/metrics` (that path exactly),
/// `/api/v0/*` (every path below `/api/v0/`), `/*` (every path).
public struct HTTPPathPattern: Hashable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
    public let text: String
    private let isPrefix: Bool
    /// The exact path, or the prefix before `*`.
    private let stem: String

    public init(_ text: String) {
        self.text = text
        if text.hasSuffix("*") {
            isPrefix = true
            stem = String(text.dropLast())
        } else {
            isPrefix = false
            stem = text
        }
    }

    public init(stringLiteral value: String) {
        self.init(value)
    }

    public var description: String { text }

    public func matches(_ path: Substring) -> Bool {
        isPrefix ? path.utf8.starts(with: stem.utf8) : path.utf8.elementsEqual(stem.utf8)
    }

    /// Higher wins: an exact path over any prefix, a longer prefix over a shorter one.
    var specificity: Int { isPrefix ? stem.utf8.count : Int.max }
}

/// Which `Host`s a route takes (compared with the head's normalized host:
/// lowercase, no port, no trailing dot).
public enum HTTPHostPattern: Hashable, Sendable {
    /// Every host, and requests without one.
    case any
    /// This host exactly.
    case exact(String)
    /// Every host below this domain: `.subdomains(of: "example.com")` takes `a.example.com`, not `example.com`.
    case subdomains(of: String)

    func matches(_ host: String?) -> Bool {
        switch self {
        case .any: return true
        case .exact(let name): return host == name
        case .subdomains(let domain):
            guard let host, host.utf8.count > domain.utf8.count + 1 else { return false }
            return host.hasSuffix("." + domain)
        }
    }

    /// Higher wins: an exact host over a domain, a longer domain over a shorter one, any host last.
    var specificity: Int {
        switch self {
        case .any: 0
        case .subdomains(let domain): 1 + domain.utf8.count
        case .exact: Int.max
        }
    }
}

/// One route: methods (nil: any), path, host, an optional body limit, the handler.
public struct HTTPRoute: Sendable {
    public var methods: [HTTPMethod]?
    public var path: HTTPPathPattern
    public var host: HTTPHostPattern
    /// Largest request body this route reads; nil: the server's `maxBodyBytes`.
    public var maxBodyBytes: Int?
    public var handler: any HTTPHandler

    public init(methods: [HTTPMethod]?, path: HTTPPathPattern, host: HTTPHostPattern = .any, maxBodyBytes: Int? = nil,
                handler: any HTTPHandler) {
        self.methods = methods
        self.path = path
        self.host = host
        self.maxBodyBytes = maxBodyBytes
        self.handler = handler
    }
}

/// The routes of a server. A request goes to the route whose host pattern,
/// then path pattern, is the most specific match; if that route (or those
/// with the same patterns) does not take the method, the answer is 405 with
/// `Allow`; with no match, 404. Services add their routes; none knows the others'.
public struct HTTPRouter: Sendable {
    public private(set) var routes: [HTTPRoute] = []

    public init() {}

    public mutating func add(_ route: HTTPRoute) {
        routes.append(route)
    }

    public mutating func add(_ methods: [HTTPMethod]?, _ path: HTTPPathPattern, host: HTTPHostPattern = .any,
                             maxBodyBytes: Int? = nil, handler: any HTTPHandler) {
        add(HTTPRoute(methods: methods, path: path, host: host, maxBodyBytes: maxBodyBytes, handler: handler))
    }

    public mutating func add(_ methods: [HTTPMethod]?, _ path: HTTPPathPattern, host: HTTPHostPattern = .any,
                             maxBodyBytes: Int? = nil,
                             _ body: @escaping @Sendable (HTTPRequest, HTTPResponseWriter) -> Void) {
        add(methods, path, host: host, maxBodyBytes: maxBodyBytes, handler: HTTPClosureHandler(body))
    }

    public enum Match: Sendable {
        case route(HTTPRoute)
        case notFound
        case methodNotAllowed(allow: [HTTPMethod])
    }

    public func route(_ head: HTTPRequestHead) -> Match {
        let path = head.path
        var best: (host: Int, path: Int)?
        var chosen: HTTPRoute?
        var allow: [HTTPMethod] = []
        for route in routes where route.host.matches(head.host) && route.path.matches(path) {
            let rank = (route.host.specificity, route.path.specificity)
            if let current = best, rank < current { continue }
            if best.map({ rank > $0 }) ?? true {
                best = rank
                chosen = nil
                allow = []
            }
            if let methods = route.methods {
                if chosen == nil, methods.contains(head.method) { chosen = route }
                allow += methods.filter { !allow.contains($0) }
            } else if chosen == nil {
                chosen = route
            }
        }
        if let chosen { return .route(chosen) }
        return best == nil ? .notFound : .methodNotAllowed(allow: allow)
    }
}
