import Errors

/// A website's `_redirects` file (IPFS "Web Redirects File" specification):
/// the rules, parsed by a pure parser with limits, and first-match evaluation.
/// Grammar and rules: formats/gateway.md, "_redirects".
public struct RedirectsFile: Hashable, Sendable {
    /// The specification's limit: 64 KiB.
    public static let maxSize = 64 * 1024
    /// The status codes a rule may carry.
    public static let allowedStatuses: Set<Int> = [200, 301, 302, 303, 307, 308, 404, 410, 451]

    public struct Rule: Hashable, Sendable {
        /// The path pattern, as written (begins with `/`).
        public var from: String
        /// Where to go: a path (begins with `/`) or an http(s)/ipfs/ipns URL.
        public var to: String
        /// 200 (rewrite), a 3xx redirect, or 404/410/451 (serve `to` with that status).
        public var status: Int

        /// The `from` pattern's segments after its leading `/`, a final `*` excluded.
        let segments: [Segment]
        /// Whether `from` ends in a `*` segment (matches any remainder).
        let hasSplat: Bool

        enum Segment: Hashable, Sendable {
            case literal(String)
            case placeholder(String)
        }

        public init(from: String, to: String, status: Int) throws(ParseError) {
            self.from = from
            self.to = to
            self.status = status
            (segments, hasSplat) = try Self.pattern(from, line: 0)
        }

        init(from: String, to: String, status: Int, line: Int) throws(ParseError) {
            self.from = from
            self.to = to
            self.status = status
            (segments, hasSplat) = try Self.pattern(from, line: line)
        }

        private static func pattern(_ from: String, line: Int) throws(ParseError) -> ([Segment], Bool) {
            guard from.first == "/" else { throw ParseError(.invalidFrom, line: line, "'from' must begin with '/'") }
            // A trailing slash is not significant: "/a/" matches what "/a" does.
            var body = from.dropFirst()
            if body.last == "/" { body = body.dropLast() }
            var parts = body.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
            var hasSplat = false
            if parts.last == "*" {
                hasSplat = true
                parts.removeLast()
            }
            var names = Set<String>()
            var segments: [Segment] = []
            for part in parts {
                guard !part.contains("*") else {
                    throw ParseError(.invalidFrom, line: line, "'*' may only be the whole last segment of 'from'")
                }
                if part.hasPrefix(":") {
                    let name = String(part.dropFirst())
                    guard !name.isEmpty else { throw ParseError(.invalidFrom, line: line, "placeholder without a name") }
                    guard name != "splat" else { throw ParseError(.invalidFrom, line: line, "':splat' is set by '*' only") }
                    guard names.insert(name).inserted else {
                        throw ParseError(.invalidFrom, line: line, "placeholder ':\(name)' appears twice in 'from'")
                    }
                    segments.append(.placeholder(name))
                } else {
                    segments.append(.literal(part))
                }
            }
            return (segments, hasSplat)
        }

        public static func == (lhs: Rule, rhs: Rule) -> Bool {
            lhs.from == rhs.from && lhs.to == rhs.to && lhs.status == rhs.status
        }

        public func hash(into hasher: inout Hasher) {
            hasher.combine(from)
            hasher.combine(to)
            hasher.combine(status)
        }
    }

    /// Why a `_redirects` file was refused, and on which line.
    public struct ParseError: CodedError {
        public enum Code: String, Hashable, Sendable {
            /// The file is larger than `maxSize`.
            case tooLarge
            /// A rule has fewer than two or more than three fields.
            case wrongFieldCount
            /// `from` does not begin with `/`, or misuses `*` or a placeholder.
            case invalidFrom
            /// `to` is neither a path nor an http, https, ipfs or ipns URL.
            case invalidTo
            /// The status is not one of `allowedStatuses` (or is forced with `!`).
            case unsupportedStatus
        }

        public let code: Code
        /// 1-based line number; 0 for the file as a whole.
        public let line: Int
        public let detail: String

        public init(_ code: Code, line: Int, _ detail: String) {
            self.code = code
            self.line = line
            self.detail = detail
        }

        public var description: String { line > 0 ? "_redirects line \(line): \(detail)" : "_redirects: \(detail)" }

        public static let tooLarge = Self(.tooLarge, line: 0, "")
        public static let wrongFieldCount = Self(.wrongFieldCount, line: 0, "")
        public static let invalidFrom = Self(.invalidFrom, line: 0, "")
        public static let invalidTo = Self(.invalidTo, line: 0, "")
        public static let unsupportedStatus = Self(.unsupportedStatus, line: 0, "")
    }

    /// A rule that matched a path, and its `to` with placeholders filled in.
    public struct Match: Hashable, Sendable {
        public var rule: Rule
        /// `rule.to` with `:name` and `:splat` replaced by what they matched,
        /// the values percent-encoded as path text (a splat keeps its slashes).
        public var target: String
        public var status: Int { rule.status }
    }

    public var rules: [Rule]

    public init(rules: [Rule]) {
        self.rules = rules
    }

    /// Parses the file's bytes.
    ///
    /// 1. Larger than `maxSize` bytes: an error.
    /// 2. Lines end in LF or CRLF; the last one may lack its terminator.
    /// 3. Leading and trailing spaces and tabs are ignored; blank lines and
    ///    lines starting with `#` are skipped.
    /// 4. A rule is `from to [status]`, fields separated by spaces or tabs.
    ///    Fewer than two or more than three fields is an error.
    /// 5. `from` begins with `/`; a `*` may only be its whole last segment;
    ///    `:name` segments are placeholders, each name used at most once.
    /// 6. `to` begins with `/` or is an absolute URL with scheme http, https,
    ///    ipfs or ipns.
    /// 7. `status` is one of `allowedStatuses`, default 301. A `!` suffix
    ///    (a "forced" rule, in Netlify's dialect) is an error.
    public init(parsing bytes: some Collection<UInt8>, maxSize: Int = RedirectsFile.maxSize) throws(ParseError) {
        guard bytes.count <= maxSize else {
            throw ParseError(.tooLarge, line: 0, "the file is \(bytes.count) bytes; at most \(maxSize) are allowed")
        }
        var rules: [Rule] = []
        // Split on LF bytes: as Characters, CR LF is one grapheme and would not split on "\n".
        let lines = Array(bytes).split(separator: 0x0A, omittingEmptySubsequences: false)
        for (index, rawLine) in lines.enumerated() {
            let lineNumber = index + 1
            let lineBytes = rawLine.last == 0x0D ? rawLine.dropLast() : rawLine
            let text = String(decoding: lineBytes, as: UTF8.self)
            let line = text[...].trimmingWhitespace()
            if line.isEmpty || line.first == "#" { continue }
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 2 else { throw ParseError(.wrongFieldCount, line: lineNumber, "missing 'to'") }
            guard fields.count <= 3 else { throw ParseError(.wrongFieldCount, line: lineNumber, "expected 'from to [status]'") }
            let to = String(fields[1])
            guard Self.isValidTarget(to) else {
                throw ParseError(.invalidTo, line: lineNumber, "'to' must begin with '/' or be an http, https, ipfs or ipns URL")
            }
            var status = 301
            if fields.count == 3 {
                let field = fields[2]
                guard field.last != "!" else {
                    throw ParseError(.unsupportedStatus, line: lineNumber, "forced redirects (status with '!') are not supported")
                }
                guard let code = Int(field), Self.allowedStatuses.contains(code) else {
                    throw ParseError(.unsupportedStatus, line: lineNumber, "status \(field) is not supported")
                }
                status = code
            }
            rules.append(try Rule(from: String(fields[0]), to: to, status: status, line: lineNumber))
        }
        self.rules = rules
    }

    /// The first rule whose `from` matches `path` (a decoded URL path starting
    /// with `/`; a trailing slash is ignored), with its target filled in.
    public func match(path: String) -> Match? {
        var trimmed = path.utf8.count > 1 && path.hasSuffix("/") ? String(path.dropLast()) : path
        if trimmed.isEmpty { trimmed = "/" }
        guard trimmed.first == "/" else { return nil }
        let segments = trimmed.dropFirst().split(separator: "/", omittingEmptySubsequences: false)
        for rule in rules {
            if let match = Self.match(rule, segments) { return match }
        }
        return nil
    }

    private static func match(_ rule: Rule, _ segments: [Substring]) -> Match? {
        // As the reference implementation (ucarion/urlpath) matches: each
        // pattern segment takes one path segment; with a splat, the path must
        // have more segments than the pattern and the rest is the splat.
        if rule.hasSplat {
            guard segments.count > rule.segments.count else { return nil }
        } else {
            guard segments.count == rule.segments.count else { return nil }
        }
        var values: [String: String] = [:]
        for (pattern, segment) in zip(rule.segments, segments) {
            switch pattern {
            case .literal(let literal):
                guard segment == literal else { return nil }
            case .placeholder(let name):
                values[name] = String(segment)
            }
        }
        let splat = rule.hasSplat ? segments[rule.segments.count...].joined(separator: "/") : ""
        return Match(rule: rule, target: expand(rule.to, values: values, splat: splat))
    }

    /// Replaces `:name` tokens (letters, digits, `_`) in `template`; unknown names stay as written.
    private static func expand(_ template: String, values: [String: String], splat: String) -> String {
        var output = ""
        var scalars = template.unicodeScalars[...]
        while let scalar = scalars.first {
            scalars = scalars.dropFirst()
            guard scalar == ":" else { output.unicodeScalars.append(scalar); continue }
            let name = scalars.prefix { $0.properties.isAlphabetic && $0.isASCII || ("0"..."9").contains($0) || $0 == "_" }
            let key = String(String.UnicodeScalarView(name))
            if key == "splat" {
                output += URLText.encodedPath(splat)
            } else if let value = values[key] {
                output += URLText.encodedPathSegment(value)
            } else {
                output.unicodeScalars.append(scalar)
                continue
            }
            scalars = scalars.dropFirst(name.count)
        }
        return output
    }

    private static func isValidTarget(_ to: String) -> Bool {
        if to.first == "/" { return true }
        let lowered = to.lowercased()
        return ["http://", "https://", "ipfs://", "ipns://"].contains { lowered.hasPrefix($0) && lowered.count > $0.count }
    }
}
