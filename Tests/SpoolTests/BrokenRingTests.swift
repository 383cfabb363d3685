import Glibc
import Logging
@testable import Spool
import SpoolRing
import Synchronization
import SystemPackage
import Testing

/// A ring whose `io_uring_enter` fails fatally (README, *When a ring breaks*): its callers
/// resume once, with the ring's errno, and only after the kernel let go of their buffers; new
/// work fails fast or goes to the healthy rings. The faults are injected at the submit sites
/// (`SubmitFaultInjector`); the matrix of every site × errno is `FaultInjectionTests`.
@Suite("A ring that breaks: callers resume once, after the kernel let go; new work goes elsewhere", .timeLimit(.minutes(1)))
struct BrokenRingTests {
    @Test("a ring that breaks inside the SQ-full flush: every caller resumes once with the ring's errno, none is queued and lost", .requiresIOUring)
    func breakDuringFlush() async throws {
        let logged = LogCapture()
        let (runtime, faults) = try runtimeWithFaults(Runtime.Configuration(ringCount: 1, submissionEntries: 2, logger: Logger(label: "test") { _ in logged }))
        faults.fail(.submissionQueueFull, with: EBADF)
        let outcomes = try await withinDeadline(.seconds(30), "eight operations on a breaking ring") {
            try await runtime.spawn { () -> [String] in
                await withTaskGroup(of: String.self) { group in
                    for _ in 0..<8 {
                        group.addTask {
                            do { try await runtime.nop(); return "ok" } catch { return "\(error)" }
                        }
                    }
                    return await group.reduce(into: []) { $0.append($1) }
                }
            }.value
        }
        let all = try #require(outcomes)
        #expect(all.count == 8, "every caller resumed exactly once")
        #expect(all.allSatisfy { $0 == "\(RuntimeError.broken(.badFileDescriptor))" }, "\(all)")
        #expect(runtime.health == [.broken(.badFileDescriptor)])
        #expect(!runtime.isHealthy)
        // New work fails fast with the ring's errno, not "shutdown".
        await #expect(throws: RuntimeError.broken(.badFileDescriptor)) { try await runtime.nop() }
        #expect(logged.messages.contains { $0.contains("broken") && $0.contains("errno 9") }, "\(logged.messages)")
        _ = try await withinDeadline(.seconds(30), "shutdown of a broken runtime") { await runtime.shutdownAndWait() }
    }

    @Test("a ring that breaks with a read in the kernel resumes that caller only after the kernel let go: its buffer is never written",
          .requiresIOUring, arguments: [SubmitSite.park, .eager])
    func brokenRingKeepsContract1(_ site: SubmitSite) async throws {
        // `.park`: the NOP below waits for the next park (no eager submit); `.eager`: the NOP's
        // own eager submit is the enter that breaks the ring.
        var configuration = Runtime.Configuration(ringCount: 1, submissionEntries: 16)
        configuration.inlineCompletion = site == .eager
        let (runtime, faults) = try runtimeWithFaults(configuration)
        let pipe = try FileDescriptor.pipe()
        defer { try? pipe.readEnd.close(); try? pipe.writeEnd.close() }
        let writer = pipe.writeEnd
        let reader = dupReader(pipe.readEnd)
        let ring = runtime.rings[0]
        let releasedAtResume = Flag()
        let task = runtime.spawn { () -> (String, [UInt8], Int) in
            let file = File(adopting: reader, runtime: runtime)
            var buffer = IOBuffer(capacity: 8)
            var what = "returned"
            do { try await file.readAtCurrentPosition(into: &buffer) } catch { what = "\(error)" }
            if ring.kernelReleasedBrokenRing.load(ordering: .acquiring) { releasedAtResume.set() }
            // Resumed: the kernel must be done with `buffer`. Data written now stays in the pipe.
            let wrote = (try? writer.writeAll(Array("late".utf8))) ?? -1
            let after = buffer.withUnsafeMutableBytes { Array($0) }
            return (what, after, wrote)
        }
        #expect(await eventually { (await runtime.combinedSnapshot()?.inFlight ?? 0) == 1 })
        faults.fail(site, with: EBADF)
        // Wake the ring so that it enters the kernel again, into the injected fault.
        let nop = Task { () -> String in
            do { try await runtime.nop(); return "ok" } catch { return "\(error)" }
        }
        let result = try await withinDeadline(.seconds(30), "the read's caller on a broken ring") { try await task.value }
        let (what, after, wrote) = try #require(result)
        #expect(what == "\(RuntimeError.broken(.badFileDescriptor))")
        #expect(releasedAtResume.isSet, "the caller resumed only after the kernel released the ring")
        #expect(wrote == 4)
        #expect(after == [UInt8](repeating: 0, count: 8), "the kernel never wrote the buffer")
        try await Task.sleep(for: .milliseconds(20))
        #expect(drainAvailable(pipe.readEnd) == 4, "the late data stayed in the pipe: the read was gone from the kernel")
        #expect(await nop.value == "\(RuntimeError.broken(.badFileDescriptor))")
        _ = try await withinDeadline(.seconds(30), "shutdown") { await runtime.shutdownAndWait() }
    }

    @Test("a stream dropped with an owned send in the kernel, its ring then broken: once the kernel released the ring, the descriptor is closed",
          .requiresIOUring)
    func droppedStreamOnBrokenRingCloses() async throws {
        let (runtime, faults) = try runtimeWithFaults(Runtime.Configuration(ringCount: 1, submissionEntries: 16))
        let (server, peer) = try PortableShortReadTests.pair(.tcpWithUrgentByte)
        defer { close(peer) }
        var small: Int32 = 4096
        setsockopt(server, SOL_SOCKET, SO_SNDBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        setsockopt(peer, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        var local = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &local) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(server, $0, &length) } }
        let port = UInt16(bigEndian: local.sin_port)
        let ring = runtime.rings[0]
        // The peer never reads: the owned send stays in the kernel.
        let stream = Handoff(StreamSocket(adopting: FileDescriptor(rawValue: server), runtime: runtime))
        try await runtime.spawn {
            let stream = stream.take()!
            try await stream.write(taking: IOBuffer([UInt8](repeating: 7, count: 128 * 1024)))
            #expect(await eventually {
                var available: Int32 = 0
                return ioctl(peer, UInt(FIONREAD), &available) == 0 && available > 0
            }, "the send is in the kernel (the peer has bytes)")
            // The ring's next enter fails; the drop's cancel is what makes it enter.
            faults.fail(.park, with: EBADF)
            _ = consume stream
        }.value
        #expect(await eventually { ring.kernelReleasedBrokenRing.load(ordering: .acquiring) }, "the kernel released the broken ring")
        let closed = await eventually { openSocketDescriptors(ports: [port]) == [peer] }
        #expect(closed, "the dropped stream's descriptor is closed: open sockets on the port: \(openSocketDescriptors(ports: [port])), the peer is \(peer)")
        _ = try await withinDeadline(.seconds(30), "shutdown") { await runtime.shutdownAndWait() }
    }

    @Test("a broken ring leaves the round robin: the other ring takes all new work", .requiresIOUring)
    func brokenRingLeavesRoundRobin() async throws {
        let (runtime, faults) = try runtimeWithFaults(Runtime.Configuration(ringCount: 2, submissionEntries: 8))
        faults.fail(.park, with: EIO)
        // Whichever ring parks first breaks; wait for one to.
        #expect(await eventually {
            _ = try? await runtime.nop()
            return runtime.health.contains(.broken(.ioError))
        })
        #expect(runtime.health.filter { $0 == .healthy }.count == 1)
        for _ in 0..<20 {
            let ran = try await withinDeadline(.seconds(30), "work on the healthy ring") {
                try await runtime.spawn { () -> Bool in
                    try await runtime.nop()
                    return true
                }.value
            }
            #expect(ran == true)
        }
        _ = try await withinDeadline(.seconds(30), "shutdown") { await runtime.shutdownAndWait() }
        #expect(runtime.health.contains(.broken(.ioError)) && runtime.health.contains(.stopped))
    }
}
