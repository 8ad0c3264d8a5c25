import Chunking
import Foundation
import TestSupport

/// Deterministic inputs and drivers shared by the chunking tests.
enum TestInputs {
    /// `count` bytes of `SeededBytes(seed:)` (xorshift64, little-endian words).
    static func random(_ count: Int, seed: UInt64) -> [UInt8] {
        var generator = SeededBytes(seed: seed)
        return generator.bytes(count)
    }

    /// Random stretches interleaved with low-entropy ones (zeros, a repeated phrase, a byte ramp), so that chunkers
    /// also hit their forced cuts at max and cuts right at min.
    static func mixed(_ count: Int, seed: UInt64) -> [UInt8] {
        var generator = SeededBytes(seed: seed)
        var output: [UInt8] = []
        output.reserveCapacity(count)
        let phrase = Array("the quick brown fox jumps over the lazy dog. ".utf8)
        var kind = 0
        while output.count < count {
            let length = min(count - output.count, 40_000 + Int(generator.next() % 700_000))
            switch kind % 4 {
            case 0: output += generator.bytes(length)
            case 1: output += [UInt8](repeating: 0, count: length)
            case 2: output += (0..<length).map { phrase[$0 % phrase.count] }
            default: output += (0..<length).map { UInt8(truncatingIfNeeded: $0 / 7) }
            }
            kind += 1
        }
        return output
    }

    /// End offsets of the chunks of `data`, feeding the chunker pieces whose sizes `nextPieceSize` picks.
    static func boundaries(of data: [UInt8], spec: ChunkerSpec, nextPieceSize: () -> Int) -> [Int] {
        var chunker = spec.makeChunker()
        var ends: [Int] = []
        var chunkStart = 0
        data.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let pieceEnd = min(buffer.count, offset + max(1, nextPieceSize()))
                var cursor = offset
                while cursor < pieceEnd,
                      let cut = chunker.nextCut(in: UnsafeRawBufferPointer(rebasing: buffer[cursor..<pieceEnd])) {
                    cursor += cut
                    ends.append(cursor)
                    chunkStart = cursor
                }
                offset = pieceEnd
            }
        }
        if chunkStart < data.count { ends.append(data.count) }
        return ends
    }

    static func boundaries(of data: [UInt8], spec: ChunkerSpec) -> [Int] {
        data.withUnsafeBytes { chunkBoundaries(of: $0, spec: spec) }
    }

    /// Writes `data` to a fresh temporary file and returns its path; the caller removes it.
    static func temporaryFile(_ data: [UInt8]) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("tau-chunking-\(UUID().uuidString).bin")
        try Data(data).write(to: url)
        return url
    }

    /// Runs a Python snippet that prints one JSON list of chunk end offsets, and decodes it.
    static func pythonBoundaries(_ script: String, arguments: [String]) throws -> [Int] {
        let output = try runPython(script, arguments: arguments)
        return try JSONDecoder().decode([Int].self, from: output)
    }
}

/// Literal transliterations of the Go code Kubo runs, used as independent references: they read the input through
/// the same 512 KiB buffers and keep the same state as the Go code, quirks included (the Rabin window and
/// fingerprint restart from a single slid-in byte 1 at every chunk). Usage: `python -c <script> FILE ARGS...`.
enum GoReference {
    /// github.com/whyrusleeping/chunker (fe64bd2) `Chunker.Next`, as boxo's `NewRabinMinMax` drives it.
    /// Arguments: FILE MIN AVG MAX.
    static let rabin = #"""
import io, json, math, sys
POL = 17437180132763653
WINDOW = 16
BUF = 512 * 1024

def deg(x):
    return x.bit_length() - 1

def pmod(x, d):
    while x and deg(x) >= deg(d):
        x ^= d << (deg(x) - deg(d))
    return x

def append_byte(h, b):
    return pmod((h << 8) | b, POL)

OUT = []
for b in range(256):
    h = append_byte(0, b)
    for _ in range(WINDOW - 1):
        h = append_byte(h, 0)
    OUT.append(h)
K = deg(POL)
MOD = [pmod(b << K, POL) | (b << K) for b in range(256)]
SHIFT = K - 8

class Chunker:
    def __init__(self, rd, avg, mn, mx):
        self.rd = rd
        self.mask = (1 << int(math.log2(avg))) - 1
        self.min, self.max = mn, mx
        self.buf, self.bpos, self.bmax = b"", 0, 0
        self.closed = False
        self.reset()

    def reset(self):
        self.window = [0] * WINDOW
        self.closed = False
        self.digest = 0
        self.wpos = 0
        self.count = 0
        self.slide(1)
        self.pre = self.min - WINDOW

    def slide(self, b):
        out = self.window[self.wpos]
        self.window[self.wpos] = b
        self.digest ^= OUT[out]
        self.wpos = (self.wpos + 1) % WINDOW
        index = self.digest >> SHIFT
        self.digest = ((self.digest << 8) & 0xFFFFFFFFFFFFFFFF) | b
        self.digest ^= MOD[index]

    def next(self):
        if self.closed:
            return None
        while True:
            if self.bpos >= self.bmax:
                self.buf = self.rd.read(BUF)
                n = len(self.buf)
                if n == 0 and not self.closed:
                    self.closed = True
                    if self.count > 0:
                        return self.count
                if n == 0:
                    return None
                self.bpos, self.bmax = 0, n
            if self.pre > 0:
                n = self.bmax - self.bpos
                if self.pre > n:
                    self.pre -= n
                    self.count += n
                    self.bpos = self.bmax
                    continue
                self.bpos += self.pre
                self.count += self.pre
                self.pre = 0
            add = self.count
            for b in self.buf[self.bpos:self.bmax]:
                out = self.window[self.wpos]
                self.window[self.wpos] = b
                self.digest ^= OUT[out]
                self.wpos = (self.wpos + 1) % WINDOW
                index = self.digest >> SHIFT
                self.digest = ((self.digest << 8) & 0xFFFFFFFFFFFFFFFF) | b
                self.digest ^= MOD[index]
                add += 1
                if add < self.min:
                    continue
                if (self.digest & self.mask) == 0 or add >= self.max:
                    i = add - self.count - 1
                    self.count = add
                    self.bpos += i + 1
                    length = self.count
                    self.reset()
                    return length
            self.count += self.bmax - self.bpos
            self.bpos = self.bmax

mn, avg, mx = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
chunker = Chunker(io.BytesIO(open(sys.argv[1], "rb").read()), avg, mn, mx)
ends, offset = [], 0
while True:
    length = chunker.next()
    if length is None:
        break
    offset += length
    ends.append(offset)
print(json.dumps(ends))
"""#

    /// boxo chunker/buzhash.go `Buzhash.NextBytes`, with its byte table read from the vectors file.
    /// Arguments: FILE TABLE.
    static let buzhash = #"""
import io, json, sys
BUZ_MIN, BUZ_MAX, BUZ_MASK = 128 << 10, 512 << 10, (1 << 17) - 1
TABLE = [int(line.split()[1], 16) for line in open(sys.argv[2]) if line.strip()]

def rotl(x):
    return ((x << 1) | (x >> 31)) & 0xFFFFFFFF

rd = io.BytesIO(open(sys.argv[1], "rb").read())
buf = bytearray(BUZ_MAX)
held = 0
ends, offset = [], 0
while True:
    data = rd.read(BUZ_MAX - held)   # io.ReadFull(b.r, b.buf[b.n:])
    n = len(data)
    buf[held:held + n] = data
    if n < BUZ_MAX - held:           # io.EOF or io.ErrUnexpectedEOF
        buffered = held + n
        if buffered < BUZ_MIN:
            if buffered > 0:
                ends.append(offset + buffered)
            break
    state = 0
    for i in range(BUZ_MIN - 32, BUZ_MIN):
        state = rotl(state) ^ TABLE[buf[i]]
    last = held + n - 32 - 1
    i = BUZ_MIN - 32
    while i <= last:
        if state & BUZ_MASK == 0:
            break
        state = rotl(state) ^ TABLE[buf[i]] ^ TABLE[buf[i + 32]]
        i += 1
    i += 32
    offset += i
    ends.append(offset)
    rest = held + n - i
    buf[:rest] = buf[i:held + n]
    held = rest
print(json.dumps(ends))
"""#

    /// PyPI pyfastcdc (Cython backend when importable), `cut_file`. Arguments: FILE MIN AVG MAX.
    static let pyfastcdc = #"""
import json, sys
from pyfastcdc import FastCDC
mn, avg, mx = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
chunker = FastCDC(avg, min_size=mn, max_size=mx, normalized_chunking=1, seed=0)
print(json.dumps([c.offset + c.length for c in chunker.cut_file(sys.argv[1])]))
"""#
}
