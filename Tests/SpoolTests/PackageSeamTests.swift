import Glibc
import Spool  // not @testable: this file sees what a sibling target sees (public and package)
import Testing

/// The package seam a sibling target (a SwiftNIO transport) builds on: the ring of the current
/// thread, a closure job, an operation whose completions go to a consumer, a cancel from any
/// thread, a timer on a ring's wheel, an awaited operation. This file imports `Spool` without
/// `@testable`, so it compiles only while the seam is `package`.
@Suite("The package seam: what a transport target uses", .timeLimit(.minutes(1)))
struct PackageSeamTests {
    /// Records every completion a consumer gets, and whether each arrived on a ring thread.
    final class Recorder: CompletionConsumer, Sendable {
        struct Entry: Equatable, Sendable {
            var result: Int32
            var final: Bool
            var ring: Int?
        }

        let entries = Log<Entry>()
        let endings = Log<OperationOutcome>()

        func deliver(result: Int32, flags: UInt32, final: Bool) {
            entries.append(Entry(result: result, final: final, ring: RingExecutor.current?.index))
        }

        func ended(_ outcome: OperationOutcome) {
            endings.append(outcome)
        }

        var all: [Entry] { entries.all }
    }

    /// Values appended from any thread (behind a pthread mutex, which ThreadSanitizer sees).
    final class Log<T: Sendable>: @unchecked Sendable {  // `items` is only touched under `mutex`
        private var mutex = pthread_mutex_t()
        private var items: [T] = []
        init() { pthread_mutex_init(&mutex, nil) }
        deinit { pthread_mutex_destroy(&mutex) }
        func append(_ item: T) {
            pthread_mutex_lock(&mutex)
            items.append(item)
            pthread_mutex_unlock(&mutex)
        }
        var all: [T] {
            pthread_mutex_lock(&mutex)
            defer { pthread_mutex_unlock(&mutex) }
            return items
        }
    }

    /// Runs `body` on `ring` through the seam and returns what it returns.
    static func onRing<T: Sendable>(_ ring: RingExecutor, _ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { (c: CheckedContinuation<T, Never>) in
            ring.execute { c.resume(returning: body()) }
        }
    }

    @Test("execute runs a closure on the ring's thread, from another thread and, later and in order, from the ring itself")
    func executeRunsOnTheRing() async throws {
        let runtime = try Runtime(configuration: Runtime.Configuration(ringCount: 2))
        let ring = runtime.rings[1]
        #expect(RingExecutor.current == nil, "the test's thread is no ring")
        let seen = Log<Int>()
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            ring.execute {
                seen.append(RingExecutor.current?.index ?? -1)
                ring.execute {
                    seen.append(100 + (RingExecutor.current?.index ?? -1))
                    c.resume()
                }
                seen.append(50)  // the inner closure has not run yet
            }
        }
        #expect(seen.all == [1, 50, 101])
        await runtime.shutdownAndWait()
    }

    @Test("start with a consumer: a NOP's one final completion reaches the consumer, on the ring")
    func startWithConsumer() async throws {
        let runtime = try Runtime(configuration: Runtime.Configuration(ringCount: 1))
        let ring = runtime.rings[0]
        let recorder = Recorder()
        let userData = await Self.onRing(ring) { ring.start(.nop, consumer: recorder) }
        #expect(userData != nil)
        #expect(await eventually { recorder.all.count == 1 })
        #expect(recorder.all == [Recorder.Entry(result: 0, final: true, ring: 0)])
        #expect(recorder.endings.all.isEmpty)
        await runtime.shutdownAndWait()
    }

    @Test("requestCancel from another thread ends a read that would wait forever: one final -ECANCELED")
    func cancelFromAnotherThread() async throws {
        let runtime = try Runtime(configuration: Runtime.Configuration(ringCount: 1))
        let ring = runtime.rings[0]
        var fds: [Int32] = [-1, -1]
        #expect(pipe(&fds) == 0)
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: 16, alignment: 8)
        nonisolated(unsafe) let target = buffer
        let reader = fds[0]
        let recorder = Recorder()
        let userData = try #require(await Self.onRing(ring) {
            ring.start(.read(fd: reader, buffer: target, count: 16, offset: .max), consumer: recorder)
        })
        try await Task.sleep(for: .milliseconds(20))
        #expect(recorder.all.isEmpty, "nothing to read: still waiting")
        ring.requestCancel(userData)  // this task's thread, not the ring's
        #expect(await eventually { !recorder.all.isEmpty })
        #expect(recorder.all == [Recorder.Entry(result: -ECANCELED, final: true, ring: 0)])
        buffer.deallocate()  // the final completion came: the kernel is done with it
        close(fds[0])
        close(fds[1])
        await runtime.shutdownAndWait()
    }

    @Test("schedule arms a timer on that ring's wheel: it fires there once; an unscheduled one never runs")
    func scheduleOnARing() async throws {
        let runtime = try Runtime(configuration: Runtime.Configuration(ringCount: 2))
        let ring = runtime.rings[1]
        let fired = Log<String>()
        let soon = ScheduledTimer(ring: ring, deadline: .now + .milliseconds(20)) { result in
            fired.append("soon \(RingExecutor.current?.index ?? -1) \((try? result.get()) != nil)")
        }
        let never = ScheduledTimer(ring: ring, deadline: .now + .seconds(3600)) { result in
            fired.append("never \((try? result.get()) != nil)")
        }
        ring.schedule(soon)
        ring.schedule(never)
        #expect(await eventually { fired.all.count == 1 })
        ring.unschedule(never)
        await runtime.shutdownAndWait()  // shutdown fires armed timers with its error: `never` is not armed
        #expect(fired.all == ["soon 1 true"])
    }

    @Test("perform awaits an operation on the calling ring; after shutdown the ring is stopped and drops closure jobs")
    func performThenStop() async throws {
        let runtime = try Runtime(configuration: Runtime.Configuration(ringCount: 1))
        let outcome = try await runtime.spawn(on: .ring(0)) { () -> OperationOutcome? in
            await RingExecutor.current?.perform(.nop)
        }.value
        #expect(outcome == .completed(0))
        let ring = runtime.rings[0]
        await runtime.shutdownAndWait()
        #expect(ring.lifecycle == .stopped)
        let ran = Log<Bool>()
        ring.execute { ran.append(true) }
        try await Task.sleep(for: .milliseconds(50))
        #expect(ran.all.isEmpty, "nothing runs on a stopped ring")
        #expect(ring.refusal == .shutdown)
    }
}
