/// Entity-tag comparison for `If-None-Match` and `If-Range` (RFC 9110 §8.8.3, §13.1.2).
enum EntityTag {
    /// Whether an `If-None-Match` value matches `etag` by weak comparison
    /// (`W/"x"` matches `"x"`); `*` matches anything.
    static func noneMatchHits(_ header: String, _ etag: String) -> Bool {
        let opaque = etag.hasPrefix("W/") ? etag.dropFirst(2) : etag[...]
        for candidate in header.split(separator: ",") {
            var tag = candidate.trimmingWhitespace()
            if tag == "*" { return true }
            if tag.hasPrefix("W/") { tag = tag.dropFirst(2) }
            if tag == opaque { return true }
        }
        return false
    }

    /// Whether an `If-Range` value lets the range apply: it must equal a
    /// strong `etag` exactly (a date or a weak tag never does).
    static func ifRangeHolds(_ header: String?, _ etag: String) -> Bool {
        guard let header else { return true }
        return !etag.hasPrefix("W/") && header[...].trimmingWhitespace() == etag[...]
    }
}
