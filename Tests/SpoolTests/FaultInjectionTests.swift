import Glibc
@testable import Spool
import SpoolRing
import Synchronization
import SystemPackage
import Testing

/// One cell of the fault matrix: which submit site fails, with which errno, on which SQ size.
struct FaultCase: Sendable, CustomTestStringConvertible {
    var site: SubmitSite
    var errno: Int32
    var submissionEntries: UInt32

    var isFatal: Bool { errno != EINTR && errno != EAGAIN && errno != EBUSY }
    /// Transient errnos fail three enters in a row (the retry policy must absorb them); a
    /// fatal one breaks the ring at once.
    var failures: Int { isFatal ? 1 : 3 }

    var testDescription: String {
        let name = [EINTR: "EINTR", EAGAIN: "EAGAIN", EBUSY: "EBUSY", EBADF: "EBADF (fatal)"][errno] ?? "\(errno)"
        return "\(site) × \(name) × SQ \(submissionEntries)"
    }

    static let sites: [SubmitSite] = [.park, .eager, .submissionQueueFull, .cancel, .cancelAll, .close, .wakeRearm]
    static let errnos: [Int32] = [EINTR, EAGAIN, EBUSY, EBADF]

    /// Every site × errno, with a 64-entry SQ and again with a 2-entry one (the SQ-full flush
    /// only happens with the small one).
    static let all: [FaultCase] = sites.flatMap { site in
        errnos.flatMap { errno in
            [UInt32(64), 2].compactMap { sq in
                site == .submissionQueueFull && sq == 64 ? nil : FaultCase(site: site, errno: errno, submissionEntries: sq)
            }
        }
    }
}

/// The runtime-level fault-injection suite: a runtime over an injected system-call layer,
/// one workload that passes through every submit site, and a fault at one site per case.
@Suite("Fault injection at every submit site", .timeLimit(.minutes(2)), .requiresIOUring)
struct FaultInjectionTests {
    @Test("every caller resumes exactly once, nothing hangs, no descriptor leaks", arguments: FaultCase.all)
    func faultAtSite(_ fault: FaultCase) async throws {
        let (runtime, faults) = try runtimeWithFaults(Runtime.Configuration(ringCount: 1, submissionEntries: fault.submissionEntries))
        faults.fail(fault.site, with: fault.errno, count: fault.failures)

        let dir = TemporaryDirectory()
        let pipe = try FileDescriptor.pipe()
        let pipeTarget = try #require(descriptorTarget(pipe.readEnd.rawValue))
        let started = Counter(), returned = Counter()
        let broken = "\(RuntimeError.broken(Errno(rawValue: fault.errno)))"

        let outcomes = try await withinDeadline(.seconds(30), "the workload with \(fault.testDescription)") {
            () -> [String: [String]] in
            var out: [String: [String]] = [:]
            func run(_ body: @escaping @Sendable () async -> String) -> Task<String, any Error> {
                started.increment()
                let task = runtime.spawn { () -> String in
                    let r = await body()
                    returned.increment()
                    return r
                }
                return Task {
                    do {
                        return try await withTaskCancellationHandler { try await task.value } onCancel: { task.cancel() }
                    } catch {
                        returned.increment()  // refused (a broken ring): the body never ran
                        return "\(error)"
                    }
                }
            }
            // Operations and a close (sites: park, operation, close).
            let fileTask = run {
                do {
                    let file = try await File.open(dir.file("data"), .readWrite, options: [.create])
                    try await file.writeAll(Array("spool".utf8), at: 0)
                    let back = try await file.read(upToCount: 5, at: 0)
                    try await file.close()
                    return back == Array("spool".utf8) ? "ok" : "mismatch"
                } catch { return "\(error)" }
            }
            out["file", default: []].append(try await fileTask.value)
            // A burst wider than a 2-entry SQ (site: SQ-full flush).
            let burst = run {
                await withTaskGroup(of: String.self) { group in
                    for _ in 0..<16 {
                        group.addTask { do { try await runtime.nop(); return "ok" } catch { return "\(error)" } }
                    }
                    let all = await group.reduce(into: [String]()) { $0.append($1) }
                    return Set(all).sorted().joined(separator: ",")
                }
            }
            out["burst", default: []].append(try await burst.value)
            // A read that cannot complete, then cancelled (site: cancel).
            let cancelled = run { outcomeName(await readOneByte(dupReader(pipe.readEnd), runtime: runtime)) }
            _ = await eventually { (await runtime.combinedSnapshot()?.inFlight ?? 0) >= 1 || !runtime.isHealthy }
            cancelled.cancel()
            out["cancelled", default: []].append(try await cancelled.value)
            // Work posted from other threads at a parked ring (site: wake re-arm).
            for _ in 0..<4 {
                try? await Task.sleep(for: .milliseconds(5))
                started.increment()
                let r: String
                do { try await runtime.nop(); r = "ok" } catch { r = "\(error)" }
                returned.increment()
                out["off-ring", default: []].append(r)
            }
            // A read in the kernel at shutdown (site: cancel-all).
            let atShutdown = run { outcomeName(await readOneByte(dupReader(pipe.readEnd), runtime: runtime)) }
            _ = await eventually { (await runtime.combinedSnapshot()?.inFlight ?? 0) >= 1 || !runtime.isHealthy }
            await runtime.shutdownAndWait()
            out["shutdown", default: []].append(try await atShutdown.value)
            return out
        }
        let results = try #require(outcomes, "the workload finished")

        #expect(started.value == returned.value, "every caller returned exactly once (\(returned.value) of \(started.value))")
        #expect(faults.injectedCount > 0, "the scenario reached \(fault.site): sites seen \(faults.sitesSeen)")
        if fault.isFatal {
            #expect(runtime.health == [.broken(Errno(rawValue: fault.errno))])
            let allowed: Set<String> = ["ok", broken, "cancelled", "shutdown"]
            for (step, values) in results {
                for v in values {
                    #expect(v.split(separator: ",").allSatisfy { allowed.contains(String($0)) }, "\(step): \(v)")
                }
            }
        } else {
            #expect(results["file"] == ["ok"])
            #expect(results["burst"] == ["ok"])
            #expect(results["cancelled"] == ["cancelled"])
            #expect(results["off-ring"] == ["ok", "ok", "ok", "ok"])
            #expect(results["shutdown"] == ["shutdown"])
            #expect(runtime.health == [.stopped])
        }
        // No descriptor leaks: nothing points at the test's file or pipe any more.
        try pipe.readEnd.close()
        try pipe.writeEnd.close()
        var left = openDescriptors().filter { $0.value.hasPrefix(dir.path) || $0.value == pipeTarget }
        if fault.isFatal && results["file"] == [broken] {
            // The one documented exception (README, *When a ring breaks*): an open the kernel
            // held when the ring broke has an unknown effect; it may have opened a descriptor
            // whose number Spool never learns. Only the test's file may be left so, and only when
            // its step saw the ring break.
            for (fd, target) in left where target == dir.file("data").string {
                close(fd)
                left[fd] = nil
            }
        }
        #expect(left.isEmpty, "descriptors left open: \(left)")
    }
}
