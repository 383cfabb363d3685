#if canImport(Glibc)
import Glibc
#endif

/// The thread calls the executor and its backends make, in one place (swift-system's tiers:
/// one internal file of raw calls per concern, each wrapper with a typed result).
///
/// A namespace: every member may be called from any thread.
enum ThreadCalls {
    /// Sleeps the calling thread for `duration` (a back-off, never a spin). `nanosleep`,
    /// resumed after a signal until the whole time has passed.
    static func pause(_ duration: Duration) {
        let (seconds, attoseconds) = max(duration, .zero).components
        var request = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
        var left = timespec()
        while nanosleep(&request, &left) != 0 && errno == EINTR { request = left }
    }
}
