import Glibc
import SystemPackage
import Testing

/// The `spool` executable built next to this test bundle.
func spoolBinary() -> String? {
    var path = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/exe", &path, 4095)
    guard n > 0 else { return nil }
    var dir = String(decoding: path[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    // .../debug/SpoolPackageTests.xctest → .../debug/spool
    while let slash = dir.lastIndex(of: "/") {
        dir = String(dir[..<slash])
        let candidate = dir + "/spool"
        if access(candidate, X_OK) == 0 { return candidate }
        if dir.hasSuffix("/.build") || dir.isEmpty { break }
    }
    return nil
}

/// Runs a shell command line; returns its exit status and combined output.
func shell(_ command: String) -> (status: Int32, output: String) {
    guard let pipe = popen(command + " 2>&1", "r") else { return (-1, "") }
    var output = [UInt8]()
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = fread(&chunk, 1, chunk.count, pipe)
        if n <= 0 { break }
        output += chunk[0..<n]
    }
    let status = pclose(pipe)
    return ((status >> 8) & 0xff, String(decoding: output, as: UTF8.self))
}

@Suite("The spool tool")
struct ToolTests {
    @Test("spool info, cp (file and tree) and cat work, and bad paths give one-line errors")
    func tool() throws {
        let spool = try #require(spoolBinary(), "swift test builds the spool executable next to the tests")
        let dir = TemporaryDirectory()
        let data = (0..<3_000_000).map(pattern)
        try writeFile(dir.file("big"), data)
        try writeFile(dir.file("small"), Array("hello\n".utf8))

        let info = shell("\(spool) info")
        #expect(info.status == 0)
        #expect(info.output.contains(ioUringUsable ? "io_uring:   available" : "io_uring:   unavailable"))
        #expect(info.output.contains("backend:    "))

        let cp = shell("\(spool) cp --chunk 64 --depth 8 \(dir.path)/big \(dir.path)/copy")
        #expect(cp.status == 0, "\(cp.output)")
        #expect(cp.output.contains("copied 2.9 MiB in 1 file"))
        let copied = try FileDescriptor.open(dir.file("copy"), .readOnly)
        defer { try? copied.close() }
        var back = [UInt8](repeating: 0, count: data.count + 10)
        let n = try back.withUnsafeMutableBytes { try copied.read(into: $0) }
        #expect(n == data.count)
        #expect(Array(back[0..<n]) == data)

        _ = shell("mkdir -p \(dir.path)/tree/a/b && cp \(dir.path)/small \(dir.path)/tree/a/b/s && cp \(dir.path)/big \(dir.path)/tree/a/big")
        let tree = shell("\(spool) cp \(dir.path)/tree \(dir.path)/tree2")
        #expect(tree.status == 0, "\(tree.output)")
        #expect(shell("diff -r \(dir.path)/tree \(dir.path)/tree2").status == 0)

        let cat = shell("\(spool) cat \(dir.path)/small \(dir.path)/small")
        #expect(cat.status == 0)
        #expect(cat.output == "hello\nhello\n")

        let missing = shell("\(spool) cp \(dir.path)/nope \(dir.path)/x")
        #expect(missing.status == 1)
        #expect(missing.output.hasPrefix("spool cp: "))
        #expect(missing.output.contains("No such file or directory"))
        #expect(missing.output.split(separator: "\n").count == 1, "one line: \(missing.output)")

        let catDir = shell("\(spool) cat \(dir.path)")
        #expect(catDir.status == 1)
        #expect(catDir.output.contains("Is a directory"))
    }
}
