import ArgumentParser
import Spool

/// `spool info`: what this machine offers Spool.
struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Show the kernel, whether io_uring can be used here (and why not), what it supports, and which backend a runtime would use.",
        discussion: "Exits 1 only when no runtime could start here: io_uring forced (SPOOL_BACKEND=io_uring) where it is refused, or an unknown SPOOL_BACKEND value."
    )

    @Option(name: .long, help: "Wrap the opcode list at this many columns.")
    var width: Int = 80

    func run() throws {
        let support = SystemSupport.current()
        print("kernel:     Linux \(support.kernelRelease) (\(support.machine))")
        switch support.backend {
        case .success(let choice):
            print("backend:    \(choice.backend) (\(choice.reason))")
        case .failure(let error):
            print("backend:    none")
            printError("spool: no runtime can start here: \(error)")
        }
        switch support.ioUring {
        case .unavailable(let errno, let reason):
            print("io_uring:   unavailable\(errno.map { " (\($0))" } ?? "")")
            print("            \(reason)")
            if case .success(let choice) = support.backend, choice.backend == .portable {
                print("            Spool runs on the portable backend here: epoll for sockets, worker threads for files.")
            }
        case .available(let d):
            print("io_uring:   available")
            print("ring:       \(d.submissionEntries) submission / \(d.completionEntries) completion entries")
            print("flags:      \(list(d.activeFlags))")
            let dropped = d.requestedFlags.filter { !d.activeFlags.contains($0) }
            if !dropped.isEmpty { print("            (asked for but refused by this kernel: \(list(dropped)))") }
            print("ring fd:    \(d.registeredRingDescriptor ? "registered" : "not registered")")
            print("features:   \(d.features.count)")
            printWrapped(d.features, indent: "            ")
            print("opcodes:    \(d.supportedOperations.count) supported")
            printWrapped(d.supportedOperations, indent: "            ")
            if !d.unsupportedOperations.isEmpty {
                print("missing:    \(d.unsupportedOperations.count) known to Spool but not supported here")
                printWrapped(d.unsupportedOperations, indent: "            ")
            }
        }
        if case .failure = support.backend { throw ExitCode(1) }
    }

    private func list(_ names: [String]) -> String { names.isEmpty ? "none" : names.joined(separator: " ") }

    private func printWrapped(_ words: [String], indent: String) {
        var line = indent
        for w in words {
            if line.count + w.count + 1 > max(width, indent.count + 10) && line != indent {
                print(line)
                line = indent
            }
            line += (line == indent ? "" : " ") + w
        }
        if line != indent { print(line) }
    }
}

func printError(_ message: String) {
    fflush(nil)  // keep stdout lines ahead of the error
    var stderr = StandardError()
    print(message, to: &stderr)
}

func writeStandardError(_ text: String) {
    var stderr = StandardError()
    stderr.write(text)
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        var s = string
        s.withUTF8 { p in _ = Glibc.write(2, p.baseAddress, p.count) }
    }
}

#if canImport(Glibc)
import Glibc
#endif
