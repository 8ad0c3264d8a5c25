import FuzzSupport
import NIOCore
import P2P

/// multistream-select, both roles, on arbitrary peer bytes:
/// - it never traps, and the outcome (protocol agreed, error code, or still
///   waiting), the bytes it consumed and the replies it wrote do not depend
///   on how the input is cut into pieces;
/// - an agreed protocol is one this side supports or proposed;
/// - every line the line reader accepts re-encodes to exactly the bytes it consumed.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMultistream(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = fuzzInput(data, size)
    let supported: Set<String> = ["/noise", "/yamux/1.0.0", "/ipfs/id/1.0.0"]
    let proposed = ["/tls/1.0.0", "/noise"]
    let pieceSize = input.isEmpty ? 1 : Int(input[input.count / 2] % 8) + 1
    for makeMachine in [
        { MultistreamSelect(supporting: supported, maxLineLength: 64, maxAttempts: 4) },
        { MultistreamSelect(proposing: proposed, maxLineLength: 64) },
    ] {
        let whole = run(makeMachine(), input, pieceSize: input.count)
        let pieces = run(makeMachine(), input, pieceSize: pieceSize)
        check(whole == pieces, "whole \(whole) vs \(pieceSize)-byte pieces \(pieces): \(hex(input))")
        if case .selected(let name) = whole.outcome {
            check(supported.contains(name) || proposed.contains(name), "agreed on \(name): \(hex(input))")
        }
    }
    var buffer = ByteBuffer(bytes: input)
    while true {
        let before = buffer.readerIndex
        guard let line = try? MultistreamLine.read(from: &buffer, maxLength: 4096) else { break }
        var encoded = ByteBuffer()
        MultistreamLine.write(line, into: &encoded)
        check(Array(encoded.readableBytesView) == Array(input[before..<buffer.readerIndex]),
              "line \(line) does not re-encode: \(hex(input))")
    }
    return 0
}

struct Result: Equatable {
    enum Outcome: Equatable {
        case pending
        case selected(String)
        case failed(P2PError.Code)
    }
    var outcome: Outcome
    var consumed: Int
    var output: [UInt8]
}

func run(_ machine: MultistreamSelect, _ input: [UInt8], pieceSize: Int) -> Result {
    var machine = machine
    var buffer = ByteBuffer()
    var output = ByteBuffer()
    machine.start(into: &output)
    var fed = 0
    while fed < input.count || fed == 0 {
        let end = min(fed + max(pieceSize, 1), input.count)
        buffer.writeBytes(input[fed..<end])
        fed = end
        do {
            if case .selected(let name) = try machine.receive(&buffer, output: &output) {
                return Result(outcome: .selected(name), consumed: fed - buffer.readableBytes, output: Array(output.readableBytesView))
            }
        } catch {
            return Result(outcome: .failed(error.code), consumed: 0, output: [])
        }
        if input.isEmpty { break }
    }
    return Result(outcome: .pending, consumed: fed - buffer.readableBytes, output: Array(output.readableBytesView))
}
