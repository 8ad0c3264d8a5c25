import Blocks
import Foundation
import Gateway
import Multiformats
import TestSupport
import Testing
import UnixFS

/// Websites by `Host`: index.html, `_redirects` (the spec's example sites in
/// redirects_file/redirects.car), SPA fallback, custom 404 pages.
@Suite struct WebsiteTests {
    static let redirectsFixture = "redirects_file/redirects.car"
    static let spaFixture = "redirects_file/redirects-spa.car"

    /// The gateway with each sub-site of redirects.car (and the SPA fixture) on a host of its own.
    static func start(spa: Bool = false) async throws -> (TestGateway, [String: CID]) {
        let (store, roots) = try await Fixtures.store([redirectsFixture, spaFixture])
        let reader = UnixFSReader(source: store)
        var sites: [String: Site] = ["spa.test": Site(root: roots[spaFixture]!, spa: spa)]
        var siteRoots: [String: CID] = ["spa": roots[spaFixture]!]
        for name in ["examples", "good-codes", "bad-codes", "forced", "invalid", "newlines", "too-large"] {
            let root = try await reader.resolve(roots[redirectsFixture]!, path: [name]).cid
            sites["\(name).test"] = Site(root: root)
            siteRoots[name] = root
        }
        return (try await TestGateway.start(store: store, sites: sites), siteRoots)
    }

    @Test func theSpecExamples() async throws {
        let (gateway, roots) = try await Self.start()
        defer { Task { try await gateway.stop() } }
        let host = "examples.test"
        let index = try await gateway.request("/", host: host)
        #expect(index.status == 200 && index.text == "my index\n")
        #expect(index["Content-Type"] == "text/html")
        #expect(index["Cache-Control"] == "public, max-age=0, must-revalidate")
        #expect(index["X-Ipfs-Path"] == "/ipfs/\(roots["examples"]!)")

        for (path, status, location) in [
            ("/redirect-one", 301, "/one.html"),
            ("/301-redirect-one", 301, "/one.html"),
            ("/302-redirect-two", 302, "/two.html"),
            ("/posts/2022/06/15/hello-world", 301, "/articles/2022/06/15/hello-world"),
            ("/splat/one.html", 301, "/redirected-splat/one.html"),
            ("/splat/a/b/c", 301, "/redirected-splat/a/b/c"),
            ("/redirect-one?a=b&c=d", 301, "/one.html?a=b&c=d"),
        ] {
            let response = try await gateway.request(path, host: host)
            #expect(response.status == status, "\(path)")
            #expect(response["Location"] == location, "\(path)")
        }
        let rewrite = try await gateway.request("/200-index", host: host)
        #expect(rewrite.status == 200 && rewrite.text == "my index\n")
        for (path, status, body) in [("/not-found/x", 404, "my 404"), ("/gone/x", 410, "my 410"), ("/unavail/x", 451, "my 451")] {
            let response = try await gateway.request(path, host: host)
            #expect(response.status == status && response.text.hasPrefix(body), "\(path): \(response.text)")
        }
        // The catch-all rewrite, and no forced redirect for files that exist.
        let anything = try await gateway.request("/no/such/page", host: host.uppercased() + ":8080")
        #expect(anything.status == 200 && anything.text == "my index\n")
        let existing = try await gateway.request("/one.html", host: host)
        #expect(existing.status == 200 && existing.text.hasPrefix("my one"))
        #expect(existing["ETag"]?.hasPrefix("\"Qm") == true)
        // /ipfs/ paths on a site's origin are the site's own paths, not the path gateway.
        let ipfs = try await gateway.request("/ipfs/\(roots["examples"]!)/one.html", host: host)
        #expect(ipfs.status == 200 && ipfs.text == "my index\n")
    }

    @Test func everyAllowedStatusAndBrokenFiles() async throws {
        let (gateway, _) = try await Self.start()
        defer { Task { try await gateway.stop() } }
        for code in [301, 302, 303, 307, 308] {
            let response = try await gateway.request("/a\(code)", host: "good-codes.test")
            #expect(response.status == code && response["Location"] == "/b\(code)")
        }
        for code in [404, 410, 451] {
            let response = try await gateway.request("/a\(code)", host: "good-codes.test")
            #expect(response.status == code)
        }
        // CRLF line ends work like LF.
        let crlf = try await gateway.request("/redirect-one", host: "newlines.test")
        #expect(crlf.status == 301 && crlf["Location"] == "/one.html")
        let crlfRewrite = try await gateway.request("/200-index", host: "newlines.test")
        #expect(crlfRewrite.status == 200)
        // An unsupported status, a forced rule, a rule without 'to', a file over 64 KiB: 500.
        for site in ["bad-codes", "forced", "invalid", "too-large"] {
            let response = try await gateway.request("/a", host: "\(site).test")
            #expect(response.status == 500, "\(site): \(response.text)")
            #expect(response.text.contains("_redirects"))
        }
        // Paths that exist are served without reading _redirects at all.
        let found = try await gateway.request("/found.html", host: "bad-codes.test")
        #expect(found.status == 200)
    }

    @Test func singlePageApplications() async throws {
        let (gateway, _) = try await Self.start()
        defer { Task { try await gateway.stop() } }
        // redirects-spa.car's _redirects says "/* /index.html 200".
        for path in ["/", "/app/route", "/deep/link/with.dot"] {
            let response = try await gateway.request(path, host: "spa.test")
            #expect(response.status == 200 && response.text == "hello world\n", "\(path)")
        }
        #expect(try await gateway.request("/index.html", host: "spa.test").text == "hello world\n")

        // The spa flag gives a site without _redirects the same fallback.
        var dag = DAGBuilder()
        let root = try dag.directory([("index.html", dag.file(Array("<p>app</p>".utf8)))])
        let store = MemoryBlockStore()
        try await store.put(dag.blocks)
        let spaGateway = try await TestGateway.start(store: store, sites: ["app.test": Site(root: root.cid, spa: true),
                                                                         "plain.test": Site(root: root.cid)])
        defer { Task { try await spaGateway.stop() } }
        #expect(try await spaGateway.request("/some/route", host: "app.test").text == "<p>app</p>")
        #expect(try await spaGateway.request("/some/route", host: "plain.test").status == 404)
    }

    @Test func customNotFoundPagesAndSiteDirectories() async throws {
        var dag = DAGBuilder()
        let style = dag.file(Array("body{}".utf8))
        let docs = try dag.directory([("intro.html", dag.file(Array("<h1>intro</h1>".utf8)))])
        let root = try dag.directory([
            ("index.html", dag.file(Array("<h1>home</h1>".utf8))),
            ("404.html", dag.file(Array("<h1>lost</h1>".utf8))),
            ("style.css", style),
            ("docs", docs),
        ])
        let store = MemoryBlockStore()
        try await store.put(dag.blocks)
        let gateway = try await TestGateway.start(store: store, sites: ["site.test": Site(root: root.cid)])
        defer { Task { try await gateway.stop() } }

        let missing = try await gateway.request("/nope", host: "site.test")
        #expect(missing.status == 404 && missing.text == "<h1>lost</h1>")
        #expect(missing["Content-Type"] == "text/html")
        let css = try await gateway.request("/style.css", host: "site.test")
        #expect(css["Content-Type"] == "text/css; charset=utf-8" && css["ETag"] == "\"\(style.cid)\"")
        let range = try await gateway.request("/style.css", host: "site.test", headers: [("Range", "bytes=0-3")])
        #expect(range.status == 206 && range.text == "body")
        let revalidated = try await gateway.request("/style.css", host: "site.test", headers: [("If-None-Match", "\"\(style.cid)\"")])
        #expect(revalidated.status == 304)
        let directory = try await gateway.request("/docs", host: "site.test")
        #expect(directory.status == 301 && directory["Location"] == "/docs/")
        let listing = try await gateway.request("/docs/", host: "site.test")
        #expect(listing.status == 200 && listing.text.contains("href=\"intro.html\""))
        #expect(!listing.text.contains("/ipfs/"), "a site's listing links within the site")
        // Unknown hosts are the path gateway.
        let pathGateway = try await gateway.request("/ipfs/\(root.cid)/style.css", host: "other.test")
        #expect(pathGateway.status == 200 && pathGateway.text == "body{}")
        #expect(try await gateway.request("/style.css", host: "other.test").status == 404)
    }
}
