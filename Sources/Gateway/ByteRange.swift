/// What a `Range` request header asks of a representation of known size
/// (RFC 9110 §14.1–14.2), as the gateway answers it: one range or the whole.
public enum RangeRequest: Hashable, Sendable {
    /// Serve the whole representation: no `Range`, a unit other than bytes,
    /// a syntax error, an invalid spec (last < first) or several ranges (the
    /// gateway does not send multipart responses; RFC 9110 lets a server ignore `Range`).
    case whole
    /// 206 with these bytes (inclusive bounds, within the representation).
    case partial(ClosedRange<UInt64>)
    /// 416: a single well-formed range that selects nothing.
    case unsatisfiable

    /// Parses a `Range` header value against a representation of `size` bytes.
    public init(header: String?, size: UInt64) {
        guard let header else { self = .whole; return }
        let text = header.utf8
        guard text.count > 6, text.prefix(6).map({ $0 | 0x20 }).elementsEqual("bytes=".utf8) else { self = .whole; return }
        let specs = header.dropFirst(6).split(separator: ",", omittingEmptySubsequences: false)
        guard specs.count == 1 else { self = .whole; return }
        let spec = specs[0].trimmingWhitespace()
        guard let dash = spec.firstIndex(of: "-") else { self = .whole; return }
        let first = spec[..<dash], last = spec[spec.index(after: dash)...]
        if first.isEmpty {
            // suffix-range: the last N bytes.
            guard let length = UInt64.parseDigits(last) else { self = .whole; return }
            guard length > 0, size > 0 else { self = .unsatisfiable; return }
            self = .partial((size - min(length, size))...(size - 1))
            return
        }
        guard let start = UInt64.parseDigits(first) else { self = .whole; return }
        var end = size &- 1
        if !last.isEmpty {
            guard let parsed = UInt64.parseDigits(last), parsed >= start else { self = .whole; return }
            end = min(parsed, size &- 1)
        }
        guard start < size else { self = .unsatisfiable; return }
        self = .partial(start...end)
    }
}

/// The trustless gateway's `entity-bytes=from:to` CAR parameter: byte
/// offsets, inclusive, negative ones counting from the end, `*` for the end.
public struct EntityBytes: Hashable, Sendable {
    public var from: Int64
    /// Nil for `*`.
    public var to: Int64?

    public init(from: Int64, to: Int64?) {
        self.from = from
        self.to = to
    }

    /// Parses `from:to`; nil when malformed, or when both bounds are
    /// non-negative and `to < from` (a request no entity can satisfy).
    public init?(parsing text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let from = Int64.parseSigned(parts[0]) else { return nil }
        let to: Int64?
        if parts[1] == "*" {
            to = nil
        } else {
            guard let parsed = Int64.parseSigned(parts[1]) else { return nil }
            to = parsed
        }
        if let to, from >= 0, to >= 0, to < from { return nil }
        self.init(from: from, to: to)
    }

    /// The byte range of an entity of `size` bytes this selects; nil when it
    /// selects nothing (then a CAR holds the entity's root block only).
    public func range(size: UInt64) -> Range<UInt64>? {
        let length = Int64(clamping: size)
        let start = from < 0 ? max(0, length + from) : from
        var end = to.map { $0 < 0 ? length + $0 : $0 } ?? length - 1
        end = min(end, length - 1)
        guard start <= end, start < length else { return nil }
        return UInt64(start)..<UInt64(end + 1)
    }
}

extension Substring {
    func trimmingWhitespace() -> Substring {
        var result = self
        while let first = result.first, first == " " || first == "\t" { result = result.dropFirst() }
        while let last = result.last, last == " " || last == "\t" { result = result.dropLast() }
        return result
    }
}

extension UInt64 {
    /// A run of ASCII digits, nothing else; nil when empty, signed or overflowing.
    static func parseDigits(_ text: Substring) -> UInt64? {
        guard !text.isEmpty, text.utf8.count <= 19 else { return nil }
        var value: UInt64 = 0
        for byte in text.utf8 {
            guard byte >= 0x30 && byte <= 0x39 else { return nil }
            value = value * 10 + UInt64(byte - 0x30)
        }
        return value
    }
}

extension Int64 {
    /// Digits with an optional leading minus sign.
    static func parseSigned(_ text: Substring) -> Int64? {
        if text.first == "-" {
            guard let magnitude = UInt64.parseDigits(text.dropFirst()), magnitude <= UInt64(Int64.max) else { return nil }
            return -Int64(magnitude)
        }
        guard let value = UInt64.parseDigits(text), value <= UInt64(Int64.max) else { return nil }
        return Int64(value)
    }
}
