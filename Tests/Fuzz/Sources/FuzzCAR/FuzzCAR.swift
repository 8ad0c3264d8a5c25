import Blocks
import CAR
import FuzzSupport
import Multiformats

/// The CAR reader, on CARv1 and CARv2 input with the index parsed:
/// - it never traps, and the outcome does not depend on how the input is cut
///   into pieces (same events, or an error with the same code);
/// - without verification it accepts everything it accepts with it, alike;
/// - an accepted CAR re-encoded as a CARv1 reads back to the same roots and
///   blocks, and an accepted index re-encodes to exactly its bytes.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCAR(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = fuzzInput(data, size)
    // Small limits so that the fuzzer reaches them with short inputs.
    let limits = CARLimits(maxHeaderSize: 512, maxRoots: 8, maxSectionSize: 1024, maxIndexSize: 2048)
    let whole = read(input, pieceSize: nil, CARReader(limits: limits, readingIndex: true))
    // Piece sizes from 1 to 8, chosen by the input so both paths get explored.
    let pieceSize = input.isEmpty ? 1 : Int(input[input.count / 2] % 8) + 1
    let pieces = read(input, pieceSize: pieceSize, CARReader(limits: limits, readingIndex: true))
    switch (whole, pieces) {
    case (.success(let a), .success(let b)):
        check(a == b, "events differ in \(pieceSize)-byte pieces: \(hex(input))")
    case (.failure(let a), .failure(let b)):
        check(a.code == b.code, "\(a) whole, \(b) in \(pieceSize)-byte pieces: \(hex(input))")
    default:
        check(false, "whole: \(whole), in \(pieceSize)-byte pieces: \(pieces): \(hex(input))")
    }
    guard case .success(let events) = whole else { return 0 }

    let trusting = read(input, pieceSize: nil, CARReader(limits: limits, verifyingBlocks: false, readingIndex: true))
    check((try? trusting.get()) == events, "verification off changed the events of \(hex(input))")

    var header: CARHeader?
    var blocks: [Block] = []
    var index: CARIndex?
    for event in events {
        switch event {
        case .header(let found): header = found
        case .block(let block): blocks.append(block)
        case .index(let found): index = found
        }
    }
    guard let header else {
        check(false, "accepted without a header: \(hex(input))")
        return 0
    }
    var rewritten = CAREncoder.header(roots: header.roots)
    for block in blocks { CAREncoder.appendSection(block.bytes, cid: block.cid, to: &rewritten) }
    let reread = read(rewritten, pieceSize: nil, CARReader(limits: CARLimits(maxHeaderSize: 1024, maxSectionSize: 2048)))
    check((try? reread.get()) == [.header(CARHeader(roots: header.roots))] + blocks.map { .block($0) },
          "re-encoded CARv1 reads differently: \(hex(input))")

    if let index, let v2 = header.v2 {
        check(index.encoded() == Array(input[Int(v2.indexOffset)...]), "index does not re-encode: \(hex(input))")
    }
    return 0
}

func read(_ input: [UInt8], pieceSize: Int?, _ reader: CARReader) -> Result<[CARReader.Event], CARError> {
    var reader = reader
    return Result { () throws(CARError) in
        var events: [CARReader.Event] = []
        var offset = 0
        repeat {
            let end = min(input.count, offset + (pieceSize ?? input.count))
            events += try reader.parse(Array(input[offset..<end]))
            offset = end
        } while offset < input.count
        events += try reader.finish()
        return events
    }
}
