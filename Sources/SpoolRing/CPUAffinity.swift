import CSpoolURing

#if canImport(Glibc)
import Glibc
#endif

/// The calling thread's CPU affinity, and pinning it to one core (`sched_getaffinity(2)` /
/// `sched_setaffinity(2)`), for ring threads.
///
/// **Thread-safety:** stateless; any thread (each call concerns the calling thread).
public enum CPUAffinity {
    /// Bytes of the masks used: 1,024 CPUs.
    static let maskBytes = 128

    /// The CPUs the calling thread may run on, ascending (at most the first 1,024); `0 ..<
    /// online CPUs` (at most 1,024) if the kernel will not say.
    public static func allowedCores() -> [Int] {
        var mask = [UInt8](repeating: 0, count: maskBytes)
        let r = mask.withUnsafeMutableBufferPointer { spool_get_thread_affinity($0.baseAddress, $0.count) }
        guard r > 0 else { return Array(0..<min(maskBytes * 8, max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))))) }
        var cores: [Int] = []
        for (i, byte) in mask.prefix(Int(r)).enumerated() where byte != 0 {
            for bit in 0..<8 where byte & (1 << bit) != 0 { cores.append(i * 8 + bit) }
        }
        return cores
    }

    /// Pins the calling thread to `core`. Returns nil, or the errno (`EINVAL` for a core out of
    /// range or not allowed).
    public static func pinCurrentThread(to core: Int) -> Int32? {
        guard core >= 0, core < maskBytes * 8 else { return EINVAL }
        var mask = [UInt8](repeating: 0, count: maskBytes)
        mask[core / 8] = UInt8(1 << (core % 8))
        let r = mask.withUnsafeBufferPointer { spool_set_thread_affinity($0.baseAddress, $0.count) }
        return r == 0 ? nil : -r
    }
}
