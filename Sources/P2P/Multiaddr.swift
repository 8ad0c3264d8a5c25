// Multiaddr: self-describing network addresses, binary and text. Format:
// formats/libp2p.md, section 4.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Multiformats

/// A network address as a path of protocols, `/ip4/127.0.0.1/tcp/4001/p2p/12D3KooW…`.
///
/// Binary form: for each component, the protocol's varint code then its
/// value (fixed-size, or varint length and bytes). Text form: `/name/value`
/// for each component (`/name` for those without a value). `ipfs` is
/// accepted as the old name of `p2p` on input; output always says `p2p`.
/// Anything malformed or using a protocol not in `Component` is an error.
public struct Multiaddr: Hashable, Sendable, CustomStringConvertible {
    /// One protocol and its value.
    public enum Component: Hashable, Sendable, CustomStringConvertible {
        /// 4 address bytes.
        case ip4([UInt8])
        /// 16 address bytes.
        case ip6([UInt8])
        case tcp(UInt16)
        case udp(UInt16)
        /// A DNS name resolved to either address family.
        case dns(String)
        case dns4(String)
        case dns6(String)
        /// A name resolved through `_dnsaddr` TXT records (carried, not resolved by tau).
        case dnsaddr(String)
        case p2p(PeerID)
        case p2pCircuit
        case quic
        case quicV1
        case tls
        case ws
        case wss

        /// The multicodec code.
        public var code: UInt64 {
            switch self {
            case .ip4: 0x04
            case .tcp: 0x06
            case .ip6: 0x29
            case .dns: 0x35
            case .dns4: 0x36
            case .dns6: 0x37
            case .dnsaddr: 0x38
            case .udp: 0x0111
            case .p2pCircuit: 0x0122
            case .p2p: 0x01A5
            case .tls: 0x01C0
            case .quic: 0x01CC
            case .quicV1: 0x01CD
            case .ws: 0x01DD
            case .wss: 0x01DE
            }
        }

        /// The text name.
        public var name: String {
            switch self {
            case .ip4: "ip4"
            case .ip6: "ip6"
            case .tcp: "tcp"
            case .udp: "udp"
            case .dns: "dns"
            case .dns4: "dns4"
            case .dns6: "dns6"
            case .dnsaddr: "dnsaddr"
            case .p2p: "p2p"
            case .p2pCircuit: "p2p-circuit"
            case .quic: "quic"
            case .quicV1: "quic-v1"
            case .tls: "tls"
            case .ws: "ws"
            case .wss: "wss"
            }
        }

        /// The value's text (nil for protocols without a value).
        public var valueText: String? {
            switch self {
            case .ip4(let bytes): bytes.map { String($0) }.joined(separator: ".")
            case .ip6(let bytes): IPText.format6(bytes)
            case .tcp(let port), .udp(let port): String(port)
            case .dns(let name), .dns4(let name), .dns6(let name), .dnsaddr(let name): name
            case .p2p(let peer): peer.description
            case .p2pCircuit, .quic, .quicV1, .tls, .ws, .wss: nil
            }
        }

        public var description: String {
            if let value = valueText { "/\(name)/\(value)" } else { "/\(name)" }
        }

        /// The value's binary form, without the code (and for variable-size
        /// values without the length).
        var valueBytes: [UInt8] {
            switch self {
            case .ip4(let bytes), .ip6(let bytes): bytes
            case .tcp(let port), .udp(let port): [UInt8(port >> 8), UInt8(port & 0xFF)]
            case .dns(let name), .dns4(let name), .dns6(let name), .dnsaddr(let name): Array(name.utf8)
            case .p2p(let peer): peer.bytes
            case .p2pCircuit, .quic, .quicV1, .tls, .ws, .wss: []
            }
        }

        /// Checks what the enum cannot: address lengths and DNS names.
        func validate() throws(P2PError) {
            switch self {
            case .ip4(let bytes):
                guard bytes.count == 4 else { throw P2PError(.malformed, "ip4 address of \(bytes.count) bytes") }
            case .ip6(let bytes):
                guard bytes.count == 16 else { throw P2PError(.malformed, "ip6 address of \(bytes.count) bytes") }
            case .dns(let name), .dns4(let name), .dns6(let name), .dnsaddr(let name):
                try Multiaddr.validateName(name, protocol: self.name)
            default:
                break
            }
        }
    }

    /// The components, in order; never empty.
    public let components: [Component]

    /// The longest binary multiaddr accepted.
    public static let maxBinaryLength = 1024
    /// The longest text multiaddr accepted: room for the text of any binary
    /// multiaddr within `maxBinaryLength` (a component's text is at most six
    /// times its binary size: `/p2p-circuit` for `a2 02`).
    public static let maxTextLength = 8192
    /// The longest DNS name accepted in a dns, dns4, dns6 or dnsaddr component.
    public static let maxNameLength = 255

    /// A multiaddr from components, checked like parsed input.
    public init(components: [Component]) throws(P2PError) {
        guard !components.isEmpty else { throw P2PError(.malformed, "empty multiaddr") }
        for component in components { try component.validate() }
        self.components = components
        guard bytes.count <= Self.maxBinaryLength else {
            throw P2PError(.limitExceeded, "multiaddr of \(bytes.count) bytes")
        }
    }

    /// Parses the text form.
    public init(_ text: some StringProtocol) throws(P2PError) {
        let utf8 = Array(text.utf8)
        guard utf8.count <= Self.maxTextLength else {
            throw P2PError(.limitExceeded, "multiaddr text of \(utf8.count) characters")
        }
        guard utf8.first == UInt8(ascii: "/") else {
            throw P2PError(.malformed, "multiaddr \"\(text.prefix(80))\" does not start with /")
        }
        var parts = utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false).dropFirst()
        // One trailing slash is tolerated (`/ip4/1.2.3.4/tcp/1/`), as go-multiaddr does.
        if parts.count > 1, parts.last?.isEmpty == true { parts = parts.dropLast() }
        var components: [Component] = []
        var iterator = parts.makeIterator()
        while let namePart = iterator.next() {
            guard !namePart.isEmpty else { throw P2PError(.malformed, "empty component in multiaddr \"\(text.prefix(80))\"") }
            let name = String(decoding: namePart, as: UTF8.self)
            func value() throws(P2PError) -> String {
                guard let part = iterator.next(), !part.isEmpty else {
                    throw P2PError(.malformed, "/\(name) needs a value in \"\(text.prefix(80))\"")
                }
                guard let string = String(validating: part, as: UTF8.self) else {
                    throw P2PError(.malformed, "/\(name) value is not UTF-8")
                }
                return string
            }
            switch name {
            case "ip4": components.append(.ip4(try IPText.parse4(try value())))
            case "ip6": components.append(.ip6(try IPText.parse6(try value())))
            case "tcp": components.append(.tcp(try Self.parsePort(try value(), protocol: name)))
            case "udp": components.append(.udp(try Self.parsePort(try value(), protocol: name)))
            case "dns": components.append(.dns(try value()))
            case "dns4": components.append(.dns4(try value()))
            case "dns6": components.append(.dns6(try value()))
            case "dnsaddr": components.append(.dnsaddr(try value()))
            case "p2p", "ipfs": components.append(.p2p(try PeerID(try value())))
            case "p2p-circuit": components.append(.p2pCircuit)
            case "quic": components.append(.quic)
            case "quic-v1": components.append(.quicV1)
            case "tls": components.append(.tls)
            case "ws": components.append(.ws)
            case "wss": components.append(.wss)
            default:
                throw P2PError(.unsupported, "multiaddr protocol \"\(name.prefix(40))\"")
            }
        }
        try self.init(components: components)
    }

    /// Parses the binary form, which must span all of `bytes`.
    public init(bytes input: some Collection<UInt8>) throws(P2PError) {
        let bytes = Array(input)
        guard bytes.count <= Self.maxBinaryLength else {
            throw P2PError(.limitExceeded, "multiaddr of \(bytes.count) bytes")
        }
        guard !bytes.isEmpty else { throw P2PError(.malformed, "empty multiaddr") }
        var offset = 0
        var components: [Component] = []
        func varint() throws(P2PError) -> UInt64 {
            do {
                return try Varint.decode(bytes, at: &offset)
            } catch {
                throw P2PError(.malformed, "multiaddr varint: \(error)")
            }
        }
        func take(_ count: Int) throws(P2PError) -> [UInt8] {
            guard count <= bytes.count - offset else { throw P2PError(.malformed, "truncated multiaddr") }
            defer { offset += count }
            return Array(bytes[offset..<offset + count])
        }
        func sized() throws(P2PError) -> [UInt8] {
            let length = try varint()
            guard length <= UInt64(bytes.count - offset) else { throw P2PError(.malformed, "truncated multiaddr") }
            return try take(Int(length))
        }
        func name(_ protocolName: String) throws(P2PError) -> String {
            guard let text = String(validating: try sized(), as: UTF8.self) else {
                throw P2PError(.malformed, "/\(protocolName) name is not UTF-8")
            }
            return text
        }
        while offset < bytes.count {
            let code = try varint()
            switch code {
            case 0x04: components.append(.ip4(try take(4)))
            case 0x29: components.append(.ip6(try take(16)))
            case 0x06, 0x0111:
                let port = try take(2)
                let value = UInt16(port[0]) << 8 | UInt16(port[1])
                components.append(code == 0x06 ? .tcp(value) : .udp(value))
            case 0x35: components.append(.dns(try name("dns")))
            case 0x36: components.append(.dns4(try name("dns4")))
            case 0x37: components.append(.dns6(try name("dns6")))
            case 0x38: components.append(.dnsaddr(try name("dnsaddr")))
            case 0x01A5: components.append(.p2p(try PeerID(bytes: try sized())))
            case 0x0122: components.append(.p2pCircuit)
            case 0x01C0: components.append(.tls)
            case 0x01CC: components.append(.quic)
            case 0x01CD: components.append(.quicV1)
            case 0x01DD: components.append(.ws)
            case 0x01DE: components.append(.wss)
            default:
                throw P2PError(.unsupported, "multiaddr protocol code 0x\(String(code, radix: 16))")
            }
        }
        try self.init(components: components)
    }

    /// The binary form.
    public var bytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for component in components {
            Varint.append(component.code, to: &out)
            let value = component.valueBytes
            switch component {
            case .dns, .dns4, .dns6, .dnsaddr, .p2p: Varint.append(UInt64(value.count), to: &out)
            default: break
            }
            out.append(contentsOf: value)
        }
        return out
    }

    /// The text form.
    public var description: String { components.map(\.description).joined() }

    /// The peer ID of the last component, when it is `/p2p/…`.
    public var peerID: PeerID? {
        if case .p2p(let peer) = components.last { return peer }
        return nil
    }

    /// This address without a trailing `/p2p/…` (nil if nothing would remain).
    public var withoutPeerID: Multiaddr? {
        guard case .p2p = components.last else { return self }
        let rest = Array(components.dropLast())
        return rest.isEmpty ? nil : try? Multiaddr(components: rest)
    }

    /// This address with `/p2p/<peer>` appended (replacing a trailing one).
    public func withPeerID(_ peer: PeerID) -> Multiaddr {
        var rest = components
        if case .p2p = rest.last { rest.removeLast() }
        rest.append(.p2p(peer))
        // Appending a valid component to valid ones stays valid (within limits
        // for any address that was itself within them).
        return (try? Multiaddr(components: rest)) ?? self
    }

    /// Where to dial: the host component and TCP port, when the address is
    /// `/ip4|ip6|dns|dns4|dns6/…/tcp/…` optionally followed by `/p2p/…`.
    public var tcpTarget: (host: Component, port: UInt16)? {
        var rest = components[...]
        if case .p2p = rest.last { rest = rest.dropLast() }
        guard rest.count == 2, case .tcp(let port) = rest.last else { return nil }
        switch rest.first! {
        case .ip4, .ip6, .dns, .dns4, .dns6: return (rest.first!, port)
        default: return nil
        }
    }

    static func parsePort(_ text: String, protocol name: String) throws(P2PError) -> UInt16 {
        let digits = Array(text.utf8)
        guard !digits.isEmpty, digits.count <= 5, digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
            let value = UInt16(text)
        else {
            throw P2PError(.malformed, "/\(name) port \"\(text.prefix(20))\"")
        }
        return value
    }

    static func validateName(_ name: String, protocol protocolName: String) throws(P2PError) {
        guard !name.isEmpty else { throw P2PError(.malformed, "empty /\(protocolName) name") }
        guard name.utf8.count <= maxNameLength else {
            throw P2PError(.limitExceeded, "/\(protocolName) name of \(name.utf8.count) bytes")
        }
        // The text form separates components with "/": a name holding one could
        // not be printed and read back.
        guard !name.utf8.contains(UInt8(ascii: "/")) else {
            throw P2PError(.malformed, "/\(protocolName) name contains /")
        }
    }
}

/// IP address text: strict dotted-quad IPv4 (no leading zeros) and IPv6 as
/// inet_pton reads it and inet_ntop prints it (RFC 5952 form).
enum IPText {
    static func parse4(_ text: String) throws(P2PError) -> [UInt8] {
        let parts = text.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 4 else { throw P2PError(.malformed, "ip4 address \"\(text.prefix(40))\"") }
        var out: [UInt8] = []
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                part.count == 1 || part.first != UInt8(ascii: "0"),
                let value = UInt8(String(decoding: part, as: UTF8.self))
            else {
                throw P2PError(.malformed, "ip4 address \"\(text.prefix(40))\"")
            }
            out.append(value)
        }
        return out
    }

    static func parse6(_ text: String) throws(P2PError) -> [UInt8] {
        var address = in6_addr()
        guard text.utf8.count <= 45, !text.utf8.contains(0), inet_pton(AF_INET6, text, &address) == 1 else {
            throw P2PError(.malformed, "ip6 address \"\(text.prefix(60))\"")
        }
        return withUnsafeBytes(of: &address) { Array($0) }
    }

    static func format6(_ bytes: [UInt8]) -> String {
        var address = in6_addr()
        withUnsafeMutableBytes(of: &address) { raw in
            for i in 0..<min(16, bytes.count) { raw[i] = bytes[i] }
        }
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        guard inet_ntop(AF_INET6, &address, &buffer, socklen_t(buffer.count)) != nil else { return "::" }
        return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
