// Helpers shared by tau's benchmarks: deterministic inputs, timing, medians and tables.
// Nothing here is measured; keep it out of the timed regions' hot loops.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// xorshift64 (the same generator as the tests' `SeededBytes`): fast, deterministic,
/// incompressible-looking bytes, so content-defined chunkers cut as they would on real data.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed == 0 ? 0x9E37_79B9_7F4A_7C15 : seed }

    public mutating func next() -> UInt64 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return state
    }

    /// Fills `buffer` with the generator's output, 8 bytes per step, little-endian.
    public mutating func fill(_ buffer: UnsafeMutableRawBufferPointer) {
        let count = buffer.count
        var offset = 0
        while offset + 8 <= count {
            buffer.storeBytes(of: next().littleEndian, toByteOffset: offset, as: UInt64.self)
            offset += 8
        }
        if offset < count {
            var last = next().littleEndian
            withUnsafeBytes(of: &last) { tail in
                for index in offset..<count { buffer[index] = tail[index - offset] }
            }
        }
    }

    /// `count` bytes of the generator's output.
    public mutating func bytes(_ count: Int) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            fill(UnsafeMutableRawBufferPointer(buffer))
            initialized = count
        }
    }
}

/// A page-aligned buffer that lives as long as the value (for large inputs that should not
/// be copied or reallocated between runs).
public final class AlignedBuffer: @unchecked Sendable {
    public let count: Int
    public let pointer: UnsafeMutableRawPointer

    public init(count: Int) {
        self.count = count
        pointer = .allocate(byteCount: max(count, 1), alignment: 4096)
    }

    deinit { pointer.deallocate() }

    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: pointer, count: count) }
    public var mutableBytes: UnsafeMutableRawBufferPointer { UnsafeMutableRawBufferPointer(start: pointer, count: count) }

    /// `count` deterministic bytes from `SeededGenerator(seed:)`.
    public static func seeded(count: Int, seed: UInt64) -> AlignedBuffer {
        let buffer = AlignedBuffer(count: count)
        var generator = SeededGenerator(seed: seed)
        generator.fill(buffer.mutableBytes)
        return buffer
    }

    /// The whole content of the file at `path`.
    public static func contents(ofFile path: String) throws(BenchError) -> AlignedBuffer {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { throw BenchError("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw BenchError("cannot stat \(path)") }
        let buffer = AlignedBuffer(count: Int(status.st_size))
        var done = 0
        while done < buffer.count {
            let got = read(descriptor, buffer.pointer + done, min(buffer.count - done, 1 << 24))
            guard got > 0 else { throw BenchError("short read of \(path) at \(done)") }
            done += got
        }
        return buffer
    }

    /// Writes the buffer to `path` (created or truncated).
    public func write(toFile path: String) throws(BenchError) {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard descriptor >= 0 else { throw BenchError("cannot create \(path): \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        var done = 0
        while done < count {
            let wrote = posixWrite(descriptor, pointer + done, min(count - done, 1 << 24))
            guard wrote > 0 else { throw BenchError("short write to \(path) at \(done)") }
            done += wrote
        }
    }
}

private func posixWrite(_ descriptor: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
    write(descriptor, bytes, count)
}

public struct BenchError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

// MARK: - Timing

/// Monotonic seconds since an arbitrary origin.
@inline(__always)
public func now() -> Double {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
}

/// Seconds taken by `body`.
@inline(__always)
public func seconds(_ body: () throws -> Void) rethrows -> Double {
    let start = now()
    try body()
    return now() - start
}

/// Seconds taken by `body`.
public func seconds(_ body: () async throws -> Void) async rethrows -> Double {
    let start = now()
    try await body()
    return now() - start
}

/// Sorted samples of one measurement (seconds per run).
public struct Samples: Sendable {
    public private(set) var values: [Double] = []
    public init() {}
    public mutating func append(_ value: Double) {
        values.append(value)
        values.sort()
    }
    public var median: Double {
        guard !values.isEmpty else { return .nan }
        let middle = values.count / 2
        return values.count % 2 == 1 ? values[middle] : (values[middle - 1] + values[middle]) / 2
    }
    public var fastest: Double { values.first ?? .nan }
    public var slowest: Double { values.last ?? .nan }
}

// MARK: - Output

/// `value` with `decimals` digits after the point.
public func fixed(_ value: Double, _ decimals: Int = 1) -> String {
    guard value.isFinite else { return "-" }
    var scaled = (abs(value) * pow(10, Double(decimals))).rounded()
    var digits: [Character] = []
    repeat {
        let digit = Int(scaled.truncatingRemainder(dividingBy: 10))
        digits.append(Character(String(digit)))
        scaled = (scaled / 10).rounded(.down)
    } while scaled > 0 || digits.count <= decimals
    var text = String(digits.reversed())
    if decimals > 0 { text.insert(".", at: text.index(text.endIndex, offsetBy: -decimals)) }
    return (value < 0 ? "-" : "") + text
}

/// A plain-text table: the first `leftColumns` columns left-aligned, the others (numbers) right-aligned.
public struct Table {
    public var header: [String]
    public var rows: [[String]] = []
    public var leftColumns: Int

    public init(_ header: [String], leftColumns: Int = 1) {
        self.header = header
        self.leftColumns = leftColumns
    }

    public mutating func add(_ row: [String]) { rows.append(row) }

    public func render() -> String {
        let all = [header] + rows
        var widths = [Int](repeating: 0, count: header.count)
        for row in all { for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) } }
        func line(_ row: [String]) -> String {
            row.enumerated().map { index, cell in
                let pad = String(repeating: " ", count: widths[index] - cell.count)
                return index < leftColumns ? cell + pad : pad + cell
            }.joined(separator: "  ")
        }
        let rule = widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")
        return ([line(header), rule] + rows.map(line)).joined(separator: "\n")
    }
}

/// Prints `text` and flushes, so progress shows when output is piped.
public func say(_ text: String) {
    print(text)
    fflush(nil)
}

/// Command-line options of the form `--name value` and positional arguments.
public struct Arguments {
    public var positional: [String] = []
    private var named: [String: String] = [:]
    private var flags: Set<String> = []

    /// `valueOptions` take a value; every other `--name` is a flag.
    public init(_ arguments: [String] = Array(CommandLine.arguments.dropFirst()), valueOptions: Set<String>) throws(BenchError) {
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            if argument.hasPrefix("--") {
                let name = String(argument.dropFirst(2))
                if valueOptions.contains(name) {
                    guard index + 1 < arguments.count else { throw BenchError("--\(name) needs a value") }
                    named[name] = arguments[index + 1]
                    index += 1
                } else {
                    flags.insert(name)
                }
            } else {
                positional.append(argument)
            }
            index += 1
        }
    }

    public func has(_ flag: String) -> Bool { flags.contains(flag) }
    public func string(_ name: String) -> String? { named[name] }
    public func int(_ name: String, default fallback: Int, minimum: Int = 1) throws(BenchError) -> Int {
        guard let text = named[name] else { return fallback }
        guard let value = Int(text), value >= minimum else {
            throw BenchError("--\(name) needs an integer of at least \(minimum), not \(text)")
        }
        return value
    }
}

/// FNV-1a (64-bit) over each value's 8 little-endian bytes: a checksum of a list of offsets
/// that a few lines of Python reproduce (see scripts/chunkers.sh).
public func fnv1a64(_ values: [Int]) -> UInt64 {
    var hash: UInt64 = 0xCBF2_9CE4_8422_2325
    for value in values {
        var word = UInt64(value)
        for _ in 0..<8 {
            hash ^= word & 0xFF
            hash = hash &* 0x0000_0100_0000_01B3
            word >>= 8
        }
    }
    return hash
}

/// `value` as 16 lower-case hex digits.
public func hex(_ value: UInt64) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: 16 - digits.count) + digits
}

/// Megabytes (10^6 bytes) per second for `bytes` processed in `seconds`, rounded to an integer
/// (a value for a custom benchmark metric).
public func megabytesPerSecond(bytes: Int, seconds: Double) -> Int {
    Int((Double(bytes) / seconds / 1e6).rounded())
}

/// Writes `text` (UTF-8) to `path`, created or truncated.
public func writeText(_ text: String, toFile path: String) throws(BenchError) {
    let buffer = AlignedBuffer(count: text.utf8.count)
    buffer.mutableBytes.copyBytes(from: text.utf8)
    try buffer.write(toFile: path)
}
