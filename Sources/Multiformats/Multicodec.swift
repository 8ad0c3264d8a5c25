/// A multicodec code: what a CID's bytes are (content codec) or how they were
/// hashed (multihash function). Codes from the multicodec table.
public struct Multicodec: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    // Content codecs.
    public static let identity = Multicodec(rawValue: 0x00)
    public static let raw = Multicodec(rawValue: 0x55)
    public static let dagPB = Multicodec(rawValue: 0x70)
    public static let dagCBOR = Multicodec(rawValue: 0x71)
    public static let libp2pKey = Multicodec(rawValue: 0x72)
    public static let dagJSON = Multicodec(rawValue: 0x0129)

    /// The table's name for the code (`dag-pb`), or its hex value if unknown.
    public var name: String {
        switch rawValue {
        case 0x00: "identity"
        case 0x55: "raw"
        case 0x70: "dag-pb"
        case 0x71: "dag-cbor"
        case 0x72: "libp2p-key"
        case 0x0129: "dag-json"
        case 0x12: "sha2-256"
        case 0x13: "sha2-512"
        default: "0x" + String(rawValue, radix: 16)
        }
    }

    /// Looks a codec up by its table name; `nil` for names we do not know.
    public init?(name: String) {
        switch name {
        case "identity": self = .identity
        case "raw": self = .raw
        case "dag-pb", "protobuf": self = .dagPB
        case "dag-cbor", "cbor": self = .dagCBOR
        case "libp2p-key": self = .libp2pKey
        case "dag-json": self = .dagJSON
        default: return nil
        }
    }

    public var description: String { name }
}
