internal import SpoolRing
import SystemPackage

/// The start of a ring thread: how the creator learns whether its backend started
/// (``ReactorBackend/open()``). Ring thread only.
extension RingExecutor {
    /// The backend could not be set up: the creator gets `error`, the
    /// thread ends (ring thread, at start).
    func failStart(_ error: RuntimeError) {
        startOutcome.withLock { $0 = .failure(error) }
        lifecycleState.store(Lifecycle.stopped.rawValue, ordering: .sequentiallyConsistent)
        _ = reactor.close()
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
}
