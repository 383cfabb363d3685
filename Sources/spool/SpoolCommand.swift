import ArgumentParser

/// The `spool` command line tool.
@main
struct SpoolCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spool",
        abstract: "Spool: io_uring async I/O for Swift on Linux.",
        version: "0.1.0",
        subcommands: [InfoCommand.self, BenchCommand.self, CopyCommand.self, CatCommand.self, EchoCommand.self]
    )
}
