import Foundation
import Testing
import TestSupport

/// `tau add` as a user runs it: the built executable, real files, exit codes.
@Suite("tau add")
struct AddCommandTests {
    let tau = TestEnvironment.product("tau")

    /// Runs tau and returns trimmed stdout, stderr and the exit status.
    func runTau(_ arguments: [String], stdin: Data? = nil, in directory: URL? = nil) throws -> (out: String, err: String, status: Int32) {
        let result = try run(tau, arguments, stdin: stdin, currentDirectory: directory)
        return (String(decoding: result.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines),
                result.stderr.trimmingCharacters(in: .whitespacesAndNewlines), result.status)
    }

    func makeTree(_ files: [String: String]) throws -> URL {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("tau-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        for (path, content) in files {
            let url = root.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(content.utf8).write(to: url)
        }
        return root
    }

    @Test("kubo-add.json directories, by their root CID and children")
    func directoryVectors() throws {
        let vectors = try JSONSerialization.jsonObject(
            with: Data(contentsOf: TestEnvironment.vectors.appendingPathComponent("kubo-add.json"))) as! [String: Any]
        for row in vectors["directories"] as! [[String: Any]] {
            let tree = row["tree"] as! [String: String]
            let flags = row["flags"] as! [String]
            let base = try makeTree([:])
            defer { try? FileManager.default.removeItem(at: base) }
            let dir = base.appendingPathComponent("dir")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            for (name, content) in tree { try Data(content.utf8).write(to: dir.appendingPathComponent(name)) }
            let result = try runTau(["add", "-n"] + flags + [dir.path])
            #expect(result.status == 0, "\(flags): \(result.err)")
            let lines = result.out.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
            #expect(lines.last?[1] == row["cid"] as? String, "\(flags)")
            #expect(lines.last?.count == 3 && lines.last?[2] == "dir")
            for (name, cid) in row["children"] as? [String: String] ?? [:] {
                #expect(lines.contains { $0.count == 3 && $0[1] == cid && $0[2] == "dir/\(name)" }, "\(flags) \(name)")
            }
        }
    }

    @Test("output lines: files in walk order, then directories after their contents")
    func outputOrder() throws {
        let base = try makeTree(["d/b.txt": "b", "d/a/z.txt": "z", "d/c.txt": "c"])
        defer { try? FileManager.default.removeItem(at: base) }
        let result = try runTau(["add", "-r", "-n", "d"], in: base)
        #expect(result.status == 0)
        let names = result.out.split(separator: "\n").map { $0.split(separator: " ")[2] }
        #expect(names == ["d/a/z.txt", "d/b.txt", "d/c.txt", "d/a", "d"])
        let quiet = try runTau(["add", "-r", "-n", "-q", "d"], in: base)
        #expect(quiet.out.split(separator: "\n").count == 5)
        let quieter = try runTau(["add", "-r", "-n", "-Q", "d"], in: base)
        #expect(quieter.out == String(result.out.split(separator: "\n").last!.split(separator: " ")[1]))
    }

    @Test("hidden files are skipped unless -H")
    func hiddenFiles() throws {
        let base = try makeTree(["d/visible": "v", "d/.hidden": "h"])
        defer { try? FileManager.default.removeItem(at: base) }
        let without = try runTau(["add", "-r", "-n", "d"], in: base)
        let with = try runTau(["add", "-r", "-n", "-H", "d"], in: base)
        #expect(!without.out.contains(".hidden"))
        #expect(with.out.contains("d/.hidden"))
        #expect(without.out.split(separator: "\n").last != with.out.split(separator: "\n").last)
    }

    @Test("standard input is named by its CID")
    func standardInput() throws {
        let result = try runTau(["add", "-n", "--cid-version=1"], stdin: Data("hello world\n".utf8))
        #expect(result.out == "added bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4 bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4")
    }

    @Test("symlinks are stored as UnixFS symlinks, not followed")
    func symlinks() throws {
        let base = try makeTree(["d/foo": "content\n"])
        defer { try? FileManager.default.removeItem(at: base) }
        try FileManager.default.createSymbolicLink(atPath: base.appendingPathComponent("d/bar").path, withDestinationPath: "foo")
        let result = try runTau(["add", "-r", "-n", "-Q", "d"], in: base)
        // The conformance suite's symlink.car holds exactly this directory.
        #expect(result.out == "QmWvY6FaqFMS89YAQ9NAPjVP4WZKA1qbHbicc9HeSKQTgt")
    }

    @Test("bad input: one line on stderr, non-zero exit", arguments: [
        (["add", "-n", "/nonexistent/path"], "no such file"),
        (["add", "-n", "--chunker=size-0"], "chunker size must be greater than 0"),
        (["add", "-n", "--chunker=bogus"], "unrecognized chunker"),
        (["add", "-n", "--cid-version=2"], "unknown CID version"),
        (["add", "-n", "--cid-version=0", "--hash=sha2-512"], "CIDv0 only supports sha2-256"),
        (["add", "-n", "--hash=md5"], "unrecognized hash function"),
        (["add", "-n", "--inline", "--inline-limit=129"], "exceeds maximum"),
        (["add", "-n", "--profile=nope"], "unknown profile"),
        (["add", "-n", "--max-hamt-fanout=100"], "power of 2"),
    ])
    func badInput(arguments: [String], message: String) throws {
        let base = try makeTree(["f": "x"])
        defer { try? FileManager.default.removeItem(at: base) }
        var args = arguments
        if !args.contains(where: { $0.hasPrefix("/") }) { args.append("f") }
        let result = try runTau(args, in: base)
        #expect(result.status != 0)
        #expect(result.err.lowercased().contains(message.lowercased()), "\(result.err)")
        #expect(result.err.split(separator: "\n").count == 1, "\(result.err)")
        #expect(result.out.isEmpty)
    }

    @Test("a directory without -r is refused")
    func directoryNeedsRecursive() throws {
        let base = try makeTree(["d/f": "x"])
        defer { try? FileManager.default.removeItem(at: base) }
        let result = try runTau(["add", "-n", "d"], in: base)
        #expect(result.status != 0)
        #expect(result.err.contains("use the '-r' flag"))
    }

    @Test("profiles and flags reach the importer")
    func profiles() throws {
        let input = Data(chachaKeystream(seed: "chunk-v1-seed", count: 1_048_577))
        let result = try runTau(["add", "-n", "-Q", "--profile=unixfs-v1-2025"], stdin: input)
        #expect(result.out == "bafybeigmix7t42i6jacydtquhet7srwvgpizfg7gjbq7627d35mjomtu64")
        let trickle = try runTau(["add", "-n", "-Q", "--trickle"], stdin: Data("Hello Worlds!\n".utf8))
        #expect(trickle.out == "QmUkUQgxXeggyaD5Ckv8ZqfW8wHBX6cYyeiyqvVZYzq5Bi")
        let inline = try runTau(["add", "-n", "-Q", "--inline"], stdin: Data("A".utf8))
        #expect(inline.out == "bafyaacika4eaeeqbiemac")
    }
}
