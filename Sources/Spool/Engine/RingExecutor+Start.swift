internal import SpoolRing
import SystemPackage

/// The start of a ring thread: what it sets up before its loop (a ring, or the portable
/// backend), and how the creator learns the outcome. Ring thread only.
extension RingExecutor {
    /// Why a kernel without `IORING_FEAT_EXT_ARG` cannot run Spool's rings.
    static let extendedArgumentAdvice = "Spool needs Linux 5.11 or later (io_uring_enter with a timeout, IORING_FEAT_EXT_ARG); this kernel lacks it; the portable backend (Configuration.backend = .portable, or SPOOL_BACKEND=portable) runs without io_uring."

    /// The ring (or the portable backend) could not be set up: the creator gets `error`, the
    /// thread ends (ring thread, at start).
    func failStart(_ error: RuntimeError) {
        startOutcome.withLock { $0 = .failure(error) }
        lifecycleState.store(Lifecycle.stopped.rawValue, ordering: .sequentiallyConsistent)
        wakeSignal.close(freeBuffer: true)
        group.ringFinished(reserved: nil)
        thread.signalStarted()
        thread.signalExited()
    }

    /// The ring runs: the creator returns (ring thread, at start).
    func markStarted() {
        lifecycleState.store(Lifecycle.running.rawValue, ordering: .sequentiallyConsistent)
        startOutcome.withLock { $0 = .success(()) }
        thread.signalStarted()
    }

    /// Sets up the portable backend instead of a ring (ring thread, at start).
    func startPortable(workers: BlockingPool) throws(RuntimeError) {
        do {
            portable = try PortableReactor(executor: self, wakeDescriptor: wakeSignal.descriptor.rawValue, workers: workers)
        } catch {
            throw .unavailable(error, reason: "could not create the portable backend's epoll instance")
        }
        inFlightLimit = max(1, inFlightLimitSetting ?? 2 * Int(options.submissionEntries))
    }
}
