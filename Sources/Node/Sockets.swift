#if canImport(Glibc)
import Glibc
#endif

/// Blocking POSIX sockets for the admin API's client (`AdminClient`: one
/// connection per CLI command); the server side is on the HTTP core.
enum Sockets {
    struct Failure: Error, CustomStringConvertible {
        let description: String
        init(_ operation: String, _ code: Int32 = errno) {
            description = "\(operation): \(String(cString: strerror(code)))"
        }
    }

    /// A connected TCP socket to `address`.
    static func connect(_ address: HostPort) throws -> Int32 {
        let host = address.host == "localhost" ? "127.0.0.1" : address.host
        let isIPv6 = host.contains(":")
        let descriptor = socket(isIPv6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw Failure("socket") }
        let status: Int32
        if isIPv6 {
            var addr = sockaddr_in6()
            addr.sin6_family = sa_family_t(AF_INET6)
            addr.sin6_port = in_port_t(UInt16(address.port).bigEndian)
            inet_pton(AF_INET6, host, &addr.sin6_addr)
            status = withUnsafePointer(to: &addr) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in6>.size))
                }
            }
        } else {
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = in_port_t(UInt16(address.port).bigEndian)
            inet_pton(AF_INET, host, &addr.sin_addr)
            status = withUnsafePointer(to: &addr) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
        guard status == 0 else {
            let code = errno
            close(descriptor)
            throw Failure("connect \(address)", code)
        }
        return descriptor
    }

    /// Reads up to `buffer.count` bytes; 0 at end of stream.
    static func readSome(_ descriptor: Int32, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while true {
            let n = read(descriptor, buffer.baseAddress, buffer.count)
            if n >= 0 { return n }
            if errno != EINTR { throw Failure("read") }
        }
    }

    /// Writes everything (blocking); throws if the peer is gone.
    static func writeAll(_ descriptor: Int32, _ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            let n = send(descriptor, bytes.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
            if n < 0 {
                if errno == EINTR { continue }
                throw Failure("write")
            }
            offset += n
        }
    }

    static func writeAll(_ descriptor: Int32, _ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try writeAll(descriptor, $0) }
    }

    /// Writes everything to a pipe or file (not a socket).
    static func writeAllToFile(_ descriptor: Int32, _ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            let n = write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw Failure("write")
            }
            offset += n
        }
    }
}
