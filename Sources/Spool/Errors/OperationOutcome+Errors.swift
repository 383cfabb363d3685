import SystemPackage

extension OperationOutcome {
    /// The runtime error of a refusal: ``RuntimeError/broken(_:)`` for a broken ring, else
    /// ``RuntimeError/shutdown``.
    var runtimeError: RuntimeError {
        switch self {
        case .broken(let e), .brokenInFlight(let e): return .broken(e)
        default: return .shutdown
        }
    }

    /// The kernel's non-negative result, or the matching error: `IOError` (with `context`)
    /// for `-errno`, `CancellationError`, or ``RuntimeError``.
    func value(_ context: @autoclosure () -> IOErrorContext) throws -> Int32 {
        switch self {
        case .completed(let r) where r >= 0: return r
        case .completed(let r):
            let c = context()
            throw IOError(c.operation, errno: Errno(rawValue: -r), path: c.path, descriptor: c.descriptor, offset: c.offset, address: c.address)
        case .cancelled: throw CancellationError()
        case .timedOut: throw TimeoutError(deadline: .now)
        case .shutdown: throw RuntimeError.shutdown
        case .broken(let e), .brokenInFlight(let e): throw RuntimeError.broken(e)
        }
    }
}

/// What an ``IOError`` will say about the operation, gathered only when one is thrown.
struct IOErrorContext {
    var operation: IOError.Operation
    var path: FilePath? = nil
    var descriptor: FileDescriptor? = nil
    var offset: UInt64? = nil
    var address: SocketAddress? = nil
}

extension Runtime {
    /// One no-op round trip through the kernel (`IORING_OP_NOP`): what an I/O call costs
    /// beyond the I/O itself. For benchmarks and health checks.
    public nonisolated(nonsending) func nop() async throws {
        _ = try await perform(.nop).value(IOErrorContext(operation: .read))
    }
}
