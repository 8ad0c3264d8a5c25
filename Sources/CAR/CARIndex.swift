import Multiformats

/// A CARv2 index: where each block's section starts, keyed by multihash digest.
/// Format: formats/car.md, "CARv2 index".
///
/// tau writes `MultihashIndexSorted` (multicodec 0x0401), the format go-car
/// writes by default, and reads it and the older `IndexSorted` (0x0400).
/// Offsets count from the first byte of the inner CARv1 payload and point at
/// the section's length varint. Identity multihashes are never indexed.
///
/// Held as the encoded buckets (fixed-width `digest || offset` records), so a
/// lookup is a binary search and an index costs its encoded size in memory.
public struct CARIndex: Hashable, Sendable {
    /// Multicodec of the format go-car and tau write.
    public static let multihashIndexSorted: UInt64 = 0x0401
    /// Multicodec of the older format without hash codes, read only.
    public static let indexSorted: UInt64 = 0x0400

    /// The records of one (hash function, digest length) pair, sorted by digest.
    public struct Bucket: Hashable, Sendable {
        /// The multihash code; `nil` in an `IndexSorted` index, which has none.
        public let hashCode: UInt64?
        public let digestLength: Int
        /// `count` records of `digestLength + 8` bytes: digest, then the
        /// section offset as a little-endian `UInt64`.
        public let records: [UInt8]

        public var width: Int { digestLength + 8 }
        public var count: Int { records.count / width }

        /// The digest of record `index`.
        public func digest(at index: Int) -> ArraySlice<UInt8> {
            records[index * width..<index * width + digestLength]
        }

        /// The section offset of record `index`.
        public func offset(at index: Int) -> UInt64 {
            let start = index * width + digestLength
            return records[start..<start + 8].reversed().reduce(0) { $0 << 8 | UInt64($1) }
        }

        /// Offsets of every record whose digest is `digest` (more than one when
        /// the CAR holds the same bytes under several CIDs).
        func offsets(of digest: some Collection<UInt8>) -> [UInt64] {
            var low = 0, high = count
            while low < high {
                let middle = (low + high) / 2
                if self.digest(at: middle).lexicographicallyPrecedes(digest) { low = middle + 1 } else { high = middle }
            }
            var found: [UInt64] = []
            var index = low
            while index < count, self.digest(at: index).elementsEqual(digest) {
                found.append(offset(at: index))
                index += 1
            }
            return found
        }
    }

    /// One index entry, for enumeration.
    public struct Record: Hashable, Sendable {
        public let hashCode: UInt64?
        public let digest: [UInt8]
        public let offset: UInt64

        /// The multihash, when the index format records hash codes.
        public var multihash: Multihash? {
            guard let hashCode, hashCode <= Varint.maxValue else { return nil }
            return Multihash(code: hashCode, digest: digest)
        }
    }

    /// The index format's multicodec.
    public let codec: UInt64
    /// Buckets by hash code, then digest length, ascending.
    public let buckets: [Bucket]

    /// Number of records.
    public var count: Int { buckets.reduce(0) { $0 + $1.count } }

    /// Every record, bucket by bucket.
    public var records: [Record] {
        buckets.flatMap { bucket in
            (0..<bucket.count).map { Record(hashCode: bucket.hashCode, digest: Array(bucket.digest(at: $0)), offset: bucket.offset(at: $0)) }
        }
    }

    /// Section offsets recorded for `multihash`, empty when it is not indexed.
    public func offsets(of multihash: Multihash) -> [UInt64] {
        let digest = multihash.digest
        return buckets.lazy
            .filter { ($0.hashCode == nil || $0.hashCode == multihash.code) && $0.digestLength == digest.count }
            .flatMap { $0.offsets(of: digest) }
    }

    init(codec: UInt64, buckets: [Bucket]) {
        self.codec = codec
        self.buckets = buckets
    }

    // MARK: Encoding

    /// The index as stored after a CARv2 payload, starting with its codec varint.
    ///
    /// `MultihashIndexSorted`: `int32` number of hash codes, then per code
    /// (ascending) the code as `uint64`, an `int32` number of digest-length
    /// buckets, and per bucket (ascending width) the width as `uint32`, the
    /// bucket's **byte** length as `uint64` (go-car writes bytes, not the record
    /// count the spec text suggests) and the sorted records. All little-endian.
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(16 + buckets.reduce(0) { $0 + 24 + $1.records.count })
        Varint.append(codec, to: &out)
        let groups = groupedByCode()
        if codec == CARIndex.multihashIndexSorted {
            appendLittleEndian(UInt32(groups.count), to: &out)
            for group in groups {
                appendLittleEndian(group.code ?? 0, to: &out)
                appendBuckets(group.buckets, to: &out)
            }
        } else {
            appendBuckets(buckets, to: &out)
        }
        return out
    }

    private func appendBuckets(_ buckets: ArraySlice<Bucket>, to out: inout [UInt8]) {
        appendLittleEndian(UInt32(buckets.count), to: &out)
        for bucket in buckets {
            appendLittleEndian(UInt32(bucket.width), to: &out)
            appendLittleEndian(UInt64(bucket.records.count), to: &out)
            out.append(contentsOf: bucket.records)
        }
    }

    private func appendBuckets(_ buckets: [Bucket], to out: inout [UInt8]) {
        appendBuckets(buckets[...], to: &out)
    }

    /// Consecutive buckets sharing a hash code (buckets are sorted by code).
    private func groupedByCode() -> [(code: UInt64?, buckets: ArraySlice<Bucket>)] {
        var groups: [(code: UInt64?, buckets: ArraySlice<Bucket>)] = []
        var start = 0
        while start < buckets.count {
            var end = start + 1
            while end < buckets.count, buckets[end].hashCode == buckets[start].hashCode { end += 1 }
            groups.append((buckets[start].hashCode, buckets[start..<end]))
            start = end
        }
        return groups
    }

    // MARK: Decoding

    /// Decodes an index that spans all of `bytes` (from its codec varint to the
    /// end of the CARv2).
    /// - Throws: `.invalidIndex` for an unknown format, a width of 8 or less, a
    ///   bucket that is not a whole number of records, codes, buckets or records
    ///   out of order, a hash code without buckets, a length past the end, or
    ///   bytes after the last bucket. So `encoded()` gives back exactly the input.
    public init(decoding bytes: [UInt8]) throws(CARError) {
        var reader = IndexReader(bytes: bytes)
        let codec: UInt64
        do {
            codec = try Varint.decode(bytes, at: &reader.position)
        } catch {
            throw CARError(.invalidIndex, "index format varint: \(error)")
        }
        var buckets: [Bucket] = []
        switch codec {
        case CARIndex.multihashIndexSorted:
            let codeCount = try reader.uint32("number of hash codes")
            var previousCode: UInt64?
            for _ in 0..<codeCount {
                let code = try reader.uint64("hash code")
                if let previousCode, code <= previousCode {
                    throw CARError(.invalidIndex, "hash code 0x\(String(code, radix: 16)) out of order at index byte \(reader.position - 8)")
                }
                previousCode = code
                let group = try reader.buckets(hashCode: code)
                // go-car writes a code only for records that have it.
                guard !group.isEmpty else {
                    throw CARError(.invalidIndex, "hash code 0x\(String(code, radix: 16)) has no buckets")
                }
                buckets += group
            }
        case CARIndex.indexSorted:
            buckets = try reader.buckets(hashCode: nil)
        default:
            throw CARError(.invalidIndex, "unknown index format 0x\(String(codec, radix: 16))")
        }
        guard reader.position == bytes.count else {
            throw CARError(.invalidIndex, "\(bytes.count - reader.position) bytes after the last bucket")
        }
        self.init(codec: codec, buckets: buckets)
    }
}

/// A cursor over an encoded index; every read is bounds-checked.
private struct IndexReader {
    let bytes: [UInt8]
    var position = 0

    mutating func littleEndian(_ size: Int, _ what: String) throws(CARError) -> UInt64 {
        guard bytes.count - position >= size else {
            throw CARError(.invalidIndex, "index ends inside the \(what) at index byte \(position)")
        }
        defer { position += size }
        return bytes[position..<position + size].reversed().reduce(0) { $0 << 8 | UInt64($1) }
    }

    mutating func uint32(_ what: String) throws(CARError) -> UInt32 {
        let value = UInt32(try littleEndian(4, what))
        // go-car writes these counts as signed 32-bit integers.
        guard value <= UInt32(Int32.max) else { throw CARError(.invalidIndex, "\(what) \(value) is negative as an int32") }
        return value
    }

    mutating func uint64(_ what: String) throws(CARError) -> UInt64 {
        try littleEndian(8, what)
    }

    /// A count of buckets, then the buckets, for one hash code.
    mutating func buckets(hashCode: UInt64?) throws(CARError) -> [CARIndex.Bucket] {
        let bucketCount = try uint32("number of buckets")
        var buckets: [CARIndex.Bucket] = []
        var previousWidth = 0
        for _ in 0..<bucketCount {
            let widthStart = position
            let width = Int(try uint32("bucket width"))
            let length = try uint64("bucket length")
            guard width > 8 else {
                throw CARError(.invalidIndex, "bucket width \(width) at index byte \(widthStart) leaves no room for a digest")
            }
            guard width > previousWidth else {
                throw CARError(.invalidIndex, "bucket width \(width) at index byte \(widthStart) is not above the previous \(previousWidth)")
            }
            previousWidth = width
            guard length <= UInt64(bytes.count - position) else {
                throw CARError(.invalidIndex, "bucket of \(length) bytes at index byte \(widthStart) runs past the end")
            }
            guard length % UInt64(width) == 0 else {
                throw CARError(.invalidIndex, "bucket of \(length) bytes at index byte \(widthStart) is not a whole number of \(width)-byte records")
            }
            let records = Array(bytes[position..<position + Int(length)])
            position += Int(length)
            let bucket = CARIndex.Bucket(hashCode: hashCode, digestLength: width - 8, records: records)
            for index in 1..<max(bucket.count, 1) where bucket.digest(at: index).lexicographicallyPrecedes(bucket.digest(at: index - 1)) {
                throw CARError(.invalidIndex, "bucket at index byte \(widthStart) is not sorted (record \(index))")
            }
            buckets.append(bucket)
        }
        return buckets
    }
}

/// Collects `(multihash, section offset)` pairs while a CAR is written and
/// builds the sorted index at the end.
///
/// Memory: one record per indexed block, stored flat as `digest || offset`
/// (40 bytes for sha2-256), plus up to twice that while `build` sorts.
public struct CARIndexBuilder: Sendable {
    private struct BucketKey: Hashable, Comparable {
        let hashCode: UInt64
        let digestLength: Int
        static func < (a: Self, b: Self) -> Bool {
            (a.hashCode, a.digestLength) < (b.hashCode, b.digestLength)
        }
    }

    private var records: [BucketKey: [UInt8]] = [:]

    public init() {}

    /// Records that the section of `cid` starts `offset` bytes into the CARv1
    /// payload. Identity CIDs are skipped, as the CARv2 spec and go-car do.
    public mutating func add(_ cid: CID, sectionOffset offset: UInt64) {
        guard !cid.isIdentity else { return }
        let digest = cid.digest
        let key = BucketKey(hashCode: cid.hashCode, digestLength: digest.count)
        records[key, default: []].append(contentsOf: digest)
        appendLittleEndian(offset, to: &records[key, default: []])
    }

    /// Number of records added.
    public var count: Int { records.reduce(0) { $0 + $1.value.count / ($1.key.digestLength + 8) } }

    /// The `MultihashIndexSorted` index of every record added.
    public func build() -> CARIndex {
        let buckets = records.keys.sorted().map { key in
            CARIndex.Bucket(hashCode: key.hashCode, digestLength: key.digestLength,
                            records: Self.sorted(records[key]!, digestLength: key.digestLength))
        }
        return CARIndex(codec: CARIndex.multihashIndexSorted, buckets: buckets)
    }

    /// Fixed-width records sorted by digest, ties by offset (go-car leaves
    /// ties unordered; this makes tau's output deterministic).
    private static func sorted(_ records: [UInt8], digestLength: Int) -> [UInt8] {
        let width = digestLength + 8
        let count = records.count / width
        return records.withUnsafeBytes { raw in
            var order = Array(0..<count)
            order.sort { a, b in
                let x = raw.baseAddress! + a * width, y = raw.baseAddress! + b * width
                let comparison = compareBytes(x, y, count: digestLength)
                if comparison != 0 { return comparison < 0 }
                return UInt64(littleEndian: x.loadUnaligned(fromByteOffset: digestLength, as: UInt64.self))
                    < UInt64(littleEndian: y.loadUnaligned(fromByteOffset: digestLength, as: UInt64.self))
            }
            var out: [UInt8] = []
            out.reserveCapacity(records.count)
            for index in order {
                out.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[index * width..<(index + 1) * width]))
            }
            return out
        }
    }
}

/// Lexicographic comparison of `count` bytes: negative, zero or positive.
/// Eight bytes at a time, as big-endian words, so digests compare quickly.
private func compareBytes(_ x: UnsafeRawPointer, _ y: UnsafeRawPointer, count: Int) -> Int {
    var index = 0
    while index + 8 <= count {
        let a = UInt64(bigEndian: x.loadUnaligned(fromByteOffset: index, as: UInt64.self))
        let b = UInt64(bigEndian: y.loadUnaligned(fromByteOffset: index, as: UInt64.self))
        if a != b { return a < b ? -1 : 1 }
        index += 8
    }
    while index < count {
        let a = x.load(fromByteOffset: index, as: UInt8.self), b = y.load(fromByteOffset: index, as: UInt8.self)
        if a != b { return a < b ? -1 : 1 }
        index += 1
    }
    return 0
}
