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

    @Test func exactBlocks() throws {
        let blocks = try kuboAddVectors()["blocks"] as! [[String: Any]]
        let emptyFile = importFile([], FileImportParameters()).blocks
        let hello = importFile(Array("hello world".utf8), FileImportParameters()).blocks
        let hex = { (bytes: [UInt8]) in bytes.map { String(format: "%02x", $0) }.joined() }
        #expect(hex(emptyFile.last!.bytes) == blocks[0]["hex"] as! String)
        #expect(hex(hello.last!.bytes) == blocks[1]["hex"] as! String)
    }
}
