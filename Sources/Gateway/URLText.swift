/// Percent-encoding (RFC 3986), query strings and HTML escaping: the text
/// transformations between URLs, UnixFS names and generated pages.
public enum URLText {
    /// Decodes `%XX` escapes in `text`; nil when an escape is malformed.
    /// `plusAsSpace` decodes `+` as a space (form-encoded query values).
    public static func percentDecoded(_ text: some StringProtocol, plusAsSpace: Bool = false) -> [UInt8]? {
        var output: [UInt8] = []
        output.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "%"):
                guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else { return nil }
                output.append(high << 4 | low)
            case UInt8(ascii: "+") where plusAsSpace:
                output.append(0x20)
            default:
                output.append(byte)
            }
        }
        return output
    }

    /// Encodes `text` for use as one path segment: every byte but the
    /// unreserved characters and `!$&'()*+,;=:@` becomes `%XX`.
    public static func encodedPathSegment(_ text: some StringProtocol) -> String {
        encode(text, keeping: isSegmentByte)
    }

    /// Encodes a path, leaving its `/` separators as they are.
    public static func encodedPath(_ text: some StringProtocol) -> String {
        encode(text) { $0 == UInt8(ascii: "/") || isSegmentByte($0) }
    }

    /// Encodes a query component (key or value): unreserved characters stay.
    public static func encodedQueryComponent(_ text: some StringProtocol) -> String {
        encode(text, keeping: isUnreserved)
    }

    /// Splits `key=value&…` into pairs in order, form-decoding both sides;
    /// pairs that do not decode are dropped.
    public static func queryItems(_ query: some StringProtocol) -> [(key: String, value: String)] {
        query.split(separator: "&").compactMap { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let key = percentDecoded(parts[0], plusAsSpace: true),
                  let value = percentDecoded(parts.count > 1 ? parts[1] : "", plusAsSpace: true) else { return nil }
            return (String(decoding: key, as: UTF8.self), String(decoding: value, as: UTF8.self))
        }
    }

    /// Escapes `&`, `<`, `>`, `"` and `'` for HTML text and attribute values.
    public static func htmlEscaped(_ text: some StringProtocol) -> String {
        var output = ""
        output.reserveCapacity(text.utf8.count)
        for character in text.unicodeScalars {
            switch character {
            case "&": output += "&amp;"
            case "<": output += "&lt;"
            case ">": output += "&gt;"
            case "\"": output += "&quot;"
            case "'": output += "&#39;"
            default: output.unicodeScalars.append(character)
            }
        }
        return output
    }

    private static func encode(_ text: some StringProtocol, keeping keep: (UInt8) -> Bool) -> String {
        let digits = Array("0123456789ABCDEF".utf8)
        var output: [UInt8] = []
        output.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            if keep(byte) {
                output.append(byte)
            } else {
                output.append(UInt8(ascii: "%"))
                output.append(digits[Int(byte >> 4)])
                output.append(digits[Int(byte & 0x0F)])
            }
        }
        return String(decoding: output, as: UTF8.self)
    }

    static func isUnreserved(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
            true
        default:
            false
        }
    }

    private static func isSegmentByte(_ byte: UInt8) -> Bool {
        if isUnreserved(byte) { return true }
        switch byte {
        case UInt8(ascii: "!"), UInt8(ascii: "$"), UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "("),
             UInt8(ascii: ")"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: ","), UInt8(ascii: ";"),
             UInt8(ascii: "="), UInt8(ascii: ":"), UInt8(ascii: "@"):
            return true
        default:
            return false
        }
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
