import Testing

/// The socket suites, one test at a time: they move megabytes over loopback through
/// hundreds of connections, and run side by side they starve the timing-sensitive suites
/// (which check that something happens "at once") on a 2-core machine, most of all under
/// AddressSanitizer. Other suites still run beside them.
@Suite("Sockets", .serialized)
struct SocketTests {}

typealias StreamSocketTests = SocketTests.StreamSocketTests
