import Foundation
import Testing
import TestSupport

/// A real browser loads a published site from the gateway: headless Chromium
/// (Debian's `chromium`) resolves the site's domain to the node, runs the
/// page's JavaScript, applies its stylesheet and decodes its image; the test
/// reads the DOM the script changed.
@Suite("browser", .serialized)
struct BrowserTests {
    let tau = TestEnvironment.product("tau")
    static let chromium = "/usr/bin/chromium"

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: BrowserTests.chromium)))
    func chromiumLoadsAPublishedSite() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("tau-browser-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let repo = root.appendingPathComponent("repo").path
        let site = TestEnvironment.packageRoot.appendingPathComponent("Tests/Samples/site").path
        #expect(try run(tau, ["init", "--repo", repo]).status == 0)
        let published = try run(tau, ["site", "publish", site, "--domain", "www.example.test", "--repo", repo])
        #expect(published.status == 0, "\(published.stderr)")

        let node = try NodeCommandTests.RunningNode(tau: tau, repo: repo)
        defer { _ = node.stop() }
        let gateway = try String(contentsOfFile: repo + "/gateway", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let port = gateway.split(separator: ":").last.map(String.init) ?? "8080"
        let profile = root.appendingPathComponent("profile").path
        let page = try run(URL(fileURLWithPath: Self.chromium), [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
            "--user-data-dir=\(profile)", "--virtual-time-budget=5000",
            "--host-resolver-rules=MAP www.example.test 127.0.0.1",
            "--dump-dom", "http://www.example.test:\(port)/",
        ])
        let dom = String(decoding: page.stdout, as: UTF8.self)
        #expect(dom.contains("Hello from tau (scripted)"), "\(dom)")
        // The script saw the stylesheet's color and the decoded 16×8 image.
        #expect(dom.contains("js:ok css:rgb(10, 20, 30) img:16x8"), "\(dom)")
    }
}
