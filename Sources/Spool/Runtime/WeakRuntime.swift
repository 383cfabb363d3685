/// A weak reference to a runtime, for the process-wide list of live runtimes
/// (`Runtime.live`).
///
/// **Thread-safety:** `Sendable`; read and written under that list's lock. **Lifetime:** does
/// not keep the runtime alive.
struct WeakRuntime: Sendable {
    weak var runtime: Runtime?
    init(_ runtime: Runtime) { self.runtime = runtime }
}
