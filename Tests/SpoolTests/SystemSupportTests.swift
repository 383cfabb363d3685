import Glibc
@testable import Spool
import SpoolRing
import Testing

@Suite("SystemSupport (what `spool info` prints)")
struct SystemSupportTests {
    @Test("on this machine io_uring is available and the report names what it found")
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
