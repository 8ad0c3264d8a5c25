import Chunking
import TestSupport
import Testing

/// Specs covering every chunker, window edge cases (min at the window size, odd sizes) and the Kubo defaults.
let behaviorSpecs = [
    "size-262144", "size-1000", "size-1",
    "rabin", "rabin-16-64-128", "rabin-16-4096-65536", "rabin-100-1000-5000", "rabin-48",
    "buzhash",
    "fastcdc-64-256-1024", "fastcdc-65-300-1025", "fastcdc-2048-8192-65536", "fastcdc-16384-65536-262144",
    "fastcdc-1024-1024-1024",
]

/// Smallest length of a chunk that is not the last one.
func minimumChunkLength(_ spec: ChunkerSpec) -> Int {
    switch spec {
    case .size(let size): size
    case .rabin(let min, _, _): min
    case .buzhash: BuzhashChunker.minimumChunkSize
    case .fastCDC(let min, _, _): min / 2 * 2  // the first check is at min rounded down to even
    }
}

@Suite("Chunker behavior")
struct ChunkerBehaviorTests {
    static let input = TestInputs.mixed(3 << 20, seed: 7)

    @Test("cut points do not depend on how the input is split into pieces", arguments: behaviorSpecs)
    func pieceSizeIndependence(text: String) throws {
        let spec = try ChunkerSpec(parsing: text)
        let data = Self.input
        let whole = TestInputs.boundaries(of: data, spec: spec)
        #expect(whole.count > 2)
        // Sizes around the windows (16 rabin, 32 buzhash, 64 gear bits) and a few large ones.
        for size in [1, 7, 15, 16, 17, 31, 32, 33, 63, 64, 65, 4096, 65_537, (1 << 20) + 1] {
            if size == 1 && data.count > (1 << 20) {
                let prefix = Array(data[..<(1 << 20)])
                #expect(TestInputs.boundaries(of: prefix, spec: spec) { 1 }
                    == TestInputs.boundaries(of: prefix, spec: spec), "1-byte pieces")
                continue
            }
            #expect(TestInputs.boundaries(of: data, spec: spec) { size } == whole, "pieces of \(size) bytes")
        }
        var sizes = SeededBytes(seed: 99)
        #expect(TestInputs.boundaries(of: data, spec: spec) { Int(sizes.next() % 70_000) } == whole, "random pieces")
        var smallSizes = SeededBytes(seed: 5)
        #expect(TestInputs.boundaries(of: data, spec: spec) { Int(smallSizes.next() % 100) } == whole,
                "random small pieces")
    }

    @Test("chunks tile the input and respect min and max", arguments: behaviorSpecs)
    func chunkSizes(text: String) throws {
        let spec = try ChunkerSpec(parsing: text)
        for data in [Self.input, TestInputs.random(1 << 20, seed: 3), [UInt8](repeating: 0, count: 1 << 20),
                     [UInt8](repeating: 0xAB, count: 100), []] {
            let ends = TestInputs.boundaries(of: data, spec: spec)
            #expect(ends.last ?? 0 == data.count)
            var start = 0
            for (index, end) in ends.enumerated() {
                let length = end - start
                #expect(length > 0)
                #expect(length <= spec.maxChunkSize)
                if index < ends.count - 1 {
                    #expect(length >= minimumChunkLength(spec), "chunk \(index) of \(ends.count) is \(length) bytes")
                }
                start = end
            }
        }
    }

    @Test func sizeChunksAreExact() throws {
        let ends = TestInputs.boundaries(of: TestInputs.random(10_000, seed: 1), spec: .size(3000))
        #expect(ends == [3000, 6000, 9000, 10_000])
        #expect(TestInputs.boundaries(of: TestInputs.random(6000, seed: 1), spec: .size(3000)) == [3000, 6000])
    }

    @Test func resetStartsANewFile() throws {
        let data = TestInputs.random(2 << 20, seed: 11)
        for text in ["rabin", "buzhash", "fastcdc-16384-65536-262144", "size-1000"] {
            let spec = try ChunkerSpec(parsing: text)
            var chunker = spec.makeChunker()
            // Half a chunk of another file, then reset: the next file must cut as if the chunker were new.
            let other = TestInputs.random(100_000, seed: 12)
            _ = other.withUnsafeBytes { chunker.nextCut(in: $0) }
            chunker.reset()
            let ends = data.withUnsafeBytes { chunkBoundaries(of: $0, using: &chunker) }
            #expect(ends == TestInputs.boundaries(of: data, spec: spec))
        }
    }

    @Test func emptyPiecesNeverCut() throws {
        for text in behaviorSpecs {
            var chunker = try ChunkerSpec(parsing: text).makeChunker()
            #expect(chunker.nextCut(in: UnsafeRawBufferPointer(start: nil, count: 0)) == nil)
        }
    }

    /// FastCDC cuts before the matching byte: when that byte starts a piece the cut is 0 bytes into it.
    @Test func fastCDCCanCutAtTheStartOfAPiece() throws {
        let spec = try ChunkerSpec(parsing: "fastcdc-64-256-1024")
        let data = TestInputs.random(1 << 16, seed: 21)
        let ends = TestInputs.boundaries(of: data, spec: spec)
        let cut = ends[0]
        var chunker = spec.makeChunker()
        data.withUnsafeBytes { buffer in
            #expect(chunker.nextCut(in: UnsafeRawBufferPointer(rebasing: buffer[..<cut])) == nil)
            #expect(chunker.nextCut(in: UnsafeRawBufferPointer(rebasing: buffer[cut...])) == 0)
            #expect(chunker.nextCut(in: UnsafeRawBufferPointer(rebasing: buffer[cut...])) == ends[1] - cut)
        }
    }

    @Test("an edit in the middle moves only nearby content-defined boundaries", arguments: [
        "rabin", "buzhash", "fastcdc-16384-65536-262144", "rabin-16-4096-65536", "fastcdc-64-256-1024",
    ])
    func editLocality(text: String) throws {
        let spec = try ChunkerSpec(parsing: text)
        let original = TestInputs.random(16 << 20, seed: 2024)
        let before = TestInputs.boundaries(of: original, spec: spec)
        let editAt = (8 << 20) + 12_345
        for (inserted, replaced) in [(7, 0), (0, 5), (3, 2)] {
            var edited = original
            edited.replaceSubrange(editAt..<(editAt + replaced),
                                   with: TestInputs.random(inserted, seed: 77 + UInt64(inserted)))
            let shift = inserted - replaced
            let after = TestInputs.boundaries(of: edited, spec: spec)
            // A cut at c depends only on bytes up to c, so every cut before the edit stays.
            let unchangedPrefix = before.filter { $0 < editAt }
            #expect(Array(after.prefix(unchangedPrefix.count)) == unchangedPrefix)
            #expect(after.count > unchangedPrefix.count && after[unchangedPrefix.count] >= editAt)
            // After the edit the cuts fall back onto the old ones, shifted, within a few chunks.
            let oldTail = before[unchangedPrefix.count...].map { $0 + shift }
            let newTail = Array(after[unchangedPrefix.count...])
            let resync = newTail.firstIndex { oldTail.contains($0) }
            #expect(resync != nil && resync! <= 3, "re-synchronized after \(resync.map(String.init) ?? "never") cuts")
            if let resync, let oldIndex = oldTail.firstIndex(of: newTail[resync]) {
                #expect(Array(newTail[resync...]) == Array(oldTail[oldIndex...]))
            }
        }
    }
}
