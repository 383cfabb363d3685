import CSpoolURing
import Synchronization

/// The system calls a ``Ring`` makes, as replaceable functions.
///
/// ``kernel`` (the default) calls the real kernel. Tests wrap it to make a call fail
/// on demand with an errno the kernel cannot be made to produce at will (`EINTR`,
/// `EAGAIN`, `EBUSY`, or a fatal one); see ``EnterFaultInjector``. Each function returns
/// its result, or `-errno` on failure, exactly like the kernel.
///
/// Thread-safety: the functions are `@Sendable`; a ring calls them only from its owner thread.
public struct RingSystemCalls: Sendable {
    /// `io_uring_setup(entries, params)`.
    public var setup: @Sendable (UInt32, UnsafeMutablePointer<spool_uring_params>) -> Int32
    /// `io_uring_enter(fd, toSubmit, minComplete, flags, arg, argSize)`.
    public var enter: @Sendable (Int32, UInt32, UInt32, UInt32, UnsafeRawPointer?, Int) -> Int32 {
        didSet { enterIsKernel = false }
    }
    /// `io_uring_register(fd, opcode, arg, count)`.
    public var register: @Sendable (Int32, UInt32, UnsafeRawPointer?, UInt32) -> Int32
    /// `enter` is the kernel's, untouched: the ring may call it directly (no indirect call).
    var enterIsKernel = false

    /// Creates a system-call table from three functions.
    public init(
        setup: @escaping @Sendable (UInt32, UnsafeMutablePointer<spool_uring_params>) -> Int32,
        enter: @escaping @Sendable (Int32, UInt32, UInt32, UInt32, UnsafeRawPointer?, Int) -> Int32,
        register: @escaping @Sendable (Int32, UInt32, UnsafeRawPointer?, UInt32) -> Int32
    ) {
        self.setup = setup
        self.enter = enter
        self.register = register
    }

    /// The real kernel.
    public static let kernel: RingSystemCalls = {
        var calls = RingSystemCalls(
            setup: { entries, params in spool_io_uring_setup(entries, params) },
            enter: { fd, toSubmit, minComplete, flags, arg, size in
                spool_io_uring_enter(fd, toSubmit, minComplete, flags, arg, size)
            },
            register: { fd, opcode, arg, count in spool_io_uring_register(fd, opcode, arg, count) }
        )
        calls.enterIsKernel = true
        return calls
    }()

    /// The real kernel, except that `io_uring_enter` first consults `injector`: while it
    /// holds scripted failures, each call consumes one and fails with it instead.
    public static func kernel(injecting injector: EnterFaultInjector) -> RingSystemCalls {
        var calls = RingSystemCalls.kernel
        calls.enterIsKernel = false
        let real = calls.enter
        calls.enter = { fd, toSubmit, minComplete, flags, arg, size in
            if let errno = injector.takeNext() { return -errno }
            return real(fd, toSubmit, minComplete, flags, arg, size)
        }
        return calls
    }
}

/// A script of `io_uring_enter` failures for tests.
///
/// Thread-safety: all members may be called from any thread (a `Mutex` guards the script).
public final class EnterFaultInjector: Sendable {
    private struct Script {
        var queue: [Int32] = []
        var sticky: Int32? = nil
        var injected = 0
    }
    private let script = Mutex(Script())

    /// Creates an injector with nothing scripted: calls go to the kernel.
    public init() {}

    /// Makes the next `errnos.count` calls fail, in order, with these errno values.
    public func failNext(_ errnos: [Int32]) {
        script.withLock { $0.queue.append(contentsOf: errnos) }
    }

    /// Makes every call fail with `errno` until ``clear()``.
    public func failAlways(_ errno: Int32) {
        script.withLock { $0.sticky = errno }
    }

    /// Removes every scripted failure.
    public func clear() {
        script.withLock { $0.queue.removeAll(); $0.sticky = nil }
    }

    /// How many calls have been failed so far.
    public var injectedCount: Int { script.withLock { $0.injected } }

    /// How many scripted one-shot failures are still queued.
    public var pendingCount: Int { script.withLock { $0.queue.count } }

    func takeNext() -> Int32? {
        script.withLock { s -> Int32? in
            if !s.queue.isEmpty { s.injected += 1; return s.queue.removeFirst() }
            if let e = s.sticky { s.injected += 1; return e }
            return nil
        }
    }
}
