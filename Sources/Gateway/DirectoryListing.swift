import Multiformats
import UnixFS

/// The HTML page for a directory without index.html. Names are
/// percent-encoded in links and HTML-escaped in text; sizes are the links'
/// Tsize (DAG size: no child block is fetched, so a listing of 10,000 entries
/// costs the directory's own blocks only).
enum DirectoryListing {
    /// Part of the listing's ETag: bump when the page's markup changes, so
    /// caches do not keep an old rendering of the same CID.
    static let version = "tau1"

    static func etag(_ directory: CID) -> String { "\"DirIndex-\(version)_CID-\(directory)\"" }

    /// - Parameters:
    ///   - path: the decoded URL path being listed (shown as the title).
    ///   - parentLink: whether to show a `..` entry (not at a content root).
    ///   - gatewayLinks: whether CIDs link to `/ipfs/{cid}` (the path gateway;
    ///     a website's origin does not serve /ipfs/).
    static func html(directory: CID, path: String, entries: [DirectoryEntry], totalEntries: Int,
                     parentLink: Bool, gatewayLinks: Bool) -> String {
        let title = URLText.htmlEscaped(path)
        var page = """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Index of \(title)</title>
        <style>body{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse}td{padding:.2em 1em .2em 0}\
        .cid,.size{font-family:monospace;color:#555}</style>
        </head>
        <body>
        <h1>Index of \(title)</h1>
        <p class="cid">\(directory)</p>
        <table>

        """
        if parentLink {
            page += "<tr><td><a href=\"..\">..</a></td><td></td><td></td></tr>\n"
        }
        for entry in entries {
            let href = URLText.encodedPathSegment(entry.name)
            let name = URLText.htmlEscaped(entry.name)
            let cid = entry.cid.description
            let cidCell = gatewayLinks
                ? "<a class=\"cid\" href=\"/ipfs/\(cid)?filename=\(URLText.encodedQueryComponent(entry.name))\">\(cid)</a>"
                : "<span class=\"cid\">\(cid)</span>"
            page += "<tr><td><a href=\"\(href)\">\(name)</a></td><td>\(cidCell)</td><td class=\"size\">\(humanSize(entry.tsize))</td></tr>\n"
        }
        page += "</table>\n"
        if totalEntries > entries.count {
            page += "<p>\(totalEntries - entries.count) more entries are not shown; fetch the directory with ?format=car to see them all.</p>\n"
        }
        page += "</body>\n</html>\n"
        return page
    }

    /// `1026 B`, `12.5 KiB`, …: one decimal place above a KiB.
    static func humanSize(_ bytes: UInt64) -> String {
        guard bytes >= 1024 else { return "\(bytes) B" }
        let units = ["KiB", "MiB", "GiB", "TiB", "PiB"]
        var value = Double(bytes) / 1024
        var unit = 0
        while value >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        let tenths = Int((value * 10).rounded())
        return "\(tenths / 10).\(tenths % 10) \(units[unit])"
    }
}
