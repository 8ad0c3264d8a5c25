import Foundation
import Multiformats
import TestSupport

/// Bytes from a hex string (whitespace ignored); traps on bad hex, which only
/// test literals pass.
func hex(_ text: String) -> [UInt8] {
    let digits = Array(text.filter { !$0.isWhitespace })
    precondition(digits.count % 2 == 0, "odd hex literal")
    return stride(from: 0, to: digits.count, by: 2).map { UInt8(String(digits[$0..<$0 + 2]), radix: 16)! }
}

extension Collection<UInt8> {
    var hexString: String { map { String(format: "%02x", $0) }.joined() }
}

/// Runs `script` in the reference Python venv with `lines` on stdin (one per
/// line) and returns its stdout lines. Batching keeps it to one interpreter start.
func python(_ script: String, lines: [String] = []) throws -> [String] {
    let input = Data((lines.joined(separator: "\n") + "\n").utf8)
    let output = try runPython(script, stdin: input)
    return String(decoding: output, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        .dropLast().map(String.init)
}

/// A loaded `kubo-add.json` from the shared vectors.
func kuboAddVectors() throws -> [String: Any] {
    let url = TestEnvironment.vectors.appendingPathComponent("kubo-add.json")
    return try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
}
