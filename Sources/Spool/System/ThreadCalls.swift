import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// The thread calls the runtime makes — detached threads, thread-local slots, back-offs — in
/// one place, each with a typed result (swift-system's tiers: one internal file of raw calls
/// per concern; the threads' names and CPU affinity are `SpoolRing`'s `CurrentThread` and
/// `CPUAffinity`).
///
/// A namespace: every member may be called from any thread.
enum ThreadCalls {
    /// Starts a detached POSIX thread running `body` (`stackSize` bytes of stack, or the
    /// system's default). Returns the `pthread_create` error, if any (then `body` never runs).
    static func startDetached(stackSize: Int? = nil, _ body: @escaping @Sendable () -> Void) -> Errno? {
        final class Box {
            let body: @Sendable () -> Void
            init(_ b: @escaping @Sendable () -> Void) { body = b }
        }
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        if let stackSize { pthread_attr_setstacksize(&attributes, stackSize) }
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        var thread = pthread_t()
        let r = pthread_create(&thread, &attributes, { arg in
            Unmanaged<Box>.fromOpaque(arg!).takeRetainedValue().body()
            return nil
        }, box)
        pthread_attr_destroy(&attributes)
        guard r == 0 else {
            Unmanaged<Box>.fromOpaque(box).release()
            return Errno(rawValue: r)
        }
        return nil
    }

    /// Sleeps the calling thread for `duration` (a back-off, never a spin): `nanosleep`, resumed
    /// after a signal until the whole time has passed.
    static func pause(_ duration: Duration) {
        let (seconds, attoseconds) = max(duration, .zero).components
        var request = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
        var left = timespec()
        while nanosleep(&request, &left) != 0 && errno == EINTR { request = left }
    }
}

/// One pointer-sized slot per thread (`pthread_key_t`): which ring executor a thread runs, or
/// a per-thread count. The key is made once and never deleted.
///
/// **Thread-safety:** `Sendable`; each thread reads and writes only its own slot.
/// **Lifetime:** a value; the key lives for the process.
struct ThreadLocalSlot: @unchecked Sendable {  // a pthread key: an integer the process shares
    private let key: pthread_key_t?

    /// Makes the key; a process out of keys gets a slot that always reads nil and ignores writes
    /// (what reads it must work without: see each owner).
    init() {
        var k = pthread_key_t()
        key = pthread_key_create(&k, nil) == 0 ? k : nil
    }

    /// Whether the slot exists (the key could be made).
    var isAvailable: Bool { key != nil }

    /// The calling thread's value (nil: never set, or cleared).
    @inline(__always)
    var value: UnsafeRawPointer? {
        guard let key else { return nil }
        return UnsafeRawPointer(pthread_getspecific(key))
    }

    /// Sets the calling thread's value.
    @inline(__always)
    func set(_ value: UnsafeRawPointer?) {
        guard let key else { return }
        pthread_setspecific(key, value)
    }
}
