import Blocks
import Foundation
import Multiformats
import UnixFS

/// A fresh directory under the system temp dir, removed after `body`.
func withTemporaryDirectory<R>(_ body: (String) async throws -> R) async throws -> R {
    var template = Array((NSTemporaryDirectory() + "tau-sites-test-XXXXXX").utf8CString)
    guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
        throw POSIXError(.EIO)
    }
    let path = String(cString: made)
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try await body(path)
}

/// A small file DAG (1 KiB chunks) and its root.
func importFile(_ content: [UInt8]) -> (root: CID, blocks: [Block]) {
    var importer = FileImporter(parameters: FileImportParameters(chunker: .size(1024), cids: CIDBuilder(version: .v0)))
    importer.write(content)
    let root = importer.finish()
    return (root.cid, importer.takeBlocks())
}
