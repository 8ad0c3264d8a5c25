// Hosts tau's HTTP gateway for Benchmarks/scripts/gateway-vs-nginx.sh: the
// files of a directory on disk are imported as UnixFS (CIDv1, raw leaves,
// 256 KiB chunks) into a MemoryBlockStore, and served as one website that
// every Host name maps to, so that `GET /name` here and on nginx return the
// same bytes.
//
//   tau-bench-gateway PORT DIRECTORY [CACHE_MIB=256]
//
// Prints "ready <port> <root CID>" once listening, then serves until killed.

import Blocks
import ContentCache
import Foundation
import Gateway
import Logging
import Multiformats
import UnixFS

/// Every host is the one site.
struct OneSite: SiteResolver {
    let site: Site
    func site(forHost host: String) -> Site? { site }
}

let arguments = CommandLine.arguments
guard arguments.count >= 3, let port = Int(arguments[1]) else {
    FileHandle.standardError.write(Data("usage: tau-bench-gateway PORT DIRECTORY [CACHE_MIB]\n".utf8))
    exit(2)
}
let directory = URL(fileURLWithPath: arguments[2])
let cacheMiB = arguments.count > 3 ? Int(arguments[3]) ?? 256 : 256

let store = MemoryBlockStore()
var site = DirectoryBuilder(parameters: DirectoryParameters(cids: CIDBuilder(version: .v1)))
let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
for name in names {
    let handle = try FileHandle(forReadingFrom: directory.appendingPathComponent(name))
    var importer = FileImporter(parameters: FileImportParameters(rawLeaves: true, cids: CIDBuilder(version: .v1)))
    while let piece = try handle.read(upToCount: 4 << 20), !piece.isEmpty {
        importer.write(Array(piece))
        try await store.put(importer.takeBlocks())
    }
    try handle.close()
    let file = importer.finish()
    try await store.put(importer.takeBlocks())
    try site.add(DirectoryEntry(name: name, cid: file.cid, tsize: file.tsize))
}
let (root, blocks) = site.build()
try await store.put(blocks)

let cache = ContentCache(byteBudget: cacheMiB << 20)
var limits = GatewayConfiguration.Limits()
// Tuning knobs for experiments; the script leaves them at the defaults.
let environment = ProcessInfo.processInfo.environment
if let kib = environment["TAU_GATEWAY_CHUNK_KIB"].flatMap(Int.init) { limits.streamChunkSize = kib << 10 }
if let kib = environment["TAU_GATEWAY_HIGH_WATER_KIB"].flatMap(Int.init) {
    limits.writeBufferHighWaterMark = kib << 10
    limits.writeBufferLowWaterMark = kib << 8
}
let server = GatewayServer(
    configuration: GatewayConfiguration(host: "127.0.0.1", port: port, limits: limits),
    blocks: BlockService(cache: cache, local: store), cache: cache,
    sites: OneSite(site: Site(root: root.cid)), logger: Logger(label: "tau-bench-gateway"))
_ = try await server.start()
FileHandle.standardOutput.write(Data("ready \(port) \(root.cid)\n".utf8))
while true { try await Task.sleep(for: .seconds(3600)) }
