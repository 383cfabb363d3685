internal import SpoolRing

/// The portable reactor's per-request record and an attempt's outcome (ring thread only,
/// like the reactor).
extension PortableReactor {
    /// A request waiting for readiness.
    /// Fields ordered so the struct packs into 56 bytes: the reactor's table holds one per
    /// armed request, so one per idle connection.
    struct Waiter {
        var request: OperationRequest
        var write: Bool
        /// A connect that answered `EINPROGRESS`: readiness means it finished.
        var connecting = false
        /// `O_NONBLOCK` to clear again when a connect ends (Spool set it for the connect).
        var restoreBlocking = false
        /// A multishot receive's bytes left before its byte limit ends it (0: no limit); each
        /// filled buffer is charged its whole size.
        var remaining: UInt32 = 0
        /// A connect that found a Unix listener's backlog full: the wait in milliseconds before
        /// its next try (1, doubling to 64; 0 before the first).
        var connectDelayMilliseconds: UInt8 = 0
        /// A multishot receive's pool (found once, when the request starts; the request's
        /// consumer keeps it alive too).
        var pool: PoolState? = nil

        init(request: OperationRequest, write: Bool) {
            self.request = request
            self.write = write
        }
    }

    /// What one attempt of a request did.
    enum Attempt {
        case finished
        case wouldBlock
        /// A regular file whose data is not cached (or a terminal write): a worker must do it.
        case needsWorker
    }
}
