import Glibc
import Synchronization
import Testing

@testable import Spool

/// When no thread can be started for the shutdown (a pids limit), whoever blocks waiting for
/// it runs it: blocking `shutdown()` callers filling the cooperative pool must not wait for a
/// fallback task that never gets a thread. Run in a child process, whose cooperative pool the
/// scenario fills on purpose.
@Suite("Shutdown when no thread can be started", .timeLimit(.minutes(2)))
struct ShutdownWithoutThreadsTests {
    static let childVariable = "SPOOL_TEST_NO_THREAD_CHILD"
    static var isChild: Bool { getenv(childVariable) != nil }

    @Test("blocking shutdown() callers that fill the cooperative pool run the shutdown themselves",
          .enabled(if: !ShutdownWithoutThreadsTests.isChild))
    func inChildProcess() async throws {
        let (status, output) = try await runTestInChildProcess("ShutdownWithoutThreadsTests/scenario", variable: Self.childVariable, timeout: 30)
        #expect(status == 0, "the child failed (124: it hung):\n\(output)")
        #expect(output.contains("no-thread shutdown scenario passed"), "the child ran its scenario:\n\(output)")
    }

    @Test("(child process) the scenario itself", .enabled(if: ShutdownWithoutThreadsTests.isChild))
    func scenario() async throws {
        var configuration = Runtime.Configuration(ringCount: 1)
        configuration.backend = ioUringUsable ? .ioUring : .portable
        let runtime = try Runtime(configuration: configuration)
        runtime.shutdownCoordinator.refusesThreadsForTesting.store(true, ordering: .relaxed)
        // Every cooperative thread (and more) is taken by a task about to block in shutdown().
        let width = 4 * max(2, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        let go = Flag(), started = Counter(), returned = Counter()
        for _ in 0..<width {
            Task.detached {
                started.increment()
                while !go.isSet { usleep(1000) }
                runtime.shutdown()
                returned.increment()
            }
        }
        // Wait (on a plain thread: the pool is full) until the pool is taken, then begin the
        // shutdown from outside: no thread can be started, so its fallback is a task, queued
        // behind the blocked ones.
        let done = Flag()
        startDetachedThread {
            let cores = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
            while started.value < min(2, cores) { usleep(1000) }
            usleep(50_000)
            runtime.beginShutdown()
            go.set()
            while returned.value < min(2, cores) { usleep(1000) }
            done.set()
        }
        while !done.isSet { try await Task.sleep(for: .milliseconds(10)) }  // resumes once the blocked tasks have returned
        #expect(runtime.shutdownPhase == .finished)
        print("no-thread shutdown scenario passed")
    }
}
