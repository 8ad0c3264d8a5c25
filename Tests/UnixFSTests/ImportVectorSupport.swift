import Chunking
import Foundation
import Multiformats
import TestSupport
import UnixFS

/// Parses `ipfs add` flags as they appear in the vectors into ImportOptions.
func importOptions(fromFlags flags: [String]) throws -> ImportOptions {
    var options = ImportOptions()
    for flag in flags {
        let parts = flag.split(separator: "=", maxSplits: 1).map(String.init)
        let name = parts[0]
        let value = parts.count > 1 ? parts[1] : nil
        func bool() -> Bool { value.map { $0 == "true" } ?? true }
        switch name {
        case "--raw-leaves": options.rawLeaves = bool()
        case "--cid-version": options.cidVersion = Int(value!)!
        case "--hash": options.hashFunction = value!
        case "--chunker", "-s": options.chunker = value!
        case "--trickle", "-t": options.trickle = bool()
        case "--inline": options.inline = bool()
        case "--inline-limit": options.inlineLimit = Int(value!)!
        case "--profile": options.profile = ImportProfile(rawValue: value!)!
        case "--max-file-links": options.maxFileLinks = Int(value!)!
        case "-r", "--recursive", "--upgrade-cidv0-in-output", "--upgrade-cidv0-in-output=true", "add": break
        default: throw CommandFailure(command: "unknown flag \(flag)", status: 1, stderr: "")
        }
    }
    return options
}

/// Imports `data` with `parameters` and returns the root and the blocks made.
func importFile(_ data: [UInt8], _ parameters: FileImportParameters, pieceSize: Int = 1 << 20) -> (root: FileLink, blocks: [Block]) {
    var importer = FileImporter(parameters: parameters)
    var blocks: [Block] = []
    data.withUnsafeBytes { raw in
        var offset = 0
        while offset < raw.count {
            let end = min(raw.count, offset + pieceSize)
            importer.write(UnsafeRawBufferPointer(rebasing: raw[offset..<end]))
            blocks += importer.takeBlocks()
            offset = end
        }
    }
    let root = importer.finish()
    blocks += importer.takeBlocks()
    return (root, blocks)
}

import Blocks

/// Loads kubo-add.json.
func kuboAddVectors() throws -> [String: Any] {
    let url = TestEnvironment.vectors.appendingPathComponent("kubo-add.json")
    let data = try Data(contentsOf: url)
    return try JSONSerialization.jsonObject(with: data) as! [String: Any]
}

/// The input a vector row describes: `{"text": …}` or `{"chacha": seed, "size": n}`.
func vectorInput(_ input: [String: Any]) -> [UInt8] {
    if let text = input["text"] as? String { return Array(text.utf8) }
    let seed = input["chacha"] as! String
    let size = (input["size"] as! NSNumber).intValue
    return chachaKeystream(seed: seed, count: size)
}
