import SystemPackage

extension Runtime {
    /// Binds one listener per ring at `address`, all with `SO_REUSEPORT`, and runs `body` on
    /// each ring with that ring's listener: the kernel spreads incoming connections over the
    /// listeners (by a hash of the peer's address and port), so every ring accepts and serves
    /// its own share with no cross-ring traffic.
    ///
    /// ```swift
    /// try await runtime.serveOnEachRing(SocketAddress("0.0.0.0:8080")) { listener, ring in
    ///     let pool = try await BufferPool(count: 512, bufferSize: 16 * 1024)  // this ring's
    ///     try await listener.acceptConnections { connection in
    ///         runtime.spawn(taking: connection, on: .current) { connection in
    ///             try await serve(connection, pool)
    ///         }
    ///     }
    /// }
    /// ```
    ///
    /// - Port 0 binds the first listener to a port the kernel chooses and the others to the
    ///   same port; `bound` is told the address once the first listener is bound, before any
    ///   `body` starts.
    /// - Each `body` runs in a task on its ring (``RingPlacement/ring(_:)``) and owns its
    ///   listener (it may close it; one it did not close is closed when it returns).
    ///   `Runtime.currentRingIndex` inside is the ring's index, passed as `ring` too.
    /// - Accepts ride out descriptor and memory exhaustion (`EMFILE` …) by backing off on
    ///   their ring (``StreamListener/acceptConnections(_:)``): those errors never reach `body`'s
    ///   caller, and every ring keeps serving the connections it has.
    /// - The call returns when every `body` has returned. If one throws, the others are
    ///   cancelled and the first error is rethrown; cancelling the caller cancels them all.
    ///   One ring's trouble does not tear down the others: a body that ends with
    ///   ``RuntimeError/broken(_:)`` (its ring broke) is logged, the other rings go on, and the
    ///   call throws that error once they have all returned.
    ///   During a graceful shutdown accepts end with ``RuntimeError/shutdown``.
    /// - A ring that is not running (broken, stopped) gets no listener.
    /// - When the runtime drains (a graceful shutdown), each body's accepts end with
    ///   ``RuntimeError/shutdown``; a body that rethrows it does not cut the others short, and
    ///   the call throws it once every body has returned.
    ///
    /// **Thread-safety:** call from any task; `body` runs concurrently on every ring.
    /// **Lifetime:** the listeners live as long as their bodies; the call returns after all.
    ///
    /// - Throws: ``IOError`` from binding (`EADDRINUSE` …, with the address);
    ///   ``RuntimeError/invalidArgument(_:)`` for a Unix-domain address (`SO_REUSEPORT`
    ///   spreads only TCP); ``RuntimeError/shutdown`` if no ring runs; what `body` throws.
    public func serveOnEachRing(
        _ address: SocketAddress, backlog: Int32 = 511,
        bound: @Sendable (SocketAddress) -> Void = { _ in },
        _ body: @escaping @Sendable (consuming StreamListener, _ ring: Int) async throws -> Void
    ) async throws {
        guard address.family != .unix else {
            throw RuntimeError.invalidArgument("serveOnEachRing needs an IPv4 or IPv6 address: SO_REUSEPORT does not spread Unix-domain connections (got \(address))")
        }
        let running = rings.filter { $0.lifecycle == .running }.map(\.index)
        guard let first = running.first else { throw rings.first?.refusal.runtimeError ?? RuntimeError.shutdown }
        let firstListener = try StreamListener.bind(address, backlog: backlog, reusePort: true, runtime: self)
        let actual = firstListener.localAddress
        bound(actual)
        var tasks: [Task<Void, any Error>] = []
        tasks.append(spawn(taking: firstListener, on: .ring(first)) { listener in try await body(listener, first) })
        do {
            for index in running.dropFirst() {
                let listener = try StreamListener.bind(actual, backlog: backlog, reusePort: true, runtime: self)
                tasks.append(spawn(taking: listener, on: .ring(index)) { listener in try await body(listener, index) })
            }
        } catch {
            for t in tasks { t.cancel() }
            for t in tasks { _ = await t.result }
            throw error
        }
        let all = tasks
        try await withTaskCancellationHandler {
            var firstError: (any Error)?
            var shutDown = false
            var brokenError: (any Error)?
            await withTaskGroup(of: (any Error)?.self) { group in
                for t in all {
                    group.addTask {
                        do { try await t.value; return nil } catch { return error }
                    }
                }
                for await error in group {
                    if let error = error as? RuntimeError, error == .shutdown {
                        // The runtime is draining: each body ends on its own, within the grace
                        // period; the others are not cut short.
                        shutDown = true
                    } else if let error = error as? RuntimeError, case .broken = error {
                        // That ring's trouble: the other rings go on serving their share.
                        self.configuration.logger.error("Spool serveOnEachRing on \(actual): one ring's listener ended with \(error); the other rings go on serving")
                        if brokenError == nil { brokenError = error }
                    } else if let error, firstError == nil {
                        firstError = error
                        for t in all { t.cancel() }
                    }
                }
            }
            if let firstError { throw firstError }
            if let brokenError { throw brokenError }
            if shutDown { throw RuntimeError.shutdown }
        } onCancel: {
            for t in all { t.cancel() }
        }
    }
}
