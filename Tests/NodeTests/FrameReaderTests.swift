import Node
import Testing

/// The CLI's reader of forwarded commands' frames (formats/admin-api.md §3).
@Suite struct FrameReaderTests {
    /// Frames: output "hello", error "oops", a 3000-byte output, an empty
    /// output, then exit status 7.
    static let stream: [UInt8] = {
        func frame(_ kind: UInt8, _ payload: [UInt8]) -> [UInt8] {
            let n = payload.count
            return [kind, UInt8(n >> 24 & 0xFF), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)] + payload
        }
        let large = (0..<3000).map { UInt8($0 % 251) }
        return frame(1, Array("hello".utf8)) + frame(2, Array("oops".utf8)) + frame(1, large) + frame(1, [])
            + frame(3, [0, 0, 0, 7])
    }()

    /// The stream fed in pieces of `size`: what each kind received, in order.
    static func read(pieces size: Int) throws -> (output: [UInt8], error: [UInt8], status: [[UInt8]]) {
        var reader = FrameReader()
        var output: [UInt8] = [], error: [UInt8] = [], status: [[UInt8]] = []
        var offset = 0
        while offset < stream.count {
            let end = min(stream.count, offset + size)
            try stream[offset..<end].withUnsafeBytes { bytes in
                try reader.parse(bytes) { kind, piece in
                    switch kind {
                    case .output: output += piece
                    case .error: error += piece
                    case .exitStatus: status.append(Array(piece))
                    }
                }
            }
            offset = end
        }
        return (output, error, status)
    }

    @Test(arguments: [1, 2, 3, 5, 7, 64, 1000, 4096])
    func piecesOfAnySizeGiveTheSameStreams(size: Int) throws {
        let got = try Self.read(pieces: size)
        #expect(got.output == Array("hello".utf8) + (0..<3000).map { UInt8($0 % 251) })
        #expect(got.error == Array("oops".utf8))
        #expect(got.status == [[0, 0, 0, 7]])
    }

    @Test func refusesUnknownKindsOversizedFramesAndBadStatusFrames() {
        for bad: [UInt8] in [[9, 0, 0, 0, 1, 0], [1, 0, 0x10, 0, 1], [3, 0, 0, 0, 2, 0, 0]] {
            var reader = FrameReader()
            #expect(throws: (any Error).self) {
                try bad.withUnsafeBytes { try reader.parse($0) { _, _ in } }
            }
        }
    }
}
