/// Multibase: a one-character prefix naming the base, then the encoded bytes.
/// Format: formats/cid.md, section 5.
public enum Multibase: Character, Sendable, CaseIterable, CustomStringConvertible {
    case base16 = "f"
    case base16Upper = "F"
    case base32 = "b"
    case base32Upper = "B"
    case base36 = "k"
    case base36Upper = "K"
    case base58btc = "z"
    case base64 = "m"
    case base64url = "u"

    /// The multibase table name (`base32`, `base58btc`, …).
    public var name: String {
        switch self {
        case .base16: "base16"
        case .base16Upper: "base16upper"
        case .base32: "base32"
        case .base32Upper: "base32upper"
        case .base36: "base36"
        case .base36Upper: "base36upper"
        case .base58btc: "base58btc"
        case .base64: "base64"
        case .base64url: "base64url"
        }
    }

    public init?(name: String) {
        guard let match = Self.allCases.first(where: { $0.name == name }) else { return nil }
        self = match
    }

    public var description: String { name }

    /// `prefix + encoding` of `bytes`.
    public func encode(_ bytes: some Collection<UInt8>) -> String {
        String(rawValue) + encodeWithoutPrefix(bytes)
    }

    /// The encoding of `bytes` in this base, without the prefix.
    public func encodeWithoutPrefix(_ bytes: some Collection<UInt8>) -> String {
        switch self {
        case .base16: RFC4648.encode(bytes, alphabet: RFC4648.base16Lower, bitsPerChar: 4, pad: false)
        case .base16Upper: RFC4648.encode(bytes, alphabet: RFC4648.base16Upper, bitsPerChar: 4, pad: false)
        case .base32: RFC4648.encode(bytes, alphabet: RFC4648.base32Lower, bitsPerChar: 5, pad: false)
        case .base32Upper: RFC4648.encode(bytes, alphabet: RFC4648.base32Upper, bitsPerChar: 5, pad: false)
        case .base36: BaseX.base36Lower.encode(bytes)
        case .base36Upper: BaseX.base36Upper.encode(bytes)
        case .base58btc: BaseX.base58btc.encode(bytes)
        case .base64: RFC4648.encode(bytes, alphabet: RFC4648.base64, bitsPerChar: 6, pad: false)
        case .base64url: RFC4648.encode(bytes, alphabet: RFC4648.base64url, bitsPerChar: 6, pad: false)
        }
    }

    /// Decodes `text` (without prefix) in this base.
    public func decodeWithoutPrefix(_ text: Substring) throws(MultiformatsError) -> [UInt8] {
        switch self {
        case .base16, .base16Upper: try RFC4648.decode(text, table: RFC4648.base16Table, bitsPerChar: 4)
        case .base32, .base32Upper: try RFC4648.decode(text, table: RFC4648.base32Table, bitsPerChar: 5)
        case .base36, .base36Upper: try BaseX.base36Lower.decode(text)
        case .base58btc: try BaseX.base58btc.decode(text)
        case .base64: try RFC4648.decode(text, table: RFC4648.base64Table, bitsPerChar: 6)
        case .base64url: try RFC4648.decode(text, table: RFC4648.base64urlTable, bitsPerChar: 6)
        }
    }

    /// Decodes a multibase string: reads the prefix, then the rest.
    /// - Returns: the base named by the prefix and the decoded bytes.
    /// - Throws: `.empty`, `.unknownMultibase` for a prefix tau does not know,
    ///   `.invalidCharacter` for text outside the base's alphabet (padding
    ///   included: these bases are unpadded) or with non-zero trailing bits.
    public static func decode(_ text: some StringProtocol) throws(MultiformatsError) -> (base: Multibase, bytes: [UInt8]) {
        guard let first = text.utf8.first else { throw .empty }
        // Every prefix tau knows is ASCII; judge by the first byte, not the first
        // Character, so that a combining mark after it cannot change the prefix.
        guard first < 0x80, let base = Multibase(rawValue: Character(Unicode.Scalar(first))) else {
            throw MultiformatsError(.unknownMultibase, "prefix \"\(text.prefix(1))\"")
        }
        let rest = Substring(text).utf8.dropFirst()
        return (base, try base.decodeWithoutPrefix(Substring(rest)))
    }

    /// Whether decoding accepts either letter case (base16, base32, base36 do,
    /// as the multibase spec requires); the output is always in this base's case.
    public var isCaseInsensitive: Bool {
        switch self {
        case .base16, .base16Upper, .base32, .base32Upper, .base36, .base36Upper: true
        case .base58btc, .base64, .base64url: false
        }
    }
}

/// base58btc, the bitcoin alphabet, for CIDv0 strings and peer IDs.
public enum Base58 {
    public static func encode(_ bytes: some Collection<UInt8>) -> String { BaseX.base58btc.encode(bytes) }
    public static func decode(_ text: some StringProtocol) throws(MultiformatsError) -> [UInt8] {
        try BaseX.base58btc.decode(Substring(text))
    }
}

/// Power-of-two bases from RFC 4648 (base16, base32, base64), without padding
/// both ways: multibase gives the padded variants other prefixes, which tau
/// does not accept, so `=` is an invalid character here.
enum RFC4648 {
    static let base16Lower = Array("0123456789abcdef".utf8)
    static let base16Upper = Array("0123456789ABCDEF".utf8)
    static let base32Lower = Array("abcdefghijklmnopqrstuvwxyz234567".utf8)
    static let base32Upper = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".utf8)
    static let base64 = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    static let base64url = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// Decoding tables map an ASCII byte to its value, or 0xFF if not in the
    /// alphabet. base16 and base32 accept either case on input.
    static let base16Table = table(base16Lower, caseInsensitive: true)
    static let base32Table = table(base32Lower, caseInsensitive: true)
    static let base64Table = table(base64, caseInsensitive: false)
    static let base64urlTable = table(base64url, caseInsensitive: false)

    static func table(_ alphabet: [UInt8], caseInsensitive: Bool) -> [UInt8] {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (value, char) in alphabet.enumerated() {
            table[Int(char)] = UInt8(value)
            if caseInsensitive {
                if char >= 0x61 && char <= 0x7A { table[Int(char - 0x20)] = UInt8(value) }
                if char >= 0x41 && char <= 0x5A { table[Int(char + 0x20)] = UInt8(value) }
            }
        }
        return table
    }

    static func encode(_ bytes: some Collection<UInt8>, alphabet: [UInt8], bitsPerChar: Int, pad: Bool) -> String {
        let mask = (1 << bitsPerChar) - 1
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count * 8 + bitsPerChar - 1) / bitsPerChar)
        var buffer = 0
        var bits = 0
        for byte in bytes {
            buffer = (buffer << 8) | Int(byte)
            bits += 8
            while bits >= bitsPerChar {
                bits -= bitsPerChar
                out.append(alphabet[(buffer >> bits) & mask])
            }
            buffer &= (1 << bits) - 1
        }
        if bits > 0 {
            out.append(alphabet[(buffer << (bitsPerChar - bits)) & mask])
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func decode(_ text: Substring, table: [UInt8], bitsPerChar: Int) throws(MultiformatsError) -> [UInt8] {
        let utf8 = text.utf8
        var out: [UInt8] = []
        out.reserveCapacity(utf8.count * bitsPerChar / 8)
        var buffer = 0
        var bits = 0
        for char in utf8 {
            let value = table[Int(char)]
            guard value != 0xFF else { throw invalidCharacter(char, in: text) }
            buffer = (buffer << bitsPerChar) | Int(value)
            bits += bitsPerChar
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: buffer >> bits))
                buffer &= (1 << bits) - 1
            }
        }
        // Leftover bits must be zero and fewer than one character: anything else
        // is a non-canonical encoding (for base16, an odd number of digits).
        guard bits < bitsPerChar, buffer == 0 else {
            throw MultiformatsError(.invalidCharacter, "non-canonical trailing bits in \(text.prefix(80))")
        }
        return out
    }

    /// The error for byte `char` of `text`, naming it readably even when it is
    /// part of a multi-byte character.
    static func invalidCharacter(_ char: UInt8, in text: Substring) -> MultiformatsError {
        let shown = char < 0x80 ? "\"\(Character(Unicode.Scalar(char)))\"" : "byte 0x" + String(char, radix: 16)
        return MultiformatsError(.invalidCharacter, "\(shown) in \(text.prefix(80))")
    }
}

/// Bases that are not powers of two (base36, base58btc): big-number conversion
/// with leading zero bytes written as leading zero digits.
///
/// The number is held in 32-bit limbs and several digits are folded in per
/// pass, which keeps the quadratic conversion fast enough for long inputs.
struct BaseX: Sendable {
    let alphabet: [UInt8]
    let table: [UInt8]
    let caseInsensitive: Bool
    /// The most digits whose value fits in a limb, and base^that.
    let digitsPerLimb: Int
    let limbRadix: UInt64

    static let base58btc = BaseX(Array("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz".utf8), caseInsensitive: false)
    static let base36Lower = BaseX(Array("0123456789abcdefghijklmnopqrstuvwxyz".utf8), caseInsensitive: true)
    static let base36Upper = BaseX(Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8), caseInsensitive: true)

    /// Inputs longer than this are rejected: conversion is quadratic, and no
    /// CID or key comes near it (the longest CID tau accepts is about 5,700
    /// base58 characters).
    static let maxDecodeLength = 8192

    init(_ alphabet: [UInt8], caseInsensitive: Bool) {
        self.alphabet = alphabet
        self.caseInsensitive = caseInsensitive
        self.table = RFC4648.table(alphabet, caseInsensitive: caseInsensitive)
        var digits = 0
        var radix: UInt64 = 1
        while radix * UInt64(alphabet.count) <= UInt64(UInt32.max) {
            radix *= UInt64(alphabet.count)
            digits += 1
        }
        self.digitsPerLimb = digits
        self.limbRadix = radix
    }

    func encode(_ bytes: some Collection<UInt8>) -> String {
        let input = Array(bytes)
        let zeros = input.prefix(while: { $0 == 0 }).count
        // The number in limbs of base `limbRadix`, least significant first. Input
        // is folded in three bytes at a time so that limb * 2^24 + carry fits in 64 bits.
        var limbs: [UInt32] = []
        limbs.reserveCapacity(input.count / 3 + 1)
        var index = zeros
        let firstGroup = (input.count - zeros) % 3
        var groupLength = firstGroup == 0 ? 3 : firstGroup
        while index < input.count {
            var carry: UInt64 = 0
            for i in index..<index + groupLength { carry = carry << 8 | UInt64(input[i]) }
            let shift = UInt64(8 * groupLength)
            for i in limbs.indices {
                let value = (UInt64(limbs[i]) << shift) + carry
                limbs[i] = UInt32(truncatingIfNeeded: value % limbRadix)
                carry = value / limbRadix
            }
            while carry > 0 {
                limbs.append(UInt32(truncatingIfNeeded: carry % limbRadix))
                carry /= limbRadix
            }
            index += groupLength
            groupLength = 3
        }
        // Each limb but the most significant gives exactly `digitsPerLimb` digits.
        let base = UInt32(alphabet.count)
        var out: [UInt8] = []
        out.reserveCapacity(zeros + limbs.count * digitsPerLimb)
        for _ in 0..<zeros { out.append(alphabet[0]) }
        var scratch = [UInt8](repeating: 0, count: digitsPerLimb)
        for (position, limb) in limbs.enumerated().reversed() {
            var value = limb
            var count = 0
            repeat {
                scratch[count] = alphabet[Int(value % base)]
                value /= base
                count += 1
            } while value > 0
            if position != limbs.count - 1 {
                while count < digitsPerLimb {
                    scratch[count] = alphabet[0]
                    count += 1
                }
            }
            for i in stride(from: count - 1, through: 0, by: -1) { out.append(scratch[i]) }
        }
        return String(decoding: out, as: UTF8.self)
    }

    func decode(_ text: Substring) throws(MultiformatsError) -> [UInt8] {
        let utf8 = text.utf8
        guard utf8.count <= BaseX.maxDecodeLength else {
            throw MultiformatsError(.limitExceeded, "base-\(alphabet.count) text of \(utf8.count) characters")
        }
        let base = UInt64(alphabet.count)
        var zeros = 0
        var leading = true
        // The number in limbs of 2^32, least significant first.
        var limbs: [UInt32] = []
        limbs.reserveCapacity(utf8.count * 6 / 32 + 1)
        var pending: UInt64 = 0  // digits not yet folded in
        var pendingRadix: UInt64 = 1  // base^(count of pending digits)
        func fold(_ limbs: inout [UInt32], _ multiplier: UInt64, _ addend: UInt64) {
            var carry = addend
            for i in limbs.indices {
                let value = UInt64(limbs[i]) * multiplier + carry
                limbs[i] = UInt32(truncatingIfNeeded: value)
                carry = value >> 32
            }
            if carry > 0 { limbs.append(UInt32(truncatingIfNeeded: carry)) }
        }
        for char in utf8 {
            let value = table[Int(char)]
            guard value != 0xFF else { throw RFC4648.invalidCharacter(char, in: text) }
            if leading {
                if value == 0 {
                    zeros += 1
                    continue
                }
                leading = false
            }
            pending = pending * base + UInt64(value)
            pendingRadix *= base
            if pendingRadix == limbRadix {
                fold(&limbs, pendingRadix, pending)
                pending = 0
                pendingRadix = 1
            }
        }
        if pendingRadix > 1 { fold(&limbs, pendingRadix, pending) }
        var out = [UInt8](repeating: 0, count: zeros)
        out.reserveCapacity(zeros + limbs.count * 4)
        var significant = false
        for limb in limbs.reversed() {
            for shift in stride(from: 24, through: 0, by: -8) {
                let byte = UInt8(truncatingIfNeeded: limb >> UInt32(shift))
                if byte != 0 { significant = true }
                if significant { out.append(byte) }
            }
        }
        return out
    }
}
