import ArgumentParser
import Spool
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// `spool cat FILE…`: prints files, reading them through a Spool runtime (io_uring, or the portable backend).
struct CatCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cat",
        abstract: "Print files to standard output, read through a Spool runtime (io_uring where usable)."
    )

    @Argument(help: "The files to print, in order.")
    var files: [String]

    func validate() throws {
        if files.isEmpty { throw ValidationError("name at least one file") }
    }

    func run() throws {
        let files = self.files
        do {
            try Runtime.run { runtime in
                let out = File(adopting: FileDescriptor(rawValue: dup(1)), path: "<stdout>", runtime: runtime)
                var buffer = IOBuffer(capacity: 128 * 1024)
                for path in files {
                    let file = try await File.open(FilePath(path))
                    var offset: UInt64 = 0
                    while true {
                        let n = try await file.read(into: &buffer, at: offset)
                        if n == 0 { break }
                        try await out.writeAllAtCurrentPosition(buffer)
                        offset += UInt64(n)
                    }
                    try await file.close()
                }
                try await out.close()
            }
        } catch {
            printError("spool cat: \(error)")
            throw ExitCode(1)
        }
    }
}
