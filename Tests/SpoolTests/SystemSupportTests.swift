import Glibc
@testable import Spool
import SpoolRing
import Testing

@Suite("SystemSupport (what `spool info` prints)")
struct SystemSupportTests {
    @Test("where io_uring works, the report names what it found and the automatic backend is io_uring", .requiresIOUring)
    func available() throws {
        let support = SystemSupport.current()
        #expect(support.kernelRelease.first?.isNumber == true)
        #expect(!support.machine.isEmpty)
        guard case .available(let d) = support.ioUring else {
            Issue.record("io_uring should be available on the test machines: \(support.ioUring)")
            return
        }
        #expect(d.supportedOperations.contains("NOP"))
        #expect(d.supportedOperations.contains("READ"))
        #expect(d.activeFlags.contains("SINGLE_ISSUER"))
        #expect(d.features.contains("NODROP"))
        #expect(d.submissionEntries == 256)
        #expect(Set(d.supportedOperations).isDisjoint(with: d.unsupportedOperations))
        if getenv("SPOOL_BACKEND") == nil { #expect((try? support.backend.get())?.backend == .ioUring) }
    }

    @Test("where io_uring is refused, the report says why and names the portable backend", .enabled(if: !ioUringUsable))
    func refusedHere() throws {
        let support = SystemSupport.current()
        guard case .unavailable(let errno, let reason) = support.ioUring else {
            Issue.record("the probe refused io_uring, the report must too")
            return
        }
        #expect(errno != nil)
        #expect(reason.hasSuffix("."))
        if getenv("SPOOL_BACKEND") == nil { #expect((try? support.backend.get())?.backend == .portable) }
    }

    @Test("a refused io_uring becomes one actionable sentence", arguments: [ENOSYS, EPERM, ENOMEM])
    func refused(errno: Int32) throws {
        var calls = RingSystemCalls.kernel
        calls.setup = { _, _ in -errno }
        let support = SystemSupport.inspect(systemCalls: calls)
        guard case .unavailable(let e, let reason) = support.ioUring else {
            Issue.record("expected unavailable")
            return
        }
        #expect(e?.rawValue == errno)
        #expect(reason.hasSuffix("."))
        #expect(reason.split(separator: ". ").count == 1, "one sentence: \(reason)")
    }
}
