import Gateway
import NIOCore
import Testing

/// The pure pieces: request heads, ranges, media types, URL text, `_redirects`.
@Suite struct HTTPRequestParserTests {
    static func parse(_ text: String, limits: HTTPRequestParser.Limits = .init(),
                      pieces: Int = 1) throws(HTTPParseError) -> [HTTPRequestHead] {
        var parser = HTTPRequestParser(limits: limits)
        var buffer = ByteBuffer()
        var heads: [HTTPRequestHead] = []
        let bytes = Array(text.utf8)
        let size = max(1, (bytes.count + pieces - 1) / pieces)
        var offset = 0
        while offset < bytes.count {
            buffer.writeBytes(bytes[offset..<min(bytes.count, offset + size)])
            offset += size
            while let head = try parser.parse(&buffer) { heads.append(head) }
        }
        return heads
    }

    @Test(arguments: [1, 3, 7, 1000])
    func headsInAnyNumberOfPieces(pieces: Int) throws {
        let text = "\r\nGET /ipfs/x?y=1 HTTP/1.1\r\nHOST: Example.COM.:8080\r\nRange: bytes=0-1\r\nAccept: text/html\r\n"
            + "accept: application/vnd.ipld.raw\r\nIf-None-Match: \"a\"\r\nConnection: keep-alive, Close\r\n"
            + "X-Other: ignored\r\n\r\nHEAD / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
        let heads = try Self.parse(text, pieces: pieces)
        #expect(heads.count == 2)
        let first = heads[0]
        #expect(first.method == .get)
        #expect(first.target == "/ipfs/x?y=1")
        #expect(first.host == "example.com")
        #expect(first.range == "bytes=0-1")
        #expect(first.accept == "text/html, application/vnd.ipld.raw")
        #expect(first.acceptsExplicitFormat)
        #expect(first.ifNoneMatch == "\"a\"")
        #expect(!first.keepAlive, "Connection: close wins")
        let second = heads[1]
        #expect(second.method == .head && second.minorVersion == 0 && second.host == nil && second.keepAlive)
    }

    @Test func absoluteFormAndHostVariants() throws {
        let absolute = try Self.parse("GET http://Site.Example:80/a/b?c HTTP/1.1\r\nHost: other\r\n\r\n")[0]
        #expect(absolute.host == "site.example" && absolute.target == "/a/b?c")
        let bare = try Self.parse("GET https://site.example HTTP/1.1\r\n\r\n")[0]
        #expect(bare.target == "/")
        let ipv6 = try Self.parse("GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n")[0]
        #expect(ipv6.host == "[::1]")
        let method = try Self.parse("BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n")[0]
        #expect(method.method == .other("BREW"))
        let body = try Self.parse("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\n\r\n")[0]
        #expect(body.hasBody && body.contentLength == 12)
    }

    @Test func errors() {
        let limits = HTTPRequestParser.Limits(maxURILength: 64, maxHeaderBytes: 128, maxHeaderCount: 4)
        let long = String(repeating: "x", count: 100)
        let cases: [(String, HTTPParseError)] = [
            ("GET /\(long) HTTP/1.1\r\nHost: x\r\n\r\n", .uriTooLong),
            ("GET /\(long)\(long)", .uriTooLong),
            ("GET / HTTP/1.1\r\nHost: x\r\nA: \(long)\(long)\r\n\r\n", .headersTooLarge),
            ("GET / HTTP/1.1\r\nHost: x\r\nA: \(long)\(long)", .headersTooLarge),
            ("GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", .headersTooLarge),
            ("GET / HTTP/3.0\r\nHost: x\r\n\r\n", .unsupportedVersion),
        ]
        for (text, expected) in cases {
            #expect(throws: expected, "\(text.prefix(40))") { try Self.parse(text, limits: limits) }
        }
        for text in ["GET / HTTP/1.1\r\n\r\n", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "GET / HTTP/1.1\r\nHost : x\r\n\r\n",
                     "GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", "GET / HTTP/1.1\nHost: x\r\n\r\n",
                     "GET / HTTP/1.1\r\nHost: x\rY: z\r\n\r\n", "GET /a b HTTP/1.1\r\nHost: x\r\n\r\n",
                     "GET / HTP/1.1\r\nHost: x\r\n\r\n", "GET / HTTP/1.1\r\nHost: x y\r\n\r\n",
                     "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", "GET foo HTTP/1.1\r\nHost: x\r\n\r\n",
                     "G(T / HTTP/1.1\r\nHost: x\r\n\r\n", "GET / HTTP/1.1\r\nHost: x\r\nA: \u{01}\r\n\r\n"] {
            let error = #expect(throws: HTTPParseError.self, "\(text)") { try Self.parse(text) }
            if case .malformed = error {} else { Issue.record("\(text): \(String(describing: error))") }
        }
    }
}

@Suite struct RangeAndEntityBytesTests {
    @Test func rangeHeaders() {
        let size: UInt64 = 1000
        let cases: [(String?, RangeRequest)] = [
            (nil, .whole),
            ("bytes=0-0", .partial(0...0)),
            ("bytes=0-", .partial(0...999)),
            ("BYTES=10-19", .partial(10...19)),
            ("bytes= 10-19 ", .partial(10...19)),
            ("bytes=990-5000", .partial(990...999)),
            ("bytes=-1", .partial(999...999)),
            ("bytes=-5000", .partial(0...999)),
            ("bytes=1000-", .unsatisfiable),
            ("bytes=-0", .unsatisfiable),
            ("bytes=5-4", .whole),
            ("bytes=0-1,3-4", .whole),
            ("bytes=a-b", .whole),
            ("bytes=", .whole),
            ("pages=0-1", .whole),
            ("bytes=--1", .whole),
        ]
        for (header, expected) in cases {
            #expect(RangeRequest(header: header, size: size) == expected, "\(header ?? "nil")")
        }
        #expect(RangeRequest(header: "bytes=0-", size: 0) == .unsatisfiable)
    }

    @Test func entityBytes() {
        #expect(EntityBytes(parsing: "0:*") == EntityBytes(from: 0, to: nil))
        #expect(EntityBytes(parsing: "-1024:*") == EntityBytes(from: -1024, to: nil))
        #expect(EntityBytes(parsing: "499:-1000") == EntityBytes(from: 499, to: -1000))
        for bad in ["", "1", "a:b", "1:2:3", "5:3", "*:5", "1:"] { #expect(EntityBytes(parsing: bad) == nil, "\(bad)") }
        let size: UInt64 = 3000
        #expect(EntityBytes(from: 0, to: nil).range(size: size) == 0..<3000)
        #expect(EntityBytes(from: -1024, to: nil).range(size: size) == 1976..<3000)
        #expect(EntityBytes(from: 499, to: -1000).range(size: size) == 499..<2001)
        #expect(EntityBytes(from: 0, to: 99999).range(size: size) == 0..<3000)
        #expect(EntityBytes(from: 5000, to: nil).range(size: size) == nil)
        #expect(EntityBytes(from: 10, to: -2999).range(size: size) == nil)
        #expect(EntityBytes(from: -99999, to: 5).range(size: size) == 0..<6)
    }
}

@Suite struct MediaTypeTests {
    @Test func byName() {
        #expect(MediaTypes.type(forFileName: "index.html") == "text/html")
        #expect(MediaTypes.type(forFileName: "app.min.JS") == "text/javascript; charset=utf-8")
        #expect(MediaTypes.type(forFileName: "photo.jpeg") == "image/jpeg")
        #expect(MediaTypes.type(forFileName: "data.json") == "application/json")
        #expect(MediaTypes.type(forFileName: "module.wasm") == "application/wasm")
        #expect(MediaTypes.type(forFileName: "README") == nil)
        #expect(MediaTypes.type(forFileName: ".profile") == nil)
        #expect(MediaTypes.type(forFileName: "archive.unknownext") == nil)
    }

    @Test func bySniffing() {
        let cases: [([UInt8], String)] = [
            (Array("<!DOCTYPE html><html>".utf8), "text/html"),
            (Array("\n  <HTML lang=en>".utf8), "text/html"),
            (Array("<!-- comment -->".utf8), "text/html"),
            (Array("<p>para</p>".utf8), "text/html"),
            (Array("<svg xmlns='http://www.w3.org/2000/svg'/>".utf8), "image/svg+xml"),
            (Array("<?xml version=\"1.0\"?><svg/>".utf8), "image/svg+xml"),
            (Array("<?xml version=\"1.0\"?><feed/>".utf8), "text/xml; charset=utf-8"),
            ([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0], "image/png"),
            ([0xFF, 0xD8, 0xFF, 0xE0], "image/jpeg"),
            (Array("GIF89a....".utf8), "image/gif"),
            (Array("RIFF\0\0\0\0WEBPVP8 ".utf8), "image/webp"),
            (Array("%PDF-1.7".utf8), "application/pdf"),
            ([0x00, 0x61, 0x73, 0x6D, 1, 0, 0, 0], "application/wasm"),
            (Array("{\"key\": [1, 2]}".utf8), "application/json"),
            (Array("  [1, 2, 3]".utf8), "application/json"),
            (Array("[section]\nkey=value".utf8), "text/plain; charset=utf-8"),
            (Array("hello world\n".utf8), "text/plain; charset=utf-8"),
            (Array("zażółć gęślą jaźń".utf8), "text/plain; charset=utf-8"),
            (Array("ą".utf8).prefix(1).map { $0 }, "text/plain; charset=utf-8"),
            ([], "text/plain; charset=utf-8"),
            ([0, 1, 2, 3], "application/octet-stream"),
            ([0xC3, 0x28], "application/octet-stream"),
        ]
        for (bytes, expected) in cases {
            #expect(MediaTypes.sniff(bytes) == expected, "\(bytes.prefix(12))")
        }
    }
}

@Suite struct URLTextTests {
    @Test func percentEncoding() {
        #expect(URLText.percentDecoded("a%20b%2Fc").map { String(decoding: $0, as: UTF8.self) } == "a b/c")
        #expect(URLText.percentDecoded("a+b", plusAsSpace: true).map { String(decoding: $0, as: UTF8.self) } == "a b")
        #expect(URLText.percentDecoded("%zz") == nil)
        #expect(URLText.percentDecoded("%4") == nil)
        #expect(URLText.encodedPathSegment("a b/c%d?é") == "a%20b%2Fc%25d%3F%C3%A9")
        #expect(URLText.encodedPath("/a b/c") == "/a%20b/c")
        #expect(URLText.encodedQueryComponent("a=b&c") == "a%3Db%26c")
        let items = URLText.queryItems("a=1&b=x+y&c&d=%2F")
        #expect(items.map(\.key) == ["a", "b", "c", "d"])
        #expect(items.map(\.value) == ["1", "x y", "", "/"])
        #expect(URLText.htmlEscaped("<a href=\"x\">'&'</a>") == "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;")
    }
}

/// The `_redirects` grammar and matching, from the Web Redirects File
/// specification's examples and its fixtures' cases.
@Suite struct RedirectsFileTests {
    static let specExample = """
        # Redirect home to index.html
        /redirect-one /one.html
        /301-redirect-one /one.html 301
        /302-redirect-two /two.html 302
        /200-index /index.html 200
        /posts/:year/:month/:day/:title /articles/:year/:month/:day/:title 301
        /splat/* /redirected-splat/:splat 301
        /not-found/* /404.html 404
        /gone/* /410.html 410
        /unavail/* /451.html 451
        /* /index.html 200
        """

    @Test func theSpecificationsExample() throws {
        let file = try RedirectsFile(parsing: Array(Self.specExample.utf8))
        #expect(file.rules.count == 10)
        let cases: [(String, Int, String)] = [
            ("/redirect-one", 301, "/one.html"),
            ("/redirect-one/", 301, "/one.html"),
            ("/301-redirect-one", 301, "/one.html"),
            ("/302-redirect-two", 302, "/two.html"),
            ("/200-index", 200, "/index.html"),
            ("/posts/06/15/2022/hello-world", 301, "/articles/06/15/2022/hello-world"),
            ("/splat/one.html", 301, "/redirected-splat/one.html"),
            ("/splat/a/b", 301, "/redirected-splat/a/b"),
            ("/splat", 200, "/index.html"),  // a splat needs a segment after "/splat/"
            ("/not-found/foo", 404, "/404.html"),
            ("/gone/foo", 410, "/410.html"),
            ("/unavail/foo", 451, "/451.html"),
            ("/anything/else", 200, "/index.html"),
            ("/posts/1/2/3", 200, "/index.html"),  // too few segments for the placeholders
        ]
        for (path, status, target) in cases {
            let match = try #require(file.match(path: path), "\(path)")
            #expect(match.status == status, "\(path)")
            #expect(match.target == target, "\(path)")
        }
    }

    @Test func placeholdersAndSplats() throws {
        let file = try RedirectsFile(parsing: Array("""
            /source2/:code/:name /target-file?code=:code&name=:name 301
            /twice/:a /x/:a/:a/:splat 302
            /source3/* https://example.net/target3/:splat 301
            /keep/:unknownish /k/:other 301
            """.utf8))
        #expect(file.match(path: "/source2/7/fox")?.target == "/target-file?code=7&name=fox")
        #expect(file.match(path: "/twice/q")?.target == "/x/q/q/")
        #expect(file.match(path: "/source3/a/b c")?.target == "https://example.net/target3/a/b%20c")
        #expect(file.match(path: "/keep/v")?.target == "/k/:other")
        #expect(file.match(path: "/source2/7") == nil)
        #expect(file.match(path: "/elsewhere") == nil)
    }

    @Test func whitespaceCommentsAndLineEnds() throws {
        let text = "  # comment\r\n\r\n\t/a\t /b  302 \r\n/c /d\n\n/e /f 200"
        let file = try RedirectsFile(parsing: Array(text.utf8))
        #expect(file.rules.map(\.from) == ["/a", "/c", "/e"])
        #expect(file.rules.map(\.status) == [302, 301, 200])
    }

    @Test func errors() {
        let bad: [(String, String)] = [
            ("hello", "missing 'to'"),
            ("/a /b 301 extra", "expected"),
            ("/a /b 999", "not supported"),
            ("/a /b 301!", "forced"),
            ("/a /b abc", "not supported"),
            ("a /b", "begin with '/'"),
            ("/a b", "'to'"),
            ("/a ftp://x/b", "'to'"),
            ("/a/*/b /c", "'*'"),
            ("/a/* /c\n/b* /d", "'*'"),
            ("/:x/:x /c", "twice"),
            ("/: /c", "placeholder"),
        ]
        for (text, reason) in bad {
            let error = #expect(throws: RedirectsFile.ParseError.self, "\(text)") {
                try RedirectsFile(parsing: Array(text.utf8))
            }
            #expect(error?.reason.contains(reason) == true, "\(text): \(error?.reason ?? "")")
        }
        let secondLine = #expect(throws: RedirectsFile.ParseError.self) {
            try RedirectsFile(parsing: Array("/a /b\n/c /d 999".utf8))
        }
        #expect(secondLine?.line == 2)
        let tooLarge = [UInt8](repeating: UInt8(ascii: "#"), count: RedirectsFile.maxSize + 1)
        #expect(throws: RedirectsFile.ParseError.self) { try RedirectsFile(parsing: tooLarge) }
        let atLimit = [UInt8](repeating: UInt8(ascii: "#"), count: RedirectsFile.maxSize)
        #expect(throws: Never.self) { try RedirectsFile(parsing: atLimit) }
    }
}
