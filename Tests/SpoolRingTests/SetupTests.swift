import CSpoolURing
import Glibc
@testable import SpoolRing
import SystemPackage
import Testing

@Suite("Ring setup, flags, probe and bad sizes")
struct SetupTests {
    @Test("the recommended flags are in effect on this kernel, and reported")
    func recommendedFlags() throws {
        let ring = try Ring()
        #expect(ring.activeFlags.isSuperset(of: .recommended))
        #expect(ring.features.contains(.extendedArgument))
        #expect(ring.submissionQueueCapacity == 256)
        #expect(ring.completionQueueCapacity == 512)
        #expect(ring.registeredRingIndex == nil, "registering the ring descriptor is opt-in")
        #expect(ring.activeFlags.description.contains("DEFER_TASKRUN"))
    }

    @Test("a registered ring descriptor is used for enter and released on drop: 100 rings on one thread")
    func registeredRingDescriptor() throws {
        // The kernel allows 16 registered rings per thread; without unregistering in deinit
        // the 17th registration would fail.
        for round in 0..<100 {
            let ring = try Ring(options: RingOptions(submissionEntries: 4, registerRingDescriptor: true))
            try #require(ring.registeredRingIndex != nil, "round \(round)")
            let sqe = try #require(ring.nextSubmission())
            sqe.prepareNop()
            sqe.userData = UInt64(round)
            #expect(try collect(ring, count: 1).first?.userData == UInt64(round))
        }
    }

    @Test("a flag combination the kernel rejects is thinned out and retried (SQPOLL with DEFER_TASKRUN)")
    func rejectedFlagIsDropped() throws {
        let ring = try Ring(options: RingOptions(submissionEntries: 8, flags: [.submissionQueuePolling, .deferTaskRun, .singleIssuer]))
        #expect(!ring.activeFlags.contains(.deferTaskRun))
        #expect(ring.activeFlags.contains(.submissionQueuePolling))
        // The SQ-polling ring works through the same submit path: 1,000 NOPs, none lost.
        var seen = Set<UInt64>()
        var next: UInt64 = 0
        let deadline = ContinuousClock.now + .seconds(20)
        while seen.count < 1000 && ContinuousClock.now < deadline {
            while next < 1000, let sqe = ring.nextSubmission() {
                sqe.prepareNop()
                sqe.userData = next
                next += 1
            }
            try ring.submit(waitingFor: 1, timeout: .milliseconds(50))
            ring.reapCompletions { #expect(seen.insert($0.userData).inserted) }
        }
        #expect(seen.count == 1000)
    }

    @Test("an injected EINVAL for DEFER_TASKRUN drops it; the rest of the flags stay")
    func injectedFlagRejection() throws {
        var calls = RingSystemCalls.kernel
        let real = calls.setup
        calls.setup = { entries, params in
            if params.pointee.flags & IORING_SETUP_DEFER_TASKRUN != 0 { return -EINVAL }
            return real(entries, params)
        }
        let ring = try Ring(options: RingOptions(submissionEntries: 8), systemCalls: calls)
        #expect(!ring.activeFlags.contains(.deferTaskRun))
        #expect(ring.activeFlags.isSuperset(of: [.singleIssuer, .cooperativeTaskRun, .submitAll]))
    }

    @Test("io_uring refused: ENOSYS and EPERM give one actionable sentence")
    func refused() throws {
        for errno in [ENOSYS, EPERM] {
            var calls = RingSystemCalls.kernel
            calls.setup = { _, _ in -errno }
            do {
                _ = try Ring(systemCalls: calls)
                Issue.record("setup should have failed with \(errno)")
            } catch {
                guard case .unavailable(let e, let advice) = error else {
                    Issue.record("expected .unavailable, got \(error)")
                    continue
                }
                #expect(e.rawValue == errno)
                #expect(!advice.isEmpty && advice.hasSuffix("."))
            }
        }
        #expect("\(RingError.refused(.notPermitted, ioUringDisabled: 2))".contains("kernel.io_uring_disabled=0"))
        #expect("\(RingError.refused(.notPermitted, ioUringDisabled: 1))".contains("io_uring_group"))
        #expect("\(RingError.refused(.notPermitted, ioUringDisabled: 0))".contains("seccomp"))
        #expect("\(RingError.refused(.noFunction))".contains("CONFIG_IO_URING"))
    }

    @Test("bad sizes are rejected before any system call", arguments: [
        RingOptions(submissionEntries: 0),
        RingOptions(submissionEntries: 100_000),
        RingOptions(submissionEntries: 64, completionEntries: 32),
        RingOptions(submissionEntries: 64, completionEntries: 1 << 20),
        RingOptions(submissionEntries: 8, submissionPollIdle: .seconds(-1)),
    ])
    func badSizes(options: RingOptions) throws {
        var calls = RingSystemCalls.kernel
        calls.setup = { _, _ in
            Issue.record("io_uring_setup must not be called for invalid options")
            return -EINVAL
        }
        #expect {
            _ = try Ring(options: options, systemCalls: calls)
        } throws: { error in
            guard let e = error as? RingError, case .invalidArgument(let message) = e else { return false }
            return !message.isEmpty
        }
    }

    @Test("non-power-of-two sizes are rounded up by the kernel")
    func roundedSizes() throws {
        let ring = try Ring(options: RingOptions(submissionEntries: 100, completionEntries: 300))
        #expect(ring.submissionQueueCapacity == 128)
        #expect(ring.completionQueueCapacity == 512)
    }

    @Test("the probe reports NOP, READ and WRITE as supported and an unknown opcode as not")
    func probe() throws {
        let ring = try Ring(options: RingOptions(submissionEntries: 4))
        #expect(ring.supports(.nop))
        #expect(ring.supports(.read))
        #expect(ring.supports(.write))
        #expect(!ring.supports(Opcode(rawValue: 250)))
        #expect(ring.supportedOperations.first == .nop)
        #expect(Opcode.sendZeroCopy.name == "SEND_ZC")
        #expect(Opcode(rawValue: 200).name == "OP_200")
    }

    @Test("dropping a ring closes its descriptor")
    func dropClosesDescriptor() throws {
        // A size no other test uses (SQ 2, CQ 2048), so a parallel test's ring that reuses
        // the descriptor number cannot be mistaken for this one.
        func isOurRing(_ fd: Int32) -> Bool {
            guard let text = try? readFile("/proc/self/fdinfo/\(fd)") else { return false }
            return text.contains("SqMask:\t0x1\n") && text.contains("CqMask:\t0x7ff\n")
        }
        var fd: Int32 = -1
        do {
            let ring = try Ring(options: RingOptions(submissionEntries: 2, completionEntries: 2048))
            fd = ring.descriptor.rawValue
            #expect(isOurRing(fd))
        }
        #expect(!isOurRing(fd))
    }
}

@Suite("Timeouts, cancellation, eventfd and MSG_RING")
struct ControlTests {
    @Test("a wait with a timeout returns after the timeout when nothing completes")
    func waitTimeout() throws {
        let ring = try Ring(options: RingOptions(submissionEntries: 4))
        let start = ContinuousClock.now
        let consumed = try ring.submit(waitingFor: 1, timeout: .milliseconds(30))
        let elapsed = ContinuousClock.now - start
        #expect(consumed == 0)
        #expect(elapsed >= .milliseconds(25))
        #expect(ring.state == .healthy)
    }

    @Test("TIMEOUT completes with ETIME; TIMEOUT_REMOVE cancels a pending one")
    func timeouts() throws {
        let ring = try Ring(options: RingOptions(submissionEntries: 4))
        var short = KernelTimespec(.milliseconds(5))
        var long = KernelTimespec(.seconds(60))
        let got: [Completion] = try withUnsafePointer(to: &short) { s in
            try withUnsafePointer(to: &long) { l in
                let a = try #require(ring.nextSubmission())
                a.prepareTimeout(s)
                a.userData = 1
                let b = try #require(ring.nextSubmission())
                b.prepareTimeout(l)
                b.userData = 2
                try ring.submit()
                let c = try #require(ring.nextSubmission())
                c.prepareTimeoutRemove(userData: 2)
                c.userData = 3
                return try collect(ring, count: 3)
            }
        }
        let byID = Dictionary(uniqueKeysWithValues: got.map { ($0.userData, $0) })
        #expect(byID[1]?.error == Errno(rawValue: ETIME))
        #expect(byID[2]?.error == .canceled)
        #expect(byID[3]?.result == 0)
    }

    @Test("LINK_TIMEOUT bounds a read that cannot complete")
    func linkTimeout() throws {
        let ring = try Ring(options: RingOptions(submissionEntries: 4))
        let pipe = try FileDescriptor.pipe()
        defer { try? pipe.readEnd.close(); try? pipe.writeEnd.close() }
        var buf = [UInt8](repeating: 0, count: 8)
        var ts = KernelTimespec(.milliseconds(10))
        let got: [Completion] = try buf.withUnsafeMutableBytes { b in
            try withUnsafePointer(to: &ts) { t in
                let r = try #require(ring.nextSubmission())
                r.prepareRead(pipe.readEnd, into: b, offset: SubmissionQueueEntry.currentPosition)
                r.flags.insert(.link)
                r.userData = 1
                let l = try #require(ring.nextSubmission())
                l.prepareLinkTimeout(t)
                l.userData = 2
                return try collect(ring, count: 2)
            }
        }
        let byID = Dictionary(uniqueKeysWithValues: got.map { ($0.userData, $0) })
        #expect(byID[1]?.error == .canceled)
        #expect(byID[2]?.error == Errno(rawValue: ETIME))
    }

    @Test("ASYNC_CANCEL by user data ends a read; the buffer is not written afterwards")
    func asyncCancel() throws {
        let ring = try Ring(options: RingOptions(submissionEntries: 4))
        let pipe = try FileDescriptor.pipe()
        defer { try? pipe.readEnd.close(); try? pipe.writeEnd.close() }
        var buf = [UInt8](repeating: 0, count: 8)
        let got: [Completion] = try buf.withUnsafeMutableBytes { b in
            let r = try #require(ring.nextSubmission())
            r.prepareRead(pipe.readEnd, into: b, offset: SubmissionQueueEntry.currentPosition)
            r.userData = 77
            try ring.submit()
            let c = try #require(ring.nextSubmission())
            c.prepareAsyncCancel(userData: 77)
            c.userData = 78
            return try collect(ring, count: 2)
        }
        let byID = Dictionary(uniqueKeysWithValues: got.map { ($0.userData, $0) })
        #expect(byID[77]?.error == .canceled)
        #expect(byID[78]?.result == 0)
        _ = try pipe.writeEnd.writeAll(Array("late".utf8))
        #expect(buf == [UInt8](repeating: 0, count: 8))
        // Cancelling something unknown: ENOENT.
        let c = try #require(ring.nextSubmission())
        c.prepareAsyncCancel(userData: 12345)
        c.userData = 79
        #expect(try collect(ring, count: 1).first?.error == .noSuchFileOrDirectory)
    }

    @Test("a registered eventfd is signalled when a completion is posted")
    func eventFD() throws {
        let ring = try Ring(options: RingOptions(submissionEntries: 4))
        let efd = try EventFD()
        #expect(fcntl(efd.descriptor.rawValue, F_GETFD) & FD_CLOEXEC != 0)
        #expect(throws: Errno.resourceTemporarilyUnavailable) { try efd.consume() }
        try ring.registerEventFD(efd.descriptor)
        let sqe = try #require(ring.nextSubmission())
        sqe.prepareNop()
        _ = try collect(ring, count: 1)
        #expect(try efd.consume() >= 1)
        try ring.unregisterEventFD()
        try efd.signal(5)
        #expect(try efd.consume() == 5)
    }

    @Test("MSG_RING posts a completion with our result and user data on another ring")
    func messageRing() throws {
        let source = try Ring(options: RingOptions(submissionEntries: 4))
        let target = try Ring(options: RingOptions(submissionEntries: 4))
        let sqe = try #require(source.nextSubmission())
        sqe.prepareMessageRing(target.descriptor, result: 1234, userData: 0xfeed)
        sqe.userData = 1
        let sent = try collect(source, count: 1)
        #expect(sent.first?.result == 0)
        let received = try collect(target, count: 1)
        #expect(received.first?.userData == 0xfeed)
        #expect(received.first?.result == 1234)
    }
}
