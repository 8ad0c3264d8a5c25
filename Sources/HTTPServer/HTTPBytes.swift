/// Byte-level helpers for the parser and header lookups: ASCII only, no
/// allocation.
enum HTTPBytes {
    @inline(__always)
    static func lowercased(_ byte: UInt8) -> UInt8 {
        byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte
    }

    /// The offset of the first CR LF CR LF at or after `start`.
    static func findEndOfHead(_ bytes: UnsafeRawBufferPointer, from start: Int) -> Int? {
        guard bytes.count >= 4 else { return nil }
        var position = start
        let last = bytes.count - 4
        while position <= last {
            // Look at the last byte a match here would have: it rules out up to
            // four starting positions at once (most bytes are neither CR nor LF).
            switch bytes[position + 3] {
            case 0x0A:
                if bytes[position] == 0x0D, bytes[position + 1] == 0x0A, bytes[position + 2] == 0x0D { return position }
                position += 2
            case 0x0D:
                position += 1
            default:
                position += 4
            }
        }
        return nil
    }

    /// The offset of the CR of the first CRLF in `range`; nil when there is
    /// none, or when a bare CR or LF comes first (the caller reports the line as malformed).
    static func findCRLF(_ bytes: UnsafeRawBufferPointer, in range: Range<Int>) -> Int? {
        var position = range.lowerBound
        while position + 1 < range.upperBound {
            if bytes[position] == 0x0D {
                if bytes[position + 1] == 0x0A { return position }
                return nil
            }
            if bytes[position] == 0x0A { return nil }
            position += 1
        }
        return nil
    }

    /// Whether a bare LF (or a CR not followed by LF) comes before any CRLF in `range`.
    static func hasBareLineEnd(_ bytes: UnsafeRawBufferPointer, in range: Range<Int>) -> Bool {
        var position = range.lowerBound
        while position < range.upperBound {
            switch bytes[position] {
            case 0x0A: return true
            case 0x0D:
                guard position + 1 < range.upperBound else { return false }
                return bytes[position + 1] != 0x0A
            default: position += 1
            }
        }
        return false
    }

    static func index(of byte: UInt8, in bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> Int? {
        var position = range.lowerBound
        while position < range.upperBound {
            if bytes[position] == byte { return position }
            position += 1
        }
        return nil
    }

    static func digit(_ byte: UInt8) -> Int? {
        byte >= 0x30 && byte <= 0x39 ? Int(byte - 0x30) : nil
    }

    static func hexDigit(_ byte: UInt8) -> Int? {
        switch byte {
        case 0x30...0x39: Int(byte - 0x30)
        case 0x41...0x46: Int(byte - 0x41 + 10)
        case 0x61...0x66: Int(byte - 0x61 + 10)
        default: nil
        }
    }

    /// tchar (RFC 9110 §5.6.2).
    static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"),
             UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"),
             UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"),
             UInt8(ascii: "|"), UInt8(ascii: "~"):
            true
        default:
            false
        }
    }

    static func isToken(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> Bool {
        guard !range.isEmpty else { return false }
        for position in range where !isTokenByte(bytes[position]) { return false }
        return true
    }

    static func equals(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, _ text: StaticString) -> Bool {
        guard range.count == text.utf8CodeUnitCount else { return false }
        let expected = UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount)
        for offset in 0..<range.count where bytes[range.lowerBound + offset] != expected[offset] { return false }
        return true
    }

    /// Compares with `lowercase`, ignoring ASCII case in `bytes`.
    static func equalsLowercased(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, _ lowercase: StaticString) -> Bool {
        guard range.count == lowercase.utf8CodeUnitCount else { return false }
        let expected = UnsafeRawBufferPointer(start: lowercase.utf8Start, count: lowercase.utf8CodeUnitCount)
        for offset in 0..<range.count where lowercased(bytes[range.lowerBound + offset]) != expected[offset] { return false }
        return true
    }

    static func string(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> String {
        String(decoding: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self)
    }

    static func isOptionalWhitespace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 }

    /// `range` without leading and trailing spaces and tabs.
    static func trimmed(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> Range<Int> {
        var start = range.lowerBound
        var end = range.upperBound
        while start < end, isOptionalWhitespace(bytes[start]) { start += 1 }
        while end > start, isOptionalWhitespace(bytes[end - 1]) { end -= 1 }
        return start..<end
    }

    /// Calls `body` with each comma-separated element of `range`, trimmed, empty ones skipped.
    static func forEachListElement(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, _ body: (Range<Int>) -> Void) {
        var start = range.lowerBound
        while start < range.upperBound {
            let end = index(of: UInt8(ascii: ","), in: bytes, start..<range.upperBound) ?? range.upperBound
            let element = trimmed(bytes, start..<end)
            if !element.isEmpty { body(element) }
            start = end + 1
        }
    }
}
