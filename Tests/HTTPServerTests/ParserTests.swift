import HTTPServer
import NIOCore
import Testing

/// The pure parser: heads, fixed-length and chunked bodies, in any number of pieces.
@Suite struct HTTPRequestParserTests {
    /// Feeds `text` in `pieces` pieces; returns every part, body bytes joined per request.
    static func parse(_ text: String, limits: HTTPRequestParser.Limits = .init(),
                      pieces: Int = 1) throws(HTTPParseError) -> [Parsed] {
        var parser = HTTPRequestParser(limits: limits)
        var buffer = ByteBuffer()
        var parsed: [Parsed] = []
        let bytes = Array(text.utf8)
        let size = max(1, (bytes.count + pieces - 1) / pieces)
        var offset = 0
        func drain() throws(HTTPParseError) {
            while let part = try parser.parse(&buffer) {
                switch part {
                case .head(let head): parsed.append(Parsed(head: head))
                case .body(let body):
                    #expect(body.readableBytes > 0, "body parts are never empty")
                    parsed[parsed.count - 1].body += body.readableBytesView
                case .end: parsed[parsed.count - 1].ended = true
                }
            }
        }
        while offset < bytes.count {
            buffer.writeBytes(bytes[offset..<min(bytes.count, offset + size)])
            offset += size
            try drain()
        }
        return parsed
    }

    struct Parsed {
        var head: HTTPRequestHead
        var body: [UInt8] = []
        var ended = false
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    @Test(arguments: [1, 3, 7, 1000])
    func headsInAnyNumberOfPieces(pieces: Int) throws {
        let text = "\r\nGET /ipfs/x?y=1 HTTP/1.1\r\nHOST: Example.COM.:8080\r\nRange: bytes=0-1\r\nAccept: text/html\r\n"
            + "accept: application/vnd.ipld.raw\r\nIf-None-Match: \"a\"\r\nConnection: keep-alive, Close\r\n"
            + "X-Other:  spaced  \r\n\r\nHEAD / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
        let requests = try Self.parse(text, pieces: pieces)
        #expect(requests.count == 2)
        let first = requests[0].head
        #expect(first.method == .get && first.version == .http1_1)
        #expect(first.target == "/ipfs/x?y=1" && first.path == "/ipfs/x" && first.query == "y=1")
        #expect(first.host == "example.com")
        #expect(first.headers["range"] == "bytes=0-1")
        #expect(first.headers["Accept"] == "text/html, application/vnd.ipld.raw", "repeated fields join")
        #expect(first.headers.values("ACCEPT") == ["text/html", "application/vnd.ipld.raw"])
        #expect(first.headers.first("accept") == "text/html")
        #expect(first.headers["x-other"] == "spaced", "values are trimmed")
        #expect(first.headers["x-missing"] == nil && !first.headers.contains("x-missing"))
        #expect(first.headers.count == 7)
        #expect(Array(first.headers).first?.name == "HOST", "names keep their case")
        #expect(!first.keepAlive, "Connection: close wins")
        #expect(!first.hasBody && !requests[0].ended, "no end part for a request without a body")
        let second = requests[1].head
        #expect(second.method == .head && second.version == .http1_0 && second.host == nil && second.keepAlive)
    }

    @Test func absoluteFormHostsAndOpenMethods() throws {
        let absolute = try Self.parse("GET http://Site.Example:80/a/b?c HTTP/1.1\r\nHost: other\r\n\r\n")[0].head
        #expect(absolute.host == "site.example" && absolute.target == "/a/b?c")
        let bare = try Self.parse("GET https://site.example HTTP/1.1\r\n\r\n")[0].head
        #expect(bare.target == "/")
        let ipv6 = try Self.parse("GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n")[0].head
        #expect(ipv6.host == "[::1]")
        let brew = try Self.parse("BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n")[0].head
        #expect(brew.method == HTTPMethod(rawValue: "BREW") && brew.method.rawValue == "BREW")
        #expect(try Self.parse("PROPFIND / HTTP/1.1\r\nHost: x\r\n\r\n")[0].head.method == "PROPFIND")
    }

    @Test(arguments: [1, 2, 5, 13, 1000])
    func fixedLengthAndChunkedBodies(pieces: Int) throws {
        let text = "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world"
            + "PUT /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nExpect: 100-Continue\r\n\r\n"
            + "5\r\nhello\r\n1;name=value\r\n \r\nA \r\n0123456789\r\n0\r\nChecksum: abc\r\n\r\n"
            + "POST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
            + "GET /d HTTP/1.1\r\nHost: x\r\n\r\n"
        let requests = try Self.parse(text, pieces: pieces)
        #expect(requests.map(\.head.target) == ["/a", "/b", "/c", "/d"])
        #expect(requests[0].head.framing == .length(11) && requests[0].text == "hello world" && requests[0].ended)
        #expect(!requests[0].head.expectsContinue)
        #expect(requests[1].head.framing == .chunked && requests[1].text == "hello 0123456789" && requests[1].ended)
        #expect(requests[1].head.expectsContinue)
        #expect(requests[2].head.framing == .none && !requests[2].ended, "Content-Length: 0 is no body")
        #expect(requests[3].body.isEmpty)
    }

    @Test func bodyPartsAreSlicesOfTheInput() throws {
        var parser = HTTPRequestParser()
        var buffer = ByteBuffer(string: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nabcdGET")
        guard case .head = try parser.parse(&buffer) else { Issue.record("no head"); return }
        guard case .body(let body) = try parser.parse(&buffer) else { Issue.record("no body"); return }
        #expect(String(buffer: body) == "abcd")
        #expect(parser.endIsDue && parser.isInBody)
        guard case .end = try parser.parse(&buffer) else { Issue.record("no end"); return }
        #expect(!parser.isInBody && buffer.readableBytes == 3, "the next request's bytes stay in the buffer")
        let next = try parser.parse(&buffer)
        #expect(next == nil && parser.isPartway)
    }

    @Test func headErrors() {
        let limits = HTTPRequestParser.Limits(maxURILength: 64, maxHeaderBytes: 128, maxHeaderCount: 4)
        let long = String(repeating: "x", count: 100)
        let cases: [(String, HTTPParseError, UInt)] = [
            ("GET /\(long) HTTP/1.1\r\nHost: x\r\n\r\n", .uriTooLong, 414),
            ("GET /\(long)\(long)", .uriTooLong, 414),
            ("GET / HTTP/1.1\r\nHost: x\r\nA: \(long)\(long)\r\n\r\n", .headersTooLarge, 431),
            ("GET / HTTP/1.1\r\nHost: x\r\nA: \(long)\(long)", .headersTooLarge, 431),
            ("GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", .headersTooLarge, 431),
            ("GET / HTTP/3.0\r\nHost: x\r\n\r\n", .unsupportedVersion, 505),
            ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", .unsupportedTransferCoding, 501),
            ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", .unsupportedTransferCoding, 501),
            ("POST / HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\nContent-Length: 1\r\n\r\n", .unsupportedExpectation, 417),
        ]
        for (text, expected, status) in cases {
            let error = #expect(throws: expected, "\(text.prefix(40))") { try Self.parse(text, limits: limits) }
            #expect(error?.status.code == status)
        }
        for text in ["GET / HTTP/1.1\r\n\r\n", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "GET / HTTP/1.1\r\nHost : x\r\n\r\n",
                     "GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", "GET / HTTP/1.1\nHost: x\r\n\r\n",
                     "GET / HTTP/1.1\r\nHost: x\rY: z\r\n\r\n", "GET /a b HTTP/1.1\r\nHost: x\r\n\r\n",
                     "GET / HTP/1.1\r\nHost: x\r\n\r\n", "GET / HTTP/1.1\r\nHost: x y\r\n\r\n",
                     "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", "GET foo HTTP/1.1\r\nHost: x\r\n\r\n",
                     "G(T / HTTP/1.1\r\nHost: x\r\n\r\n", "GET / HTTP/1.1\r\nHost: x\r\nA: \u{01}\r\n\r\n",
                     "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                     "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
                     "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"] {
            let error = #expect(throws: HTTPParseError.self, "\(text)") { try Self.parse(text) }
            #expect(error?.code == .malformed && error?.status == .badRequest, "\(text)")
        }
    }

    @Test func chunkedBodyErrors() {
        let head = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        for body in ["zz\r\n", "\r\n", "5\r\nhelloXX", "5;\u{01}\r\n", "5\nhello", "10000000000000000\r\n",
                     "0\r\nbad trailer\r\n\r\n", String(repeating: "1", count: 5000)] {
            let error = #expect(throws: HTTPParseError.self, "\(body.prefix(20))") { try Self.parse(head + body) }
            #expect(error?.code == .malformedBody, "\(body.prefix(20))")
        }
        let limits = HTTPRequestParser.Limits(maxHeaderBytes: 64)
        let trailers = "0\r\n" + String(repeating: "T: 1234567890\r\n", count: 10) + "\r\n"
        #expect(throws: HTTPParseError.headersTooLarge) { try Self.parse(head + trailers, limits: limits) }
    }

    @Test func expectContinueOnlyForHTTP11RequestsWithABody() throws {
        let noBody = try Self.parse("GET / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n")[0].head
        #expect(!noBody.expectsContinue)
        let http10 = try Self.parse("POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nab")[0]
        #expect(!http10.head.expectsContinue && http10.text == "ab")
    }
}
