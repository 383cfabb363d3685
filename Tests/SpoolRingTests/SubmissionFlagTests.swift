import CSpoolURing
import Glibc
import SpoolRing
import SystemPackage
import Testing

@Suite("SQE flags and multishot accept")
struct SubmissionFlagTests {
    @Test("CQE_SKIP_SUCCESS posts nothing for a successful entry, but still reports a failure")
    func skipSuccess() throws {
        let ring = try Ring(options: RingOptions(submissionEntries: 8))
        try #require(ring.features.contains(.skipSuccessfulCompletions))
        for i in 0..<4 {
            let sqe = try #require(ring.nextSubmission())
            sqe.prepareNop()
            sqe.userData = UInt64(i)
            if i % 2 == 0 { sqe.flags.insert(.skipSuccessfulCompletion) }
        }
        var buf = [UInt8](repeating: 0, count: 4)
        let got: [Completion] = try buf.withUnsafeMutableBytes { b in
            let bad = try #require(ring.nextSubmission())
            bad.prepareRead(FileDescriptor(rawValue: 0x3fff_fff0), into: b, offset: 0)
            bad.flags.insert(.skipSuccessfulCompletion)
            bad.userData = 99
            return try collect(ring, count: 3)
        }
        #expect(Set(got.map(\.userData)) == [1, 3, 99])
        #expect(got.first { $0.userData == 99 }?.error == .badFileDescriptor)
        try ring.submit(waitingFor: 1, timeout: .milliseconds(20))
        #expect(ring.reapCompletions { _ in } == 0, "no completion for the skipped entries")
    }

    @Test("IO_DRAIN starts an entry only after everything before it completed")
    func drain() throws {
        let ring = try Ring(options: RingOptions(submissionEntries: 8))
        var ts = KernelTimespec(.milliseconds(20))
        let got: [Completion] = try withUnsafePointer(to: &ts) { t in
            let timer = try #require(ring.nextSubmission())
            timer.prepareTimeout(t)
            timer.userData = 1
            let nop = try #require(ring.nextSubmission())
            nop.prepareNop()
            nop.flags.insert(.drain)
            nop.userData = 2
            return try collect(ring, count: 2)
        }
        #expect(got.map(\.userData) == [1, 2], "the drained NOP waits for the 20 ms timeout")
    }

    @Test("multishot accept posts one completion per connection while F_MORE is set")
    func multishotAccept() throws {
        let ring = try Ring(options: RingOptions(submissionEntries: 8))
        var (listener, addr) = try loopbackListener()
        defer { close(listener) }
        let len = socklen_t(MemoryLayout<sockaddr_in>.size)

        let sqe = try #require(ring.nextSubmission())
        sqe.prepareAccept(FileDescriptor(rawValue: listener), multishot: true)
        sqe.userData = 5
        try ring.submit()
        var clients: [Int32] = []
        defer { clients.forEach { close($0) } }
        var accepted: [Int32] = []
        for _ in 0..<3 {
            let c = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | SOCK_CLOEXEC_VALUE, 0)
            clients.append(c)
            let r = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(c, $0, len) } }
            try #require(r == 0)
            let got = try #require(try collect(ring, count: 1).first)
            #expect(got.userData == 5)
            #expect(got.hasMore)
            #expect(got.result >= 0)
            accepted.append(got.result)
        }
        defer { accepted.forEach { close($0) } }
        #expect(Set(accepted).count == 3)
        let cancel = try #require(ring.nextSubmission())
        cancel.prepareAsyncCancel(userData: 5)
        cancel.userData = 6
        let tail = try collect(ring, count: 2)
        #expect(tail.contains { $0.userData == 5 && !$0.hasMore && $0.error == .canceled })
    }
}
