import Glibc
@testable import Spool
import Synchronization
import SystemPackage
import Testing

@Suite("Cancellation and exactly-once resume")
struct CancellationTests {
    @Test("cancelling a read that cannot complete returns CancellationError; the buffer is never written afterwards")
    func cancelBlockedRead() async throws {
        let runtime = try Runtime(configuration: Runtime.Configuration(submissionEntries: 16))
        let pipe = try FileDescriptor.pipe()
        defer { try? pipe.readEnd.close(); try? pipe.writeEnd.close() }
        let writer = pipe.writeEnd
        let reader = dupReader(pipe.readEnd)
        let task = Task(executorPreference: runtime.executor) { () -> (ReadOutcome, [UInt8]) in
            let file = File(adopting: reader, runtime: runtime)
            var buffer = IOBuffer(capacity: 16)
            var outcome = ReadOutcome.other("not run")
            do {
                _ = try await file.readAtCurrentPosition(into: &buffer)
                outcome = .read(buffer.count, buffer.bytes)
            } catch is CancellationError {
                outcome = .cancelled
            } catch { outcome = .other("\(error)") }
            // Now fill the pipe: a cancelled read must not land in our buffer.
            _ = try? writer.writeAll(Array("late data".utf8))
            try? await Task.sleep(for: .milliseconds(20))
            let after = buffer.withUnsafeMutableBytes { Array($0) }
            return (outcome, after)
        }
        #expect(await eventually { (await runtime.combinedSnapshot()?.inFlight ?? 0) >= 1 })
        task.cancel()  // from this (non-ring) thread
        let (outcome, after) = await task.value
        #expect(outcome == .cancelled)
        #expect(after == [UInt8](repeating: 0, count: 16))
        // The data is still in the pipe for the next reader.
        var leftover = [UInt8](repeating: 0, count: 16)
        let n = try leftover.withUnsafeMutableBytes { try pipe.readEnd.read(into: $0) }
        #expect(Array(leftover[0..<n]) == Array("late data".utf8))
        let snap = try #require(await runtime.combinedSnapshot())
        #expect(snap.slotsInUse == 0, "no op slot leaked")
        #expect(snap.inFlight == 0)
        await runtime.shutdownAndWait()
    }

    @Test("a task cancelled before the call never submits it")
    func cancelledBeforeSubmission() async throws {
        let runtime = try Runtime()
        let pipe = try FileDescriptor.pipe()
        defer { try? pipe.readEnd.close(); try? pipe.writeEnd.close() }
        let reader = dupReader(pipe.readEnd)
        let task = Task(executorPreference: runtime.executor) { () -> ReadOutcome in
            withUnsafeCurrentTask { $0?.cancel() }
            return await readOneByte(reader, runtime: runtime)
        }
        #expect(await task.value == .cancelled)
        #expect(await runtime.combinedSnapshot()?.peakInFlight == 0, "nothing reached the kernel")
        await runtime.shutdownAndWait()
    }

    @Test("cancellation while waiting for admission: the waiter leaves the queue, the op in flight is untouched")
    func cancelDuringAdmission() async throws {
        let runtime = try Runtime(configuration: Runtime.Configuration(submissionEntries: 4, inFlightLimit: 1))
        let pipe = try FileDescriptor.pipe()
        defer { try? pipe.readEnd.close(); try? pipe.writeEnd.close() }
        let first = Task(executorPreference: runtime.executor) { await readOneByte(dupReader(pipe.readEnd), runtime: runtime) }
        #expect(await eventually { (await runtime.combinedSnapshot()?.inFlight ?? 0) == 1 })
        let second = Task(executorPreference: runtime.executor) { await readOneByte(dupReader(pipe.readEnd), runtime: runtime) }
        #expect(await eventually { (await runtime.combinedSnapshot()?.waiting ?? 0) == 1 })
        second.cancel()
        #expect(await second.value == .cancelled)
        // The first read is still in flight and gets the byte.
        _ = try pipe.writeEnd.writeAll([7])
        #expect(await first.value == .read(1, [7]))
        #expect(await runtime.combinedSnapshot()?.slotsInUse == 0)
        #expect(await runtime.combinedSnapshot()?.peakInFlight == 1)
        await runtime.shutdownAndWait()
    }

    @Test("cancelling after completion has no effect")
    func cancelAfterCompletion() async throws {
        let runtime = try Runtime()
        let done = Counter()
        let task = Task(executorPreference: runtime.executor) { () -> Bool in
            do { try await runtime.nop() } catch { return false }
            done.increment()
            // Stay alive until cancelled, without any I/O in flight.
            while !Task.isCancelled { try? await Task.sleep(for: .milliseconds(1)) }
            return true
        }
        #expect(await eventually { done.value > 0 })
        task.cancel()
        #expect(await task.value == true)
        #expect(await runtime.combinedSnapshot()?.slotsInUse == 0)
        await runtime.shutdownAndWait()
    }

    @Test("cancellation from a plain POSIX thread")
    func cancelFromForeignThread() async throws {
        let runtime = try Runtime()
        let pipe = try FileDescriptor.pipe()
        defer { try? pipe.readEnd.close(); try? pipe.writeEnd.close() }
        let task = Task(executorPreference: runtime.executor) { await readOneByte(dupReader(pipe.readEnd), runtime: runtime) }
        #expect(await eventually { (await runtime.combinedSnapshot()?.inFlight ?? 0) == 1 })
        onForeignThread { task.cancel() }
        #expect(await task.value == .cancelled)
        await runtime.shutdownAndWait()
    }

    @Test("cancelling a parent task cancels its child's read")
    func cancelParent() async throws {
        let runtime = try Runtime()
        let pipe = try FileDescriptor.pipe()
        defer { try? pipe.readEnd.close(); try? pipe.writeEnd.close() }
        let parent = Task(executorPreference: runtime.executor) { () -> [ReadOutcome] in
            await withTaskGroup(of: ReadOutcome.self) { group in
                for _ in 0..<3 { group.addTask { await readOneByte(dupReader(pipe.readEnd), runtime: runtime) } }
                var all: [ReadOutcome] = []
                for await o in group { all.append(o) }
                return all
            }
        }
        #expect(await eventually { (await runtime.combinedSnapshot()?.inFlight ?? 0) == 3 })
        parent.cancel()
        #expect(await parent.value == [.cancelled, .cancelled, .cancelled])
        #expect(await runtime.combinedSnapshot()?.slotsInUse == 0)
        await runtime.shutdownAndWait()
    }

    @Test("exactly once: 2,000 races of cancellation against completion, every call returns once, no byte lost")
    func cancellationRaceStress() async throws {
        let runtime = try Runtime(configuration: Runtime.Configuration(submissionEntries: 16))
        let pipe = try FileDescriptor.pipe()
        defer { try? pipe.readEnd.close(); try? pipe.writeEnd.close() }
        // Non-blocking read end for draining what the cancelled reads left.
        let rounds = 2000
        let returns = Counter()
        var bytesRead = 0
        var reads = 0
        var cancelled = 0
        var raceInFlight = 0
        var leftover = 0
        for i in 0..<rounds {
            // Bytes a cancelled read left behind would satisfy the next read at once.
            leftover += drainAvailable(pipe.readEnd)
            let task = Task(executorPreference: runtime.executor) { () -> ReadOutcome in
                let o = await readOneByte(dupReader(pipe.readEnd), runtime: runtime)
                returns.increment()
                return o
            }
            // Race: write a byte and cancel, in varying order and timing; every fourth round
            // waits until the read is in the kernel first.
            if i % 4 == 0, await eventually({ (await runtime.combinedSnapshot()?.inFlight ?? 0) == 1 }) { raceInFlight += 1 }
            if i % 2 == 0 { _ = try pipe.writeEnd.writeAll([1]) }
            if i % 3 == 0 { await Task.yield() }
            task.cancel()
            if i % 2 == 1 { _ = try pipe.writeEnd.writeAll([1]) }
            let v = await task.value
            switch v {
            case .read(let n, _): bytesRead += n; reads += 1
            case .cancelled: cancelled += 1
            default: Issue.record("unexpected outcome")
            }
        }
        #expect(returns.value == rounds)
        // Whatever the cancelled reads did not take is still in the pipe.
        leftover += drainAvailable(pipe.readEnd)
        #expect(bytesRead + leftover == rounds, "every byte written was read exactly once or is still in the pipe")
        #expect(reads + cancelled == rounds)
        #expect(reads > 0 && cancelled > 0, "both outcomes happened: \(reads) reads, \(cancelled) cancellations")
        #expect(raceInFlight == rounds / 4, "a quarter of the races cancelled a read the kernel held")
        #expect(await runtime.combinedSnapshot()?.slotsInUse == 0)
        await runtime.shutdownAndWait()
    }
}
