import Foundation

/// The CLI's side of the admin API: finds a running node through the repo's
/// `api` file and forwards a command to it. Format: formats/admin-api.md.
public enum AdminClient {
    /// The file a running node writes into its repo: its admin address, `host:port`.
    public static let apiFileName = "api"
    /// The file a running node writes its process ID into (removed at a clean stop).
    public static let pidFileName = "node.pid"
    /// The file holding the admin token (mode 0600), created on first start.
    public static let tokenFileName = "admin.token"

    /// The address and token of the node running on `repo`, if one answers.
    public static func runningNode(repo: String) -> (address: HostPort, token: String)? {
        guard let text = try? String(contentsOfFile: repo + "/" + apiFileName, encoding: .utf8),
            let address = try? HostPort(text.trimmingCharacters(in: .whitespacesAndNewlines)),
            let token = try? String(contentsOfFile: repo + "/" + tokenFileName, encoding: .utf8)
        else { return nil }
        // A stale file from a node that died: nothing listens there.
        guard let probe = try? Sockets.connect(address) else { return nil }
        close(probe)
        return (address, token.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Runs `arguments` on the node; standard input (only if `sendsInput`),
    /// output and error are the process's own. Returns the command's exit status.
    public static func forward(arguments: [String], to address: HostPort, token: String, sendsInput: Bool,
                               workingDirectory: String = FileManager.default.currentDirectoryPath) throws -> Int32 {
        let connection = try Sockets.connect(address)
        defer { close(connection) }
        var terminal: [String] = []
        if isatty(1) == 1 { terminal.append("out") }
        if isatty(2) == 1 { terminal.append("err") }
        var head = "POST \(CommandProtocol.path) HTTP/1.1\r\nHost: \(address)\r\nAuthorization: Bearer \(token)\r\n"
        head += "\(CommandProtocol.argumentsHeader): \(try CommandProtocol.encodeArguments(arguments))\r\n"
        head += "\(CommandProtocol.directoryHeader): \(CommandProtocol.encodeText(workingDirectory))\r\n"
        head += "\(CommandProtocol.terminalHeader): \(terminal.joined(separator: ","))\r\n"
        head += sendsInput ? "Transfer-Encoding: chunked\r\n\r\n" : "Content-Length: 0\r\n\r\n"
        try Sockets.writeAll(connection, Array(head.utf8))
        if sendsInput {
            // Standard input streams on its own thread while the output comes back.
            let sender = Thread {
                var buffer = [UInt8](repeating: 0, count: 256 << 10)
                while true {
                    let count = buffer.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
                    if count < 0 && errno == EINTR { continue }
                    if count <= 0 { break }
                    let chunk = Array((String(count, radix: 16) + "\r\n").utf8) + buffer[..<count] + [13, 10]
                    if (try? Sockets.writeAll(connection, chunk)) == nil { return }
                }
                try? Sockets.writeAll(connection, Array("0\r\n\r\n".utf8))
            }
            sender.start()
        }
        return try readResponse(connection)
    }

    private static func readResponse(_ connection: Int32) throws -> Int32 {
        var buffer = [UInt8](repeating: 0, count: 256 << 10)
        var rest: [UInt8] = []
        var statusLine = ""
        while true {
            let count = try buffer.withUnsafeMutableBytes { try Sockets.readSome(connection, into: $0) }
            guard count > 0 else { throw NodeError(.adminProtocol, "the node closed the connection") }
            if let end = HTTPRequestHeadParser.headEnd(Array(rest + buffer[..<count])) {
                let all = rest + buffer[..<count]
                statusLine = String(decoding: all[..<end], as: UTF8.self)
                rest = Array(all[(end + 4)...])
                break
            }
            rest += buffer[..<count]
            if rest.count > 64 << 10 { throw NodeError(.adminProtocol, "bad response from the node") }
        }
        let firstLine = statusLine.split(separator: "\r\n").first.map(String.init) ?? ""
        guard firstLine.contains(" 200 ") else {
            // An error before the command ran: the body says why.
            let body = String(decoding: rest, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw NodeError(.adminProtocol, "node refused the command (\(firstLine)): \(body)")
        }
        var decoder = ChunkedBodyDecoder()
        var frames = FrameReader()
        var status: Int32?
        let deliver: (UnsafeRawBufferPointer) throws -> Void = { piece in
            try frames.parse(piece) { kind, payload in
                switch kind {
                case .output: try Sockets.writeAllToFile(1, payload)
                case .error: try Sockets.writeAllToFile(2, payload)
                case .exitStatus:
                    guard payload.count == 4 else { throw NodeError(.adminProtocol, "bad exit status frame") }
                    status = Int32(bitPattern: UInt32(payload[0]) << 24 | UInt32(payload[1]) << 16 | UInt32(payload[2]) << 8 | UInt32(payload[3]))
                }
            }
        }
        try rest.withUnsafeBytes { try decoder.parse($0, deliver) }
        while !decoder.isDone {
            let count = try buffer.withUnsafeMutableBytes { try Sockets.readSome(connection, into: $0) }
            guard count > 0 else { break }
            try buffer.withUnsafeBytes { try decoder.parse(UnsafeRawBufferPointer(rebasing: $0[..<count]), deliver) }
        }
        guard let status else { throw NodeError(.adminProtocol, "the node ended the command without an exit status") }
        return status
    }
}

/// Splits a stream of command frames. Output and error payloads are passed
/// on as they arrive, in pieces (a 1 MiB frame is not held back until its
/// last byte); the 4-byte exit status is collected whole.
public struct FrameReader {
    private var header: [UInt8] = []
    private var kind: CommandProtocol.FrameKind?
    private var remaining = 0
    private var status: [UInt8] = []

    public init() {}

    /// Feeds bytes of the frame stream; `body` gets each payload piece with its
    /// frame's kind (the exit status as one 4-byte piece).
    public mutating func parse(_ bytes: UnsafeRawBufferPointer,
                        _ body: (CommandProtocol.FrameKind, UnsafeRawBufferPointer) throws -> Void) throws {
        var offset = 0
        while offset < bytes.count {
            guard let current = kind else {
                let take = min(5 - header.count, bytes.count - offset)
                header.append(contentsOf: bytes[offset..<offset + take])
                offset += take
                guard header.count == 5 else { return }
                guard let next = CommandProtocol.FrameKind(rawValue: header[0]) else {
                    throw NodeError(.adminProtocol, "bad frame")
                }
                let length = Int(header[1]) << 24 | Int(header[2]) << 16 | Int(header[3]) << 8 | Int(header[4])
                guard length <= CommandProtocol.maxFramePayload else { throw NodeError(.adminProtocol, "frame too large") }
                guard next != .exitStatus || length == 4 else { throw NodeError(.adminProtocol, "bad exit status frame") }
                header.removeAll(keepingCapacity: true)
                kind = next
                remaining = length
                if length == 0 { try finishFrame(next, body) }
                continue
            }
            let take = min(remaining, bytes.count - offset)
            let piece = UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + take])
            if current == .exitStatus { status.append(contentsOf: piece) } else { try body(current, piece) }
            offset += take
            remaining -= take
            if remaining == 0 { try finishFrame(current, body) }
        }
    }

    private mutating func finishFrame(_ finished: CommandProtocol.FrameKind,
                                      _ body: (CommandProtocol.FrameKind, UnsafeRawBufferPointer) throws -> Void) throws {
        kind = nil
        guard finished == .exitStatus else { return }
        defer { status.removeAll() }
        try status.withUnsafeBytes { try body(.exitStatus, $0) }
    }
}
