internal import SpoolRing
import Logging

/// A ring's backend, chosen when the runtime starts: a closed enum over the two
/// ``ReactorBackend``s, so every call the executor makes is a static call behind one switch
/// (no existential on the hot path). This file is the only place that names both.
///
/// **Thread-safety:** the ring thread's, as its backends. **Lifetime:** the executor's.
enum Reactor {
    case ioUring(IOURingReactor)
    case portable(PortableReactor)

    /// The backend for a ring: the portable one when the runtime gave it worker threads for
    /// files, else io_uring.
    static func make(
        index: Int, options: RingOptions, messageRingWakes: Bool, wakeDescriptor: Int32, fileWorkers: PortableWorkers?,
        faults: SubmitFaultInjector?
    ) throws(RuntimeError) -> Reactor {
        guard let fileWorkers else {
            return .ioUring(IOURingReactor(index: index, options: options, sendsMessageRingWakes: messageRingWakes, faults: faults))
        }
        do {
            return .portable(try PortableReactor(wakeDescriptor: wakeDescriptor, workers: fileWorkers))
        } catch {
            throw .unavailable(error, reason: "could not create the portable backend's epoll instance")
        }
    }

    /// The backend object itself, as a plain reference.
    var object: AnyObject {
        switch self {
        case .ioUring(let r): return r
        case .portable(let r): return r
        }
    }

    /// The io_uring backend, if this is it (tests and diagnostics).
    var ioUringBackend: IOURingReactor? {
        if case .ioUring(let r) = self { return r }
        return nil
    }

    /// The portable backend, if this is it (tests and diagnostics).
    var portableBackend: PortableReactor? {
        if case .portable(let r) = self { return r }
        return nil
    }

    @inline(__always)
    func attach(_ executor: RingExecutor) {
        switch self {
        case .ioUring(let r): r.attach(executor)
        case .portable(let r): r.attach(executor)
        }
    }

    @inline(__always)
    func open() throws(RuntimeError) {
        switch self {
        case .ioUring(let r): try r.open()
        case .portable(let r): try r.open()
        }
    }

    @inline(__always)
    func start(_ request: OperationRequest, userData: UInt64, timeout: LinkedTimeout?) -> ReactorStart {
        switch self {
        case .ioUring(let r): return r.start(request, userData: userData, timeout: timeout)
        case .portable(let r): return r.start(request, userData: userData, timeout: timeout)
        }
    }

    @inline(__always)
    func enter(_ reason: SubmitSite, wait: Bool, timeout: Duration? = nil) {
        switch self {
        case .ioUring(let r): r.enter(reason, wait: wait, timeout: timeout)
        case .portable(let r): r.enter(reason, wait: wait, timeout: timeout)
        }
    }

    @inline(__always)
    func reapCompletions(into executor: RingExecutor) {
        switch self {
        case .ioUring(let r): r.reapCompletions(into: executor)
        case .portable(let r): r.reapCompletions(into: executor)
        }
    }

    @inline(__always)
    func flushInternalRequests(running: Bool) -> Bool {
        switch self {
        case .ioUring(let r): return r.flushInternalRequests(running: running)
        case .portable(let r): return r.flushInternalRequests(running: running)
        }
    }

    @inline(__always)
    func submitCancel(_ userData: UInt64) -> Bool {
        switch self {
        case .ioUring(let r): return r.submitCancel(userData)
        case .portable(let r): return r.submitCancel(userData)
        }
    }

    @inline(__always)
    func submitCancelAll() -> Bool {
        switch self {
        case .ioUring(let r): return r.submitCancelAll()
        case .portable(let r): return r.submitCancelAll()
        }
    }

    var hasInternalRequestsWaiting: Bool {
        @inline(__always) get {
            switch self {
            case .ioUring(let r): return r.hasInternalRequestsWaiting
            case .portable(let r): return r.hasInternalRequestsWaiting
            }
        }
    }

    var hasReadyCompletions: Bool {
        @inline(__always) get {
            switch self {
            case .ioUring(let r): return r.hasReadyCompletions
            case .portable(let r): return r.hasReadyCompletions
            }
        }
    }

    var needsPoll: Bool {
        @inline(__always) get {
            switch self {
            case .ioUring(let r): return r.needsPoll
            case .portable(let r): return r.needsPoll
            }
        }
    }

    var wakeIsArmed: Bool {
        switch self {
        case .ioUring(let r): return r.wakeIsArmed
        case .portable(let r): return r.wakeIsArmed
        }
    }

    var isDrained: Bool {
        switch self {
        case .ioUring(let r): return r.isDrained
        case .portable(let r): return r.isDrained
        }
    }

    var mayHoldWakeBuffer: Bool {
        switch self {
        case .ioUring(let r): return r.mayHoldWakeBuffer
        case .portable(let r): return r.mayHoldWakeBuffer
        }
    }

    @inline(__always)
    func deferWake(to target: RingExecutor) -> Bool {
        switch self {
        case .ioUring(let r): return r.deferWake(to: target)
        case .portable(let r): return r.deferWake(to: target)
        }
    }

    func makePoolStorage(count: Int, bufferSize: Int) -> Result<(PoolStorage, UInt16), any Error> {
        switch self {
        case .ioUring(let r): return r.makePoolStorage(count: count, bufferSize: bufferSize)
        case .portable(let r): return r.makePoolStorage(count: count, bufferSize: bufferSize)
        }
    }

    func abandonInternalRequests() {
        switch self {
        case .ioUring(let r): r.abandonInternalRequests()
        case .portable(let r): r.abandonInternalRequests()
        }
    }

    func prepareTeardown() -> Set<UInt64>? {
        switch self {
        case .ioUring(let r): return r.prepareTeardown()
        case .portable(let r): return r.prepareTeardown()
        }
    }

    func releaseAfterBreak() -> Bool {
        switch self {
        case .ioUring(let r): return r.releaseAfterBreak()
        case .portable(let r): return r.releaseAfterBreak()
        }
    }

    func close() -> Int32? {
        switch self {
        case .ioUring(let r): return r.close()
        case .portable(let r): return r.close()
        }
    }
}
