import Blocks
import Foundation
import Multiformats
import Testing
import TestSupport
import UnixFS

@Suite("kubo-add.json files")
struct KuboAddFileTests {
    struct Row: CustomTestStringConvertible, Sendable {
        let index: Int
        let input: String
        let flags: [String]
        let cid: String
        var testDescription: String { "#\(index) \(input) \(flags.joined(separator: " "))" }
    }

    static func rows() throws -> [Row] {
        let files = try kuboAddVectors()["files"] as! [[String: Any]]
        return files.enumerated().map { index, row in
            let input = row["input"] as! [String: Any]
            let inputJSON = String(data: try! JSONSerialization.data(withJSONObject: input, options: [.sortedKeys]), encoding: .utf8)!
            return Row(index: index, input: inputJSON, flags: row["flags"] as! [String], cid: row["cid"] as! String)
        }
    }

    @Test(arguments: try rows())
    func importMatchesKubo(_ row: Row) throws {
        let input = vectorInput(try JSONSerialization.jsonObject(with: Data(row.input.utf8)) as! [String: Any])
        let parameters = try importOptions(fromFlags: row.flags).resolve().file
        let (root, blocks) = importFile(input, parameters)
        #expect(root.cid.description == row.cid)
        #expect(root.fileSize == UInt64(input.count))
        // Every block is named by the hash of its bytes.
        for block in blocks where !block.cid.isIdentity {
            #expect(Multihash(hashing: block.bytes, with: block.cid.hashFunction!).bytes[...] == block.cid.multihashBytes)
        }
    }

    /// Hashing leaves on other threads, in batches smaller than a leaf, of a
    /// few leaves and of the default size, gives the same blocks in the same order.
    @Test(arguments: try rows())
    func concurrentHashingMatchesInline(_ row: Row) throws {
        let input = vectorInput(try JSONSerialization.jsonObject(with: Data(row.input.utf8)) as! [String: Any])
        var parameters = try importOptions(fromFlags: row.flags).resolve().file
        let inline = importFile(input, parameters)
        for batchBytes in [1, 600_000, 8 << 20] {
            parameters.leafHashing = .concurrent(batchBytes: batchBytes)
            let concurrent = importFile(input, parameters, pieceSize: 100_000)
            #expect(concurrent.root == inline.root, "batches of \(batchBytes) bytes")
            #expect(concurrent.blocks == inline.blocks, "batches of \(batchBytes) bytes")
        }
    }

    /// Fixed-size chunks read straight into their leaves give the same blocks,
    /// with leaves hashed inline and on other threads.
    @Test(arguments: try rows())
    func chunksReadInPlaceMatchWrites(_ row: Row) throws {
        let input = vectorInput(try JSONSerialization.jsonObject(with: Data(row.input.utf8)) as! [String: Any])
        var parameters = try importOptions(fromFlags: row.flags).resolve().file
        guard case .size = parameters.chunker else { return }
        let written = importFile(input, parameters)
        for hashing in [LeafHashing.inline, .concurrent(batchBytes: 600_000)] {
            parameters.leafHashing = hashing
            var importer = FileImporter(parameters: parameters)
            var blocks: [Block] = []
            var offset = 0
            while true {
                let count = importer.readChunk { region in
                    let count = min(region.count, input.count - offset)
                    input.withUnsafeBytes { region.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[offset..<(offset + count)])) }
                    offset += count
                    return count
                }
                blocks += importer.takeBlocks()
                if count < importer.fixedChunkSize! { break }
            }
            let root = importer.finish()
            blocks += importer.takeBlocks()
            #expect(root == written.root, "\(hashing)")
            #expect(blocks == written.blocks, "\(hashing)")
        }
    }

    @Test func exactBlocks() throws {
        let blocks = try kuboAddVectors()["blocks"] as! [[String: Any]]
        let emptyFile = importFile([], FileImportParameters()).blocks
        let hello = importFile(Array("hello world".utf8), FileImportParameters()).blocks
        let hex = { (bytes: [UInt8]) in bytes.map { String(format: "%02x", $0) }.joined() }
        #expect(hex(emptyFile.last!.bytes) == blocks[0]["hex"] as! String)
        #expect(hex(hello.last!.bytes) == blocks[1]["hex"] as! String)
    }
}
