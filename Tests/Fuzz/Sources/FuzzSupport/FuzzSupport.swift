import Multiformats

/// Stops the run when an invariant fails. libFuzzer reports the trap as a
/// crash and saves the input that caused it, so the message says what broke.
public func check(
    _ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
    file: StaticString = #fileID, line: UInt = #line
) {
    if !condition() { fatalError("invariant failed: \(message())", file: file, line: line) }
}

/// The fuzzer's input as an array (the data pointer is nil when `size` is 0).
public func fuzzInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> [UInt8] {
    guard let data, size > 0 else { return [] }
    return Array(UnsafeBufferPointer(start: data, count: size))
}

/// Hex for messages.
public func hex(_ bytes: some Sequence<UInt8>) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    for byte in bytes {
        out.append(digits[Int(byte >> 4)])
        out.append(digits[Int(byte & 0x0F)])
    }
    return String(decoding: out, as: UTF8.self)
}

/// The text a multibase decoder accepted, as the encoder would write it: bases
/// that decode either case are folded to their own case (the prefix says which).
public func canonicalMultibaseText(_ text: String, base: Multibase) -> String {
    guard base.isCaseInsensitive else { return text }
    let upper = base.rawValue.isUppercase
    let body = text.utf8.dropFirst().map { byte -> UInt8 in
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z") where upper: byte - 0x20
        case UInt8(ascii: "A")...UInt8(ascii: "Z") where !upper: byte + 0x20
        default: byte
        }
    }
    return String(base.rawValue) + String(decoding: body, as: UTF8.self)
}
