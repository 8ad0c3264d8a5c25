#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A one-line progress bar on standard error: bytes done, rate and ETA.
/// Silent unless standard error is a terminal, so logs and pipes stay clean.
final class ProgressBar {
    private let total: UInt64?
    private let label: String
    private let enabled: Bool
    private var done: UInt64 = 0
    private var started = ProgressBar.now()
    private var lastDraw = 0.0

    init(label: String, total: UInt64?, enabled: Bool = Console.current.errorIsTerminal) {
        self.label = label
        self.total = total
        self.enabled = enabled
    }

    func advance(by bytes: Int) {
        done += UInt64(bytes)
        guard enabled else { return }
        let now = ProgressBar.now()
        if now - lastDraw >= 0.1 {
            lastDraw = now
            draw(now: now)
        }
    }

    /// Clears the bar so that a normal output line can be printed.
    func clear() {
        guard enabled else { return }
        writeErr("\u{1B}[2K\r")
    }

    func finish() {
        guard enabled else { return }
        draw(now: ProgressBar.now())
        writeErr("\n")
    }

    private func draw(now: Double) {
        let elapsed = max(now - started, 0.001)
        let rate = Double(done) / elapsed
        var line = "\u{1B}[2K\r\(label) \(Self.bytes(done))"
        if let total, total > 0 {
            let fraction = min(1, Double(done) / Double(total))
            let width = 30
            let filled = Int(fraction * Double(width))
            line += " / \(Self.bytes(total)) [" + String(repeating: "#", count: filled)
                + String(repeating: "-", count: width - filled) + "] \(Int(fraction * 100))%"
            if rate > 0, done < total {
                line += " ETA \(Self.duration(Double(total - done) / rate))"
            }
        }
        line += " \(Self.bytes(UInt64(rate)))/s"
        writeErr(line)
    }

    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    static func bytes(_ count: UInt64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(count)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(count) B" : String(format1: value) + " " + units[unit]
    }

    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? "\(s / 3600)h\(s % 3600 / 60)m" : s >= 60 ? "\(s / 60)m\(s % 60)s" : "\(s)s"
    }
}

extension String {
    /// One decimal place, without Foundation.
    init(format1 value: Double) {
        let tenths = Int((value * 10).rounded())
        self = "\(tenths / 10).\(tenths % 10)"
    }
}

/// Writes to the command's error output, unbuffered.
func writeErr(_ text: String) {
    var text = text
    text.withUTF8 { buffer in try? writeAll(Console.current.error, UnsafeRawBufferPointer(buffer)) }
}
