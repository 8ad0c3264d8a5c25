/// Content types for files: from the file name's extension, else sniffed
/// from the first bytes. Format: formats/gateway.md, "Content-Type".
public enum MediaTypes {
    /// How many leading bytes `sniff` looks at (as WHATWG MIME sniffing does).
    public static let sniffLength = 512

    /// The media type for a file named `name`, by its extension (ASCII case
    /// ignored); nil when the extension is absent or not in the table.
    public static func type(forFileName name: some StringProtocol) -> String? {
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return nil }
        let suffix = name[name.index(after: dot)...]
        guard !suffix.isEmpty, suffix.utf8.count <= 12 else { return nil }
        return byExtension[suffix.lowercased()]
    }

    /// Web types, as browsers and nginx's mime.types expect them. Text types
    /// say UTF-8, except HTML, whose documents may declare their own charset.
    static let byExtension: [String: String] = [
        "html": "text/html", "htm": "text/html", "xhtml": "application/xhtml+xml",
        "css": "text/css; charset=utf-8", "js": "text/javascript; charset=utf-8", "mjs": "text/javascript; charset=utf-8",
        "json": "application/json", "map": "application/json", "webmanifest": "application/manifest+json",
        "txt": "text/plain; charset=utf-8", "md": "text/markdown; charset=utf-8", "csv": "text/csv; charset=utf-8",
        "xml": "text/xml; charset=utf-8", "rss": "application/rss+xml", "atom": "application/atom+xml",
        "svg": "image/svg+xml", "png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "gif": "image/gif",
        "webp": "image/webp", "avif": "image/avif", "ico": "image/x-icon", "bmp": "image/bmp", "tif": "image/tiff",
        "tiff": "image/tiff",
        "woff": "font/woff", "woff2": "font/woff2", "ttf": "font/ttf", "otf": "font/otf",
        "mp4": "video/mp4", "m4v": "video/mp4", "webm": "video/webm", "mov": "video/quicktime", "ogv": "video/ogg",
        "mp3": "audio/mpeg", "m4a": "audio/mp4", "ogg": "audio/ogg", "oga": "audio/ogg", "opus": "audio/ogg",
        "wav": "audio/wav", "flac": "audio/flac",
        "pdf": "application/pdf", "wasm": "application/wasm", "zip": "application/zip", "gz": "application/gzip",
        "tar": "application/x-tar", "car": "application/vnd.ipld.car", "bin": "application/octet-stream",
    ]

    public static let html = "text/html"
    public static let plainText = "text/plain; charset=utf-8"
    public static let binary = "application/octet-stream"

    /// A media type for content starting with `prefix` (up to `sniffLength`
    /// bytes; fewer only when the content is that short): a few signatures
    /// (HTML, XML/SVG, PNG, JPEG, GIF, WebP, PDF, Wasm, zip, gzip), JSON by its
    /// first tokens, then UTF-8 text versus binary.
    public static func sniff(_ prefix: some Collection<UInt8>) -> String {
        let bytes = Array(prefix.prefix(sniffLength))
        if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return "image/png" }
        if bytes.starts(with: [0xFF, 0xD8, 0xFF]) { return "image/jpeg" }
        if bytes.starts(with: Array("GIF87a".utf8)) || bytes.starts(with: Array("GIF89a".utf8)) { return "image/gif" }
        if bytes.count >= 12, bytes.starts(with: Array("RIFF".utf8)), bytes[8..<12].elementsEqual("WEBP".utf8) { return "image/webp" }
        if bytes.starts(with: Array("%PDF-".utf8)) { return "application/pdf" }
        if bytes.starts(with: [0x00, 0x61, 0x73, 0x6D]) { return "application/wasm" }
        if bytes.starts(with: [0x50, 0x4B, 0x03, 0x04]) { return "application/zip" }
        if bytes.starts(with: [0x1F, 0x8B, 0x08]) { return "application/gzip" }

        var start = 0
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { start = 3 }  // UTF-8 byte order mark
        while start < bytes.count, isWhitespace(bytes[start]) { start += 1 }
        let text = bytes[start...]
        if text.first == UInt8(ascii: "<") {
            if let markup = markupType(text) { return markup }
        }
        let textual = isText(bytes)
        if textual, looksLikeJSON(text) { return "application/json" }
        return textual ? plainText : binary
    }

    /// The HTML tags WHATWG sniffing recognizes at the start of a document,
    /// followed by a space or `>`.
    private static let htmlTags = ["!doctype html", "html", "head", "script", "iframe", "h1", "div", "font", "table",
                                   "a", "style", "title", "b", "body", "br", "p", "!--"]

    private static func markupType(_ text: ArraySlice<UInt8>) -> String? {
        let lowered = text.dropFirst().prefix(16).map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }
        for tag in htmlTags {
            let tagBytes = Array(tag.utf8)
            guard lowered.starts(with: tagBytes) else { continue }
            if tag == "!--" { return html }
            if lowered.count > tagBytes.count {
                let next = lowered[tagBytes.count]
                if next == UInt8(ascii: " ") || next == UInt8(ascii: ">") { return html }
            }
        }
        if lowered.starts(with: Array("svg".utf8)) { return "image/svg+xml" }
        if lowered.starts(with: Array("?xml".utf8)) {
            let sample = text.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }
            return contains(sample, Array("<svg".utf8)) ? "image/svg+xml" : "text/xml; charset=utf-8"
        }
        return nil
    }

    /// JSON's first tokens: `{` then `"` or `}`, or `[` then a value or `]`.
    private static func looksLikeJSON(_ text: ArraySlice<UInt8>) -> Bool {
        guard let first = text.first, first == UInt8(ascii: "{") || first == UInt8(ascii: "[") else { return false }
        guard let next = text.dropFirst().first(where: { !isWhitespace($0) }) else { return false }
        if first == UInt8(ascii: "{") { return next == UInt8(ascii: "\"") || next == UInt8(ascii: "}") }
        return Array("{[]\"-0123456789tfn".utf8).contains(next)
    }

    /// UTF-8 (a sequence cut by the end of the sample is fine) without control
    /// bytes other than tab, line feed, form feed, carriage return and escape.
    private static func isText(_ bytes: [UInt8]) -> Bool {
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte < 0x80 {
                if byte < 0x20, ![0x09, 0x0A, 0x0C, 0x0D, 0x1B].contains(byte) { return false }
                if byte == 0x7F { return false }
                index += 1
                continue
            }
            let length: Int
            switch byte {
            case 0xC2...0xDF: length = 2
            case 0xE0...0xEF: length = 3
            case 0xF0...0xF4: length = 4
            default: return false
            }
            for offset in 1..<length {
                guard index + offset < bytes.count else { return true }  // cut by the sample's end
                guard bytes[index + offset] & 0xC0 == 0x80 else { return false }
            }
            index += length
        }
        return true
    }

    private static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D || byte == 0x0C
    }

    private static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard haystack.count >= needle.count else { return false }
        for start in 0...(haystack.count - needle.count) where haystack[start..<(start + needle.count)].elementsEqual(needle) {
            return true
        }
        return false
    }
}
