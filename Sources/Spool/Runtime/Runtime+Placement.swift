/// Placement: which ring a new task runs on (``RingPlacement``).
extension Runtime {
    /// The ring a new task goes to, or why it cannot start.
    @usableFromInline func place(_ placement: RingPlacement) -> (RingExecutor, RuntimeError?) {
        if shutdownCoordinator.hasBegun { return (rings[0], .shutdown) }
        switch placement {
        case .next:
            guard let ring = pickRing() else { return (rings[0], refusal.runtimeError) }
            return (ring, nil)
        case .current:
            if let here = RingExecutor.current, here.lifecycle == .running, rings.contains(where: { $0 === here }) { return (here, nil) }
            return place(.next)
        case .ring(let i):
            guard rings.indices.contains(i) else {
                return (rings[0], .invalidArgument("no ring \(i): this runtime has rings 0..<\(rings.count)"))
            }
            let ring = rings[i]
            guard ring.lifecycle == .running else { return (ring, ring.refusal.runtimeError) }
            return (ring, nil)
        }
    }

    /// The number of rings.
    public var ringCount: Int { rings.count }

    /// The index of the ring running the calling thread, if it is a ring thread (of any runtime).
    public static var currentRingIndex: Int? { RingExecutor.current?.index }

    /// A running ring, round robin; nil if none is running.
    func pickRing() -> RingExecutor? {
        let start = nextRing.wrappingAdd(1, ordering: .relaxed).oldValue
        for i in 0..<rings.count {
            let ring = rings[(start &+ i) % rings.count]
            if ring.lifecycle == .running { return ring }
        }
        return nil
    }
}
