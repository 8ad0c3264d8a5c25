import Blocks
import CAR
import Multiformats
import Testing
import UnixFS

/// The worked example of formats/car.md: "hello world\n" imported with the
/// default parameters (one dag-pb block, CIDv0), exported as CARv1 and CARv2.
@Suite("formats/car.md worked example")
struct WorkedExampleTests {
    static let digest = "46d44814b9c5af141c3aaab7c05dc5e844ead5f91f12858b021eba45768b4c0e"
    static let v1 = "38" + "a2" + "65726f6f7473" + "81" + "d82a" + "5823" + "00" + "1220" + digest
        + "6776657273696f6e" + "01"
        + "36" + "1220" + digest + "0a120802120c68656c6c6f20776f726c640a180c"
    static let v2 = "0aa16776657273696f6e02" + String(repeating: "00", count: 16)
        + "3300000000000000" + "7000000000000000" + "a300000000000000" + v1
        + "8108" + "01000000" + "1200000000000000" + "01000000" + "28000000" + "2800000000000000"
        + digest + "3900000000000000"

    @Test func helloWorldCAR() async throws {
        var importer = FileImporter(parameters: FileImportParameters())
        importer.write(Array("hello world\n".utf8))
        let root = importer.finish().cid
        #expect(root.description == "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o")
        let source = try await store(importer.takeBlocks())
        let (v1, _) = try await exportCAR(roots: [root], from: source)
        let (v2, _) = try await exportCAR(roots: [root], from: source, version: 2)
        #expect(hex(v1) == Self.v1)
        #expect(v1.count == 112)
        #expect(hex(v2) == Self.v2)
        #expect(v2.count == 233)
    }
}
