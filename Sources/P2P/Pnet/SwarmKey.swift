// The private network pre-shared key and its swarm.key file. Format:
// formats/libp2p.md, section 8.

import Crypto
import Foundation

/// A private network's 256-bit pre-shared key (PSK v1).
///
/// The file format (`swarm.key`, as Kubo reads it):
/// ```
/// /key/swarm/psk/1.0.0/
/// /base16/
/// <64 hex digits>
/// ```
/// `/base64/` (base64 of the 32 bytes) and `/bin/` (the 32 raw bytes after
/// the newline) are read too; `fileContents` always writes `/base16/`.
public struct SwarmKey: Hashable, Sendable, CustomStringConvertible {
    public static let header = "/key/swarm/psk/1.0.0/"
    public static let length = 32

    /// The 32 key bytes.
    public let bytes: [UInt8]

    public init(bytes: some Collection<UInt8>) throws(P2PError) {
        guard bytes.count == Self.length else { throw P2PError(.invalidKey, "swarm key of \(bytes.count) bytes (32 expected)") }
        self.bytes = Array(bytes)
    }

    /// A new random key.
    public static func generate() -> SwarmKey {
        var generator = SystemRandomNumberGenerator()
        return try! SwarmKey(bytes: (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) })
    }

    /// Parses a swarm key file's contents.
    public init(fileContents: some Collection<UInt8>) throws(P2PError) {
        let data = Array(fileContents)
        guard data.count <= 1024 else { throw P2PError(.limitExceeded, "swarm key file of \(data.count) bytes") }
        func line(from start: Int) -> (text: String, next: Int)? {
            guard start < data.count else { return nil }
            let end = data[start...].firstIndex(of: UInt8(ascii: "\n")) ?? data.count
            var text = String(decoding: data[start..<end], as: UTF8.self)
            if text.hasSuffix("\r") { text.removeLast() }
            return (text.trimmingCharacters(in: .whitespaces), min(end + 1, data.count))
        }
        guard let (first, afterHeader) = line(from: 0), first == Self.header else {
            throw P2PError(.malformed, "swarm key file does not start with \(Self.header)")
        }
        guard let (encoding, afterEncoding) = line(from: afterHeader) else {
            throw P2PError(.malformed, "swarm key file has no encoding line (/base16/, /base64/ or /bin/)")
        }
        switch encoding {
        case "/bin/":
            let raw = data[afterEncoding...]
            guard raw.count >= Self.length else { throw P2PError(.malformed, "swarm key file: /bin/ key of \(raw.count) bytes") }
            try self.init(bytes: raw.prefix(Self.length))
        case "/base16/":
            guard let (text, _) = line(from: afterEncoding), text.utf8.count == 64 else {
                throw P2PError(.malformed, "swarm key file: /base16/ key must be 64 hex digits")
            }
            var key: [UInt8] = []
            var high: UInt8?
            for char in text.utf8 {
                let value: UInt8
                switch char {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): value = char - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): value = char - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): value = char - UInt8(ascii: "A") + 10
                default: throw P2PError(.malformed, "swarm key file: /base16/ key holds a non-hex character")
                }
                if let h = high {
                    key.append(h << 4 | value)
                    high = nil
                } else {
                    high = value
                }
            }
            try self.init(bytes: key)
        case "/base64/":
            guard let (text, _) = line(from: afterEncoding), let decoded = Data(base64Encoded: text) else {
                throw P2PError(.malformed, "swarm key file: /base64/ key is not base64")
            }
            try self.init(bytes: decoded)
        default:
            throw P2PError(.malformed, "swarm key file: unknown encoding \"\(encoding.prefix(40))\"")
        }
    }

    /// Reads a swarm key file.
    public static func load(from path: String) throws(P2PError) -> SwarmKey {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw P2PError(.fileAccess, "cannot read swarm key file \(path)")
        }
        return try SwarmKey(fileContents: data)
    }

    /// The file contents in the `/base16/` encoding, lowercase, with a final newline.
    public var fileContents: String {
        Self.header + "\n/base16/\n" + bytes.map { String(format: "%02x", $0) }.joined() + "\n"
    }

    /// A short, non-secret name for logs: the first 8 bytes of SHA-256 of the key, in hex.
    public var fingerprint: String {
        SHA256.hash(data: bytes).prefix(8).map { String(format: "%02x", $0) }.joined()
    }

    /// Does not print the key.
    public var description: String { "swarm key \(fingerprint)" }
}
