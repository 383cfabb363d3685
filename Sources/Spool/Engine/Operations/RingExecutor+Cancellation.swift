internal import SpoolRing
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// Cancellation: a task cancelled while its operation waits or runs.
///
/// `onCancel` runs on the cancelling thread, so it posts the operation's `user_data` to the
/// ring's inbox (or calls ``RingExecutor/processCancel(_:)`` directly on the ring thread).
/// An operation still waiting for admission leaves the queue and resumes with
/// `CancellationError`; one in the kernel is cancelled by the backend (an `ASYNC_CANCEL`), and its caller still waits
/// for the final completion (contract 1).
extension RingExecutor {
    /// Cancels the operation named by `userData` (ring thread).
    func processCancel(_ userData: UInt64) {
        guard let slot = table.slot(for: userData) else { return }  // finished already: no effect
        guard table.requestCancel(slot) else { return }
        switch table.state(slot) {
        case .reserved:
            break  // `start` sees the flag and resumes at once
        case .waiting:
            table.removeWaiting(slot)
            finish(slot, .cancelled)
        case .submitted:
            pendingCancels.append(userData)
        case .timed:
            disarmTimer(slot, .cancelled)  // at once: nothing is in the kernel
        case .batchParent:
            for part in table.parts(of: slot) {
                _ = table.requestCancel(part)
                switch table.state(part) {
                case .waiting:
                    table.removeWaiting(part)
                    finish(part, .cancelled)
                case .submitted:
                    pendingCancels.append(table.userData(part))
                default:
                    break
                }
            }
        case .free:
            break
        }
    }

    /// Hands the backend its internal requests (the wake read), then the waiting cancels and
    /// shutdown's cancel-everything. What finds no room stays queued for the next pass.
    func flushInternalRequests() {
        guard lifecycle == .running || lifecycle == .stopping else { return }
        guard reactor.flushInternalRequests(running: lifecycle == .running) else { return }
        while let target = pendingCancels.first {
            if table.slot(for: target) == nil {
                _ = pendingCancels.popFirst()  // finished meanwhile
                continue
            }
            guard reactor.submitCancel(target) else { return }
            _ = pendingCancels.popFirst()
        }
        if cancelAllWanted {
            guard reactor.submitCancelAll() else { return }
            cancelAllWanted = false
        }
    }

    /// Whether requests still wait to reach the backend (they go before user operations).
    var internalRequestsWaitForRoom: Bool {
        !pendingCancels.isEmpty || cancelAllWanted || reactor.hasInternalRequestsWaiting
    }
}
