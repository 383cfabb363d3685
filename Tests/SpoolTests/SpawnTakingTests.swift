@testable import Spool
import Testing

/// `Runtime.spawn(taking:)`: a `~Copyable` handle moves into a task that may consume it.
@Suite("Handing a handle to a task")
struct SpawnTakingTests {
    @Test("the task owns the file: it reads and closes it; one it does not close is closed when dropped")
    func spawnTakingAFile() async throws {
        let dir = TemporaryDirectory()
        try writeFile(dir.file("data"), Array("spool".utf8))
        try await withTestRuntime { runtime in
            let file = try await File.open(dir.file("data"), runtime: runtime)
            let read = runtime.spawn(taking: file) { file -> [UInt8] in
                let bytes = try await file.read(upToCount: 5, at: 0)
                try await file.close()
                return bytes
            }
            #expect(try await read.value == Array("spool".utf8))
            let dropped = try await File.open(dir.file("data"), runtime: runtime)
            let fd = dropped.descriptor.rawValue
            let done = runtime.spawn(taking: dropped) { file -> Int32 in file.descriptor.rawValue }
            #expect(try await done.value == fd)
            #expect(descriptorTarget(fd) != dir.file("data").string, "the dropped file's descriptor was closed")
            #expect(openDescriptors().values.filter { $0.hasPrefix(dir.path) }.isEmpty)
        }
    }
}
