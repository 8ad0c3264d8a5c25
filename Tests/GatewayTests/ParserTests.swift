import Gateway
import NIOCore
import Testing

/// The pure pieces: ranges, media types, URL text, `_redirects` (request
/// heads: Tests/HTTPServerTests/ParserTests.swift).
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
        let bad: [(String, RedirectsFile.ParseError, String)] = [
            ("hello", .wrongFieldCount, "missing 'to'"),
            ("/a /b 301 extra", .wrongFieldCount, "expected"),
            ("/a /b 999", .unsupportedStatus, "not supported"),
            ("/a /b 301!", .unsupportedStatus, "forced"),
            ("/a /b abc", .unsupportedStatus, "not supported"),
            ("a /b", .invalidFrom, "begin with '/'"),
            ("/a b", .invalidTo, "'to'"),
            ("/a ftp://x/b", .invalidTo, "'to'"),
            ("/a/*/b /c", .invalidFrom, "'*'"),
            ("/a/* /c\n/b* /d", .invalidFrom, "'*'"),
            ("/:x/:x /c", .invalidFrom, "twice"),
            ("/: /c", .invalidFrom, "placeholder"),
        ]
        for (text, expected, reason) in bad {
            let error = #expect(throws: expected, "\(text)") {
                try RedirectsFile(parsing: Array(text.utf8))
            }
            #expect(error?.detail.contains(reason) == true, "\(text): \(error?.detail ?? "")")
        }
        let secondLine = #expect(throws: RedirectsFile.ParseError.self) {
            try RedirectsFile(parsing: Array("/a /b\n/c /d 999".utf8))
        }
        #expect(secondLine?.line == 2)
        let tooLarge = [UInt8](repeating: UInt8(ascii: "#"), count: RedirectsFile.maxSize + 1)
        #expect(throws: RedirectsFile.ParseError.tooLarge) { try RedirectsFile(parsing: tooLarge) }
        let atLimit = [UInt8](repeating: UInt8(ascii: "#"), count: RedirectsFile.maxSize)
        #expect(throws: Never.self) { try RedirectsFile(parsing: atLimit) }
    }
}
