import ContentCache
import HTTPServer
import Logging
import NIOCore

/// What every request of one gateway shares (a class: requests hold one reference).
final class GatewayServices: Sendable {
    let configuration: GatewayConfiguration
    let responder: GatewayResponder
    let cache: ContentCache
    let sites: any SiteResolver
    let logger: Logger
    /// Where request tasks run (not the cooperative pool: see `ServingExecutor`).
    let executor: any TaskExecutor

    init(configuration: GatewayConfiguration, responder: GatewayResponder, cache: ContentCache, sites: any SiteResolver,
         logger: Logger, executor: any TaskExecutor) {
        self.configuration = configuration
        self.responder = responder
        self.cache = cache
        self.sites = sites
        self.logger = logger
        self.executor = executor
    }
}

/// The gateway on the HTTP core: answers warm requests from ready responses
/// in the content cache on the event loop (a cache probe, one gathering
/// write, large files pumped from their cached segments), and hands the
/// others to a task running `GatewayResponder`. Behaviour: formats/gateway.md.
struct GatewayHandler: HTTPHandler {
    let services: GatewayServices

    func handle(_ request: HTTPRequest, _ response: HTTPResponseWriter) {
        let head = request.head
        let fields = GatewayFields(head)
        let sink = ResponseSink(writer: response, fields: fields, services: services)
        guard head.method == .get || head.method == .head else {
            // A body we do not read would have to be skipped: close instead.
            if head.hasBody { response.closeAfterResponse() }
            response.fail(.methodNotAllowed, "only GET and HEAD are supported", fields: [("Allow", "GET, HEAD")])
            return
        }
        guard !head.hasBody else {
            response.closeAfterResponse()
            response.fail(.badRequest, "GET and HEAD requests may not have a body")
            return
        }

        let site = head.host.flatMap(services.sites.site(forHost:))
        if !fields.acceptsExplicitFormat, fields.serviceWorker == nil,
           let prepared = services.cache.derivedValue(forKey: GatewayRequest.preparedKey(site: site, target: head.target))
               as? PreparedResponse {
            sink.send(prepared)
            return
        }

        let gatewayRequest: GatewayRequest
        do {
            gatewayRequest = try GatewayRequest.route(head, fields: fields, site: site)
        } catch {
            sink.fail(error)
            return
        }
        let responder = services.responder
        response.cancelOnClose(Task(executorPreference: services.executor) {
            await responder.respond(to: gatewayRequest, sink: sink)
        })
    }
}

/// The responder's handle on its response: the core's writer, plus what
/// the gateway adds (a prepared response's 206/304/416 forms, bodies pumped
/// from cached segments).
struct ResponseSink: Sendable {
    let writer: HTTPResponseWriter
    let fields: GatewayFields
    let services: GatewayServices

    /// Sends a whole response; `If-None-Match` and `Range` are applied to it.
    func send(_ prepared: PreparedResponse) {
        if writer.eventLoop.inEventLoop {
            respond(with: prepared)
        } else {
            let sink = self
            writer.eventLoop.execute { sink.respond(with: prepared) }
        }
    }

    /// Sends an error response, or cuts the connection if the head already went out.
    func fail(_ error: GatewayError) {
        if error.closesConnection { writer.closeAfterResponse() }
        writer.fail(error.status, error.message, fields: error.extraFields.map { ("\($0.name)", $0.value) })
    }

    func begin(head: ByteBuffer, status: HTTPStatus, contentLength: UInt64?) async throws {
        try await writer.begin(head: head, status: status, framing: contentLength.map { .length($0) } ?? .streamed)
    }

    /// Writes a body chunk; returns when the socket can take more.
    func write(_ chunk: ByteBuffer) async throws {
        try await writer.write(chunk)
    }

    func end() { writer.end() }

    func abort() { writer.abort() }

    /// On the event loop: an inline body goes out at once; a large file's is
    /// pumped from its cached segments until one is missing, then a responder
    /// task streams the rest, filling the cache as it goes.
    private func respond(with prepared: PreparedResponse) {
        let form = prepared.form(for: fields)
        guard case .segments(let segments, let range)? = form.body else {
            if case .buffer(let body)? = form.body {
                writer.send(head: form.head, status: form.status, body: body)
            } else {
                writer.send(head: form.head, status: form.status)
            }
            return
        }
        writer.start(head: form.head, status: form.status, framing: .lengthInHead)
        let cache = services.cache
        let segmentSize = UInt64(segments.segmentSize)
        var next = range.lowerBound
        writer.pump { [self] in
            guard next < range.upperBound else { return .finished }
            let index = Int(next / segmentSize)
            let covered = segments.range(of: index)
            guard let segment = cache.derivedValue(forKey: segments.key(index)) as? ByteBuffer,
                  segment.readableBytes == covered.count else {
                handOff(segments, next..<range.upperBound)
                return .stop
            }
            let upper = min(range.upperBound, covered.upperBound)
            let piece = segment.getSlice(at: segment.readerIndex + Int(next - covered.lowerBound), length: Int(upper - next))!
            next = upper
            return .write(piece)
        }
    }

    /// Streams the rest of a pumped body from a responder task.
    private func handOff(_ segments: FileSegments, _ range: Range<UInt64>) {
        let responder = services.responder
        let sink = self
        writer.cancelOnClose(Task(executorPreference: services.executor) {
            await responder.stream(segments, range: range, sink: sink)
        })
    }
}
